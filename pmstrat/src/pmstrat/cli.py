"""The ``pmstrat`` command line: simulate, backtest, sweep, scan, rewards, strategies.

This is the edge: the only place that reads the environment (``PMT_ENV``, ``PMT_SIM_URL``,
``RAY_ADDRESS`` through pmtrader's ``Settings`` and typer's ``envvar``). A ``PmstratError`` or
pmtrader error becomes one red line and exit status 1, never a traceback.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pmstrat import __version__
from pmstrat.errors import ParameterError, PmstratError

if TYPE_CHECKING:
    from pmstrat.backtest import BacktestConfig
    from pmstrat.context import OrderBookSnapshot
    from pmstrat.recording import EventStream
    from pmstrat.results import BacktestResult
    from pmtrader import Client

app = typer.Typer(
    name="pmstrat",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Strategies, backtests, liquidity-rewards estimates and parameter sweeps for Polymarket.",
)
console = Console()
errors = Console(stderr=True)

ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="A strategy parameter, NAME=VALUE (repeatable)."),
]
StrategyOpt = Annotated[
    str, typer.Option("--strategy", "-s", help="Registered name or module:attr.")
]
EnvOpt = Annotated[
    str | None,
    typer.Option("--env", help="Venue: 'prod' or 'sim' (the local exchange); default PMT_ENV."),
]
HtmlOpt = Annotated[
    Path | None, typer.Option("--html", help="Also write an HTML report (plotly) here.")
]


_F = TypeVar("_F", bound=Callable[..., None])


def _user_errors(command: _F) -> _F:
    """Turn pmstrat's and pmtrader's errors, and unusable paths, into one line and exit 1."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        from pmtrader.errors import PmtraderError

        try:
            command(*args, **kwargs)
        except (PmstratError, PmtraderError) as exc:
            errors.print(f"[red]error:[/] {exc}")
            raise typer.Exit(1) from None
        except OSError as exc:  # a path the user gave that cannot be read or written
            where = f" ({exc.filename})" if exc.filename else ""
            errors.print(f"[red]error:[/] {exc.strerror or exc}{where}")
            raise typer.Exit(1) from None

    return run  # type: ignore[return-value]  # same signature, wrapped


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"pmstrat {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Strategies, backtests, liquidity-rewards estimates and parameter sweeps for Polymarket."""


