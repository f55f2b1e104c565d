"""``make demo``: the whole pmt stack, offline, against the local exchange, in one command.

1. the local exchange (``pmtrader sim serve``, seed 7, background traders on) on a free port;
2. pmproxy in front of it;
3. a throwaway wallet: API key derived through the proxy, funded on the exchange;
4. pmengine, live (not dry-run) THROUGH pmproxy, with ``sure_bets`` and ``rewards_maker`` on a
   handful of markets for ``DEMO_SECONDS`` (default 60), with a live terminal view of orders,
   fills, positions, P&L and risk state (plain lines instead when stdout is not a terminal);
5. stop everything (engine first, so it cancels its orders), print a summary, write an HTML
   report and a JSON summary under ``.pmt/demo/<run>/``, and say what to do next.

Every child runs in its own process group; Ctrl-C or SIGTERM stops them all the same way and the
script checks that no process is left. Usage::

    python scripts/demo.py [--seconds N] [--run-dir DIR] [--summary-json PATH] [--plain]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _demo_report import render_view, summary_lines, write_report
from _demo_state import (
    AMOUNT_SCALE,
    MICRO_PER_PUSD,
    PRICE_SCALE,
    JournalView,
    RewardsTape,
    book_snapshot,
    histogram,
    micro_pusd,
    own_quotes,
    pusd,
    read_journal,
    scrape,
    total,
)
from _stack import SignalGate, Stack, StackError, StopSignalError, free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
FUND_PUSD = "1000"
N_MARKETS = 4
SAMPLE_S = 2.0
# Strategy parameters that make both strategies act on the seeded catalogue within seconds.
PARAMS = {
    "min_price": "0.5",
    "max_price": "0.99",
    "max_hours_to_end": "2000",
    "min_depth": "0",
    "max_spread_ticks": "50",
    "size": "10",
    "max_position": "30",
}
# Variables that could point a child at production or hand it a real key: never inherited.
_FOREIGN = ("PM_", "PMT_", "PMENGINE_", "PMPROXY_", "PRIVATE_KEY")


@dataclass
class Run:
    """Everything one demo run knows, filled in as it goes."""

    run_dir: Path
    seconds: float
    sim_url: str = ""
    proxy_url: str = ""
    metrics_url: str = ""
    address: str = ""
    markets: list[Any] = field(default_factory=list)  # pmstrat MarketInfo
    tapes: list[RewardsTape] = field(default_factory=list)
    view: JournalView = field(default_factory=JournalView)
    engine_metrics: dict[str, Any] = field(default_factory=dict)
    timeline: list[tuple[float, int, int, float, float]] = field(default_factory=list)
    mids: dict[str, int] = field(default_factory=dict)  # token -> mid x2 (1e-4 units)
    started: float = 0.0
    traded_s: float = 0.0
    engine_exit: int | None = None
    interrupted: str = ""

    @property
    def journal(self) -> Path:
        return self.run_dir / "engine" / "journal.sqlite3"


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN)}


def _start_exchange(stack: Stack, run: Run) -> None:
    port = free_port()
    child = stack.spawn(
        "exchange",
        [
            str(BIN / "pmtrader"),
            "sim",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--seed",
            "7",
            "--flow",
            "--initial-balance",
            "0",
            "--state-dir",
            str(run.run_dir / "exchange"),
        ],
        env=_clean_env(),
    )
    run.sim_url = f"http://127.0.0.1:{port}"
    stack.wait_http(child, run.sim_url + "/ok")


def _start_proxy(stack: Stack, run: Run) -> None:
    port = free_port()
    sim = run.sim_url
    child = stack.spawn(
        "pmproxy",
        [
            str(BIN / "pmproxy"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--clob-url",
            sim,
            "--gamma-url",
            sim + "/gamma",
            "--data-url",
            sim + "/data-api",
            "--chain-url",
            sim + "/chain",
            "--ws-url",
            sim.replace("http://", "ws://") + "/ws",
        ],
        env=_clean_env(),
    )
    run.proxy_url = f"http://127.0.0.1:{port}"
    stack.wait_http(child, run.proxy_url + "/health")


def _wallet(run: Run) -> str:
    """A fresh key; its API key derived through the proxy; 1000 pUSD credited on the exchange."""
    from eth_account import Account
    from pmtrader.client import Client
    from pmtrader.config import Secret, Settings

    account = Account.create()
    key: str = "0x" + account.key.hex().removeprefix("0x")
    run.address = account.address
    settings = Settings.from_env(
        {"PMT_ENV": "sim", "PMT_SIM_URL": run.sim_url, "PMPROXY_URL": run.proxy_url}
    )
    with Client(replace(settings, private_key=Secret(key))) as client:
        client.account.create_or_derive_api_key(use=True)
        fund = httpx.post(
            run.sim_url + "/_sim/fund",
            json={"address": run.address, "amount": FUND_PUSD},
            timeout=10,
        )
        if fund.status_code != 200:
            raise StackError(f"funding the demo wallet failed: {fund.text}")
        balance = client.account.get_balance_allowance("COLLATERAL").balance
    if Decimal(str(balance)) <= 0:
        raise StackError("the demo wallet shows no pUSD after funding")
    # A throwaway key on a local exchange, kept beside the run so `make ui` can show this state.
    key_file = run.run_dir / "wallet.key"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    return key


def _pick_markets(run: Run) -> list[str]:
    """A handful of open markets: some priced for sure_bets, some paying liquidity rewards."""
    items = httpx.get(
        run.proxy_url + "/gamma/markets", params={"limit": 100, "closed": "false"}, timeout=10
    ).json()
    open_ = [m for m in items if m.get("acceptingOrders") and not m.get("negRisk")]
    dear = [m["slug"] for m in open_ if 0.55 < float(m.get("bestAsk") or 0) < 0.97]
    paying = [
        m["slug"]
        for m in open_
        if float(m.get("rewardsMaxSpread") or 0) > 0
        and 0.2 < float(m.get("bestAsk") or 0) < 0.8
        and m["slug"] not in dear[:2]
    ]
    chosen = dear[:2] + paying[: N_MARKETS - 2]
    for m in open_:  # top up from whatever is open
        if len(chosen) >= N_MARKETS:
            break
        if m["slug"] not in chosen:
            chosen.append(m["slug"])
    if not chosen:
        raise StackError("the local exchange lists no open market")
    return chosen


def _start_engine(stack: Stack, run: Run, key: str, slugs: list[str]) -> None:
    from pmengine.markets import resolve_markets

    from pmtrader import Settings

    through_proxy = Settings(
        env="sim", clob_url=run.proxy_url + "/clob", gamma_url=run.proxy_url + "/gamma"
    )
    run.markets = asyncio.run(resolve_markets(through_proxy, slugs))
    run.tapes = [RewardsTape(m) for m in run.markets]
    metrics_port = free_port()
    args = [
        str(BIN / "pmengine"),
        "--env",
        "sim",
        "--state-dir",
        str(run.run_dir / "engine"),
        "--metrics-port",
        str(metrics_port),
        "--markets",
        ",".join(slugs),
        "--strategy",
        "sure_bets",
        "--strategy",
        "rewards_maker",
    ]
    for k, v in PARAMS.items():
        args += ["--param", f"{k}={v}"]
    env = _clean_env()
    env.update(
        PMENGINE_PRIVATE_KEY=key,
        PMPROXY_URL=run.proxy_url,
        PMENGINE_CLOB_URL=run.proxy_url + "/clob/",
        PMENGINE_WS_URL=run.proxy_url.replace("http://", "ws://") + "/ws",
        PMENGINE_TICK_INTERVAL_MS="200",
        PMENGINE_MAX_POSITION_SIZE="100",
        PMENGINE_MAX_TOTAL_EXPOSURE="500",
    )
    child = stack.spawn("engine", args, env=env)
    run.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    stack.wait_http(child, run.metrics_url)
    # Trading starts once the engine has reconciled with the venue and its feed is up.
    stack.wait_log(child, '"feed.connected"')


def _sample(run: Run, http: httpx.Client) -> None:
    """Read the journal and the metrics; every SAMPLE_S also the books (for rewards, marks)."""
    with contextlib.suppress(sqlite3.Error):  # busy for a moment: keep the last view
        run.view = read_journal(run.journal)
    try:
        run.engine_metrics = scrape(run.metrics_url, http)
    except httpx.HTTPError:
        return
    now = time.monotonic() - run.started
    if not run.timeline or now - run.timeline[-1][0] >= SAMPLE_S:
        ts_ms = time.time_ns() // 1_000_000
        for tape in run.tapes:
            yes, no = tape.market.tokens
            try:
                book = book_snapshot(http, run.proxy_url + "/clob", yes, ts_ms, tape.market.tick)
            except httpx.HTTPError:
                continue  # a slow answer on a busy machine: this market skips one sample
            tape.add(book, own_quotes(tape.market, run.view.working))
            if book.best_bid is not None and book.best_ask is not None:
                run.mids[yes] = book.best_bid + book.best_ask
                run.mids[no] = 2 * PRICE_SCALE - run.mids[yes]
        run.timeline.append(
            (
                now,
                run.view.orders,
                run.view.fills,
                float(micro_pusd(run.view.realized)),
                float(_unrealized(run)),
            )
        )


def _unrealized(run: Run) -> Decimal:
    """Positions marked to the venue's mid, exactly: qty * mid - cost (micro-notional)."""
    doubled = 0  # micro-notional units, times two (the mid is carried doubled)
    for token, (qty, cost) in run.view.positions.items():
        mid_x2 = run.mids.get(token)
        if mid_x2 is not None:
            doubled += qty * mid_x2 - 2 * cost
    return (Decimal(doubled) / (2 * MICRO_PER_PUSD)).normalize()


