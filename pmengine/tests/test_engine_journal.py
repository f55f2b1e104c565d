"""The journal: SQLite in WAL mode, round trips exactly, fills idempotent, state survives."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from pmengine.errors import JournalError
from pmengine.journal import FillRecord, Journal
from pmengine.order import LIVE, SIGNED, Order
from pmengine.position import Portfolio
from pmengine.units import AMOUNT_SCALE, BUY


def order(h: str = "0xabc", state: str = SIGNED) -> Order:
    return Order(
        h,
        "strat:intent-1",
        strategy="strat",
        token_id="123",
        side=BUY,
        price=4_500,
        size=10 * AMOUNT_SCALE,
        created_ms=1_700_000_000_000,
        state=state,
        payload='{"order":{"salt":1}}',
    )


def test_opens_in_wal_mode(tmp_path: Path) -> None:
    with Journal.in_dir(tmp_path / "state") as j:
        assert j.journal_mode() == "wal"
        assert (tmp_path / "state" / "journal.sqlite3").exists()


def test_orders_round_trip_with_the_signed_payload(tmp_path: Path) -> None:
    with Journal.in_dir(tmp_path) as j:
        o = order()
        j.record_order(o)
        o.state = LIVE
        o.updated_ms += 5
        j.record_order(o)
    with Journal.in_dir(tmp_path) as j:
        (back,) = j.load_orders()
    assert (back.order_hash, back.intent_id, back.state, back.payload) == (
        "0xabc",
        "strat:intent-1",
        LIVE,
        '{"order":{"salt":1}}',
    )
    assert (back.price, back.size, back.side, back.updated_ms) == (
        4_500,
        10 * AMOUNT_SCALE,
        BUY,
        1_700_000_000_005,
    )


def test_a_committed_order_is_visible_to_another_process_at_once(tmp_path: Path) -> None:
    """ "Journalled before sent" means committed: another connection sees it immediately."""
    j = Journal.in_dir(tmp_path).open()
    j.record_order(order())
    other = sqlite3.connect(tmp_path / "journal.sqlite3")
    assert other.execute("SELECT state FROM orders").fetchall() == [("SIGNED",)]
    other.close()
    j.close()


def test_fills_are_idempotent_and_move_position_and_cash_together(tmp_path: Path) -> None:
    portfolio = Portfolio()
    portfolio.set_cash(100 * AMOUNT_SCALE)
    o = order(state=LIVE)
    fill = FillRecord("t1:0xabc", "0xabc", "123", BUY, 4_500, 2 * AMOUNT_SCALE, 10, 5)
    with Journal.in_dir(tmp_path) as j:
        j.record_order(o)
        portfolio.apply_fill("123", BUY, 4_500, 2 * AMOUNT_SCALE, 10)
        o.filled = 2 * AMOUNT_SCALE
        assert j.record_fill(fill, o, portfolio)
        assert not j.record_fill(fill, o, portfolio)
        assert j.has_fill("t1:0xabc")
    with Journal.in_dir(tmp_path) as j:
        back = j.load_portfolio()
        assert j.load_fills() == [fill]
        assert j.get_meta("last_fill_ms") == "5"
    assert back.cash == portfolio.cash == 100 * AMOUNT_SCALE - 900_000 - 10
    pos = back.positions["123"]
    assert (pos.qty, pos.cost, pos.fees) == (2 * AMOUNT_SCALE, 4_500 * 2 * AMOUNT_SCALE, 10)


def test_halted_survives_reopening_and_is_visible_across_processes(tmp_path: Path) -> None:
    with Journal.in_dir(tmp_path) as j:
        assert j.trading_state() == "ACTIVE"
    code = (
        "from pathlib import Path; from pmengine.journal import Journal\n"
        f"j = Journal.in_dir(Path({str(tmp_path)!r})).open()\n"
        "j.set_trading_state('HALTED', 'operator'); j.close()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    with Journal.in_dir(tmp_path) as j:
        assert j.trading_state() == "HALTED"


def test_signals_and_denials_are_buffered_until_flush(tmp_path: Path) -> None:
    j = Journal.in_dir(tmp_path).open()
    j.note_signal(1, "s", {"kind": "buy"})
    j.note_denial(1, "s", "i", "tok", "MAX_POSITION")
    assert j.denial_counts() == {}
    j.flush()
    assert j.denial_counts() == {"MAX_POSITION": 1}
    j.close()


def test_a_file_that_is_not_a_journal_is_refused(tmp_path: Path) -> None:
    (tmp_path / "journal.sqlite3").write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(JournalError, match="cannot open the journal"):
        Journal.in_dir(tmp_path).open()


def test_using_a_closed_journal_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="not open"):
        Journal.in_dir(tmp_path).trading_state()