def _params(pairs: Sequence[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ParameterError(f"--param takes NAME=VALUE, got {pair!r}")
        out[name.strip()] = value.strip()
    return out


@contextmanager
def _progress(label: str, total: int) -> Iterator[Callable[..., None]]:
    """A transient progress bar on stderr; yields ``update(done, total=None)``."""
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)

        def update(done: int, total: int | None = None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _client(env: str | None) -> Client:
    from pmtrader import Client, Settings

    environ = dict(os.environ)
    if env is not None:
        if env not in ("prod", "sim"):
            raise ParameterError(f"--env must be 'prod' or 'sim', not {env!r}")
        environ["PMT_ENV"] = env
    return Client(Settings.from_env(environ))


def _run_backtest(
    stream: EventStream,
    strategy: str,
    *,
    params: Sequence[str] | None,
    config: BacktestConfig,
    html: Path | None,
    caveat: str = "",
) -> BacktestResult:
    from pmstrat.backtest import backtest
    from pmstrat.dsl import get_strategy
    from pmstrat.report import summary_table, write_html

    instance = get_strategy(strategy).create(_params(params))
    with _progress(f"replaying {len(stream):,} events", len(stream)) as update:
        result = backtest(stream, instance, config, progress=update)
    console.print(summary_table(result))
    if caveat:
        console.print(f"[yellow]note:[/] {caveat}")
    if result.rejections:
        reasons: dict[str, int] = {}
        for rejection in result.rejections:
            reasons[rejection.reason] = reasons.get(rejection.reason, 0) + 1
        listed = ", ".join(f"{n} x {r}" for r, n in sorted(reasons.items()))
        console.print(f"[yellow]rejected signals:[/] {listed}")
    if html is not None:
        console.print(f"report: {write_html(result, stream, html)}")
    return result


def _config(cash: Decimal, latency_ms: int, fees: bool, rewards: bool) -> BacktestConfig:
    from pmstrat.backtest import BacktestConfig
    from pmstrat.units import amount_units

    config = BacktestConfig(
        cash=amount_units(cash), latency_ms=latency_ms, fees=fees, rewards=rewards
    )
    config.check()
    return config


CashOpt = Annotated[Decimal, typer.Option("--cash", help="Starting pUSD.")]
LatencyOpt = Annotated[int, typer.Option("--latency-ms", help="Signal-to-book delay.", min=0)]
FeesOpt = Annotated[bool, typer.Option("--fees/--no-fees", help="Charge taker fees.")]
RewardsOpt = Annotated[bool, typer.Option("--rewards/--no-rewards", help="Accrue rewards.")]


@app.command()
@_user_errors
def simulate(
    *,
    ticks: Annotated[int, typer.Option("--ticks", help="Steps per market.", min=2)] = 500,
    strategy: StrategyOpt = "sure_bets",
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the market.")] = 7,
    markets: Annotated[int, typer.Option("--markets", help="Synthetic markets.", min=1)] = 3,
    step_ms: Annotated[int, typer.Option("--step-ms", help="Ms between steps.", min=1)] = 1_000,
    params: ParamOpt = None,
    cash: CashOpt = Decimal(1000),
    latency_ms: LatencyOpt = 0,
    fees: FeesOpt = True,
    rewards: RewardsOpt = True,
    html: HtmlOpt = None,
) -> None:
    """Run a strategy on seeded synthetic binary markets."""
    from pmstrat.synthetic import SyntheticConfig, generate

    stream = generate(SyntheticConfig(markets=markets, ticks=ticks, step_ms=step_ms), seed=seed)
    _run_backtest(
        stream, strategy, params=params, config=_config(cash, latency_ms, fees, rewards), html=html
    )


@app.command(name="backtest")
@_user_errors
def backtest_cmd(
    *,
    data: Annotated[
        Path | None, typer.Option("--data", help="A Parquet recording (pmstrat schema).")
    ] = None,
    market: Annotated[
        str | None, typer.Option("--market", help="A market slug: replay its price history.")
    ] = None,
    env: EnvOpt = None,
    interval: Annotated[
        str, typer.Option("--interval", help="History span: max, 1w, 1d, 6h, 1h.")
    ] = "1w",
    fidelity: Annotated[int, typer.Option("--fidelity", help="History minutes/point.")] = 60,
    strategy: StrategyOpt = "sure_bets",
    params: ParamOpt = None,
    cash: CashOpt = Decimal(1000),
    latency_ms: LatencyOpt = 0,
    fees: FeesOpt = True,
    rewards: RewardsOpt = True,
    html: HtmlOpt = None,
) -> None:
    """Backtest a strategy on a recording (--data) or a market's price history (--market)."""
    if (data is None) == (market is None):
        raise ParameterError("give exactly one of --data PATH or --market SLUG")
    config = _config(cash, latency_ms, fees, rewards)
    caveat = ""
    if data is not None:
        from pmstrat.recording import read_parquet

        stream = read_parquet(data)
    else:
        from pmstrat.venue import HISTORY_CAVEAT, fetch_market, history_stream

        assert market is not None
        with _client(env) as client:
            info = fetch_market(client, market)
            stream = history_stream(
                client, info, interval=interval, fidelity=fidelity, now_ms=_now_ms()
            )
        caveat = HISTORY_CAVEAT
    _run_backtest(stream, strategy, params=params, config=config, html=html, caveat=caveat)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@app.command()
@_user_errors
def sweep(
    *,
    strategy: StrategyOpt = "rewards_maker",
    grid: Annotated[
        list[str] | None,
        typer.Option("--grid", "-g", help="NAME=V1,V2,... values to try (repeatable)."),
    ] = None,
    points: Annotated[
        int, typer.Option("--points", help="With --vary: values per declared range.", min=1)
    ] = 3,
    vary: Annotated[
        list[str] | None, typer.Option("--vary", help="Sweep NAME over its declared range.")
    ] = None,
    random_n: Annotated[
        int, typer.Option("--random", help="Random search: this many samples.", min=0)
    ] = 0,
    data: Annotated[
        list[Path] | None, typer.Option("--data", help="Parquet recordings (repeatable).")
    ] = None,
    seeds: Annotated[
        str, typer.Option("--seeds", help="Synthetic seeds when no --data: 1,2,3.")
    ] = "1,2",
    ticks: Annotated[int, typer.Option("--ticks", help="Synthetic steps.", min=2)] = 1000,
    markets: Annotated[int, typer.Option("--markets", help="Synthetic markets.", min=1)] = 2,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Processes (default: all cores).", min=1)
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address", envvar="RAY_ADDRESS", help="Run on Ray ('local' starts one)."
        ),
    ] = None,
    rank_by: Annotated[str, typer.Option("--rank-by", help="pnl, sharpe, hit_rate...")] = "pnl",
    out: Annotated[
        Path | None, typer.Option("--out", help="Write all rows to .csv or .parquet.")
    ] = None,
    top: Annotated[int, typer.Option("--top", help="Rows to print.", min=1)] = 10,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random search.")] = 0,
    cash: CashOpt = Decimal(1000),
    latency_ms: LatencyOpt = 0,
    fees: FeesOpt = True,
    rewards: RewardsOpt = True,
) -> None:
    """Search a strategy's parameters in parallel (processes, or Ray) and rank the results."""
    from pmstrat.dsl import get_strategy
    from pmstrat.sweep import (
        Dataset,
        ParquetData,
        SyntheticData,
        grid_points,
        random_search,
    )
    from pmstrat.sweep import grid as make_grid
    from pmstrat.sweep import sweep as run_sweep
    from pmstrat.synthetic import SyntheticConfig

    defined = get_strategy(strategy)
    if out is not None and out.suffix not in (".csv", ".parquet"):
        raise ParameterError(f"--out must end in .csv or .parquet, not {out.name!r}")
    if random_n:
        param_sets = random_search(defined, random_n, seed=seed, names=vary or None)
    else:
        axes: dict[str, list[object]] = dict(grid_points(defined, vary or (), points))
        for item in grid or ():
            name, sep, values = item.partition("=")
            if not sep or not values:
                raise ParameterError(f"--grid takes NAME=V1,V2,..., got {item!r}")
            axes[name.strip()] = [v.strip() for v in values.split(",")]
        if not axes:
            raise ParameterError("say what to sweep: --grid NAME=V1,V2, --vary NAME, or --random N")
        param_sets = make_grid(defined, axes)
    datasets: list[Dataset]
    if data:
        datasets = [ParquetData(str(p)) for p in data]
    else:
        try:
            seed_list = [int(s) for s in seeds.split(",") if s.strip()]
        except ValueError as exc:
            raise ParameterError(f"--seeds takes integers like 1,2,3, got {seeds!r}") from exc
        config = SyntheticConfig(markets=markets, ticks=ticks)
        datasets = [SyntheticData(config, s) for s in seed_list]
    runs = len(param_sets) * len(datasets)
    console.print(
        f"sweeping {defined.name}: {len(param_sets)} parameter sets x {len(datasets)} datasets"
    )
    with _progress(f"{runs} backtests, chunks", 1) as update:
        result = run_sweep(
            strategy,  # workers load it the same way: by name or module:attr
            param_sets,
            datasets,
            config=_config(cash, latency_ms, fees, rewards),
            workers=workers,
            ray_address=ray_address,
            rank_by=rank_by,
            progress=update,
        )
    console.print(_rows_table(result.rows[:top], f"top {min(top, len(result.rows))} by {rank_by}"))
    console.print(f"{len(result.rows)} runs on {result.backend} ({result.workers} workers)")
    if out is not None:
        path = result.to_csv(out) if out.suffix == ".csv" else result.to_parquet(out)
        console.print(f"all rows: {path}")


