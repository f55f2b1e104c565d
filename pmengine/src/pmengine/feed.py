"""Market data: pmtrader's :class:`~pmtrader.ws_market.MarketStream`, told in engine events.

The stream owns the websocket: subscription, ``PING`` keep-alive, silence detection, jittered
reconnects, and one :class:`pmtrader.book.Book` per token rebuilt from the venue's snapshots. It
says when books stop mirroring the venue (``BookStale``) and when each is rebuilt
(``BookResynced``). This module only translates those events into the engine's typed events;
both sides count prices in 1e-4 and sizes in 1e-6 base units, so nothing is converted.

While a token's stream book is stale (socket silent, reconnecting, resynchronising) the token's
REST ``/book`` is polled every ``poll_ms`` through pmtrader's ``client.books``, so the engine
keeps trading on a book the venue vouches for, at the tick interval, until the stream is back.

One task reads the stream and polls, so the adapter always knows exactly which levels it last
told the engine about each token: a ``price_change`` (``BookUpdated`` without ``snapshot``)
becomes one :class:`~pmengine.events.LevelChange` per level that differs from that.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

import structlog
from pmtrader.models.clob import OrderBook, PriceLevel
from pmtrader.ws_events import (
    BookResynced,
    BookStale,
    BookUpdated,
    MarketStreamEvent,
    TickSizeChanged,
    TradePrinted,
)
from pmtrader.ws_events import MarketResolved as StreamResolved

from pmengine.events import (
    BookSnapshot,
    Event,
    FeedStale,
    LevelChange,
    MarketResolved,
    TickSizeChange,
    TradePrint,
)
from pmengine.journal import now_ms
from pmengine.units import BUY, SELL, amount_to_int, price_to_int
from pmtrader import AsyncClient, Book, MarketStream, PmtraderError, RetryPolicy
from pmtrader import Settings as PmtSettings

log = structlog.get_logger("pmengine.feed")

Levels = dict[int, int]


class BookTranslator:
    """Turns market-stream events into engine events, remembering what the engine was told."""

    def __init__(self) -> None:
        self.told: dict[str, tuple[Levels, Levels]] = {}

    def snapshot(self, book: Book, recv_ns: int) -> BookSnapshot:
        """The whole book, as the engine's book will hold it."""
        bids, asks = book.levels("BUY"), book.levels("SELL")
        self.told[book.asset_id] = (dict(bids), dict(asks))
        return BookSnapshot(
            book.asset_id,
            bids,
            asks,
            book.timestamp or now_ms(),
            tick=book.tick_size,
            recv_ns=recv_ns,
        )

    def rest_snapshot(self, token: str, found: OrderBook, recv_ns: int) -> BookSnapshot:
        """A REST ``/book`` answer (call :meth:`told_snapshot` once it is posted).

        Its tick counts only if the venue sent one (the model's default is not the venue's).
        """
        bids, asks = _rest_levels(found.bids), _rest_levels(found.asks)
        tick = price_to_int(found.tick_size) if "tick_size" in found.model_fields_set else 0
        min_size = amount_to_int(found.min_order_size)
        ts = int(found.timestamp) if found.timestamp.isdigit() else now_ms()
        return BookSnapshot(token, bids, asks, ts, tick=tick, min_size=min_size, recv_ns=recv_ns)

    def told_snapshot(self, snapshot: BookSnapshot) -> None:
        """Remember that the engine was given this whole book."""
        self.told[snapshot.token_id] = (dict(snapshot.bids), dict(snapshot.asks))

    def changes(self, book: Book, ts_ms: int, recv_ns: int) -> list[Event]:
        """The levels of a fresh book that differ from what the engine was last told."""
        told = self.told.get(book.asset_id)
        if told is None:
            return [self.snapshot(book, recv_ns)]
        out: list[Event] = []
        for side, old in ((BUY, told[0]), (SELL, told[1])):
            new = dict(book.levels("BUY" if side == BUY else "SELL"))
            for price in old.keys() | new.keys():
                size = new.get(price, 0)
                if old.get(price, 0) != size:
                    out.append(LevelChange(book.asset_id, side, price, size, ts_ms, recv_ns))
            old.clear()
            old.update(new)
        return out

    def translate(self, event: MarketStreamEvent, recv_ns: int) -> list[Event]:
        """The engine events one market-stream event stands for (often none or one)."""
        if isinstance(event, BookUpdated):
            if event.snapshot:
                return [self.snapshot(event.book, recv_ns)]
            return self.changes(event.book, event.timestamp or now_ms(), recv_ns)
        if isinstance(event, BookResynced):
            return [self.snapshot(event.book, recv_ns)]
        if isinstance(event, TradePrinted):
            side = BUY if event.side.upper() == "BUY" else SELL
            ts = event.timestamp or now_ms()
            return [TradePrint(event.asset_id, event.price, event.size, side, ts, recv_ns)]
        if isinstance(event, BookStale):
            for token in event.asset_ids:
                self.told.pop(token, None)  # the engine forgets the book until a snapshot
            return [FeedStale(event.asset_ids, event.reason)]
        if isinstance(event, TickSizeChanged):
            return [TickSizeChange(event.asset_id, event.new_tick)]
        if isinstance(event, StreamResolved):
            return [MarketResolved(event.asset_ids, event.winning_asset_id)]
        return []  # MarketListed: the engine trades the markets it was given


