"""The market channel as a stream of typed events over locally maintained books.

:class:`MarketStream` subscribes to tokens, keeps one :class:`~pmtrader.book.Book` per token
from ``book`` snapshots and ``price_change`` deltas, and yields :mod:`pmtrader.ws_events` events.

When the books cannot be trusted it says so before anything else: a silent feed (no frame, not
even ``PONG``, within ``stale_after``) or a dropped connection marks every book stale and yields
:class:`~pmtrader.ws_events.BookStale`; the stream reconnects with jittered backoff, resubscribes,
and each book comes back with :class:`~pmtrader.ws_events.BookResynced` once a fresh snapshot
has replaced it. A delta that contradicts the local book (the venue's ``best_bid``/``best_ask``
disagree with it, or it leaves the book crossed) marks only that token stale and resubscribes
it, which makes the venue send a fresh snapshot.

Example::

    async with MarketStream(settings.ws_url, [yes_token, no_token]) as stream:
        async for event in stream:
            if isinstance(event, BookUpdated) and not event.book.stale:
                quote(event.book.bid, event.book.ask)
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import MappingProxyType
from typing import cast

import structlog
from websockets.asyncio.client import ClientConnection

from pmtrader.book import PRICE_SCALE, Book, parse_price, parse_size
from pmtrader.errors import BookIntegrityError, FeedDecodeError, StaleFeedError
from pmtrader.wire import (
    LastTradePriceEvent,
    MarketResolvedEvent,
    NewMarketEvent,
    PriceChangeEvent,
    PriceLevelChange,
    RawBookEvent,
    RawMarketEvent,
    TickSizeChangeEvent,
    decode_book,
    decode_market_raw,
    level_columns,
)
from pmtrader.ws import Feed, backoff_delay, channel_url
from pmtrader.ws_events import (
    BookResynced,
    BookStale,
    BookUpdated,
    MarketListed,
    MarketResolved,
    MarketStreamEvent,
    TickSizeChanged,
    TradePrinted,
)

__all__ = ["MarketStream", "ResyncCheck", "rest_resync_check"]

_log = structlog.get_logger("pmtrader.ws_market")

ResyncCheck = Callable[[Book], Awaitable[None]]
"""Called with each book rebuilt after it went stale, before ``BookResynced`` is yielded.