def _trade(run: Run, *, live: bool) -> None:
    """Let the engine trade for ``run.seconds``, showing what it does."""
    run.started = time.monotonic()
    deadline = run.started + run.seconds
    last_line = 0.0
    try:
        with httpx.Client(timeout=5.0) as http:
            if live:
                from rich.console import Console
                from rich.live import Live

                with Live(console=Console(), refresh_per_second=4, transient=False) as screen:
                    while time.monotonic() < deadline:
                        _sample(run, http)
                        screen.update(render_view(run_status(run)))
                        time.sleep(0.25)
            else:
                while time.monotonic() < deadline:
                    _sample(run, http)
                    if time.monotonic() - last_line >= 5.0:
                        last_line = time.monotonic()
                        s = run_status(run)
                        print(
                            f"[{s['elapsed_s']:>5.1f}s] state={s['trading_state']} "
                            f"orders={s['orders']} fills={s['fills']} open={len(s['working'])} "
                            f"positions={len(s['positions'])} realized={s['realized_pnl']} "
                            f"unrealized={s['unrealized_pnl']} pUSD",
                            flush=True,
                        )
                    time.sleep(0.25)
            _sample(run, http)  # the last look before the engine stops
    finally:  # also when interrupted: the summary says how long it really traded
        run.traded_s = time.monotonic() - run.started


