"""Test helpers for pmproxy: real loopback servers, shipped so tests and benchmarks share them.

* :class:`RecordingUpstream`: a raw HTTP/1.1 server (asyncio + httptools, own thread) that
  records every request exactly as it arrived (target bytes, header names in their case, body)
  and echoes it back as JSON; a few ``/__…`` paths misbehave on purpose
  (see the class).
* :class:`StalledUpstream`: accepts connections and never answers.
* :class:`ProxyServer`: a pmproxy application under a real uvicorn server in a thread.
* :func:`raw_request`: one request over a plain socket, bytes exactly as given.
* :func:`free_port`, :func:`dead_port`.

Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import httptools
import uvicorn

from pmproxy.app import ProxyApp
from pmproxy.server import config as server_config

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def dead_port() -> int:
    """A loopback port that refuses connections (nothing listens there)."""
    return free_port()


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request as an upstream received it."""

    method: str
    target: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    def header(self, name: str) -> bytes | None:
        """The first value of a header (case-insensitive), or ``None``."""
        wanted = name.lower().encode()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None


@dataclass(slots=True)
class _Parsed:
    url: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: list[bytes] = field(default_factory=list)
    done: bool = False


_COOKIE_RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: application/json\r\n"
    b"Set-Cookie: session=upstream-secret; Path=/\r\n"
    b"Connection: keep-alive, X-Upstream-Private\r\n"
    b"X-Upstream-Private: hop-by-hop by Connection\r\n"
    b"Keep-Alive: timeout=5\r\n"
    b"Proxy-Authenticate: Basic\r\n"
    b"X-End-To-End: kept\r\n"
    b"Content-Length: 2\r\n\r\n{}"
)


