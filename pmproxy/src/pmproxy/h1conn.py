"""One upstream HTTP/1.1 connection of :class:`pmproxy.h1.H1Pool`: the asyncio protocol that
writes a request and parses its answer with ``httptools``, buffering the body up to a high-water
mark and pausing the upstream above it.

Kept apart from the pool and the response (``pmproxy.h1``) because it is the part that talks to
the parser and the transport; the pool decides which connection serves which request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, cast

import httptools

if TYPE_CHECKING:
    from pmproxy.h1 import H1Pool

Headers = list[tuple[bytes, bytes]]

# Above this much unread body, stop reading from the upstream until the client catches up.
HIGH_WATER: Final = 1 << 20


class UpstreamProtocolError(ConnectionError):
    """The upstream's answer is not valid HTTP/1.1."""


class Connection(asyncio.Protocol):
    """One upstream connection and the state of the exchange on it."""

    __slots__ = (
        "_buffered",
        "_chunks",
        "_headers",
        "_interim",
        "_loop",
        "_paused",
        "_waiter",
        "busy",
        "closed",
        "complete",
        "error",
        "head_done",
        "idle_since",
        "keep_alive",
        "lost",
        "notify",
        "parser",
        "pool",
        "status",
        "transport",
    )

    def __init__(self, pool: H1Pool) -> None:
        self.pool = pool
        self._loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.busy = False
        self.idle_since = 0.0
        self.lost: asyncio.Future[None] = pool.loop.create_future()
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self._headers: Headers = []
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._paused = False
        self.head_done = False
        self.complete = False
        self.keep_alive = True
        self._interim = False
        self.error: BaseException | None = None  # why the exchange failed, if it did
        self._waiter: asyncio.Future[None] | None = None
        # The server's fast path follows an exchange by callback instead of a waiter: called
        # once after each batch of bytes is parsed and when the connection fails or closes.
        self.notify: Callable[[], None] | None = None

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        if not self.busy:
            # Bytes on an idle connection answer no request: the stream is out of step (a
            # desync or a misbehaving upstream); never let them answer the next request.
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.keep_alive = False
            if not self.complete:
                self._fail(UpstreamProtocolError(f"invalid HTTP from upstream: {exc}"))
            self.close()
        notify = self.notify
        if notify is not None:
            notify()

    def eof_received(self) -> bool | None:
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.lost.done():
            self.lost.set_result(None)
        self.pool.forget(self)
        if self.head_done and not self.complete and not self._has_length():
            # A body delimited by the end of the connection ends here.
            self.complete = True
            self._wake()
        elif not self.complete:
            self._fail(ConnectionResetError("the upstream closed the connection"))
        notify = self.notify
        if notify is not None:
            self.notify = None
            notify()

    def pause_writing(self) -> None:  # the request is written whole; nothing to throttle
        return

    def resume_writing(self) -> None:
        return

    # --- httptools callbacks ---

    def on_message_begin(self) -> None:
        if self.head_done:
            # A second answer to one request: the stream is out of step. Raising stops the
            # parser; the connection is closed and never reused.
            raise UpstreamProtocolError("the upstream sent more than one answer")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:
            # An interim answer (e.g. an unasked-for 100 Continue): the real one follows.
            self._interim = True
            self._headers = []
            return
        self.status = status
        self.keep_alive = self.parser.should_keep_alive()
        self.head_done = True
        if self._waiter is not None:
            self._wake()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        if self._waiter is not None:
            self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        self.complete = True
        if self._waiter is not None:
            self._wake()

    # --- exchange ---

    def _has_length(self) -> bool:
        for name, _ in self._headers:
            if name in (b"content-length", b"transfer-encoding"):
                return True
        return self.status in (204, 304) or 100 <= self.status < 200

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_exception(exc)

    async def _wait(self, seconds: float) -> None:
        if self.error is not None:
            raise self.error
        waiter = self._loop.create_future()
        self._waiter = waiter
        timer = self._loop.call_later(seconds, self._timed_out, waiter)
        try:
            await waiter
        finally:
            timer.cancel()

    def _timed_out(self, waiter: asyncio.Future[None]) -> None:
        if not waiter.done():
            self._waiter = None
            waiter.set_exception(TimeoutError("the upstream did not answer in time"))
            self.keep_alive = False

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def finish(self) -> bytes:
        """The body of a complete answer; the connection goes back to its pool (or closes).

        The fast path's shortcut for the usual answer, whole once its head is parsed, instead
        of a :class:`Response`; read :attr:`status` and the headers (``headers()``) first.
        """
        chunks = self._chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if self.keep_alive and not self.closed:
            self.pool.put(self)
        else:
            self.close()
            self.pool.forget(self)
        return body

    def headers(self) -> Headers:
        """The answer's headers (lower-case names) as parsed so far."""
        return self._headers