def run_status(run: Run) -> dict[str, Any]:
    """What the live view shows (also the plain lines)."""
    v = run.view
    lat = histogram(run.engine_metrics, "pmengine_tick_to_decision_seconds")
    return {
        "elapsed_s": time.monotonic() - run.started,
        "seconds": run.seconds,
        "trading_state": v.trading_state,
        "strategies": v.strategies,
        "orders": v.orders,
        "orders_by_state": v.orders_by_state,
        "fills": v.fills,
        "fees": pusd(v.fees),
        "realized_pnl": micro_pusd(v.realized),
        "unrealized_pnl": _unrealized(run),
        "denials": v.denials,
        "exposure": total(run.engine_metrics, "pmengine_exposure_pusd"),
        "staleness_s": total(run.engine_metrics, "pmengine_feed_staleness_seconds"),
        "p50_ms": None if (q := lat.quantile(0.5)) is None else q * 1000,
        "positions": {t: pusd(q) for t, (q, _c) in v.positions.items()},
        "working": v.working,
        "recent_fills": v.recent_fills,
        "slugs": {t: m.slug for m in run.markets for t in m.tokens},
    }


def _exchange_positions(run: Run) -> dict[str, int]:
    """The wallet's positions as the exchange's Data API reports them (through pmproxy)."""
    rows = httpx.get(
        run.proxy_url + "/data/positions",
        params={"user": run.address, "sizeThreshold": "0", "limit": 500},
        timeout=10,
    ).json()
    return {
        str(r["asset"]): int(Decimal(str(r["size"])) * AMOUNT_SCALE)
        for r in rows
        if Decimal(str(r["size"])) != 0
    }