class _Protocol(asyncio.Protocol):
    def __init__(self, owner: RecordingUpstream) -> None:
        self._owner = owner
        self._parser = httptools.HttpRequestParser(self)
        self._current = _Parsed()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._owner.transports.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._owner.transports.discard(self._transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            if self._transport is not None:
                self._transport.close()

    def on_message_begin(self) -> None:
        self._current = _Parsed()

    def on_url(self, url: bytes) -> None:
        self._current.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._current.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self._current.body.append(body)

    def on_message_complete(self) -> None:
        method = self._parser.get_method().decode()
        request = Recorded(
            method, self._current.url, tuple(self._current.headers), b"".join(self._current.body)
        )
        self._owner.record(request)
        transport = self._transport
        if transport is None:
            return
        target = request.target
        if b"/__stall" in target:
            return
        if b"/__close" in target:
            transport.close()
            return
        if b"/__cookie" in target:
            transport.write(_COOKIE_RESPONSE)
            return
        if b"/__extra" in target:
            # One answer, then a second nobody asked for, in the same write.
            transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!"
            )
            return
        if b"/__stream" in target:
            task = asyncio.ensure_future(self._stream(transport))
            self._owner.tasks.add(task)
            task.add_done_callback(self._owner.tasks.discard)
            return
        if b"/__status/" in target:
            at = target.index(b"/__status/") + 10
            self._answer(transport, request, status=int(target[at : at + 3]))
            return
        if self._owner.delay:
            asyncio.get_running_loop().call_later(
                self._owner.delay, self._answer, transport, request
            )
            return
        self._answer(transport, request)

    def _answer(self, transport: asyncio.Transport, request: Recorded, status: int = 200) -> None:
        if transport.is_closing():
            return
        if self._owner.fixed_body is not None:
            body = self._owner.fixed_body
        else:
            body = json.dumps(
                {
                    "method": request.method,
                    "target": request.target.decode("latin-1"),
                    "headers": [
                        [k.decode("latin-1"), v.decode("latin-1")] for k, v in request.headers
                    ],
                    "body": request.body.decode("latin-1"),
                }
            ).encode()
        transport.write(
            f"HTTP/1.1 {status} Whatever\r\n".encode()
            + b"Content-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )

    async def _stream(self, transport: asyncio.Transport) -> None:
        transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        for i in range(5):
            chunk = f"chunk-{i};".encode()
            transport.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            await asyncio.sleep(0.01)
        transport.write(b"0\r\n\r\n")


class RecordingUpstream:
    """A loopback HTTP/1.1 server that records and echoes every request (own thread and loop).

    Args:
        delay: seconds to wait before each echo answer (for coalescing tests).
        fixed_body: answer every ordinary request with this body instead of the echo.
        tls: serve HTTPS with this server context.

    Misbehaving paths (anywhere in the target): ``/__stall`` never answers, ``/__close``
    closes the connection, ``/__cookie`` answers with Set-Cookie and hop-by-hop headers,
    ``/__stream`` streams five chunks, ``/__status/NNN`` answers with status NNN, ``/__extra``
    answers twice.
    """

    def __init__(
        self,
        *,
        delay: float = 0.0,
        fixed_body: bytes | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.delay = delay
        self._tls = tls
        self.fixed_body = fixed_body
        self.port = 0
        self.tasks: set[asyncio.Future[None]] = set()
        self.transports: set[asyncio.Transport] = set()
        self._requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (``https`` when serving TLS)."""
        return f"{'https' if self._tls else 'http'}://{LOOPBACK}:{self.port}"

    @property
    def requests(self) -> list[Recorded]:
        """A copy of the requests received so far."""
        with self._lock:
            return list(self._requests)

    @property
    def hits(self) -> int:
        """How many requests arrived."""
        with self._lock:
            return len(self._requests)

    def record(self, request: Recorded) -> None:
        """Remember one request (called from the server's loop)."""
        with self._lock:
            self._requests.append(request)

    def clear(self) -> None:
        """Forget the requests received so far."""
        with self._lock:
            self._requests.clear()

    def start(self) -> Self:
        """Start listening on a free loopback port; returns once it accepts connections."""
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop

            async def main() -> None:
                self._server = await loop.create_server(
                    lambda: _Protocol(self), LOOPBACK, 0, backlog=1024, ssl=self._tls
                )
                self.port = self._server.sockets[0].getsockname()[1]
                ready.set()
                await self._server.serve_forever()

            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(main())
            loop.run_until_complete(asyncio.sleep(0))  # let closed transports finish
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="recording-upstream", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the recording upstream did not start")
        return self

    def stop(self) -> None:
        """Stop the server and its thread."""
        loop, server = self._loop, self._server
        if loop is not None and server is not None and not loop.is_closed():

            def close() -> None:
                server.close()
                for transport in list(self.transports):
                    transport.close()
                for task in asyncio.all_tasks(loop):
                    task.cancel()

            loop.call_soon_threadsafe(close)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class StalledUpstream:
    """A loopback server that accepts connections, reads, and never answers."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((LOOPBACK, 0))
        self.port: int = self._sock.getsockname()[1]
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> Self:
        """Start accepting (connections are kept open and never answered)."""
        self._sock.listen(64)
        self._sock.settimeout(0.1)

        def run() -> None:
            while not self._stop.is_set():
                try:
                    conn, _ = self._sock.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                self._conns.append(conn)

        self._thread = threading.Thread(target=run, name="stalled-upstream", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close every connection and the listening socket."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for conn in self._conns:
            conn.close()
        self._sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ProxyServer:
    """A pmproxy application under a real uvicorn server, in a thread, on a free port.

    Args:
        app: the application (its ``settings.host``/``port`` are ignored).
        keep_alive: seconds an idle client connection stays open.
    """

    def __init__(self, app: ProxyApp, *, keep_alive: int = 30) -> None:
        self.app = app
        self.port = free_port()
        self._server = uvicorn.Server(
            server_config(
                app,
                host=LOOPBACK,
                port=self.port,
                log_level=app.settings.log_level,
                keep_alive=keep_alive,
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> Self:
        """Start serving; returns once uvicorn accepts connections."""
        self._thread = threading.Thread(target=self._server.run, name="pmproxy", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("pmproxy did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Shut uvicorn down (runs the lifespan's shutdown) and join its thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(15)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass(frozen=True, slots=True)
class RawResponse:
    """An HTTP response as read off a socket."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    def header(self, name: str) -> bytes | None:
        """The first value of a header (case-insensitive), or ``None``."""
        wanted = name.lower().encode()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def json(self) -> object:
        """The body parsed as JSON."""
        return json.loads(self.body)


def raw_request(
    port: int,
    target: bytes,
    *,
    method: bytes = b"GET",
    headers: tuple[tuple[bytes, bytes], ...] = (),
    body: bytes = b"",
    timeout: float = 10.0,
) -> RawResponse:
    """Send one request with exactly these bytes (``Connection: close``) and read the answer.

    A ``Content-Length`` header is added when ``body`` is not empty and none is given.
    """
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1:" + str(port).encode()]
    lines.extend(k + b": " + v for k, v in headers)
    if body and not any(k.lower() in (b"content-length", b"transfer-encoding") for k, _ in headers):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    lines.append(b"Connection: close")
    payload = b"\r\n".join(lines) + b"\r\n\r\n" + body
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
        sock.sendall(payload)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            chunks.append(data)
    return parse_response(b"".join(chunks))


def parse_response(data: bytes) -> RawResponse:
    """Parse one HTTP/1.1 response (Content-Length, chunked, or read-to-close)."""
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not lines or not lines[0].startswith(b"HTTP/1."):
        raise ValueError(f"not an HTTP response: {data[:80]!r}")
    status = int(lines[0].split(b" ")[1])
    headers = tuple(
        (k.strip(), v.strip()) for k, _, v in (line.partition(b":") for line in lines[1:])
    )
    chunked = any(k.lower() == b"transfer-encoding" and b"chunked" in v.lower() for k, v in headers)
    if chunked:
        body = b""
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            body += rest[:size]
            rest = rest[size + 2 :]
        return RawResponse(status, headers, body)
    return RawResponse(status, headers, rest)