def _rows_table(rows: Sequence[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    if not rows:
        return table
    keep = [k for k in rows[0] if k.startswith("param.")] + [
        "dataset",
        "pnl",
        "sharpe",
        "max_drawdown",
        "hit_rate",
        "fills",
        "rewards",
    ]
    for key in keep:
        table.add_column(key.removeprefix("param."), justify="right")
    for row in rows:
        table.add_row(*(str(row.get(k, "")) for k in keep))
    return table


@app.command()
@_user_errors
def scan(
    env: EnvOpt = None,
    strategies: Annotated[
        list[str] | None, typer.Option("--strategy", "-s", help="Only these (repeatable).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Markets to fetch.", min=1)] = 100,
    top: Annotated[int, typer.Option("--top", help="Hits per strategy.", min=1)] = 10,
) -> None:
    """Run each strategy's screen over live markets (production, or --env sim)."""
    from pmstrat.dsl import get_strategy, registered_strategies, run_screens
    from pmstrat.venue import scan_context

    chosen = [get_strategy(s) for s in strategies] if strategies else registered_strategies()
    with _client(env) as client:
        ctx = scan_context(client, limit=limit, now_ms=_now_ms())
    console.print(f"scanned {len(ctx.markets)} markets, {len(ctx.books)} books")
    for name, found in run_screens(chosen, ctx).items():
        hits = found[:top]
        table = Table(title=f"{name}: {len(hits)} hits")
        table.add_column("market")
        table.add_column("outcome")
        table.add_column("score", justify="right")
        table.add_column("why")
        for hit in hits:
            table.add_row(
                hit.market.slug, hit.market.outcome(hit.token), f"{hit.score:.4g}", hit.note
            )
        console.print(table)


@app.command()
@_user_errors
def rewards(
    slug: Annotated[str, typer.Argument(help="The market's slug.")],
    *,
    env: EnvOpt = None,
    distance: Annotated[
        Decimal, typer.Option("--distance", help="Quote distance from the mid, in cents.")
    ] = Decimal(1),
    size: Annotated[Decimal, typer.Option("--size", help="Shares per quote.")] = Decimal(100),
    one_sided: Annotated[bool, typer.Option("--one-sided", help="Quote the bid only.")] = False,
    data: Annotated[
        Path | None, typer.Option("--data", help="Replay this recording's books instead.")
    ] = None,
    samples: Annotated[
        int, typer.Option("--samples", min=1, max=600, help="Live books to sample.")
    ] = 5,
    every: Annotated[
        float,
        typer.Option("--every", min=0.05, max=60.0, help="Seconds between live samples."),
    ] = 1.0,
) -> None:
    """Estimate the liquidity reward per day of quoting a market (a range, see the note).

    Live, the books are sampled ``--samples`` times, ``--every`` seconds apart, and each sample
    is scored (the venue samples every minute; one snapshot of a thin book says little).
    """
    from pmstrat.rewards import RewardsSimulator, SymmetricPolicy
    from pmstrat.units import amount_decimal, amount_units, price_units
    from pmstrat.venue import fetch_books, fetch_market

    with _client(env) as client:
        market = fetch_market(client, slug)
        # Each live snapshot is stamped with its sampling instant, so sampling at exactly that
        # period scores every snapshot once.
        every_ms = max(1, round(every * 1000))
        start_ms = _now_ms()
        books = []
        if data is None:
            for i in range(samples):
                if i:
                    time.sleep(every)
                stamp = start_ms + i * every_ms
                books.append(fetch_books(client, list(market.tokens), now_ms=stamp))
    size_units = max(amount_units(size), market.rewards_min_size)
    policy = SymmetricPolicy(
        distance=price_units(distance / 100), size=size_units, two_sided=not one_sided
    )
    sim = RewardsSimulator(market, policy)
    if data is not None:
        from pmstrat.recording import book_snapshots, read_parquet

        pairs: list[tuple[OrderBookSnapshot, OrderBookSnapshot | None]]
        pairs = list(book_snapshots(read_parquet(data), market))
    else:
        pairs = [(b[market.yes], b.get(market.no)) for b in books if market.yes in b]
    # A recording is sampled once a minute, like the venue; live snapshots once each.
    estimate = sim.run(pairs) if data is not None else sim.run(pairs, sample_ms=every_ms)
    table = Table(title=f"rewards: {market.slug}")
    table.add_column("")
    table.add_column("pUSD / day", justify="right")
    table.add_row("expected", str(amount_decimal(estimate.per_day)))
    table.add_row("lower bound", str(amount_decimal(estimate.per_day_low)))
    table.add_row("upper bound", str(amount_decimal(estimate.per_day_high)))
    table.caption = (
        f"pool {amount_decimal(market.rewards_daily_rate)}/day, band "
        f"{market.rewards_max_spread_cents}c, min size {amount_decimal(market.rewards_min_size)}; "
        f"{estimate.samples} samples, scoring in {estimate.scored_samples}"
    )
    console.print(table)
    console.print(f"[yellow]note:[/] {estimate.note}")


@app.command(name="strategies")
@_user_errors
def strategies_cmd() -> None:
    """List the registered strategies and their parameters."""
    from pmstrat.dsl import registered_strategies

    table = Table(title="strategies")
    table.add_column("name")
    table.add_column("description")
    table.add_column("parameters (default, range)")
    table.add_column("watches")
    for defined in registered_strategies():
        params = []
        for p in defined.params.values():
            span = f"{p.low}..{p.high}" if p.low is not None else "|".join(map(str, p.choices))
            params.append(f"{p.name}={p.default}" + (f" [{span}]" if span else ""))
        watch = defined.watch.name or str(defined.watch)
        table.add_row(defined.name, defined.description, "\n".join(params), watch)
    console.print(table)


def main() -> None:
    """Run the ``pmstrat`` command line; user errors print one line, never a traceback."""
    app()
