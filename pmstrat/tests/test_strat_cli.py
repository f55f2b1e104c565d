"""The ``pmstrat`` command line: every command runs, and user errors are one line, no traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pmstrat.cli import app
from pmstrat.recording import write_parquet
from pmstrat.synthetic import SyntheticConfig, generate
from pmtrader.testing import SimServer
from typer.testing import CliRunner

from pmstrat import __version__
from pmtrader import Client, Settings

runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_version_and_help() -> None:
    assert invoke("--version") == (0, f"pmstrat {__version__}\n")
    code, out = invoke("--help")
    assert code == 0
    for command in ("simulate", "backtest", "sweep", "scan", "rewards", "strategies"):
        assert command in out


def test_strategies_lists_the_built_ins_with_their_parameters() -> None:
    code, out = invoke("strategies")
    assert code == 0
    for name in ("sure_bets", "rewards_maker", "spread_watcher", "max_hours_to_end"):
        assert name in out


def _pnl(out: str) -> str:
    match = re.search(r"P&L \(pUSD\)\s*│\s*(-?[\d,.]+)", out)
    assert match, out
    return match.group(1)


def test_simulate_is_deterministic_under_a_seed_and_writes_a_report(tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    args = ["simulate", "--ticks", "400", "--seed", "7", "--strategy", "spread_watcher"]
    code, first = invoke(*args, "--html", str(html))
    assert code == 0, first
    code, second = invoke(*args)
    assert code == 0
    assert _pnl(first) == _pnl(second)
    page = html.read_text()
    assert "plotly" in page
    assert "Price and fills" in page
    code, other = invoke(
        "simulate", "--ticks", "400", "--seed", "8", "--strategy", "spread_watcher"
    )
    assert code == 0
    assert "replay speed" in other


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["simulate", "--strategy", "nope"], "no strategy named 'nope'"),
        (["simulate", "-p", "size"], "--param takes NAME=VALUE"),
        (["simulate", "-p", "colour=red"], "has no parameter 'colour'"),
        (["simulate", "-s", "spread_watcher", "-p", "size=lots"], "expects Decimal"),
        (["backtest"], "exactly one of --data PATH or --market SLUG"),
        (["backtest", "--data", "/nonexistent.parquet"], "no recording at"),
        (["sweep", "--grid", "nope=1"], "has no parameter 'nope'"),
        (["sweep", "--strategy", "spread_watcher"], "say what to sweep"),
        (["sweep", "--vary", "size", "--out", "x.txt"], "--out must end in .csv or .parquet"),
        (["scan", "--env", "staging"], "--env must be 'prod' or 'sim'"),
        (
            [
                "sweep",
                "-s",
                "spread_watcher",
                "-g",
                "min_spread_ticks=2",
                "--seeds",
                "1",
                "--ticks",
                "50",
                "--workers",
                "1",
                "--out",
                "/nonexistent/dir/rows.csv",
            ],
            "No such file or directory (/nonexistent/dir/rows.csv)",
        ),
    ],
)
def test_user_errors_are_one_line_and_exit_1(args: list[str], message: str) -> None:
    code, out = invoke(*args)
    assert code == 1
    assert message in " ".join(out.split())
    assert "Traceback" not in out


def test_the_installed_script_prints_errors_without_a_traceback() -> None:
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("pmstrat")), "simulate", "--strategy", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 1
    assert "error: no strategy named 'nope'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_backtest_replays_a_recording(tmp_path: Path) -> None:
    path = write_parquet(
        generate(SyntheticConfig(markets=1, ticks=300), seed=3), tmp_path / "r.parquet"
    )
    code, out = invoke(
        "backtest", "--data", str(path), "--strategy", "rewards_maker", "--latency-ms", "100"
    )
    assert code == 0, out
    assert "backtest: rewards_maker" in out


def test_sweep_ranks_and_writes_rows(tmp_path: Path) -> None:
    out_path = tmp_path / "rows.csv"
    code, out = invoke(
        "sweep",
        "--strategy",
        "pmstrat.strategies.spread_watcher:spread_watcher",  # module:attr works like a name
        "--grid",
        "min_spread_ticks=2,4",
        "--seeds",
        "1",
        "--ticks",
        "200",
        "--workers",
        "2",
        "--latency-ms",
        "100",
        "--out",
        str(out_path),
    )
    assert code == 0, out
    assert "top 2 by pnl" in out
    assert len(out_path.read_text().splitlines()) == 3


def _sim_env(sim: SimServer) -> dict[str, str]:
    return {"PMT_ENV": "sim", "PMT_SIM_URL": sim.url, "COLUMNS": "200"}


def _rewarded_slug(sim: SimServer) -> str:
    """A rewarded market whose book has a midpoint by the rewards rule, deepest first."""
    best: tuple[int, str] | None = None
    with Client(Settings.for_sim(sim.url)) as client:
        for market in client.gamma.get_markets(active=True, closed=False, limit=50):
            if market.rewards_max_spread and len(market.clob_token_ids) == 2:
                book = client.books.get_order_book(market.clob_token_ids[0])
                cutoff = market.rewards_min_size or 0
                deep = min(
                    sum(1 for level in book.bids if level.size >= cutoff),
                    sum(1 for level in book.asks if level.size >= cutoff),
                )
                if deep and (best is None or deep > best[0]):
                    best = (deep, market.slug)
    assert best is not None, "the local exchange lists no rewarded market with a two-sided book"
    return best[1]


def test_scan_runs_every_screen_against_the_local_exchange(sim: SimServer) -> None:
    code, out = invoke("scan", "--env", "sim", "--limit", "30", "--top", "100", env=_sim_env(sim))
    assert code == 0, out
    assert re.search(r"scanned 30 markets, 60 books", out)
    for name in ("sure_bets", "rewards_maker", "spread_watcher"):
        assert f"{name}:" in out
    assert re.search(r"rewards_maker: [1-9]\d* hits", out)


def test_backtest_on_a_market_history_from_the_local_exchange(sim: SimServer) -> None:
    slug = _rewarded_slug(sim)
    code, out = invoke(
        "backtest",
        "--market",
        slug,
        "--env",
        "sim",
        "--strategy",
        "spread_watcher",
        env=_sim_env(sim),
    )
    assert code == 0, out
    assert "backtest: spread_watcher" in out
    assert "price history has no books" in out
    code, out = invoke("backtest", "--market", "no-such-market", "--env", "sim", env=_sim_env(sim))
    assert code == 1
    assert "cannot fetch market 'no-such-market'" in " ".join(out.split())


def test_rewards_estimate_for_a_live_market_is_a_range(sim: SimServer) -> None:
    slug = _rewarded_slug(sim)
    code, out = invoke(
        "rewards",
        slug,
        "--env",
        "sim",
        "--distance",
        "1",
        "--samples",
        "3",
        "--every",
        "0.2",
        env=_sim_env(sim),
    )
    assert code == 0, out
    # Each live snapshot is one sample: never more than were taken.
    sampled = re.search(r"(\d+) samples, scoring in (\d+)", " ".join(out.split()))
    assert sampled is not None, out
    assert 1 <= int(sampled.group(1)) <= 3
    assert "expected" in out
    assert "lower bound" in out
    assert "upper bound" in out
    assert "two-sided allocation is unknown" in " ".join(out.split())


def test_an_unreachable_venue_is_a_one_line_error() -> None:
    env = {"PMT_ENV": "sim", "PMT_SIM_URL": "http://127.0.0.1:1", "COLUMNS": "200"}
    code, out = invoke("scan", "--env", "sim", "--limit", "2", env=env)
    assert code == 1
    assert "cannot list markets" in out
    assert "Traceback" not in out