Raise :class:`~pmtrader.errors.BookIntegrityError` when the book disagrees with what you trust
(say the REST ``/book``): the book stays stale and is resynchronised again.
"""


def rest_resync_check(fetch_book: Callable[[str], Awaitable[bytes]]) -> ResyncCheck:
    """A :data:`ResyncCheck` that compares each rebuilt book with the REST ``/book``.

    Both sides' levels must be equal; the timestamps (and so the hashes) may differ. Use it
    where the book is quiet between the snapshot and the REST call (tests, thin markets): on a
    busy book an honest race between the two reads would look like a disagreement.

    Args:
        fetch_book: Returns the raw ``/book`` body for a token id (any HTTP client will do).
    """

    async def check(book: Book) -> None:
        rest = decode_book(await fetch_book(book.asset_id))
        bids, asks = level_columns(rest.bids), level_columns(rest.asks)
        rest_levels = (list(zip(*bids, strict=True)), list(zip(*asks, strict=True)))
        if (book.levels("BUY"), book.levels("SELL")) != rest_levels:
            raise BookIntegrityError(
                f"the rebuilt book of token {book.asset_id} differs from REST /book "
                f"(bids {book.levels('BUY')} vs {rest_levels[0]}, "
                f"asks {book.levels('SELL')} vs {rest_levels[1]}, 1e-4/1e-6 units)"
            )

    return check


def _ms(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _top(text: str, *, ask: bool) -> int | None:
    """The venue's ``best_bid``/``best_ask`` in 1e-4 units; an empty side reads 0 (bid) or 1
    (ask) on the wire, sometimes 0 for asks too. ``None`` when the field is absent."""
    if not text:
        return None
    units = parse_price(text)
    if ask and units == 0:
        return PRICE_SCALE
    return units


class MarketStream(Feed[MarketStreamEvent]):
    """Books for a set of tokens, kept current from the market channel.

    Args:
        url: The websocket base (``settings.ws_url``, e.g. ``wss://…/ws``) or the full
            ``…/ws/market`` URL.
        asset_ids: Tokens to subscribe to at start (more with :meth:`subscribe`).
        stale_after: Seconds without any frame before the feed is declared dead.
        ping_interval: Seconds between ``PING`` keep-alives.
        custom_features: Ask for the custom events (``new_market``, ``market_resolved``).
        on_resync: Optional :data:`ResyncCheck` run on each rebuilt book.
        check_top: Compare each ``price_change``'s ``best_bid``/``best_ask`` with the local
            book and resynchronise a token on disagreement.
        backoff_initial: First reconnect delay, seconds (jittered, doubling).
        backoff_max: Longest reconnect delay, seconds.
        open_timeout: Seconds allowed for the connection handshake.
        queue_size: Events held for a slow consumer before the reader waits for it.
        rng: Source of backoff jitter (seed it for reproducible tests).
    """

    def __init__(
        self,
        url: str,
        asset_ids: Iterable[str] = (),
        *,
        stale_after: float = 30.0,
        ping_interval: float = 10.0,
        custom_features: bool = True,
        on_resync: ResyncCheck | None = None,
        check_top: bool = True,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        open_timeout: float = 10.0,
        queue_size: int = 10_000,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(
            channel_url(url, "market"),
            stale_after=stale_after,
            ping_interval=ping_interval,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            open_timeout=open_timeout,
            queue_size=queue_size,
            rng=rng,
        )
        self._custom = custom_features
        self._on_resync = on_resync
        self._check_top = check_top
        self._books: dict[str, Book] = {asset: Book(asset) for asset in dict.fromkeys(asset_ids)}
        self._resyncing: set[str] = set()
        # Snapshots that failed their checks in a row, per token: later requests back off.
        self._failed_resyncs: dict[str, int] = {}
        self._delayed: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Condition()

    # -- books -----------------------------------------------------------------------------------

    @property
    def books(self) -> Mapping[str, Book]:
        """Every subscribed token's book (read-only view; books may be stale)."""
        return MappingProxyType(self._books)

    def book(self, asset_id: str) -> Book:
        """The book of a subscribed token (possibly stale: check ``book.stale``).

        Raises:
            KeyError: The token is not subscribed.
        """
        try:
            return self._books[asset_id]
        except KeyError:
            raise KeyError(f"token {asset_id} is not subscribed; call subscribe() first") from None

    def fresh_book(self, asset_id: str) -> Book:
        """The book of a subscribed token, only if it mirrors the venue right now.

        Raises:
            StaleFeedError: The book is stale (feed silent, reconnecting, or resynchronising).
            KeyError: The token is not subscribed.
        """
        book = self.book(asset_id)
        if book.stale:
            raise StaleFeedError(
                f"the book of token {asset_id} is stale; wait for BookResynced before trading",
                asset_ids=(asset_id,),
                reason="stale",
            )
        return book

    async def wait_fresh(self, asset_ids: Iterable[str] | None = None) -> None:
        """Wait until the given tokens' books (default: all) are fresh.

        Bound it with ``asyncio.timeout``. Keep consuming events meanwhile (another task), or
        the reader stalls once the event queue is full.
        """
        wanted = list(self._books if asset_ids is None else asset_ids)

        def fresh() -> bool:
            return all(a in self._books and not self._books[a].stale for a in wanted)

        async with self._changed:
            await self._changed.wait_for(fresh)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- subscriptions ---------------------------------------------------------------------------

    async def subscribe(self, asset_ids: Iterable[str]) -> None:
        """Add tokens; their books start stale and turn fresh with their first snapshot."""
        new = [a for a in dict.fromkeys(asset_ids) if a not in self._books]
        if not new:
            return
        for asset in new:
            self._books[asset] = Book(asset)
        await self._send(self._operation("subscribe", new))

    async def unsubscribe(self, asset_ids: Iterable[str]) -> None:
        """Drop tokens and their books."""
        gone = [a for a in dict.fromkeys(asset_ids) if a in self._books]
        if not gone:
            return
        for asset in gone:
            del self._books[asset]
            self._resyncing.discard(asset)
        await self._send(self._operation("unsubscribe", gone))

    def _operation(self, operation: str, asset_ids: list[str]) -> str:
        return json.dumps(
            {
                "operation": operation,
                "assets_ids": asset_ids,
                "custom_feature_enabled": self._custom,
            }
        )

    async def _resync(self, asset_ids: list[str]) -> None:
        """Ask the venue for fresh snapshots: resubscribing makes it send them.

        A token whose last snapshots kept failing their checks is asked again only after a
        jittered backoff, so a venue that keeps sending a bad book is not asked in a tight loop.
        """
        asked = [a for a in asset_ids if a not in self._resyncing]
        if not asked:
            return
        self._resyncing.update(asked)
        failures = max(self._failed_resyncs.get(a, 0) for a in asked)
        if not failures:
            await self._request_snapshots(asked)
            return
        delay = backoff_delay(
            failures - 1, initial=self._backoff_initial, maximum=self._backoff_max, rng=self._rng
        )
        task = asyncio.create_task(self._request_snapshots(asked, after=delay))
        self._delayed.add(task)
        task.add_done_callback(self._delayed.discard)

    async def _request_snapshots(self, asset_ids: list[str], *, after: float = 0.0) -> None:
        if after:
            await asyncio.sleep(after)
            asset_ids = [a for a in asset_ids if a in self._resyncing]
            if not asset_ids:
                return
        if await self._send(self._operation("unsubscribe", asset_ids)):
            await self._send(self._operation("subscribe", asset_ids))

    def _cancel_delayed(self) -> None:
        for task in self._delayed:
            task.cancel()
        self._delayed.clear()

    # -- feed hooks ------------------------------------------------------------------------------

    async def _subscribe(self, ws: ClientConnection) -> None:
        self._cancel_delayed()  # the subscription below asks for every snapshot anyway
        self._resyncing.clear()
        await ws.send(
            json.dumps(
                {
                    "assets_ids": list(self._books),
                    "type": "market",
                    "custom_feature_enabled": self._custom,
                }
            )
        )

    async def _on_connected(self) -> None:
        return None

    async def _on_disconnected(self, reason: str) -> None:
        fresh = [asset for asset, book in self._books.items() if not book.stale]
        for book in self._books.values():
            book.stale = True
        if not fresh:
            return
        await self._notify()
        if reason == "closed":
            return
        await self._emit(
            BookStale(
                tuple(fresh),
                reason,
                StaleFeedError(
                    f"market feed {reason}: {len(fresh)} book(s) stale until resynced",
                    asset_ids=tuple(fresh),
                    reason=reason,
                ),
            )
        )

    async def _on_closed(self) -> None:
        self._cancel_delayed()
        for book in self._books.values():
            book.stale = True

    async def _on_frame(self, frame: str | bytes) -> None:
        try:
            events = decode_market_raw(frame)
        except FeedDecodeError as exc:
            _log.warning("ws.market_frame_unreadable", error=str(exc), event_type=exc.event_type)
            events = cast("list[RawMarketEvent]", list(exc.events))
            # Not JSON at all is a venue notice, not a lost update (frames arrive whole over
            # TCP); a book event we cannot read may have changed any book: resync them all.
            if exc.event_type in {"book", "price_change", "tick_size_change"}:
                await self._inconsistent(
                    [a for a, b in self._books.items() if not b.stale], f"unreadable frame: {exc}"
                )
        for event in events:
            await self._dispatch(event)

    # -- events ----------------------------------------------------------------------------------

    async def _dispatch(self, event: RawMarketEvent) -> None:
        if isinstance(event, PriceChangeEvent):
            await self._price_change(event)
        elif isinstance(event, RawBookEvent):
            await self._snapshot(event)
        elif isinstance(event, LastTradePriceEvent):
            await self._trade(event)
        elif isinstance(event, TickSizeChangeEvent):
            await self._tick_size(event)
        elif isinstance(event, MarketResolvedEvent):
            await self._emit(
                MarketResolved(
                    event.market,
                    tuple(event.assets_ids),
                    event.winning_asset_id,
                    event.winning_outcome,
                    _ms(event.timestamp),
                    event,
                )
            )
        elif isinstance(event, NewMarketEvent):
            await self._emit(
                MarketListed(
                    event.market,
                    tuple(event.assets_ids),
                    event.question,
                    event.slug,
                    _ms(event.timestamp),
                    event,
                )
            )
        # best_bid_ask: the local books already know their top; nothing to add.

    async def _snapshot(self, event: RawBookEvent) -> None:
        book = self._books.get(event.asset_id)
        if book is None:
            return  # a late snapshot for a token unsubscribed meanwhile
        was_stale = book.stale
        try:
            # Only the levels that changed since this token's last snapshot are parsed; the
            # decoder's msgspec.Raw sides go in as they are (an unchanged side is not copied).
            book.apply_snapshot_wire(
                event.bids,
                event.asks,
                timestamp=_ms(event.timestamp),
                hash=event.hash,
            )
            if event.tick_size:
                book.tick_size = parse_price(event.tick_size)
        except (ValueError, BookIntegrityError, FeedDecodeError) as exc:
            book.stale = True
            self._resyncing.discard(event.asset_id)
            self._failed_resyncs[event.asset_id] = self._failed_resyncs.get(event.asset_id, 0) + 1
            await self._inconsistent([event.asset_id], f"unusable snapshot: {exc}", force=True)
            return
        book.market = event.market
        self._resyncing.discard(event.asset_id)
        if not was_stale:
            await self._emit(BookUpdated(event.asset_id, book, book.timestamp, snapshot=True))
            return
        if self._on_resync is not None:
            book.stale = True  # not fresh until the consumer's check has passed
            try:
                await self._on_resync(book)
            except BookIntegrityError as exc:
                failures = self._failed_resyncs.get(event.asset_id, 0) + 1
                self._failed_resyncs[event.asset_id] = failures
                await self._inconsistent(
                    [event.asset_id], f"resync check failed: {exc}", force=True
                )
                return
            except Exception as exc:  # a consumer's hook must not kill the feed
                _log.warning("ws.resync_hook_failed", asset_id=event.asset_id, error=repr(exc))
            book.stale = False
        self._failed_resyncs.pop(event.asset_id, None)
        await self._notify()
        await self._emit(BookResynced(event.asset_id, book, event.hash))

    async def _price_change(self, event: PriceChangeEvent) -> None:
        timestamp = _ms(event.timestamp)
        last: dict[str, PriceLevelChange] = {}
        broken: dict[str, str] = {}
        for change in event.entries():
            book = self._books.get(change.asset_id)
            if book is None:
                continue
            try:
                book.apply_level(change.side, parse_price(change.price), parse_size(change.size))
            except (ValueError, BookIntegrityError) as exc:
                broken[change.asset_id] = f"unusable level change: {exc}"
                continue
            last[change.asset_id] = change
        for asset, change in last.items():
            book = self._books[asset]
            book.timestamp = timestamp
            if book.stale or asset in broken:
                continue  # a stale book takes deltas quietly until its snapshot replaces it
            problem = self._contradiction(book, change)
            if problem:
                broken[asset] = problem
                continue
            await self._emit(BookUpdated(asset, book, timestamp, snapshot=False))
        fresh_broken = [a for a in broken if not self._books[a].stale]
        if fresh_broken:
            await self._inconsistent(fresh_broken, "; ".join(broken[a] for a in fresh_broken))

    def _contradiction(self, book: Book, change: PriceLevelChange) -> str:
        if book.crossed:
            return f"book crossed: bid {book.bid} >= ask {book.ask} (1e-4 units)"
        if not self._check_top:
            return ""
        try:
            venue_bid = _top(change.best_bid, ask=False)
            venue_ask = _top(change.best_ask, ask=True)
        except ValueError as exc:
            return f"unreadable best_bid/best_ask: {exc}"
        if venue_bid is not None and venue_bid != book.bid:
            return f"venue best bid {change.best_bid} but local {book.best_bid_price}"
        if venue_ask is not None and venue_ask != book.ask:
            return f"venue best ask {change.best_ask} but local {book.best_ask_price}"
        return ""

    async def _inconsistent(self, asset_ids: list[str], why: str, *, force: bool = False) -> None:
        stale = [a for a in asset_ids if a in self._books and (force or not self._books[a].stale)]
        if not stale:
            return
        for asset in stale:
            self._books[asset].stale = True
        _log.warning("ws.book_inconsistent", asset_ids=stale, why=why)
        await self._notify()
        await self._emit(
            BookStale(
                tuple(stale),
                "inconsistent",
                StaleFeedError(why, asset_ids=tuple(stale), reason="inconsistent"),
            )
        )
        await self._resync(stale)

    async def _trade(self, event: LastTradePriceEvent) -> None:
        if event.asset_id not in self._books:
            return
        try:
            price, size = parse_price(event.price), parse_size(event.size)
        except ValueError as exc:
            _log.warning("ws.trade_unreadable", asset_id=event.asset_id, error=str(exc))
            return
        await self._emit(
            TradePrinted(
                event.asset_id, event.market, price, size, event.side, _ms(event.timestamp), event
            )
        )

    async def _tick_size(self, event: TickSizeChangeEvent) -> None:
        book = self._books.get(event.asset_id)
        if book is None:
            return
        try:
            old, new = parse_price(event.old_tick_size), parse_price(event.new_tick_size)
        except ValueError as exc:
            await self._inconsistent([event.asset_id], f"unreadable tick size change: {exc}")
            return
        book.tick_size = new
        await self._emit(
            TickSizeChanged(event.asset_id, event.market, old, new, _ms(event.timestamp))
        )
