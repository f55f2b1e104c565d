"""``pmengine record``: the market channel to Parquet, in pmstrat's recording format, hourly.

Each file is self-contained: it starts with a full snapshot of every book the recorder holds,
so ``pmstrat backtest --data FILE`` can replay any hour on its own. Files are written under a
temporary name and renamed, so a crash never leaves a half-written recording.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import structlog
from pmstrat.recording import EventBuilder, write_parquet

from pmengine.core import EngineCore
from pmengine.engine import Feed
from pmengine.events import BookSnapshot, Event, FeedStale, LevelChange, TickSizeChange, TradePrint
from pmengine.journal import now_ms
from pmengine.risk import RiskLimits
from pmengine.units import BUY, SELL
from pmstrat import MarketInfo

log = structlog.get_logger("pmengine.record")

HOUR_MS = 3_600_000


class Recorder:
    """Turns market events into recording rows and rotates the file every ``rotate_ms``."""

    def __init__(
        self,
        markets: list[MarketInfo],
        out_dir: Path,
        *,
        rotate_ms: int = HOUR_MS,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.markets = markets
        self.out_dir = out_dir
        self.rotate_ms = rotate_ms
        self.clock = clock
        self.tokens = {t for m in markets for t in m.tokens}
        self.books = EngineCore(RiskLimits())
        self.builder = EventBuilder(markets)
        self.period = -1
        self.written: list[Path] = []

    def _path(self, period: int) -> Path:
        start = datetime.fromtimestamp(period * self.rotate_ms / 1000, tz=UTC)
        return self.out_dir / f"market-{start:%Y%m%dT%H%M%S}Z.parquet"

    def _rotate(self, now: int) -> None:
        period = now // self.rotate_ms
        if period == self.period:
            return
        if self.period >= 0:
            self.flush()
        self.period = period
        self.builder = EventBuilder(self.markets)
        for token, book in self.books.books.items():
            if book.updated_ms:
                self.builder.snapshot(
                    now, token, sorted(book.bids.items(), reverse=True), sorted(book.asks.items())
                )

    async def post(self, event: Event) -> None:
        """Record one event (the feed's ``post``)."""
        self.record(event)

    def record(self, event: Event) -> None:
        """Record one event, rotating first when a new period has begun."""
        now = self.clock()
        self._rotate(now)
        b = self.builder
        if isinstance(event, BookSnapshot) and event.token_id in self.tokens:
            self.books.on_snapshot(event.token_id, event.bids, event.asks, event.ts_ms)
            bids = sorted(((p, s) for p, s in event.bids if s > 0), reverse=True)
            asks = sorted((p, s) for p, s in event.asks if s > 0)
            b.snapshot(event.ts_ms, event.token_id, bids, asks)
        elif isinstance(event, LevelChange) and event.token_id in self.tokens:
            self.books.on_level(event.token_id, event.side, event.price, event.size, event.ts_ms)
            b.book(
                event.ts_ms,
                event.token_id,
                BUY if event.side == BUY else SELL,
                event.price,
                event.size,
            )
        elif isinstance(event, TradePrint) and event.token_id in self.tokens:
            b.trade(event.ts_ms, event.token_id, event.side, event.price, event.size)
        elif isinstance(event, TickSizeChange) and event.token_id in self.tokens:
            b.tick(now, event.token_id, event.tick)
        elif isinstance(event, FeedStale):
            for token in event.tokens:
                if token in self.tokens:
                    self.books.invalidate(token)
                    b.snapshot(now, token, [], [])

    def flush(self) -> Path | None:
        """Write the current period's file (if it has rows)."""
        if len(self.builder) == 0 or self.period < 0:
            return None
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = write_parquet(self.builder.build(), self._path(self.period))
        if path not in self.written:
            self.written.append(path)
        log.info("record.written", path=str(path), rows=len(self.builder))
        return path


async def record_until_stopped(
    recorder: Recorder,
    feed: Feed,
    tokens: list[str],
    *,
    duration_s: float | None,
    flush_s: float = 60.0,
) -> list[Path]:
    """Run the feed into the recorder until cancelled or ``duration_s``; flush on the way out."""
    task = asyncio.ensure_future(feed.run(recorder.post, tokens))
    try:
        waited = 0.0
        while duration_s is None or waited < duration_s:
            step = min(flush_s, (duration_s - waited) if duration_s is not None else flush_s)
            await asyncio.sleep(step)
            waited += step
            recorder.flush()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        recorder.flush()
    return recorder.written
