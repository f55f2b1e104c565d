"""Read-only commands: ``markets``, ``market``, ``book``, ``price``, ``history``."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from pmtrader.book import Book
from pmtrader.cli._common import (
    JsonFlag,
    console,
    emit_json,
    fail,
    fmt,
    handle_errors,
    make_client,
    outcome_of,
    outcomes,
    resolve_market,
    state,
    use_json,
)
from pmtrader.client import Client
from pmtrader.models.clob import OrderBook
from pmtrader.models.gamma import GammaMarket
from pmtrader.scan import market_end

__all__ = ["register"]


class SortKey(StrEnum):
    """How ``markets`` orders its rows."""

    volume = "volume"
    liquidity = "liquidity"
    end = "end"
    spread = "spread"


def market_json(market: GammaMarket) -> dict[str, Any]:
    """The stable JSON shape of a market row."""
    return {
        "slug": market.slug,
        "question": market.question,
        "condition_id": market.condition_id,
        "outcomes": [
            {"name": o.name, "token_id": o.token_id, "price": o.price} for o in outcomes(market)
        ],
        "volume": market.volume_num,
        "liquidity": market.liquidity_num,
        "end_date": market.end_date,
        "spread": market.spread,
        "active": market.active,
        "closed": market.closed,
        "neg_risk": market.neg_risk,
    }


def _matches(market: GammaMarket, words: list[str]) -> bool:
    text = f"{market.question} {market.slug}".lower()
    return all(word in text for word in words)


def _sort(markets: list[GammaMarket], key: SortKey) -> list[GammaMarket]:
    far = datetime.max.replace(tzinfo=UTC)
    if key is SortKey.volume:
        return sorted(markets, key=lambda m: -(m.volume_num or 0))
    if key is SortKey.liquidity:
        return sorted(markets, key=lambda m: -(m.liquidity_num or 0))
    if key is SortKey.end:
        return sorted(markets, key=lambda m: market_end(m) or far)
    return sorted(markets, key=lambda m: m.spread if m.spread is not None else Decimal(2))


def _short_money(value: Decimal | None) -> str:
    if value is None:
        return "-"
    for unit, scale in (("M", Decimal(1_000_000)), ("k", Decimal(1_000))):
        if abs(value) >= scale:
            return f"{value / scale:,.1f}{unit}"
    return f"{value:,.0f}"


def _tag_id(client: Client, tag: str) -> str:
    tags = client.gamma.get_tags()
    for item in tags:
        if tag.lower() in (item.label.lower(), item.slug.lower(), item.id):
            return item.id
    return fail(
        f"No tag {tag!r}; known tags: {', '.join(sorted(t.slug or t.label for t in tags))}."
    )


@handle_errors
def markets_cmd(  # noqa: PLR0917 - typer maps each keyword parameter to one --option
    query: Annotated[
        str | None, typer.Argument(help="Words that must all appear.", metavar="QUERY")
    ] = None,
    active: Annotated[
        bool, typer.Option("--active/--closed", help="Open markets (default) or closed ones.")
    ] = True,
    tag: Annotated[str | None, typer.Option(help="Only markets with this tag.")] = None,
    sort: Annotated[SortKey, typer.Option(help="Order of the rows.")] = SortKey.volume,
    limit: Annotated[int, typer.Option(min=1, help="Rows to show.")] = 20,
    json_out: JsonFlag = False,
) -> None:
    """List markets: question, outcomes with prices, volume, liquidity, end date, spread."""
    use_json(json_out)
    with make_client() as client:
        tag_id = _tag_id(client, tag) if tag else None
        words = query.lower().split() if query else []
        rows = [
            m
            for m in client.gamma.iter_markets(closed=not active, tag_id=tag_id)
            if _matches(m, words)
        ]
    rows = _sort(rows, sort)[:limit]
    if state().json:
        emit_json([market_json(m) for m in rows])
        return
    if not rows:
        console.print("No markets match.")
        return
    # The question is the first thing to go on a narrow terminal: the slug is what commands take.
    wide = console.width >= 110
    table = Table(title=f"{len(rows)} markets", title_justify="left")
    table.add_column("slug", overflow="fold", min_width=16)
    if wide:
        table.add_column("question", overflow="fold", max_width=40)
    table.add_column("outcomes")
    table.add_column("volume", justify="right")
    table.add_column("liquidity", justify="right")
    table.add_column("ends")
    table.add_column("spread", justify="right")
    for m in rows:
        outs = "\n".join(f"{o.name} {fmt(o.price)}" for o in outcomes(m))
        end = market_end(m)
        cells = [
            m.slug,
            m.question,
            outs,
            _short_money(m.volume_num),
            _short_money(m.liquidity_num),
            end.strftime("%Y-%m-%d") if end else "-",
            fmt(m.spread),
        ]
        table.add_row(*(cells if wide else cells[:1] + cells[2:]))
    console.print(table)


@handle_errors
def market_cmd(
    ref: Annotated[
        str, typer.Argument(help="Slug, condition id or polymarket.com URL.", metavar="MARKET")
    ],
    json_out: JsonFlag = False,
) -> None:
    """Show one market in full: tokens, tick, minimum size, neg-risk, rewards and rules."""
    use_json(json_out)
    with make_client() as client:
        market = resolve_market(client, ref)
        clob = client.markets.get_market(market.condition_id)
        fee = client.markets.get_fee_details(clob.tokens[0].token_id) if clob.tokens else None
    rewards = clob.rewards
    data = market_json(market) | {
        "description": market.description,
        "tick_size": clob.minimum_tick_size,
        "min_order_size": clob.minimum_order_size,
        "accepting_orders": clob.accepting_orders,
        "rewards": {
            "min_size": rewards.min_size if rewards else None,
            "max_spread": rewards.max_spread if rewards else None,
            "rates": rewards.rates if rewards else None,
        },
        "fee": None
        if fee is None
        else {"rate": fee.rate, "exponent": fee.exponent, "taker_only": fee.taker_only},
    }
    if state().json:
        emit_json(data)
        return
    console.print(f"[bold]{market.question}[/bold]")
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim")
    grid.add_column()
    grid.add_row("slug", market.slug)
    grid.add_row("condition id", market.condition_id)
    for o in outcomes(market):
        grid.add_row(f"{o.name}", f"{fmt(o.price)}  token {o.token_id}")
    grid.add_row("tick size", fmt(clob.minimum_tick_size))
    grid.add_row("min order size", f"{fmt(clob.minimum_order_size)} shares")
    grid.add_row("neg-risk", "yes" if market.neg_risk else "no")
    grid.add_row("accepting orders", "yes" if clob.accepting_orders else "no")
    grid.add_row("ends", market.end_date or "-")
    grid.add_row("volume / liquidity", f"{fmt(market.volume_num)} / {fmt(market.liquidity_num)}")
    if rewards is not None:
        daily = ", ".join(str(r.get("rewards_daily_rate", "")) for r in rewards.rates or [])
        grid.add_row(
            "rewards",
            f"min size {fmt(rewards.min_size)}, max spread {fmt(rewards.max_spread)}c"
            + (f", daily {daily}" if daily else ""),
        )
    if fee is not None:
        grid.add_row("taker fee", f"rate {fmt(fee.rate)}, exponent {fee.exponent}")
    console.print(grid)
    if market.description:
        console.print(f"\n[bold]Rules[/bold]\n{market.description}")


def book_json(slug: str, outcome: str, book: OrderBook, depth: int) -> dict[str, Any]:
    """The stable JSON shape of one outcome's book (levels best first)."""
    bids = sorted(book.bids, key=lambda lvl: -lvl.price)[:depth]
    asks = sorted(book.asks, key=lambda lvl: lvl.price)[:depth]
    return {
        "slug": slug,
        "outcome": outcome,
        "token_id": book.asset_id,
        "bids": [{"price": lvl.price, "size": lvl.size} for lvl in bids],
        "asks": [{"price": lvl.price, "size": lvl.size} for lvl in asks],
        "best_bid": book.best_bid,
        "best_ask": book.best_ask,
        "spread": book.spread,
        "mid": book.mid,
        "tick_size": book.tick_size,
        "timestamp": int(book.timestamp or 0),
        "hash": book.hash,
    }


