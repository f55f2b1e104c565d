"""``make demo`` as a user runs it: a real subprocess, the whole stack, a short run.

The demo starts the local exchange, pmproxy and a live pmengine (through the proxy), trades with
``sure_bets`` and ``rewards_maker``, stops everything and writes a summary. The test then checks
the summary against what the exchange itself holds: it restarts the exchange on the demo's state
directory and asks its Data API, independently of the demo, for the wallet's positions, and
checks with the wallet's own key that nothing is left resting. And no process of the demo is left.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pmstrat.rewards import Quote
from pmstrat.signal import Side
from pmtrader.client import Client
from pmtrader.config import Secret, Settings
from pmtrader.testing import start_sim

from pmstrat import OrderBookSnapshot

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "scripts" / "demo.py"


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _demo(run_dir: Path, seconds: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "DEMO_SECONDS"}
    return subprocess.Popen(
        [
            sys.executable,
            str(DEMO),
            "--seconds",
            str(seconds),
            "--run-dir",
            str(run_dir),
            "--summary-json",
            str(run_dir / "out.json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env=env,
        cwd=ROOT,
    )


def _journal_positions(run_dir: Path) -> dict[str, int]:
    db = sqlite3.connect(run_dir / "engine" / "journal.sqlite3")
    try:
        return {str(t): int(q) for t, q in db.execute("SELECT token_id, qty FROM positions") if q}
    finally:
        db.close()


def _assert_nothing_left(demo: subprocess.Popen[str], summary: dict[str, Any]) -> None:
    groups = summary["process_groups"]
    assert set(groups) == {"exchange", "pmproxy", "engine"}
    assert summary["leftover_processes"] == []
    assert not any(_alive(pgid) for pgid in [demo.pid, *groups.values()])


@pytest.mark.slow
def test_short_demo_trades_through_the_proxy_and_agrees_with_the_exchange(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    demo = _demo(run_dir, 15)
    try:
        out, _ = demo.communicate(timeout=150)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
    assert demo.returncode == 0, out[-4000:]
    summary = json.loads((run_dir / "out.json").read_text())
    _assert_nothing_left(demo, summary)

    # Not a TTY: plain progress lines, then the summary and what to do next.
    assert "state=ACTIVE" in out
    assert "pmt demo summary" in out
    assert "make ui" in out
    assert "PM_PRIVATE_KEY" in out
    assert summary["orders"] > 0
    assert summary["fills"] > 0
    assert set(summary["orders_by_strategy"]) <= {"sure_bets", "rewards_maker"}
    assert summary["engine_exit_code"] == 0
    assert summary["proxy_requests_by_route"]["clob"] > 0  # the engine traded through pmproxy
    assert summary["tick_to_decision_p50_ms"] is not None
    assert summary["tick_to_decision_p99_ms"] >= summary["tick_to_decision_p50_ms"]
    assert Decimal(summary["rewards_per_day_pusd"]) >= 0
    assert summary["rewards_samples"] > 0
    assert (run_dir / "report.html").read_text().count("<table>") == 3
    key = (run_dir / "wallet.key").read_text().strip()
    assert key not in out  # the throwaway key is kept in its 0600 file, not printed
    assert (run_dir / "wallet.key").stat().st_mode & 0o077 == 0

    # The exchange, restarted on the demo's state and asked directly: same positions as the
    # engine's journal, to the base unit, and none of the wallet's orders still resting.
    journal = _journal_positions(run_dir)
    assert journal
    assert {t: str(Decimal(q) / 1_000_000) for t, q in journal.items()} == {
        t: str(Decimal(v)) for t, v in summary["positions"].items()
    }
    sim = start_sim(flow=False, state_dir=run_dir / "exchange")
    try:
        rows = sim.http.get(
            "/data-api/positions", params={"user": summary["wallet"], "sizeThreshold": 0}
        ).json()
        venue = {
            str(r["asset"]): int(Decimal(str(r["size"])) * 1_000_000)
            for r in rows
            if Decimal(str(r["size"]))
        }
        assert venue == journal
        with Client(Settings.for_sim(sim.url, private_key=Secret(key))) as client:
            client.account.create_or_derive_api_key(use=True)
            assert client.orders.get_open_orders() == []
            assert {
                t: int(client.account.get_balance_allowance("CONDITIONAL", t).balance)
                for t in journal
            } == journal
    finally:
        sim.stop()


def _interrupt_after(demo: subprocess.Popen[str], marker: str, delay_s: float) -> str:
    """Read the demo's output until ``marker``, wait, Ctrl-C it; return all it printed."""
    assert demo.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            lines.append(line)
            if marker in line or not line:
                break
        assert any(marker in x for x in lines), "".join(lines)
        time.sleep(delay_s)
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C at the terminal sends
        out, _ = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
    return "".join(lines) + out


@pytest.mark.slow
def test_ctrl_c_while_starting_stops_what_was_started(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    demo = _demo(run_dir, 120)
    out = _interrupt_after(demo, "local exchange", 0.0)
    assert demo.returncode == 130, out[-4000:]
    assert "before trading began" in out
    groups = json.loads((run_dir / "logs" / "process-groups.json").read_text())
    assert "exchange" in groups
    assert not any(_alive(pgid) for pgid in [demo.pid, *groups.values()])


@pytest.mark.slow
def test_ctrl_c_while_trading_stops_every_process_and_still_summarises(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    demo = _demo(run_dir, 120)
    out = _interrupt_after(demo, "trading for", 2.0)
    assert demo.returncode == 130, out[-4000:]
    summary = json.loads((run_dir / "out.json").read_text())
    assert summary["interrupted"] == "SIGINT"
    assert 2.0 <= summary["seconds"] < 60  # it traded until the Ctrl-C, not for 120 s
    assert summary["engine_exit_code"] == 0  # the engine was stopped, not killed
    _assert_nothing_left(demo, summary)
    assert "interrupted by SIGINT" in out


def _demo_state() -> Any:
    """The demo's reading helpers (``scripts/_demo_state.py``), loaded by path."""
    spec = importlib.util.spec_from_file_location(
        "_demo_state", ROOT / "scripts" / "_demo_state.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("_demo_state", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_rewards_are_scored_against_the_book_without_our_own_orders() -> None:
    state = _demo_state()
    book = OrderBookSnapshot(
        "yes", 1, bids=((4800, 70_000_000), (4700, 5_000_000)), asks=((5200, 60_000_000),)
    )
    ours = [
        Quote(True, Side.BUY, 4800, 50_000_000),  # a YES bid rests on the YES bid side
        Quote(False, Side.BUY, 4800, 60_000_000),  # a NO bid at 0.48 is a YES ask at 0.52
    ]
    others = state.without_own(book, ours)
    assert others.bids == ((4800, 20_000_000), (4700, 5_000_000))
    assert others.asks == ()  # all of the ask was ours


def test_latency_quantiles_interpolate_inside_the_bucket_like_prometheus() -> None:
    state = _demo_state()
    hist = state.Histogram(
        [(0.001, 50.0), (0.01, 90.0), (0.1, 100.0), (float("inf"), 100.0)], 100.0
    )
    assert hist.quantile(0.5) == pytest.approx(0.001)
    assert hist.quantile(0.7) == pytest.approx(0.001 + 0.009 * 0.5)
    assert hist.quantile(0.99) == pytest.approx(0.01 + 0.09 * 0.9)
    assert state.Histogram([], 0.0).quantile(0.5) is None
