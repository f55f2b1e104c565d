"""The Engine page reads a real pmengine journal (written by pmengine's own ``Journal``) and
pulls the kill switch the engine watches; P&L over time is exact average-cost accounting."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from pmengine.journal import FillRecord, Journal
from pmengine.position import Portfolio
from pmtrader.testing import SimServer
from pmtrader.ui._journal import JournalReadError, pnl_series, pull_kill_switch, read_journal
from streamlit.testing.v1 import AppTest

Page = Callable[[str], AppTest]
TOKEN = "7" * 70


def _journal(state_dir: Path) -> None:
    with Journal.in_dir(state_dir) as journal:
        journal.set_trading_state("REDUCING", "daily loss limit", ts_ms=1_700_000_000_000)
        journal.set_strategy_status("spread_watcher", "running", "width=0.03", 1_700_000_000_000)
        journal.note_signal(1_700_000_001_000, "spread_watcher", {"buy": TOKEN[:10], "px": "0.4"})
        journal.note_denial(1_700_000_002_000, "spread_watcher", "i-1", TOKEN, "max_position")
        journal.flush()
        portfolio = Portfolio()
        # BUY 10 @ 0.40, BUY 10 @ 0.50, SELL 5 @ 0.60 (fee 0.01 pUSD), prices 1e-4, sizes 1e-6.
        for n, (side, price, size, fee) in enumerate(
            [(0, 4000, 10_000_000, 0), (0, 5000, 10_000_000, 0), (1, 6000, 5_000_000, 10_000)]
        ):
            fill = FillRecord(
                f"f{n}", f"o{n}", TOKEN, side, price, size, fee, 1_700_000_003_000 + n
            )
            journal.record_fill(fill, None, portfolio)


def test_pnl_series_is_exact_average_cost() -> None:
    fills = [
        (1, "t", 0, 4000, 10_000_000, 0),
        (2, "t", 0, 5000, 10_000_000, 0),
        (3, "t", 1, 6000, 5_000_000, 10_000),
    ]
    times, pnl, exposure = pnl_series(fills)
    assert times == [1, 2, 3]
    # Average cost 0.45; selling 5 at 0.60 realises 0.75, less a 0.01 fee.
    assert pnl == [Decimal(0), Decimal(0), Decimal("0.74")]
    assert exposure == [Decimal(4), Decimal(9), Decimal("6.75")]


def test_read_journal_is_read_only_and_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(JournalReadError, match="no pmengine journal in"):
        read_journal(tmp_path)
    _journal(tmp_path)
    before = (tmp_path / "journal.sqlite3").stat().st_mtime_ns
    snap = read_journal(tmp_path)
    assert (snap.state, snap.kill_file) == ("REDUCING", False)
    assert snap.strategies[0][:3] == ("spread_watcher", "running", "width=0.03")
    assert snap.denials[0][3] == "max_position"
    assert len(snap.fills) == 3
    assert (tmp_path / "journal.sqlite3").stat().st_mtime_ns == before


def test_engine_page_shows_the_journal_and_halts_on_confirmation(
    page: Page, sim_env: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _journal(tmp_path)
    monkeypatch.setenv("PMENGINE_STATE_DIR", str(tmp_path))
    at = page("engine").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("REDUCING" in m.value for m in at.markdown)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["realised P&L (pUSD)"] == "0.740000"
    assert metrics["exposure (pUSD)"] == "6.750000"
    tables = [d.value for d in at.dataframe]
    assert list(tables[0]["strategy"]) == ["spread_watcher"]
    assert any("max_position" in set(t.get("reason", [])) for t in tables)
    assert len(at.get("plotly_chart")) == 1

    kill = at.button(key="eng_kill")
    assert kill.disabled  # not before the confirmation is ticked
    at.checkbox(key="eng_kill_armed").check().run()
    at.button(key="eng_kill").click().run()
    assert (tmp_path / "KILL").read_text().startswith("killed by pmtrader-ui at ")
    at.run()
    assert any("HALTED" in m.value for m in at.markdown)


def test_engine_page_without_a_journal_says_where_it_looked(
    page: Page, sim_env: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PMENGINE_STATE_DIR", str(tmp_path / "nowhere"))
    at = page("engine").run()
    assert not at.exception
    assert "no pmengine journal in" in at.warning[0].value
    with pytest.raises(JournalReadError, match="is not a directory"):
        pull_kill_switch(tmp_path / "nowhere")


def test_engine_metrics_are_read_from_the_engines_own_endpoint() -> None:
    from pmengine.metrics import EngineMetrics
    from pmtrader.ui.pages.engine import read_metrics

    metrics = EngineMetrics()
    port = metrics.serve(0)
    try:
        metrics.fills.inc(3)
        metrics.denials.labels(reason="max_position").inc()
        metrics.exposure.set(12.5)
        read = read_metrics(f"http://127.0.0.1:{port}/metrics")
    finally:
        metrics.stop()
    assert read["pmengine_fills_total"] == 3
    assert read["pmengine_risk_denials_total{reason=max_position}"] == 1
    assert read["pmengine_exposure_pusd"] == 12.5