def ladder(
    title: str,
    bids: list[tuple[Decimal, Decimal]],
    asks: list[tuple[Decimal, Decimal]],
    *,
    depth: int,
    footer: str = "",
) -> Group:
    """A price ladder: asks above (best nearest the middle), bids below, cumulative sizes."""
    table = Table(title=title, title_justify="left")
    table.add_column("side")
    table.add_column("price", justify="right")
    table.add_column("size", justify="right")
    table.add_column("cumulative", justify="right")
    asks_best = sorted(asks)[:depth]
    cum = Decimal(0)
    rows = []
    for price, size in asks_best:
        cum += size
        rows.append(("[red]ask[/red]", fmt(price), fmt(size, 2), fmt(cum, 2)))
    for row in reversed(rows):
        table.add_row(*row)
    table.add_section()
    cum = Decimal(0)
    for price, size in sorted(bids, reverse=True)[:depth]:
        cum += size
        table.add_row("[green]bid[/green]", fmt(price), fmt(size, 2), fmt(cum, 2))
    return Group(table, Text.from_markup(footer))


def _summary(bid: Decimal | None, ask: Decimal | None) -> str:
    if bid is None or ask is None:
        return f"bid {fmt(bid)}  ask {fmt(ask)}"
    return f"bid {fmt(bid)}  ask {fmt(ask)}  spread {fmt(ask - bid)}  mid {fmt((bid + ask) / 2)}"