def _summary(run: Run, proxy_metrics: dict[str, Any], venue: dict[str, int]) -> dict[str, Any]:
    v = run.view
    lat = histogram(run.engine_metrics, "pmengine_tick_to_decision_seconds")
    p50, p99 = lat.quantile(0.5), lat.quantile(0.99)
    per_day = low = high = 0
    scored = samples = 0
    for tape in run.tapes:
        est = tape.estimate(int(SAMPLE_S * 1000))
        if est is not None:
            per_day += est.per_day
            low += est.per_day_low
            high += est.per_day_high
            samples += est.samples
            scored += est.scored_samples
    engine_positions = {t: q for t, (q, _c) in v.positions.items()}
    requests = proxy_metrics.get("pmproxy_requests_total", [])
    by_route: dict[str, int] = {}
    for labels, value in requests:
        by_route[labels["route"]] = by_route.get(labels["route"], 0) + int(value)
    return {
        "seconds": round(run.traded_s, 1),
        "interrupted": run.interrupted or None,
        "run_dir": str(run.run_dir),
        "wallet": run.address,
        "markets": [m.slug for m in run.markets],
        "orders": v.orders,
        "orders_by_state": v.orders_by_state,
        "orders_by_strategy": v.orders_by_strategy,
        "fills": v.fills,
        "fees_pusd": str(pusd(v.fees)),
        "realized_pnl_pusd": str(micro_pusd(v.realized)),
        "unrealized_pnl_pusd": str(_unrealized(run)),
        "rewards_per_day_pusd": str(pusd(per_day)),
        "rewards_per_day_range_pusd": [str(pusd(low)), str(pusd(high))],
        "rewards_samples": samples,
        "rewards_scored_samples": scored,
        "tick_to_decision_p50_ms": None if p50 is None else round(p50 * 1000, 3),
        "tick_to_decision_p99_ms": None if p99 is None else round(p99 * 1000, 3),
        "decisions": int(lat.count),
        "risk_denials": v.denials,
        "trading_state": v.trading_state,
        "proxy_requests": sum(by_route.values()),
        "proxy_requests_by_route": by_route,
        "positions": {t: str(pusd(q)) for t, q in sorted(engine_positions.items())},
        "exchange_positions": {t: str(pusd(q)) for t, q in sorted(venue.items())},
        "positions_match": engine_positions == venue,
        "engine_exit_code": run.engine_exit,
    }


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.splitlines()[0])
    default_s = os.environ.get("DEMO_SECONDS", "60")
    parser.add_argument("--seconds", default=default_s, help="How long the engine trades (60).")
    parser.add_argument("--run-dir", type=Path, help="Where the run's state goes.")
    parser.add_argument("--summary-json", type=Path, help="Also write the summary here.")
    parser.add_argument("--plain", action="store_true", help="Plain lines, no live view.")
    args = parser.parse_args(argv)
    try:
        args.seconds = float(args.seconds)
    except ValueError:
        parser.error(f"DEMO_SECONDS / --seconds must be a number of seconds, got {args.seconds!r}")
    if not 1 <= args.seconds <= 86_400:
        parser.error(f"DEMO_SECONDS / --seconds must be from 1 to 86400, got {args.seconds:g}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return the exit code (0 done, 1 a part failed, 130 interrupted)."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = (args.run_dir or ROOT / ".pmt" / "demo" / stamp).resolve()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(
            f"make demo: error: cannot create the run directory {run_dir}: {exc}", file=sys.stderr
        )
        return 2
    if args.summary_json is not None and not args.summary_json.resolve().parent.is_dir():
        print(
            f"make demo: error: --summary-json {args.summary_json}: its directory does not exist",
            file=sys.stderr,
        )
        return 2
    run = Run(run_dir=run_dir, seconds=args.seconds)
    live = sys.stdout.isatty() and not args.plain
    gate = SignalGate()
    gate.install()
    stack = Stack(run_dir / "logs", gate)
    t0 = time.monotonic()
    code = 0
    summary: dict[str, Any] | None = None
    try:
        print(f"pmt demo: run directory {run_dir}", flush=True)
        _start_exchange(stack, run)
        print(f"  local exchange  {run.sim_url}  (seed 7, background traders on)", flush=True)
        _start_proxy(stack, run)
        print(f"  pmproxy         {run.proxy_url}", flush=True)
        key = _wallet(run)
        print(f"  wallet          {run.address}  funded {FUND_PUSD} pUSD", flush=True)
        slugs = _pick_markets(run)
        _start_engine(stack, run, key, slugs)
        print(f"  pmengine        live through pmproxy on {', '.join(slugs)}", flush=True)
        print(f"  trading for {run.seconds:g} s …", flush=True)
        _trade(run, live=live)
    except StopSignalError as exc:
        run.interrupted = str(exc)
        code = 130
    except StackError as exc:
        print(f"pmt demo: {exc}", file=sys.stderr)
        code = 1
    except Exception as exc:  # any other failure: say what, then the same orderly shutdown
        print(
            f"pmt demo: {type(exc).__name__}: {exc} (logs in {run_dir / 'logs'})", file=sys.stderr
        )
        code = 1
    except BaseException:
        stack.stop_all()  # an unexpected error still leaves no process behind
        raise
    try:
        # A second Ctrl-C must not cut the shutdown short (every wait in it is bounded).
        gate.ignore()
        engine = next((c for c in stack.children if c.name == "engine"), None)
        if engine is not None:
            run.engine_exit = stack.stop(engine, grace_s=30.0)  # cancels its orders on SIGTERM
            run.view = read_journal(run.journal)
            with httpx.Client(timeout=10.0) as http:
                proxy_metrics = scrape(run.proxy_url + "/metrics", http)
            venue = _exchange_positions(run)
            summary = _summary(run, proxy_metrics, venue)
            if run.engine_exit != 0 and code == 0:
                code = 1
    except (httpx.HTTPError, OSError, sqlite3.Error) as exc:
        print(f"pmt demo: could not read the final state: {exc}", file=sys.stderr)
        code = code or 1
    finally:
        leftovers = stack.stop_all()
    if leftovers:
        print(f"pmt demo: processes left behind: {', '.join(leftovers)}", file=sys.stderr)
        code = code or 1
    if summary is None and run.interrupted:
        print(
            f"pmt demo: stopped by {run.interrupted} before trading began; nothing is left running"
        )
    if summary is not None:
        summary["elapsed_s"] = round(time.monotonic() - t0, 1)
        summary["leftover_processes"] = leftovers
        summary["process_groups"] = {c.name: c.pgid for c in stack.children}
        summary["report"] = str(write_report(run_dir / "report.html", summary, run.timeline))
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
        if args.summary_json is not None:
            args.summary_json.write_text(json.dumps(summary, indent=2, sort_keys=True))
        latest = run_dir.parent / "latest"
        if run_dir.parent == ROOT / ".pmt" / "demo":
            latest.unlink(missing_ok=True)
            latest.symlink_to(run_dir.name)
        with contextlib.suppress(ValueError):  # print a short path when under the checkout
            summary["run_dir"] = str(run_dir.relative_to(Path.cwd()))
        for line in summary_lines(summary):
            print(line)
    return code


if __name__ == "__main__":
    sys.exit(main())
