"""SQLite persistence for the local exchange (stdlib ``sqlite3``, WAL).

The exchange keeps its state in memory and, after every mutating call (a place, a cancel, a time
step), hands the store the rows that changed; the store writes them in ONE transaction, so a crash
leaves either the state before the call or the state after it, never half of it.

Rows are JSON documents keyed by ``(kind, id)``: ``meta``, ``account``, ``key``, ``order``,
``trade``, ``market``, ``heartbeat``, ``print`` (trade prints for price history). The schema is
deliberately this small: the exchange's records already know how to serialise themselves.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from pmtrader.sim.errors import StateError

__all__ = ["Store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (
    kind TEXT NOT NULL,
    id   TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
"""


class Store:
    """A state directory holding ``sim.sqlite3``. The constructor does no I/O; ``open()`` does."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / "sim.sqlite3"
        self._db: sqlite3.Connection | None = None

    def open(self) -> None:
        """Create the directory and database if needed and open it (WAL, NORMAL sync)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"cannot open state at {self.path}: {exc}") from exc
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        self._db = db

    def close(self) -> None:
        """Close the database (idempotent)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StateError("the store is not open; call open() first")
        return self._db

    def load(self, kind: str) -> dict[str, Any]:
        """Every row of one kind, decoded, keyed by id."""
        cursor = self._conn().execute("SELECT id, body FROM rows WHERE kind = ?", (kind,))
        return {row_id: json.loads(body) for row_id, body in cursor}

    def write(
        self,
        puts: list[tuple[str, str, Any]],
        deletes: list[tuple[str, str]] | None = None,
    ) -> None:
        """Upsert ``puts`` and remove ``deletes`` in one transaction."""
        if not puts and not deletes:
            return
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT INTO rows (kind, id, body) VALUES (?, ?, ?) "
                "ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body",
                [
                    (kind, row_id, json.dumps(body, separators=(",", ":")))
                    for kind, row_id, body in puts
                ],
            )
            if deletes:
                db.executemany("DELETE FROM rows WHERE kind = ? AND id = ?", deletes)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
