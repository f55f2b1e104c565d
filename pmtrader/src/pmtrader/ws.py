"""Reconnecting websocket feeds: the machinery the market and user streams share.

One task per stream owns its connection and does, in a loop: connect, subscribe, read frames,
send the text ``PING`` every ``ping_interval`` seconds, and treat ``stale_after`` seconds without
any frame (not even ``PONG``) as a dead feed. A dead or failed connection is closed and retried
after a jittered exponential backoff (:func:`backoff_delay`); the subclass is told at each step
(``_on_connected``, ``_on_frame``, ``_on_disconnected``) and turns that into typed events.

Consumers read those events with ``async for event in stream`` (or ``await anext(stream)``
under ``asyncio.timeout``) from a bounded queue: a consumer that falls behind slows the reader
(back-pressure) instead of losing events. Constructors do no I/O; :meth:`Feed.start` (or
``async with``) starts the task and :meth:`Feed.close` stops it and ends the iteration.

The streams themselves live in :mod:`pmtrader.ws_market` (:class:`~pmtrader.ws_market.MarketStream`)
and :mod:`pmtrader.ws_user` (:class:`~pmtrader.ws_user.UserStream`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Generic, Self, TypeVar

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from pmtrader.errors import PmtraderError

__all__ = ["Feed", "backoff_delay", "channel_url"]

_log = structlog.get_logger("pmtrader.ws")

EventT = TypeVar("EventT")

_CLOSED = object()


def backoff_delay(
    attempt: int, *, initial: float, maximum: float, rng: random.Random | None = None
) -> float:
    """Seconds to wait before reconnect ``attempt`` (0 for the first retry).

    Exponential with "equal jitter": half of the capped exponential step is fixed and half is
    random, so a crowd of clients dropped together does not reconnect together, yet no client
    retries in a tight loop.

    Args:
        attempt: How many reconnects have failed in a row.
        initial: The first step, seconds.
        maximum: The cap, seconds.
        rng: Source of jitter (seed it for reproducible tests).
    """
    step = min(maximum, initial * (1 << min(attempt, 32)))
    return step / 2 + (rng or random).uniform(0, step / 2)


def channel_url(url: str, channel: str) -> str:
    """``{url}/{channel}`` unless ``url`` already names that channel.

    The settings hold the websocket base (``wss://…/ws``); the venue's channels are
    ``/ws/market`` and ``/ws/user``.
    """
    if not url.startswith(("ws://", "wss://")):
        raise ValueError(f"websocket URL must start with ws:// or wss://, got {url!r}")
    base = url.rstrip("/")
    return base if base.endswith("/" + channel) else f"{base}/{channel}"


class _SilentFeedError(Exception):
    """No frame arrived within ``stale_after`` seconds."""


class Feed(ABC, Generic[EventT]):
    """A websocket feed that keeps itself connected and yields typed events.

    Args:
        url: The channel's ``ws://``/``wss://`` URL.
        stale_after: Seconds without any frame (events or ``PONG``) after which the feed is
            considered dead: the consumer is told and the connection is replaced.
        ping_interval: Seconds between the text ``PING`` keep-alives (the venue answers ``PONG``).
        backoff_initial: First reconnect delay, seconds.
        backoff_max: Longest reconnect delay, seconds.
        open_timeout: Seconds allowed for the TCP/TLS/websocket handshake.
        queue_size: Events held for a slow consumer before the reader waits for it.
        rng: Source of backoff jitter.
    """

    def __init__(
        self,
        url: str,
        *,
        stale_after: float = 30.0,
        ping_interval: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        open_timeout: float = 10.0,
        queue_size: int = 10_000,
        rng: random.Random | None = None,
    ) -> None:
        if stale_after <= ping_interval:
            raise ValueError(
                f"stale_after ({stale_after}s) must exceed ping_interval ({ping_interval}s), "
                "or a quiet but healthy feed would look dead between two PONGs"
            )
        self._url = url
        self._stale_after = stale_after
        self._ping_interval = ping_interval
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._open_timeout = open_timeout
        self._rng = rng or random.Random()
        self._queue: asyncio.Queue[object] = asyncio.Queue(queue_size)
        self._task: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None
        self._closing = False
        self._closed = False
        self._failure: PmtraderError | None = None
        self._up = asyncio.Event()
        #: How many times the feed has connected (the first connection counts).
        self.connections = 0

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the connection task (idempotent); events begin to arrive shortly after.

        Raises:
            PmtraderError: The feed was closed; create a new one instead of restarting it.
        """
        if self._closed:
            raise PmtraderError(
                "this stream was closed and its consumers told so; create a new stream"
            )
        if self._task is None:
            self._closing = False
            self._task = asyncio.create_task(self._run(), name=f"pmtrader-feed {self._url}")

    async def close(self) -> None:
        """Stop the feed, close the socket, and end every ``async for`` over it."""
        self._closing = True
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._on_closed()
        self._end()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        """Whether a connection is open and subscribed right now."""
        return self._ws is not None

    async def wait_connected(self) -> None:
        """Wait until a connection is open and subscribed (bound it with ``asyncio.timeout``)."""
        await self._up.wait()

    # -- consuming -------------------------------------------------------------------------------

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> EventT:
        item = await self._queue.get()
        if item is _CLOSED:
            self._queue.put_nowait(_CLOSED)  # every other iterator ends too
            if self._failure is not None:
                raise self._failure
            raise StopAsyncIteration
        return item  # type: ignore[return-value]  # only _emit (typed EventT) puts anything else

    async def _emit(self, event: EventT) -> None:
        await self._queue.put(event)

    # -- sending ---------------------------------------------------------------------------------

    async def _send(self, text: str) -> bool:
        """Send on the live connection; False when there is none (the next one resubscribes)."""
        ws = self._ws
        if ws is None:
            return False
        try:
            await ws.send(text)
        except ConnectionClosed:
            return False
        return True

    # -- the connection loop ---------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while not self._closing:
            reason = "disconnected"
            try:
                async with connect(
                    self._url,
                    open_timeout=self._open_timeout,
                    ping_interval=None,  # the venue's keep-alive is the text PING, sent below
                    close_timeout=1.0,
                    max_size=None,  # initial dumps of many books are large
                    max_queue=None,
                ) as ws:
                    await self._subscribe(ws)
                    self._ws = ws
                    self._up.set()
                    self.connections += 1
                    _log.info("ws.connected", url=self._url, connections=self.connections)
                    await self._on_connected()
                    failures = 0
                    await self._read(ws)
            except _SilentFeedError:
                reason = "silent"
                _log.warning("ws.silent", url=self._url, stale_after=self._stale_after)
            except ConnectionClosed as exc:
                fatal = self._fatal_close(exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else None
                if fatal is not None:
                    self._failure = fatal
                    self._closing = True
                    _log.error("ws.rejected", url=self._url, error=str(fatal))
                else:
                    _log.warning("ws.disconnected", url=self._url, error=repr(exc))
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                _log.warning("ws.disconnected", url=self._url, error=repr(exc))
            except InvalidURI as exc:
                self._failure = PmtraderError(f"websocket URL {self._url!r} is invalid: {exc}")
                self._closing = True
            finally:
                self._ws = None
                self._up.clear()
            await self._on_disconnected("closed" if self._closing else reason)
            if self._closing:
                break
            delay = backoff_delay(
                failures, initial=self._backoff_initial, maximum=self._backoff_max, rng=self._rng
            )
            failures += 1
            _log.info("ws.reconnecting", url=self._url, delay=round(delay, 3), attempt=failures)
            await asyncio.sleep(delay)
        self._end()

    def _end(self) -> None:
        """Queue the end-of-stream marker; on a full queue it displaces the oldest unread event,
        since a consumer that never learns the stream ended would wait forever."""
        if self._queue.full():
            self._queue.get_nowait()
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(_CLOSED)

    async def _read(self, ws: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        last_frame = loop.time()
        next_ping = last_frame + self._ping_interval
        while True:
            now = loop.time()
            if now >= next_ping:
                await ws.send("PING")
                next_ping = now + self._ping_interval
            dead_at = last_frame + self._stale_after
            if now >= dead_at:
                raise _SilentFeedError
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can turn a cancellation that
                # races its own timeout into TimeoutError, and close() would then wait forever.
                async with asyncio.timeout(min(next_ping, dead_at) - now):
                    frame = await ws.recv()
            except TimeoutError:
                continue
            last_frame = loop.time()
            if frame == "PONG":
                continue
            await self._on_frame(frame)

    # -- what a stream decides -------------------------------------------------------------------

    @abstractmethod
    async def _subscribe(self, ws: ClientConnection) -> None:
        """Send the subscription on a fresh connection."""

    @abstractmethod
    async def _on_connected(self) -> None:
        """The connection is open and subscribed."""

    @abstractmethod
    async def _on_frame(self, frame: str | bytes) -> None:
        """Handle one frame that is not ``PONG``."""

    @abstractmethod
    async def _on_disconnected(self, reason: str) -> None:
        """The connection is gone (``reason``: silent, disconnected or closed)."""

    async def _on_closed(self) -> None:
        """The feed was closed by its owner."""

    def _fatal_close(self, code: int, reason: str) -> PmtraderError | None:
        """An error to end the feed with when the venue closes with ``code``, else ``None``.

        By default every close is retried; the user stream gives up on a refused login.
        """
        return None
