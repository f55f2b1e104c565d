"""The ``pmengine`` command line: run the engine, and status / kill / resume / record.

``pmengine [--dry-run] [--strategy MODULE:NAME …] [--spread-watcher] [--markets SLUG…]
[--param k=v …] [--state-dir DIR] [--metrics-port N] [--env sim]`` runs the engine until
SIGTERM/SIGINT. The other commands work on the journal in ``--state-dir`` and never need the key.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

from pmengine import __version__
from pmengine._build import build_kind
from pmengine.config import DEFAULT_STATE_DIR, CliOverrides, Settings, load_settings
from pmengine.errors import PmengineError
from pmengine.journal import Journal, now_ms
from pmengine.units import AMOUNT_SCALE, PRICE_SCALE, side_name

app = typer.Typer(
    name="pmengine",
    add_completion=False,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Run pmstrat strategies against Polymarket through pre-trade risk (dry-run or live).",
)

StateDir = Annotated[
    str | None,
    typer.Option(
        "--state-dir", help="Journal directory (default $PMENGINE_STATE_DIR or ./pmengine-state)."
    ),
]


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"pmengine {__version__} ({build_kind()})")
        raise typer.Exit


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"pmengine: error: {message}", err=True)
    return typer.Exit(code)


def _split(values: list[str] | None) -> tuple[str, ...]:
    out: list[str] = []
    for v in values or []:
        out.extend(part.strip() for part in v.split(",") if part.strip())
    return tuple(out)


def _aws_key_loader(environ: Mapping[str, str]) -> str | None:
    from pmengine.secrets import KeySettings, load_private_key

    key = load_private_key(KeySettings.from_env(environ))
    return None if key is None else key.reveal()


def _state_dir(flag: str | None) -> Path:
    if flag is not None:
        if not flag.strip():
            raise _fail("--state-dir must be a directory path")
        return Path(flag)
    return Path(os.environ.get("PMENGINE_STATE_DIR", "").strip() or DEFAULT_STATE_DIR)


@app.callback()
def _root(  # noqa: PLR0917 - typer maps every option to one parameter
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Never send a mutating request; never load the key.")
    ] = False,
    strategy: Annotated[
        list[str] | None,
        typer.Option("--strategy", help="Strategy name or MODULE:NAME (repeatable)."),
    ] = None,
    spread_watcher: Annotated[
        bool, typer.Option("--spread-watcher", help="Also run the spread_watcher strategy.")
    ] = False,
    markets: Annotated[
        list[str] | None,
        typer.Option("--markets", help="Market slugs (repeatable or comma-separated)."),
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Strategy parameter k=v (repeatable).")
    ] = None,
    state_dir: StateDir = None,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Serve Prometheus metrics on this port.")
    ] = None,
    env: Annotated[
        str | None, typer.Option("--env", help="prod (default) or sim (the local exchange).")
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and whether the compiled or interpreted build runs.",
        ),
    ] = False,
) -> None:
    """Run the engine (no subcommand), or inspect and control it (status, kill, resume)."""
    if ctx.invoked_subcommand is not None:
        return
    strategies = list(_split(strategy))
    if spread_watcher:
        strategies.append("spread_watcher")
    overrides = CliOverrides(
        dry_run=True if dry_run else None,
        strategies=tuple(strategies),
        spread_watcher=spread_watcher,
        markets=_split(markets),
        params=tuple(param or ()),
        state_dir=state_dir,
        metrics_port=metrics_port,
        env=env,
    )
    try:
        settings = load_settings(os.environ, overrides, key_loader=_aws_key_loader)
    except PmengineError as exc:
        raise _fail(str(exc)) from None
    from pmengine.runner import run_engine

    try:
        code = asyncio.run(run_engine(settings))
    except PmengineError as exc:
        raise _fail(str(exc), 1) from None
    raise typer.Exit(code)


def _fmt_amount(units: int) -> str:
    return f"{units / AMOUNT_SCALE:,.6f}".rstrip("0").rstrip(".")


@app.command()
def status(
    state_dir: StateDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Trading state, strategies, positions, open orders and P&L from the journal."""
    path = _state_dir(state_dir)
    if not (path / "journal.sqlite3").exists():
        raise _fail(f"no journal in {path} (start the engine with --state-dir {path} first)")
    try:
        with Journal.in_dir(path) as journal:
            state = journal.trading_state()
            killed = (path / "KILL").exists()
            portfolio = journal.load_portfolio()
            working = journal.load_orders(working_only=True)
            strategies = journal.strategies()
            denials = journal.denial_counts()
    except PmengineError as exc:
        raise _fail(str(exc)) from None
    realized_micro = portfolio.realized()
    report = {
        "trading_state": "HALTED" if killed else state,
        "kill_file": killed,
        "cash": str(portfolio.cash) if portfolio.cash_known else None,
        "realized_pnl_micro": realized_micro,
        "realized_pnl": f"{realized_micro / (AMOUNT_SCALE * PRICE_SCALE):.6f}",
        "fees": portfolio.fees(),
        "positions": [
            {
                "token_id": p.token_id,
                "qty": p.qty,
                "cost_micro": p.cost,
                "realized_micro": p.realized,
                "fees": p.fees,
            }
            for p in sorted(portfolio.positions.values(), key=lambda p: p.token_id)
            if p.qty or p.realized
        ],
        "open_orders": [
            {
                "order_hash": o.order_hash,
                "strategy": o.strategy,
                "token_id": o.token_id,
                "side": side_name(o.side),
                "price": o.price,
                "size": o.size,
                "filled": o.filled,
                "state": o.state,
            }
            for o in working
        ],
        "strategies": [
            {"name": n, "status": s, "detail": d, "updated_ms": t} for n, s, d, t in strategies
        ],
        "denials": denials,
    }
    if as_json:
        typer.echo(json.dumps(report, indent=2, sort_keys=True))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]trading state[/bold]: {report['trading_state']}")
    cash = _fmt_amount(portfolio.cash) if portfolio.cash_known else "unknown"
    console.print(f"cash: {cash} pUSD   realized P&L: {report['realized_pnl']} pUSD")
    for n, s, d, _ in strategies:
        console.print(f"strategy {n}: {s}" + (f" ({d})" if d else ""))
    table = Table("token", "qty", "realized")
    for p in report["positions"]:  # type: ignore[attr-defined]  # the list built above
        table.add_row(str(p["token_id"])[:20], _fmt_amount(int(p["qty"])), str(p["realized_micro"]))
    console.print(table)
    orders = Table("order", "strategy", "side", "price", "size", "filled", "state")
    for o in working:
        orders.add_row(
            o.order_hash[:14],
            o.strategy,
            side_name(o.side),
            str(o.price / PRICE_SCALE),
            _fmt_amount(o.size),
            _fmt_amount(o.filled),
            o.state,
        )
    console.print(orders)