def _live_table(slug: str, outcome: str, book: Book, depth: int, note: str) -> Group:
    def dec(levels: list[tuple[int, int]]) -> list[tuple[Decimal, Decimal]]:
        return [(Decimal(p) / Decimal(10_000), Decimal(s) / Decimal(1_000_000)) for p, s in levels]

    bids = dec(book.depth("BUY", depth))
    asks = dec(book.depth("SELL", depth))
    status = (
        "[red]STALE: feed silent or reconnecting[/red]" if book.stale else "[green]live[/green]"
    )
    footer = f"{_summary(book.best_bid_price, book.best_ask_price)}\n{status}  {note}"
    return ladder(f"{slug} · {outcome}", bids, asks, depth=depth, footer=footer)


async def _watch(
    ws_url: str,
    *,
    slug: str,
    outcome: str,
    token: str,
    depth: int,
    seconds: float | None,
    stale_after: float,
) -> None:
    from pmtrader.ws_events import BookResynced, BookStale, BookUpdated
    from pmtrader.ws_market import MarketStream

    deadline = None if seconds is None else time.monotonic() + seconds
    updates = 0
    stale_note = ""
    async with MarketStream(
        ws_url, [token], stale_after=stale_after, ping_interval=stale_after / 3
    ) as stream:
        book = stream.book(token)
        with Live(
            _live_table(slug, outcome, book, depth, "connecting…"),
            console=console,
            auto_refresh=False,
        ) as live:
            iterator = stream.__aiter__()
            while deadline is None or time.monotonic() < deadline:
                timeout = None if deadline is None else max(0.05, deadline - time.monotonic())
                try:
                    event = await asyncio.wait_for(iterator.__anext__(), timeout)
                except TimeoutError:
                    break
                except StopAsyncIteration:
                    break
                stamp = datetime.now(UTC).strftime("%H:%M:%S")
                if isinstance(event, BookUpdated | BookStale | BookResynced):
                    updates += 1
                if isinstance(event, BookStale):
                    # Keep saying it after the resync, so a glance tells the book had a gap.
                    stale_note = f" · feed was stale at {stamp} UTC ({event.reason})"
                book = stream.book(token)
                note = f"{updates} updates · {stamp} UTC{stale_note}"
                live.update(_live_table(slug, outcome, book, depth, note), refresh=True)


@handle_errors
def book_cmd(  # noqa: PLR0917 - typer maps each keyword parameter to one --option
    ref: Annotated[str, typer.Argument(help="Slug, condition id or URL.", metavar="MARKET")],
    outcome: Annotated[
        str, typer.Option("--outcome", "-o", help="Outcome (case-insensitive).")
    ] = "yes",
    depth: Annotated[int, typer.Option(min=1, help="Levels per side.")] = 10,
    watch: Annotated[bool, typer.Option("--watch", help="Update live from the websocket.")] = False,
    seconds: Annotated[
        float | None, typer.Option("--for", help="With --watch: stop after this many seconds.")
    ] = None,
    stale_after: Annotated[
        float,
        typer.Option(min=0.3, help="With --watch: seconds of silence before the feed is stale."),
    ] = 15.0,
    json_out: JsonFlag = False,
) -> None:
    """Show an outcome's price ladder with cumulative size, spread and mid."""
    use_json(json_out)
    with make_client() as client:
        market = resolve_market(client, ref)
        out = outcome_of(market, outcome)
        if watch:
            if state().json:
                fail("--watch draws a live table; leave out --json.")
            ws_url = client.settings.ws_url
        else:
            book = client.books.get_order_book(out.token_id)
    if watch:
        asyncio.run(
            _watch(
                ws_url,
                slug=market.slug,
                outcome=out.name,
                token=out.token_id,
                depth=depth,
                seconds=seconds,
                stale_after=stale_after,
            )
        )
        return
    if state().json:
        emit_json(book_json(market.slug, out.name, book, depth))
        return
    bids = [(lvl.price, lvl.size) for lvl in book.bids]
    asks = [(lvl.price, lvl.size) for lvl in book.asks]
    console.print(
        ladder(
            f"{market.slug} · {out.name}",
            bids,
            asks,
            depth=depth,
            footer=_summary(book.best_bid, book.best_ask) + f"  tick {fmt(book.tick_size)}",
        )
    )


