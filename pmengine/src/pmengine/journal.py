"""The engine's journal: SQLite in WAL mode under ``--state-dir``.

It holds intents and signed orders (written *before* they are sent), order states, fills,
failed fills (trades the venue marked FAILED after they matched: booked fills reversed, or fills
never to be booked), positions, signals, risk denials and the trading state. Written by one
engine process; read (and, for the trading state only, written) by ``pmengine
status|kill|resume`` from other processes, which WAL allows without blocking the engine.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pmengine.errors import JournalError
from pmengine.order import Order
from pmengine.position import Portfolio, Position

JOURNAL_FILE: Final = "journal.sqlite3"
SCHEMA_VERSION: Final = 1

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    order_hash TEXT PRIMARY KEY,
    intent_id TEXT NOT NULL,
    strategy TEXT NOT NULL,
    token_id TEXT NOT NULL,
    side INTEGER NOT NULL,
    price INTEGER NOT NULL,
    size INTEGER NOT NULL,
    filled INTEGER NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_intent ON orders (intent_id);
CREATE INDEX IF NOT EXISTS orders_state ON orders (state);
CREATE TABLE IF NOT EXISTS fills (
    fill_id TEXT PRIMARY KEY,
    order_hash TEXT NOT NULL,
    token_id TEXT NOT NULL,
    side INTEGER NOT NULL,
    price INTEGER NOT NULL,
    size INTEGER NOT NULL,
    fee INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS failed_fills (
    fill_id TEXT PRIMARY KEY,
    ts_ms INTEGER NOT NULL,
    reversed INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS positions (
    token_id TEXT PRIMARY KEY,
    qty INTEGER NOT NULL,
    cost INTEGER NOT NULL,
    realized INTEGER NOT NULL,
    fees INTEGER NOT NULL,
    bought INTEGER NOT NULL,
    sold INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS signals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms INTEGER NOT NULL,
    strategy TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS denials (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms INTEGER NOT NULL,
    strategy TEXT NOT NULL,
    intent_id TEXT NOT NULL,
    token_id TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS state_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms INTEGER NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS order_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_hash TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS strategies (
    name TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    detail TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
"""


def now_ms() -> int:
    """Wall-clock UTC time in integer milliseconds."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class FillRecord:
    """A fill as journalled: one trade's effect on one of our orders."""

    fill_id: str
    order_hash: str
    token_id: str
    side: int
    price: int
    size: int
    fee: int
    ts_ms: int


