"""A lean HTTP/1.1 upstream client for the hot path: pooled keep-alive connections, no frills.

Measured here, one ``aiohttp`` request cost ~110 µs of CPU on its own (request and response
objects, tracing hooks, cookie and redirect machinery, timers), more than uvicorn spends serving
the client's side; forwarding needs none of that machinery. This client writes the request as
one buffer, parses the answer with ``httptools`` (the llhttp parser uvicorn uses), and hands
back the status, the raw headers and the body, streamed when large. aiohttp stays the client
for the websocket relay and the health probes.

What it does and does not do, on purpose:

* one request at a time per connection (no pipelining); idle connections are reused LIFO, up
  to the pool's limit, and dropped after ``keepalive`` seconds idle or when the upstream closes;
* it never resends anything itself: the caller decides (``errors.may_retry``);
* timeouts: connecting (``connect_timeout``, also while waiting for a free connection) and each
  read (``read_timeout``) raise :class:`TimeoutError`; a refused, reset or closed connection
  raises :class:`ConnectionError`, a malformed answer :class:`UpstreamProtocolError`;
* TLS for ``https`` upstreams through the standard library (certificates and host names
  verified; the settings' ``ca_file`` replaces the system's bundle).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from collections.abc import AsyncIterator

from pmproxy.h1conn import HIGH_WATER, Connection, Headers
from pmproxy.settings import Upstream


class Response:
    """An upstream answer: status and headers now, the body as it arrives.

    Release it (``release()``) once done, or the connection stays out of the pool.
    """

    __slots__ = ("_conn", "_read_timeout", "_released", "head_only", "headers", "status")

    def __init__(self, conn: Connection, read_timeout: float, *, head_only: bool) -> None:
        self._conn = conn
        self._read_timeout = read_timeout
        self._released = False
        self.status = conn.status
        self.headers: Headers = conn._headers
        self.head_only = head_only

    @property
    def complete(self) -> bool:
        """Whether the whole body has arrived already."""
        return self.head_only or self._conn.complete

    @property
    def buffered(self) -> int:
        """Bytes of body received and not taken yet."""
        return self._conn._buffered

    def pause(self) -> None:
        """Stop reading from the upstream (the client is not keeping up)."""
        conn = self._conn
        if not conn._paused and conn.transport is not None and not conn.closed:
            conn._paused = True
            conn.transport.pause_reading()

    def resume(self) -> None:
        """Read from the upstream again (unless its own buffer is over the high water mark)."""
        conn = self._conn
        if conn._paused and conn._buffered <= HIGH_WATER and conn.transport is not None:
            conn._paused = False
            if not conn.closed:
                conn.transport.resume_reading()

    def take(self) -> bytes:
        """Everything buffered so far (the whole body once :attr:`complete`)."""
        conn = self._conn
        chunks = conn._chunks
        if not chunks:
            return b""
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        conn._chunks = []
        conn._buffered = 0
        if conn._paused and conn.transport is not None:
            conn._paused = False
            conn.transport.resume_reading()
        return data

    async def read(self) -> bytes:
        """The whole body.

        Raises:
            TimeoutError: a read took longer than the read timeout.
            ConnectionError: the upstream closed or broke the connection first.
        """
        conn = self._conn
        parts: list[bytes] = []
        while not self.complete:
            if conn._chunks:
                parts.append(self.take())
            await conn._wait(self._read_timeout)
        parts.append(self.take())
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body in the pieces it arrives in (each non-empty)."""
        conn = self._conn
        while True:
            if conn._chunks:
                yield self.take()
            if self.complete:
                if conn._chunks:
                    yield self.take()
                return
            await conn._wait(self._read_timeout)

    def release(self) -> None:
        """Give the connection back to the pool (or close it if it cannot be reused)."""
        if self._released:
            return
        self._released = True
        conn = self._conn
        if conn.complete and conn.keep_alive and not conn.closed and not self.head_only:
            conn.pool.put(conn)
        else:
            conn.close()
            conn.pool.forget(conn)


