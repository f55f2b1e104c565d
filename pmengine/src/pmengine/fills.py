"""Live fills and order updates: pmtrader's :class:`~pmtrader.ws_user.UserStream`, plus REST.

The user channel pushes each of our trades (``MATCHED``, then ``MINED``, ``CONFIRMED``: one
trade id each time) and each order placement, fill and cancellation as it happens, so the engine
no longer asks the venue for its trades every 250 ms. A pushed feed can miss events while it is
down, so REST ``/data/trades`` (the gateway's ``trades_since``) still closes every gap:

* once the stream is first subscribed (fills between reconciliation and the subscription);
* after every reconnect, from a minute before the feed was last known good;
* while the feed is down, every ``poll_ms``. This slow poll runs only while the stream is down
  and is kept on purpose: pmproxy relays only the market channel, so behind it the user stream
  never connects, and without the poll such an engine would book no fill until it stopped.

A fill seen both on the stream and through REST is the same fill (``trade id:order hash``, built
by the same code from the same fields), and the engine books each id once. A trade that turns
``FAILED`` (its settlement failed) comes as the same fills marked ``failed``, from the stream or
from REST, and the engine reverses each booked one once (a failed fill never booked never will be).

Order matters too: average-cost P&L depends on the sequence of fills, so the engine must book
them as the venue matched them. After a (re)connect the stream's events are held back until the
catch-up has posted the earlier fills it found; a REST answer is the venue's order, and anything
the stream brought meanwhile matched no earlier. If the venue will not answer for ``HOLD_MAX_S``
the held events go through anyway (late in order beats not at all) and the failure is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import structlog
from pmtrader.ws_events import FeedRestored, FeedStale, OrderUpdate, TradeUpdate

from pmengine.errors import GatewayError
from pmengine.events import Event, FillEvent
from pmengine.events import OrderUpdate as EngineOrderUpdate
from pmengine.gateway import VenueOrder
from pmengine.journal import now_ms
from pmengine.live import LiveGateway
from pmengine.units import BUY, SELL
from pmtrader import PmtraderError, UserStream

log = structlog.get_logger("pmengine.fills")

#: REST catch-up starts this long before the last moment the feed was known good (the venue's
#: ``after`` filter counts whole seconds of match time, and clocks differ).
CATCH_UP_MARGIN_MS = 60_000

#: Longest wait (seconds) for a catch-up before held stream events are posted anyway.
HOLD_MAX_S = 5.0

_CANCELLED = frozenset(
    {"CANCELED", "CANCELLED", "CANCELED_MARKET_RESOLVED", "UNMATCHED", "EXPIRED"}
)

Post = Callable[[Event], Awaitable[None]]


def order_update(update: OrderUpdate) -> EngineOrderUpdate:
    """The engine's view of a user-channel order event.

    A cancellation is terminal; a placement or fill leaves the order live until it is fully
    matched. A partly matched immediate order is left to the engine's lookup by hash after its
    submit answer, which tells "the rest was killed" apart from "the rest still rests".
    """
    status = update.status.upper()
    if update.kind.upper() == "CANCELLATION":
        status = status if status in _CANCELLED else "CANCELED"
    else:
        status = "MATCHED" if update.remaining <= 0 else "LIVE"
    venue = VenueOrder(
        update.order_id,
        update.asset_id,
        BUY if update.side.upper() == "BUY" else SELL,
        update.price,
        update.original_size,
        update.size_matched,
        status,
    )
    return EngineOrderUpdate(update.order_id, venue)


class FillFeed:
    """Our fills and order updates for the engine's queue, from the user channel.

    Args:
        gateway: The started live gateway (its API credentials log the stream in; it knows
            which orders are ours and what each fill's fee is).
        ws_url: The websocket base (``…/ws``) or the user channel URL (``…/ws/user``).
        poll_ms: How often REST trades are polled while the stream is down.
        silence_s: Seconds without any frame or ``PONG`` before the socket counts as dead.
        ping_s: How often to send ``PING``.
        backoff_max: Longest reconnect delay, seconds.
    """

    def __init__(
        self,
        gateway: LiveGateway,
        ws_url: str,
        *,
        poll_ms: int = 1000,
        silence_s: float = 10.0,
        ping_s: float = 5.0,
        backoff_max: float = 5.0,
    ) -> None:
        self.gateway = gateway
        self.ws_url = ws_url
        self.poll_ms = poll_ms
        self.silence_s = silence_s
        self.ping_s = ping_s
        self.backoff_max = backoff_max
        self.stream: UserStream | None = None
        #: Fills the stream delivered (before the engine drops ones it already booked).
        self.streamed = 0
        #: REST catch-ups that completed (after the first subscription and each reconnect).
        self.catch_ups = 0
        #: Times the stream was found down.
        self.drops = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._poller: asyncio.Task[None] | None = None
        self._last_error = ""
        self._gap_from = 0
        self._covered = False
        self._generation = 0
        # Stream events held back while a catch-up is due (None: post them as they come).
        self._held: list[Event] | None = None

    @property
    def connected(self) -> bool:
        """Whether the user socket is open and subscribed right now."""
        return self.stream is not None and self.stream.connected

    async def run(self, post: Post, since_ms: int) -> None:
        """Post our fills and order updates until cancelled; ``since_ms``: last booked fill."""
        creds = self.gateway.client.api_credentials
        if creds is None:
            raise GatewayError("the user stream needs API credentials: start the gateway first")
        stream = UserStream(
            self.ws_url,
            creds,
            stale_after=self.silence_s,
            ping_interval=self.ping_s,
            backoff_initial=0.2,
            backoff_max=self.backoff_max,
        )
        self.stream = stream
        # The earliest match time a fill the engine has not been given could have.
        self._gap_from = max(since_ms, 0)
        self._held = []  # until the first catch-up has put what came before in front
        try:
            async with stream:
                self._spawn(self._first_catch_up(stream, post))
                try:
                    async for event in stream:
                        await self._on_event(event, post)
                except PmtraderError as exc:  # a refused login ends the stream
                    log.error("fills.stream_ended", error=str(exc))
            await self._release(post)
            # Without a stream, the REST poll is all there is.
            self._start_polling(post)
            if self._poller is not None:
                await self._poller
        finally:
            tasks = [*self._tasks, *([self._poller] if self._poller else [])]
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _on_event(self, event: object, post: Post) -> None:
        if isinstance(event, TradeUpdate):
            log.debug(
                "fills.user_trade",
                trade=event.trade_id,
                status=event.status,
                taker_order=event.taker_order_id,
                makers=len(event.maker_orders),
            )
            try:
                fills = await self.gateway.fills_of(event.raw)
            except (GatewayError, ValueError, ArithmeticError) as exc:
                # The trade stays at the venue: the REST catch-up books it once this is fixed.
                log.warning("fills.unbookable", trade=event.trade_id, error=str(exc))
                return
            for fill in fills:
                self.streamed += 1
                await self._emit(post, FillEvent(fill))
        elif isinstance(event, OrderUpdate):
            log.debug(
                "fills.user_order",
                order=event.order_id,
                kind=event.kind,
                status=event.status,
                matched=event.size_matched,
            )
            if self.gateway.owns(event.order_id):
                await self._emit(post, order_update(event))
        elif isinstance(event, FeedStale):
            self.drops += 1
            self._generation += 1
            if self._covered:
                # Everything up to the last catch-up is booked and the stream carried the rest
                # until it went quiet, at most ``silence_s`` before it was found dead.
                self._gap_from = now_ms() - int(self.silence_s * 1000)
                self._covered = False
            log.warning("fills.stream_down", reason=event.reason, polling_ms=self.poll_ms)
            self._start_polling(post)
        elif isinstance(event, FeedRestored):
            self._stop_polling()
            log.info("fills.stream_restored", reconnects=event.reconnects)
            if self._held is None:
                self._held = []
            self._spawn(self._catch_up(post))

    async def _emit(self, post: Post, event: Event) -> None:
        if self._held is not None:
            self._held.append(event)
        else:
            await post(event)

    async def _release(self, post: Post) -> None:
        """Post what the stream delivered while a catch-up was due, in the order it came."""
        held = self._held
        if held is None:
            return
        while held:
            await post(held.pop(0))
        if self._held is held:
            self._held = None

    async def _first_catch_up(self, stream: UserStream, post: Post) -> None:
        await stream.wait_connected()
        await self._catch_up(post)

    async def _catch_up(self, post: Post) -> None:
        """Book what the stream may have missed; retried until the venue answers."""
        generation = self._generation
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            if await self._sync(post):
                break
            if self._held and loop.time() - started >= HOLD_MAX_S:
                # Fills in stream order now beat fills in exact venue order later.
                log.warning("fills.released_before_catch_up", held=len(self._held))
                await self._release(post)
            await asyncio.sleep(self.poll_ms / 1000)
        self.catch_ups += 1
        if generation == self._generation:  # the stream stayed up all along
            self._covered = True

    async def _sync(self, post: Post) -> bool:
        try:
            fills = await self.gateway.trades_since(max(self._gap_from - CATCH_UP_MARGIN_MS, 0))
        except GatewayError as exc:
            if str(exc) != self._last_error:  # said once per distinct error, retried quietly
                self._last_error = str(exc)
                log.warning("fills.catch_up_failed", error=self._last_error)
            return False
        self._last_error = ""
        for fill in fills:
            await post(FillEvent(fill))
        # What the stream brought meanwhile matched no earlier than these: now it may follow.
        await self._release(post)
        return True

    async def _poll(self, post: Post) -> None:
        while True:
            await asyncio.sleep(self.poll_ms / 1000)
            await self._sync(post)

    def _start_polling(self, post: Post) -> None:
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll(post))

    def _stop_polling(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