@app.command()
def kill(state_dir: StateDir = None) -> None:
    """Kill switch: HALTED (survives restarts), cancel-all, nothing new until ``resume``."""
    path = _state_dir(state_dir)
    path.mkdir(parents=True, exist_ok=True)
    (path / "KILL").write_text(f"killed by pmengine kill at {now_ms()}\n")
    try:
        with Journal.in_dir(path) as journal:
            journal.set_trading_state("HALTED", "pmengine kill")
    except PmengineError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"HALTED ({path})")


@app.command()
def resume(state_dir: StateDir = None) -> None:
    """Clear the kill switch: back to ACTIVE."""
    path = _state_dir(state_dir)
    try:
        with Journal.in_dir(path) as journal:
            journal.set_trading_state("ACTIVE", "pmengine resume")
    except PmengineError as exc:
        raise _fail(str(exc)) from None
    (path / "KILL").unlink(missing_ok=True)
    typer.echo(f"ACTIVE ({path})")


@app.command()
def record(
    markets: Annotated[
        list[str], typer.Option("--markets", help="Market slugs (repeatable or comma-separated).")
    ],
    out: Annotated[str, typer.Option("--out", help="Directory for the Parquet files.")],
    env: Annotated[
        str | None, typer.Option("--env", help="prod (default) or sim (the local exchange).")
    ] = None,
    rotate_minutes: Annotated[
        int, typer.Option("--rotate-minutes", min=1, help="Start a new file this often.")
    ] = 60,
    duration_s: Annotated[
        float | None, typer.Option("--duration-s", min=0.1, help="Stop after this long.")
    ] = None,
) -> None:
    """Record the market channel to Parquet (pmstrat's recording format), rotated hourly."""
    try:
        settings = load_settings(
            os.environ, CliOverrides(dry_run=True, markets=_split(markets), env=env)
        )
    except PmengineError as exc:
        raise _fail(str(exc)) from None
    if not settings.markets:
        raise _fail("--markets needs at least one market slug")
    from pmengine.runner import run_recorder

    try:
        written = asyncio.run(
            run_recorder(
                settings, Path(out), rotate_ms=rotate_minutes * 60_000, duration_s=duration_s
            )
        )
    except PmengineError as exc:
        raise _fail(str(exc), 1) from None
    for path in written:
        typer.echo(str(path))


def main() -> None:
    """Run the ``pmengine`` command line."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


def settings_summary(settings: Settings) -> dict[str, object]:
    """What the engine logs about its settings at start (never the key)."""
    return {
        "dry_run": settings.dry_run,
        "env": settings.env,
        "clob_url": settings.rest_url,
        "ws_url": settings.ws_url,
        "strategies": list(settings.strategies),
        "markets": list(settings.markets),
        "state_dir": str(settings.state_dir),
        "key": "set" if settings.private_key else "unset",
    }
