"""Read pmengine's journal (SQLite, WAL) without writing to it, and pull its kill switch.

The dashboard does not import pmengine: the journal's tables and the kill-switch file are the
engine's documented interface (``pmengine/journal.py``: ``journal.sqlite3`` under the state
directory; ``pmengine/engine.py``: a file named ``KILL`` there halts the engine, which cancels
every order and refuses new ones until ``pmengine resume``). The connection is opened read-only
(``mode=ro``), so the page can never block or corrupt the engine's writes.

Units as journalled: prices in 1e-4 (``PRICE_SCALE``), sizes and fees in 1e-6 base units.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Final

from pmtrader.errors import PmtraderError

__all__ = [
    "JOURNAL_FILE",
    "KILL_FILE",
    "EngineSnapshot",
    "JournalReadError",
    "pnl_series",
    "pull_kill_switch",
    "read_journal",
]

JOURNAL_FILE: Final = "journal.sqlite3"
KILL_FILE: Final = "KILL"
PRICE_SCALE: Final = 10_000
AMOUNT_SCALE: Final = 1_000_000
_BUY: Final = 0


class JournalReadError(PmtraderError):
    """The state directory holds no readable pmengine journal."""


@dataclass(frozen=True)
class EngineSnapshot:
    """What the journal says, read in one go.

    Attributes:
        state: ``ACTIVE``, ``REDUCING`` or ``HALTED`` (``HALTED`` too when the kill file exists).
        kill_file: Whether the kill-switch file is present.
        strategies: ``(name, status, detail, updated_ms)``.
        signals: Latest signals ``(ts_ms, strategy, detail)``, newest first.
        orders: Latest orders as dicts, newest first.
        fills: Every fill ``(ts_ms, token_id, side, price, size, fee)``, oldest first.
        denials: Latest risk denials ``(ts_ms, strategy, token_id, reason)``, newest first.
        state_changes: ``(ts_ms, state, reason)``, newest first.
    """

    state: str
    kill_file: bool
    strategies: list[tuple[str, str, str, int]] = field(default_factory=list)
    signals: list[tuple[int, str, str]] = field(default_factory=list)
    orders: list[dict[str, object]] = field(default_factory=list)
    fills: list[tuple[int, str, int, int, int, int]] = field(default_factory=list)
    denials: list[tuple[int, str, str, str]] = field(default_factory=list)
    state_changes: list[tuple[int, str, str]] = field(default_factory=list)


@contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2.0)
    except sqlite3.Error as exc:
        raise JournalReadError(f"cannot open the journal {path}: {exc}") from exc
    with closing(db):
        yield db


def read_journal(state_dir: Path, *, limit: int = 200) -> EngineSnapshot:
    """Read the engine's state, strategies, recent signals, orders, fills and denials.

    Args:
        state_dir: The engine's ``--state-dir`` (``PMENGINE_STATE_DIR``).
        limit: Rows of each recent list.

    Raises:
        JournalReadError: No journal there, or it cannot be read.
    """
    path = state_dir / JOURNAL_FILE
    if not path.is_file():
        raise JournalReadError(
            f"no pmengine journal in {state_dir} (start pmengine with --state-dir {state_dir})"
        )
    kill = (state_dir / KILL_FILE).exists()
    try:
        with _read_only(path) as db:
            row = db.execute("SELECT value FROM meta WHERE key='trading_state'").fetchone()
            state = "ACTIVE" if row is None else str(row[0])
            order_cols = (
                "order_hash, strategy, token_id, side, price, size, filled, state, reason, "
                "created_ms, updated_ms"
            )
            names = [c.strip() for c in order_cols.split(",")]
            return EngineSnapshot(
                state="HALTED" if kill else state,
                kill_file=kill,
                strategies=[
                    (str(a), str(b), str(c), int(d))
                    for a, b, c, d in db.execute(
                        "SELECT name, status, detail, updated_ms FROM strategies ORDER BY name"
                    )
                ],
                signals=[
                    (int(a), str(b), str(c))
                    for a, b, c in db.execute(
                        "SELECT ts_ms, strategy, detail FROM signals ORDER BY id DESC LIMIT ?",
                        (limit,),
                    )
                ],
                orders=[
                    dict(zip(names, r, strict=True))
                    for r in db.execute(
                        f"SELECT {order_cols} FROM orders ORDER BY updated_ms DESC LIMIT ?",  # noqa: S608 - fixed column list, no user input
                        (limit,),
                    )
                ],
                fills=[
                    (int(a), str(b), int(c), int(d), int(e), int(f))
                    for a, b, c, d, e, f in db.execute(
                        "SELECT ts_ms, token_id, side, price, size, fee FROM fills "
                        "ORDER BY ts_ms, fill_id"
                    )
                ],
                denials=[
                    (int(a), str(b), str(c), str(d))
                    for a, b, c, d in db.execute(
                        "SELECT ts_ms, strategy, token_id, reason FROM denials "
                        "ORDER BY id DESC LIMIT ?",
                        (limit,),
                    )
                ],
                state_changes=[
                    (int(a), str(b), str(c))
                    for a, b, c in db.execute(
                        "SELECT ts_ms, state, reason FROM state_changes ORDER BY id DESC LIMIT ?",
                        (limit,),
                    )
                ],
            )
    except sqlite3.Error as exc:
        raise JournalReadError(f"cannot read the journal {path}: {exc}") from exc


def pnl_series(
    fills: list[tuple[int, str, int, int, int, int]],
) -> tuple[list[int], list[Decimal], list[Decimal]]:
    """Realised P&L (after fees) and exposure (cost of holdings) after each fill, in pUSD.

    Average-cost accounting per token, exact: a SELL realises ``size * (price - average cost)``;
    fees are subtracted as paid. Exposure is the cost basis of what is held.

    Returns:
        ``(times_ms, realised, exposure)``.
    """
    qty: dict[str, int] = {}
    cost: dict[str, int] = {}  # 1e-4 price units x 1e-6 size units
    realised = 0  # same units
    times: list[int] = []
    pnl: list[Decimal] = []
    exposure: list[Decimal] = []
    scale = Decimal(PRICE_SCALE * AMOUNT_SCALE)
    for ts, token, side, price, size, fee in fills:
        held = qty.get(token, 0)
        basis = cost.get(token, 0)
        if side == _BUY:
            qty[token] = held + size
            cost[token] = basis + price * size
        else:
            sold = min(size, held)
            removed = basis * sold // held if held else 0
            realised += price * sold - removed
            qty[token] = held - sold
            cost[token] = basis - removed
        realised -= fee * PRICE_SCALE
        times.append(ts)
        pnl.append(Decimal(realised) / scale)
        exposure.append(Decimal(sum(cost.values())) / scale)
    return times, pnl, exposure


def pull_kill_switch(state_dir: Path, *, who: str = "pmtrader-ui") -> Path:
    """Create the engine's kill file: it halts, cancels every order, and stays halted.

    Raises:
        JournalReadError: The state directory does not exist (nothing to halt there).
    """
    if not state_dir.is_dir():
        raise JournalReadError(f"{state_dir} is not a directory; give the engine's --state-dir")
    path = state_dir / KILL_FILE
    path.write_text(f"killed by {who} at {time.time_ns() // 1_000_000}\n")
    return path