class Journal:
    """The SQLite journal. Construct, then :meth:`open`; :meth:`close` when done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._pending: list[tuple[str, tuple[object, ...]]] = []

    @classmethod
    def in_dir(cls, state_dir: Path) -> Journal:
        """The journal file inside a state directory."""
        return cls(state_dir / JOURNAL_FILE)

    # ---- connection -------------------------------------------------------------------------

    def open(self) -> Journal:
        """Open (creating if needed) the database in WAL mode.

        Raises:
            JournalError: the file cannot be opened or is not a pmengine journal.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a process crash (SIGKILL) at every commit.
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=5000")
            db.executescript(_SCHEMA)
            row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO meta(key, value) VALUES('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            elif int(row[0]) != SCHEMA_VERSION:
                raise JournalError(
                    f"{self.path} has journal schema {row[0]}, this pmengine reads {SCHEMA_VERSION}"
                )
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"cannot open the journal {self.path}: {exc}") from exc
        self._db = db
        return self

    @property
    def db(self) -> sqlite3.Connection:
        """The open connection.

        Raises:
            JournalError: :meth:`open` was not called.
        """
        if self._db is None:
            raise JournalError("the journal is not open")
        return self._db

    def journal_mode(self) -> str:
        """SQLite's journal mode (``wal`` once open)."""
        return str(self.db.execute("PRAGMA journal_mode").fetchone()[0])

    def close(self) -> None:
        """Flush buffered rows and close."""
        if self._db is not None:
            self.flush()
            self._db.close()
            self._db = None

    def __enter__(self) -> Journal:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- meta and trading state ------------------------------------------------------------

    def get_meta(self, key: str, default: str = "") -> str:
        """A value from the meta table."""
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return default if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a meta value (committed at once)."""
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES(?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    def trading_state(self) -> str:
        """The journalled trading state (``ACTIVE`` when never set)."""
        return self.get_meta("trading_state", "ACTIVE")

    def set_trading_state(self, state: str, reason: str, ts_ms: int | None = None) -> None:
        """Record a trading-state change durably (HALTED survives a restart)."""
        ts = now_ms() if ts_ms is None else ts_ms
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            self.set_meta("trading_state", state)
            db.execute(
                "INSERT INTO state_changes(ts_ms, state, reason) VALUES(?, ?, ?)",
                (ts, state, reason),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # ---- orders -----------------------------------------------------------------------------

    def record_order(self, order: Order) -> None:
        """Insert or update an order, committed before this returns (so before any send)."""
        self.db.execute(
            "INSERT INTO orders(order_hash, intent_id, strategy, token_id, side, price, size, "
            "filled, state, reason, created_ms, updated_ms, payload) "
            "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(order_hash) DO UPDATE SET "
            "filled=excluded.filled, state=excluded.state, reason=excluded.reason, "
            "updated_ms=excluded.updated_ms",
            (
                order.order_hash,
                order.intent_id,
                order.strategy,
                order.token_id,
                order.side,
                order.price,
                order.size,
                order.filled,
                order.state,
                order.reason,
                order.created_ms,
                order.updated_ms,
                order.payload,
            ),
        )

    def record_order_event(self, order_hash: str, ts_ms: int, event: str, detail: str) -> None:
        """Append to an order's audit trail (ambiguous submits, lookups, resends)."""
        self.db.execute(
            "INSERT INTO order_events(order_hash, ts_ms, event, detail) VALUES(?,?,?,?)",
            (order_hash, ts_ms, event, detail),
        )

    def order_events(self, order_hash: str | None = None) -> list[tuple[str, int, str, str]]:
        """``(order_hash, ts_ms, event, detail)`` rows, oldest first."""
        sql = "SELECT order_hash, ts_ms, event, detail FROM order_events"
        args: tuple[str, ...] = ()
        if order_hash is not None:
            sql += " WHERE order_hash=?"
            args = (order_hash,)
        return [
            (str(r[0]), int(r[1]), str(r[2]), str(r[3]))
            for r in self.db.execute(sql + " ORDER BY id", args)
        ]

    def load_orders(self, *, working_only: bool = False) -> list[Order]:
        """Orders from the journal, oldest first."""
        sql = (
            "SELECT order_hash, intent_id, strategy, token_id, side, price, size, filled, state, "
            "reason, created_ms, updated_ms, payload FROM orders"
        )
        if working_only:
            sql += " WHERE state NOT IN ('FILLED', 'CANCELLED', 'REJECTED', 'EXPIRED')"
        sql += " ORDER BY created_ms, rowid"
        out: list[Order] = []
        for row in self.db.execute(sql):
            order = Order(
                row[0],
                row[1],
                strategy=row[2],
                token_id=row[3],
                side=int(row[4]),
                price=int(row[5]),
                size=int(row[6]),
                created_ms=int(row[10]),
                state=row[8],
                filled=int(row[7]),
                payload=row[12],
            )
            order.reason = row[9]
            order.updated_ms = int(row[11])
            out.append(order)
        return out

    # ---- fills and positions ----------------------------------------------------------------

    def record_fill(self, fill: FillRecord, order: Order | None, portfolio: Portfolio) -> bool:
        """Journal a fill with the order and position it changed, in one transaction.

        Returns:
            ``False`` if the fill was already journalled (fills are idempotent by id).
        """
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            cur = db.execute(
                "INSERT OR IGNORE INTO fills(fill_id, order_hash, token_id, side, price, size, "
                "fee, ts_ms) VALUES(?,?,?,?,?,?,?,?)",
                (
                    fill.fill_id,
                    fill.order_hash,
                    fill.token_id,
                    fill.side,
                    fill.price,
                    fill.size,
                    fill.fee,
                    fill.ts_ms,
                ),
            )
            inserted = cur.rowcount == 1
            if inserted:
                if order is not None:
                    self.record_order(order)
                self._save_position(portfolio.position(fill.token_id), fill.ts_ms)
                self.set_meta("cash", str(portfolio.cash))
                last = int(self.get_meta("last_fill_ms", "0"))
                if fill.ts_ms > last:
                    self.set_meta("last_fill_ms", str(fill.ts_ms))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return inserted

    def has_fill(self, fill_id: str) -> bool:
        """Whether a fill id is already journalled."""
        return (
            self.db.execute("SELECT 1 FROM fills WHERE fill_id=?", (fill_id,)).fetchone()
            is not None
        )

    def load_fills(self) -> list[FillRecord]:
        """Every journalled fill, in the order they were booked (reversed ones included: see
        :meth:`failed_fills`)."""
        return [
            FillRecord(r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5]), int(r[6]), int(r[7]))
            for r in self.db.execute(
                "SELECT fill_id, order_hash, token_id, side, price, size, fee, ts_ms FROM fills "
                "ORDER BY rowid"
            )
        ]

    def fill(self, fill_id: str) -> FillRecord | None:
        """One journalled fill by id, or ``None``."""
        r = self.db.execute(
            "SELECT fill_id, order_hash, token_id, side, price, size, fee, ts_ms FROM fills "
            "WHERE fill_id=?",
            (fill_id,),
        ).fetchone()
        if r is None:
            return None
        return FillRecord(r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5]), int(r[6]), int(r[7]))

    def record_fill_failed(
        self, fill_id: str, ts_ms: int, portfolio: Portfolio, token_id: str | None
    ) -> bool:
        """Journal that a fill's trade FAILED, with the position it reversed, in one transaction.

        Args:
            fill_id: The fill (``trade id:order hash``).
            ts_ms: When the failure was seen.
            portfolio: The portfolio after the reversal (its position and cash are saved).
            token_id: The token whose position was reversed, or ``None`` when the fill had never
                been booked (it is then only remembered, so that it is never booked later).

        Returns:
            ``False`` if the failure was already journalled (each fill is reversed once).
        """
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            cur = db.execute(
                "INSERT OR IGNORE INTO failed_fills(fill_id, ts_ms, reversed) VALUES(?,?,?)",
                (fill_id, ts_ms, int(token_id is not None)),
            )
            inserted = cur.rowcount == 1
            if inserted and token_id is not None:
                self._save_position(portfolio.position(token_id), ts_ms)
                self.set_meta("cash", str(portfolio.cash))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return inserted

    def failed_fills(self) -> dict[str, bool]:
        """Every fill whose trade FAILED: ``fill id -> whether a booked fill was reversed``."""
        return {
            str(r[0]): bool(r[1])
            for r in self.db.execute("SELECT fill_id, reversed FROM failed_fills ORDER BY rowid")
        }

    def _save_position(self, pos: Position, ts_ms: int) -> None:
        self.db.execute(
            "INSERT INTO positions(token_id, qty, cost, realized, fees, bought, sold, updated_ms) "
            "VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(token_id) DO UPDATE SET qty=excluded.qty, "
            "cost=excluded.cost, realized=excluded.realized, fees=excluded.fees, "
            "bought=excluded.bought, sold=excluded.sold, updated_ms=excluded.updated_ms",
            (pos.token_id, pos.qty, pos.cost, pos.realized, pos.fees, pos.bought, pos.sold, ts_ms),
        )

    def save_portfolio(self, portfolio: Portfolio, ts_ms: int | None = None) -> None:
        """Write every position and the cash balance."""
        ts = now_ms() if ts_ms is None else ts_ms
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            for pos in portfolio.positions.values():
                self._save_position(pos, ts)
            if portfolio.cash_known:
                self.set_meta("cash", str(portfolio.cash))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def load_portfolio(self) -> Portfolio:
        """Positions and cash as journalled."""
        portfolio = Portfolio()
        for r in self.db.execute(
            "SELECT token_id, qty, cost, realized, fees, bought, sold FROM positions"
        ):
            pos = portfolio.position(r[0])
            pos.qty, pos.cost, pos.realized, pos.fees = int(r[1]), int(r[2]), int(r[3]), int(r[4])
            pos.bought, pos.sold = int(r[5]), int(r[6])
        cash = self.get_meta("cash", "")
        if cash:
            portfolio.set_cash(int(cash))
        return portfolio

    # ---- signals, denials, strategies (buffered: off the hot path) -------------------------

    def note_signal(self, ts_ms: int, strategy: str, detail: dict[str, object]) -> None:
        """Buffer a signal row (written at the next :meth:`flush`)."""
        self._pending.append(
            (
                "INSERT INTO signals(ts_ms, strategy, detail) VALUES(?,?,?)",
                (ts_ms, strategy, json.dumps(detail, sort_keys=True, default=str)),
            )
        )

    def note_denial(
        self, ts_ms: int, strategy: str, intent_id: str, token_id: str, reason: str
    ) -> None:
        """Buffer a risk denial row (written at the next :meth:`flush`)."""
        self._pending.append(
            (
                "INSERT INTO denials(ts_ms, strategy, intent_id, token_id, reason) "
                "VALUES(?,?,?,?,?)",
                (ts_ms, strategy, intent_id, token_id, reason),
            )
        )

    def set_strategy_status(self, name: str, status: str, detail: str, ts_ms: int) -> None:
        """Record a strategy's status (running, halted with the error, stopped)."""
        self.db.execute(
            "INSERT INTO strategies(name, status, detail, updated_ms) VALUES(?,?,?,?) "
            "ON CONFLICT(name) DO UPDATE SET status=excluded.status, detail=excluded.detail, "
            "updated_ms=excluded.updated_ms",
            (name, status, detail, ts_ms),
        )

    def strategies(self) -> list[tuple[str, str, str, int]]:
        """``(name, status, detail, updated_ms)`` of every strategy seen."""
        return [
            (str(r[0]), str(r[1]), str(r[2]), int(r[3]))
            for r in self.db.execute(
                "SELECT name, status, detail, updated_ms FROM strategies ORDER BY name"
            )
        ]

    def denial_counts(self) -> dict[str, int]:
        """Denials by reason code."""
        return {
            str(r[0]): int(r[1])
            for r in self.db.execute("SELECT reason, COUNT(*) FROM denials GROUP BY reason")
        }

    def flush(self) -> None:
        """Write buffered signal and denial rows in one transaction."""
        if not self._pending or self._db is None:
            return
        pending, self._pending = self._pending, []
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for sql, args in pending:
                db.execute(sql, args)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
