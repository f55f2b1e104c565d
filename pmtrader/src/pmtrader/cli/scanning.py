"""``scan cliffs`` and ``scan expiring``: fetch with the SDK, rank with :mod:`pmtrader.scan`."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from pmtrader.cli._common import (
    JsonFlag,
    console,
    emit_json,
    err_console,
    fmt,
    handle_errors,
    make_client,
    outcomes,
    state,
    use_json,
)
from pmtrader.cli.trading import parse_decimal, parse_duration
from pmtrader.scan import (
    OutcomeHistory,
    expiring_candidates,
    find_cliffs,
    find_expiring,
    rank_expiring,
)

__all__ = ["app"]

app = typer.Typer(
    help="Find markets worth a look: sharp moves, and near-certain outcomes about to pay out.",
    no_args_is_help=True,
)

_INTERVAL_FOR = ((3600, "1h"), (6 * 3600, "6h"), (86_400, "1d"), (7 * 86_400, "1w"))


def _interval(window_s: int) -> str:
    for limit, name in _INTERVAL_FOR:
        if window_s <= limit:
            return name
    return "max"


def _progress() -> Progress:
    return Progress(console=err_console, transient=True, disable=state().json)


@app.command("cliffs")
@handle_errors
def cliffs_cmd(
    window: Annotated[str, typer.Option(help="Look back this far, e.g. 1h or 6h.")] = "1h",
    move: Annotated[str, typer.Option(help="Smallest price move to report.")] = "0.15",
    limit: Annotated[int, typer.Option(min=1, help="Rows to show.")] = 20,
    json_out: JsonFlag = False,
) -> None:
    """Markets whose price moved sharply within the window, biggest move first."""
    use_json(json_out)
    window_s = parse_duration(window)
    min_move = parse_decimal(move, "--move")
    series: list[OutcomeHistory] = []
    with make_client() as client:
        markets = list(client.gamma.iter_markets(closed=False))
        with _progress() as bar:
            task = bar.add_task("price histories", total=len(markets))
            for m in markets:
                first = outcomes(m)[:1]  # binary: the other outcome mirrors the first
                for o in first:
                    points = client.books.get_prices_history(
                        o.token_id, interval=_interval(window_s)
                    ).history
                    series.append(OutcomeHistory(m.slug, m.question, o.name, o.token_id, points))
                bar.advance(task)
    cliffs = find_cliffs(series, window_s=window_s, min_move=min_move)[:limit]
    if state().json:
        emit_json(
            [
                {
                    "slug": c.slug,
                    "question": c.question,
                    "outcome": c.outcome,
                    "token_id": c.token_id,
                    "price_from": c.price_from,
                    "price_to": c.price_to,
                    "move": c.move,
                    "from_ts": c.from_ts,
                    "to_ts": c.to_ts,
                }
                for c in cliffs
            ]
        )
        return
    if not cliffs:
        console.print(f"No market moved {fmt(min_move)} or more within {window}.")
        return
    table = Table(title=f"moves of {fmt(min_move)}+ within {window}", title_justify="left")
    for col in ("market", "outcome", "from", "to", "move"):
        table.add_column(
            col,
            justify="left" if col in ("market", "outcome") else "right",
            overflow="fold",
        )
    for c in cliffs:
        color = "green" if c.move > 0 else "red"
        table.add_row(
            c.slug,
            c.outcome,
            fmt(c.price_from),
            fmt(c.price_to),
            f"[{color}]{c.move:+}[/{color}]",
        )
    console.print(table)


@app.command("expiring")
@handle_errors
def expiring_cmd(
    within: Annotated[
        str, typer.Option(help="Markets ending within this, e.g. 48h or 7d.")
    ] = "48h",
    min_price: Annotated[str, typer.Option(help="Best ask at least this.")] = "0.95",
    min_liquidity: Annotated[
        str, typer.Option(help="Gamma liquidity at least this (pUSD).")
    ] = "500",
    limit: Annotated[int, typer.Option(min=1, help="Rows to show.")] = 20,
    json_out: JsonFlag = False,
) -> None:
    """Near-certain outcomes close to resolution, ranked by return to payout per day."""
    use_json(json_out)
    within_s = parse_duration(within)
    floor = parse_decimal(min_price, "--min-price")
    min_liq = Decimal(min_liquidity)
    now = datetime.now(UTC)
    with make_client() as client:
        markets = list(client.gamma.iter_markets(closed=False))
        picks = expiring_candidates(
            markets, now=now, within_s=within_s, min_price=floor, min_liquidity=min_liq
        )
        scored = []
        with _progress() as bar:
            task = bar.add_task("order books", total=len(picks))
            for market, index in picks:
                book = client.books.get_order_book(market.clob_token_ids[index])
                scored.append(rank_expiring(market, index, book, now=now, min_price=floor))
                bar.advance(task)
    rows = find_expiring(scored)[:limit]
    if state().json:
        emit_json(
            [
                {
                    "slug": r.slug,
                    "question": r.question,
                    "outcome": r.outcome,
                    "token_id": r.token_id,
                    "end": r.end.isoformat(),
                    "days_to_end": r.days_to_end.quantize(Decimal("0.0001")),
                    "ask": r.ask,
                    "ask_size": r.ask_size,
                    "bid": r.bid,
                    "spread": r.spread,
                    "depth_behind": r.depth_behind,
                    "gap": r.gap,
                    "liquidity": r.liquidity,
                    "return_to_payout": r.return_to_payout.quantize(Decimal("0.000001")),
                    "return_per_day": r.return_per_day.quantize(Decimal("0.000001")),
                }
                for r in rows
            ]
        )
        return
    if not rows:
        console.print(f"No outcome at {fmt(floor)}+ in markets ending within {within}.")
        return
    table = Table(
        title=f"ending within {within}, priced {fmt(floor)}+ (by return per day)",
        title_justify="left",
    )
    for col in (
        "market",
        "outcome",
        "ask",
        "size@ask",
        "behind",
        "gap",
        "spread",
        "days",
        "return",
        "per day",
    ):
        table.add_column(
            col,
            justify="left" if col in ("market", "outcome") else "right",
            overflow="fold",
        )
    for r in rows:
        table.add_row(
            r.slug,
            r.outcome,
            fmt(r.ask),
            fmt(r.ask_size, 0),
            fmt(r.depth_behind, 0),
            fmt(r.gap),
            fmt(r.spread),
            fmt(r.days_to_end, 2),
            f"{r.return_to_payout * 100:.2f}%",
            f"{r.return_per_day * 100:.3f}%",
        )
    console.print(table)
    console.print(
        "[dim]behind: shares within 2c above the ask; a thin touch with a gap is a trap[/dim]"
    )