def _rest_levels(levels: list[PriceLevel]) -> list[tuple[int, int]]:
    return [(price_to_int(lvl.price), amount_to_int(lvl.size)) for lvl in levels]


class MarketFeed:
    """The market channel for a set of tokens, with REST ``/book`` polling while it is stale.

    Args:
        ws_url: The websocket base (``…/ws``) or the market channel URL (``…/ws/market``).
        rest_url: The CLOB base URL (or pmproxy's ``/clob/``) for ``GET /book``.
        poll_ms: The REST polling period while a book is stale (``TICK_INTERVAL_MS``).
        silence_s: Seconds without any frame or ``PONG`` before the socket counts as dead.
        ping_s: How often to send ``PING``.
        backoff_max: Longest reconnect delay, seconds.
        ticks: Each token's tick in 1e-4 units as the market listing says, used until the venue's
            first snapshot says otherwise.
    """

    def __init__(
        self,
        ws_url: str,
        rest_url: str,
        *,
        poll_ms: int = 1000,
        silence_s: float = 10.0,
        ping_s: float = 5.0,
        backoff_max: float = 5.0,
        ticks: Mapping[str, int] | None = None,
    ) -> None:
        self.ws_url = ws_url
        self.rest_url = rest_url
        self.poll_ms = poll_ms
        self.silence_s = silence_s
        self.ping_s = ping_s
        self.backoff_max = backoff_max
        self.ticks = dict(ticks or {})
        self.translator = BookTranslator()
        self.stream: MarketStream | None = None
        #: Times the feed went stale for all its tokens at once (silence or a dropped socket).
        self.drops = 0
        #: REST snapshots posted while the stream was stale.
        self.polled = 0
        self._last_error = ""

    @property
    def connected(self) -> bool:
        """Whether the market socket is open and subscribed right now."""
        return self.stream is not None and self.stream.connected

    async def run(self, post: Callable[[Event], Awaitable[None]], tokens: list[str]) -> None:
        """Stream events for ``tokens`` into ``post`` until cancelled."""
        if not tokens:
            return
        stream = MarketStream(
            self.ws_url,
            tokens,
            stale_after=self.silence_s,
            ping_interval=self.ping_s,
            backoff_initial=0.2,
            backoff_max=self.backoff_max,
        )
        for token in tokens:
            if self.ticks.get(token, 0) > 0:
                stream.book(token).tick_size = self.ticks[token]
        self.stream = stream
        settings = PmtSettings(clob_url=self.rest_url.rstrip("/"), timeout=5.0)
        async with AsyncClient(settings, retry=RetryPolicy.never()) as client, stream:
            await self._pump(stream, client, post, tokens)

    async def _pump(
        self,
        stream: MarketStream,
        client: AsyncClient,
        post: Callable[[Event], Awaitable[None]],
        tokens: list[str],
    ) -> None:
        loop = asyncio.get_running_loop()
        poll_s = self.poll_ms / 1000
        next_poll = loop.time() + poll_s
        connections = 0
        ended = False
        while True:
            event: MarketStreamEvent | None = None
            if ended:
                await asyncio.sleep(max(next_poll - loop.time(), 0))
            else:
                try:
                    async with asyncio.timeout(max(next_poll - loop.time(), 0)):
                        event = await anext(stream)
                except TimeoutError:
                    pass
                except (StopAsyncIteration, PmtraderError) as exc:
                    # Only a URL the venue can never accept ends the stream: poll from now on.
                    log.error("feed.stream_ended", error=str(exc) or "closed")
                    ended = True
            if stream.connections > connections:
                connections = stream.connections
                log.info("feed.connected", url=self.ws_url, tokens=len(tokens))
            if event is not None:
                if isinstance(event, BookStale) and event.reason in ("silent", "disconnected"):
                    self.drops += 1
                for out in self.translator.translate(event, time.perf_counter_ns()):
                    await post(out)
            if loop.time() >= next_poll:
                await self._poll(stream, client, post, tokens)
                next_poll = loop.time() + poll_s

    async def _poll(
        self,
        stream: MarketStream,
        client: AsyncClient,
        post: Callable[[Event], Awaitable[None]],
        tokens: list[str],
    ) -> None:
        """REST snapshots of the tokens whose stream book is stale (asked all at once)."""
        stale = [t for t in tokens if stream.book(t).stale]
        if not stale:
            return
        found = await asyncio.gather(
            *(client.books.get_order_book(t) for t in stale), return_exceptions=True
        )
        errors = []
        for token, answer in zip(stale, found, strict=True):
            if isinstance(answer, BaseException):
                if not isinstance(answer, Exception):
                    raise answer  # cancellation: the feed is stopping
                # Whatever went wrong with one book, the others and the next poll go on.
                errors.append(f"{token}: {answer!r}")
                continue
            try:
                snapshot = self.translator.rest_snapshot(token, answer, time.perf_counter_ns())
            except ValueError as exc:
                errors.append(f"{token}: {exc}")
                continue
            # The stream may have rebuilt the book while the request was out; its snapshot
            # is newer and already on its way, so this one would only step back.
            if stream.book(token).stale:
                self.polled += 1
                self.translator.told_snapshot(snapshot)
                await post(snapshot)
        error = "; ".join(errors)
        if error and error != self._last_error:  # said once per distinct failure
            log.warning("feed.poll_failed", tokens=len(errors), error=error[:500])
        self._last_error = error