class H1Pool:
    """Keep-alive connections to one upstream origin, for one event loop.

    Args:
        upstream: the origin (scheme, host, port) every request goes to.
        loop: the loop the connections belong to.
        limit: most connections open at once (requests wait for one beyond that).
        connect_timeout: seconds to connect, including any wait for a free connection.
        read_timeout: seconds each read may take.
        keepalive: seconds an idle connection is kept.
        tls: the TLS context for an ``https`` upstream (the system's default when omitted).
    """

    def __init__(
        self,
        upstream: Upstream,
        *,
        loop: asyncio.AbstractEventLoop,
        limit: int,
        connect_timeout: float,
        read_timeout: float,
        keepalive: float = 30.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.loop = loop
        self._host = upstream.host
        self._tls = upstream.scheme == "https"
        self._port = upstream.port or (443 if self._tls else 80)
        default = (upstream.port is None) or (upstream.port == (443 if self._tls else 80))
        host = f"[{upstream.host}]" if ":" in upstream.host else upstream.host
        self._host_header = (host if default else f"{host}:{upstream.port}").encode("idna")
        self._ssl: ssl.SSLContext | None = None
        if self._tls:
            self._ssl = tls if tls is not None else ssl.create_default_context()
        self._limit = limit
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._keepalive = keepalive
        self._idle: list[Connection] = []
        self._open: set[Connection] = set()
        self._connecting = 0
        self._waiters: collections.deque[asyncio.Future[Connection | None]] = collections.deque()
        self._closing = False

    def put(self, conn: Connection) -> None:
        """Return a finished, reusable connection (to a waiting request first)."""
        conn._reset()
        conn.busy = False
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        conn.idle_since = time.monotonic()
        self._idle.append(conn)

    def forget(self, conn: Connection) -> None:
        """Drop a connection that closed (and let a waiting request open a new one)."""
        if conn in self._open:
            self._open.discard(conn)
            self._release_slot()  # a slot is free: a waiting request connects anew
        if conn in self._idle:
            self._idle.remove(conn)

    def take_idle(self) -> Connection | None:
        """A pooled connection ready for a request now, or ``None`` (no waiting, no connecting)."""
        idle = self._idle
        if not idle:
            return None
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            transport = conn.transport
            if (
                not conn.closed
                and now - conn.idle_since < self._keepalive
                and transport is not None
                and not transport.is_closing()
            ):
                return conn
            conn.close()
            self.forget(conn)
        return None

    async def acquire(self) -> tuple[Connection, bool]:
        """A connection to send one request on, and whether it was a reused one.

        Waits for a free slot (within the connect timeout) when the pool is at its limit.
        """
        while True:
            conn, reused = await self._acquire()
            transport = conn.transport
            if transport is not None and not conn.closed and not transport.is_closing():
                return conn, reused
            # Closed while idle and nothing written yet: safe to take another, even for a POST.
            conn.close()
            self.forget(conn)

    async def _acquire(self) -> tuple[Connection, bool]:
        conn = self.take_idle()
        if conn is not None:
            return conn, True
        if len(self._open) + self._connecting >= self._limit:
            waiter: asyncio.Future[Connection | None] = self.loop.create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout(self._connect_timeout):
                    got = await waiter
            finally:
                if not waiter.done():
                    waiter.cancel()
            if got is not None:
                return got, True
        return await self._connect(), False

    async def _connect(self) -> Connection:
        self._connecting += 1
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, conn = await self.loop.create_connection(
                    lambda: Connection(self),
                    self._host,
                    self._port,
                    ssl=self._ssl,
                    server_hostname=self._host if self._tls else None,
                )
        except BaseException:
            self._release_slot()
            raise
        finally:
            self._connecting -= 1
        self._open.add(conn)
        return conn

    def _release_slot(self) -> None:
        # A connection attempt failed: a request waiting for a slot may try its own.
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def request(
        self, method: bytes, target: bytes, headers: Headers, body: bytes
    ) -> tuple[Response, bool]:
        """Send one request and wait for the answer's status and headers.

        Args:
            method: e.g. ``b"GET"``.
            target: origin-form target (``/path?query``), already checked.
            headers: end-to-end headers to send (no Host, no Content-Length).
            body: the whole request body.

        Returns:
            The response (release it when done) and whether the connection was a reused one.

        Raises:
            TimeoutError: no connection or no answer in time.
            ConnectionError: refused, reset or closed before the answer's head arrived.
            OSError: the connection could not be opened.
        """
        conn, reused = await self.acquire()
        self.send(conn, method, target, headers, body)
        try:
            while not conn.head_done:
                await conn._wait(self._read_timeout)
        except BaseException:
            conn.close()
            self.forget(conn)
            raise
        return Response(conn, self._read_timeout, head_only=method == b"HEAD"), reused

    def send(
        self, conn: Connection, method: bytes, target: bytes, headers: Headers, body: bytes
    ) -> None:
        """Write one request (head and body, one buffer) on a connection from :meth:`acquire`.

        Args:
            conn: the connection (from :meth:`acquire` or :meth:`take_idle`).
            method: e.g. ``b"GET"``.
            target: origin-form target (``/path?query``), already checked.
            headers: end-to-end headers to send (no Host, no Content-Length).
            body: the whole request body.
        """
        parts = [method, b" ", target, b" HTTP/1.1\r\nHost: ", self._host_header, b"\r\n"]
        for name, value in headers:
            parts += (name, b": ", value, b"\r\n")
        if body or method not in (b"GET", b"HEAD", b"OPTIONS"):
            parts += (b"content-length: ", str(len(body)).encode(), b"\r\n")
        parts.append(b"\r\n")
        if body:
            parts.append(body)
        conn.busy = True
        transport = conn.transport
        assert transport is not None  # acquire() and take_idle() hand out connected ones
        transport.write(b"".join(parts))

    def close(self) -> None:
        """Close every connection (idle or not); the sockets close on the next loop steps."""
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()

    async def aclose(self, wait: float = 1.0) -> None:
        """Drop every connection at once and wait (up to ``wait`` s) until their sockets closed.

        For shutdown: a TLS connection closed politely finishes its close_notify exchange on
        later loop steps, after the loop may be gone; aborting does not wait for the peer.
        """
        conns = list(self._open)
        for conn in conns:
            if conn.transport is not None and not conn.lost.done():
                conn.transport.abort()
        self._open.clear()
        self._idle.clear()
        pending = [conn.lost for conn in conns if not conn.lost.done()]
        if pending:
            await asyncio.wait(pending, timeout=wait)