@handle_errors
def price_cmd(
    ref: Annotated[str, typer.Argument(help="Slug, condition id or URL.", metavar="MARKET")],
    outcome: Annotated[
        str | None, typer.Option("--outcome", "-o", help="One outcome (default: all).")
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Show bid, ask, mid, spread and last trade for a market's outcomes."""
    use_json(json_out)
    with make_client() as client:
        market = resolve_market(client, ref)
        chosen = [outcome_of(market, outcome)] if outcome else outcomes(market)
        books = client.books.get_order_books([o.token_id for o in chosen])
        by_token = {b.asset_id: b for b in books}
        rows: list[dict[str, Any]] = []
        for o in chosen:
            b = by_token.get(o.token_id)
            rows.append(
                {
                    "outcome": o.name,
                    "token_id": o.token_id,
                    "bid": b.best_bid if b else None,
                    "ask": b.best_ask if b else None,
                    "mid": b.mid if b else None,
                    "spread": b.spread if b else None,
                    "last": b.last_trade_price if b else None,
                }
            )
    if state().json:
        emit_json({"slug": market.slug, "outcomes": rows})
        return
    table = Table(title=market.question, title_justify="left")
    for col in ("outcome", "bid", "ask", "mid", "spread", "last"):
        table.add_column(col, justify="left" if col == "outcome" else "right")
    for r in rows:
        table.add_row(
            r["outcome"],
            fmt(r["bid"]),
            fmt(r["ask"]),
            fmt(r["mid"]),
            fmt(r["spread"]),
            fmt(r["last"]),
        )
    console.print(table)


_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[Decimal], width: int = 60) -> str:
    """A one-line chart of ``values`` (resampled to at most ``width`` characters)."""
    if not values:
        return ""
    if len(values) > width:
        step = len(values) / width
        values = [values[int(i * step)] for i in range(width)] + [values[-1]]
    lo, hi = min(values), max(values)
    span = hi - lo
    if span == 0:
        return _BARS[3] * len(values)
    top = len(_BARS) - 1
    return "".join(_BARS[int((v - lo) / span * top)] for v in values)


@handle_errors
def history_cmd(
    ref: Annotated[str, typer.Argument(help="Slug, condition id or URL.", metavar="MARKET")],
    outcome: Annotated[str, typer.Option("--outcome", "-o", help="Outcome.")] = "yes",
    interval: Annotated[str, typer.Option(help="max, 1w, 1d, 6h or 1h.")] = "1d",
    png: Annotated[Path | None, typer.Option(help="Also draw a chart into this PNG file.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Show an outcome's price history as a sparkline (and optionally a PNG chart)."""
    use_json(json_out)
    with make_client() as client:
        market = resolve_market(client, ref)
        out = outcome_of(market, outcome)
        history = client.books.get_prices_history(out.token_id, interval=interval).history
    if png is not None:
        _draw_png(png, market.question, out.name, [(p.t, p.p) for p in history])
    if state().json:
        emit_json(
            {
                "slug": market.slug,
                "outcome": out.name,
                "token_id": out.token_id,
                "interval": interval,
                "points": [{"t": p.t, "p": p.p} for p in history],
            }
        )
        return
    if not history:
        console.print("No price history for this interval.")
        return
    prices = [p.p for p in history]
    first = datetime.fromtimestamp(history[0].t, UTC).strftime("%Y-%m-%d %H:%M")
    last = datetime.fromtimestamp(history[-1].t, UTC).strftime("%Y-%m-%d %H:%M")
    console.print(f"[bold]{market.question}[/bold] · {out.name} · {interval}")
    console.print(sparkline(prices))
    console.print(
        Text(
            f"{first} {fmt(prices[0])}  →  {last} {fmt(prices[-1])}   "
            f"low {fmt(min(prices))}  high {fmt(max(prices))}  ({len(prices)} points)"
        )
    )
    if png is not None:
        console.print(f"chart written to {png}")


def _draw_png(path: Path, question: str, outcome: str, points: list[tuple[int, Decimal]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5), dpi=100)
    # Floats only for drawing: nothing from this chart reaches an order.
    from matplotlib.dates import date2num

    times = date2num([datetime.fromtimestamp(t, UTC) for t, _ in points])  # type: ignore[no-untyped-call]  # matplotlib.dates is untyped
    ax.plot(times, [float(p) for _, p in points])
    ax.xaxis_date()
    ax.set_title(f"{question} · {outcome}", fontsize=9)
    ax.set_ylim(0, 1)
    ax.set_ylabel("price")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def register(app: typer.Typer) -> None:
    """Add the read-only commands to ``app``."""
    app.command("markets", rich_help_panel="Browse")(markets_cmd)
    app.command("market", rich_help_panel="Browse")(market_cmd)
    app.command("book", rich_help_panel="Browse")(book_cmd)
    app.command("price", rich_help_panel="Browse")(price_cmd)
    app.command("history", rich_help_panel="Browse")(history_cmd)
