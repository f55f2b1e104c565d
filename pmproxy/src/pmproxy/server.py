"""Serving pmproxy with uvicorn: one process, uvloop, httptools, no access log.

uvicorn's httptools protocol hands the application only the path of an absolute-form request
target (``GET http://evil.example/clob/x``) and drops the host; the subclass here puts the
target back into ``raw_path`` exactly as received, so the application can refuse it (400)
instead of silently forwarding a request that was addressed elsewhere.

:class:`ProxyProtocol` adds the fast path (:mod:`pmproxy.fastpath`): a request on a forwarding
route with a small body is collected in the parser's callbacks and handed to the forwarding
rules as soon as it is complete, without an ASGI task; its answer is written with one
``write``. Everything else (other paths, streamed or large bodies, ``Expect: 100-continue``,
``HEAD``, HTTP/1.0, upgrades, pipelined requests) takes uvicorn's ASGI path unchanged.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from pmproxy.app import ProxyApp
from pmproxy.fastpath import MAX_BODY, FastPath
from pmproxy.reply import FastReply


class TargetPreservingProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol: ``raw_path`` is the literal target, and no access log.

    uvicorn writes an access line per request whenever ``uvicorn.access`` has a handler (the
    test runner's log capture counts); pmproxy logs its own debug line instead, so the hot path
    never formats one above debug.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.access_log = False

    def on_headers_complete(self) -> None:
        """Parse as uvicorn does, then put back a target it shortened.

        httptools drops the scheme and host of an absolute-form target and the ``#fragment``
        of any target; the literal bytes go back into ``raw_path`` (before ``?``) and
        ``query_string`` (after it) so that the application's checks see them: a fragment,
        which no client sends, is refused in the query as in the path, as on the fast path.
        """
        super().on_headers_complete()
        scope = self.scope
        if scope.get("type") == "http" and "raw_path" in scope:
            literal, _, query = self.url.partition(b"?")
            if literal != scope["raw_path"]:
                scope["raw_path"] = literal
            if query != scope["query_string"]:
                scope["query_string"] = query
            cycle = self.cycle
            if cycle.scope is scope:  # the cycle uvicorn just made for this request
                # Duck-typed: write, close and is_closing are all the cycle uses.
                cycle.transport = HeadHoldingTransport(self.transport, self.loop)  # type: ignore[assignment]


class ProxyProtocol(TargetPreservingProtocol):
    """The target-preserving protocol plus the fast path for complete, small requests.

    While a fast request is collected or in flight, ``self.cycle`` is its
    :class:`~pmproxy.reply.FastReply`, which carries the few attributes uvicorn's own code
    reads from a cycle (``response_complete``, ``disconnected``, ``keep_alive``,
    ``message_event``), so pipelining, disconnects and graceful shutdown behave as they do for
    an ASGI request.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        app = self.app
        fast = app.fast if isinstance(app, ProxyApp) else None
        # uvicorn's concurrency limit (503) and root_path live in its ASGI path; with either
        # configured, every request takes that path.
        if self.config.limit_concurrency is not None or self.config.root_path:
            fast = None
        self._fastpath = fast
        self._max_body = min(MAX_BODY, app.settings.max_body_bytes) if fast is not None else 0
        self._inflight: FastReply | None = None
        # The server's own headers (none unless configured), ready to go into each fast answer.
        defaults = self.server_state.default_headers
        self.default_head = b"".join(name + b": " + value + b"\r\n" for name, value in defaults)
        self.default_lines = len(defaults)
        # When the connection last became idle (None: a request is being read or answered).
        self._idle_since: float | None = None

    def data_received(self, data: bytes) -> None:
        """Feed the parser (uvicorn's, with the keep-alive bookkeeping made one store)."""
        self._idle_since = None
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    def on_message_begin(self) -> None:
        """Start a request; its ASGI scope is built only if it takes the ASGI path."""
        self.url = b""
        self.expect_100_continue = False
        self.headers = []

    def on_headers_complete(self) -> None:
        """Take the request on the fast path if it qualifies, else parse it as uvicorn does."""
        fast = self._fastpath
        if fast is not None:
            cycle: Any = self.cycle  # None before the first request
            if (cycle is None or cycle.response_complete) and self._take(fast):
                return
        # uvicorn's own scope, with the URL and headers read so far put back into it.
        url, headers, expect = self.url, self.headers, self.expect_100_continue
        super().on_message_begin()
        self.url, self.headers, self.expect_100_continue = url, headers, expect
        self.scope["headers"] = headers
        super().on_headers_complete()

    # Keep-alive: uvicorn arms a timer after each answer and cancels it when the next request's
    # bytes arrive, two timer operations per request. Here one timer per idle period checks,
    # when it fires, whether the connection was busy since, and waits again if it was.

    def _unset_keepalive_if_required(self) -> None:
        self._idle_since = None

    def on_response_complete(self) -> None:
        """An answer is out: start a queued pipelined request, or wait for the next one."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        loop = self.loop
        self._idle_since = loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def timeout_keep_alive_handler(self) -> None:
        """Close the connection if it stayed idle for the keep-alive timeout."""
        self.timeout_keep_alive_task = None
        idle_since = self._idle_since
        if idle_since is None:
            return  # busy now; armed again when its answer is out
        deadline = idle_since + self.timeout_keep_alive
        if self.loop.time() < deadline:
            self.timeout_keep_alive_task = self.loop.call_at(
                deadline, self.timeout_keep_alive_handler
            )
        elif not self.transport.is_closing():
            self.transport.close()

    def _take(self, fast: FastPath) -> bool:
        parser = self.parser
        if self.expect_100_continue or parser.get_http_version() != "1.1":
            return False
        if parser.should_upgrade():
            return False
        method = parser.get_method()
        if method == b"HEAD":
            return False
        raw, _, query = self.url.partition(b"?")
        if raw[:1] != b"/" or raw[:2] == b"//":
            return False  # the ASGI path refuses it (400)
        found = fast.forwarder.match(raw)
        if found is None:
            return False
        length = 0
        for name, value in self.headers:
            if name == b"content-length":
                if not value.isdigit():
                    return False  # the ASGI path refuses it (400)
                length = int(value)
            elif name == b"transfer-encoding":
                return False
        if length > self._max_body:
            return False  # streamed in (or refused with 413) by the ASGI path
        cycle = FastReply(
            self,
            fast,
            found[0],
            found[1],
            method=method.decode("ascii"),
            query=query,
            headers=self.headers,
            keep_alive=parser.should_keep_alive(),
        )
        self.cycle = cycle  # type: ignore[assignment]  # duck-typed, see the class docstring
        self._inflight = cycle
        return True

    def on_body(self, body: bytes) -> None:
        """Collect a fast request's body (small: its length was checked), else as uvicorn."""
        cycle: object = self.cycle
        if isinstance(cycle, FastReply):
            cycle.parts.append(body)
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        """Forward a fast request now that all of it is here, else as uvicorn."""
        cycle: object = self.cycle
        if isinstance(cycle, FastReply):
            cycle.start()
            return
        super().on_message_complete()

    def fast_done(self, cycle: FastReply) -> None:
        """A fast request's answer is written (or cut): next request, or keep-alive wait."""
        if self._inflight is cycle:
            self._inflight = None
        if self.transport is not None:
            self.on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        """The client went away: a fast request in flight writes nothing more."""
        cycle = self._inflight
        if cycle is not None:
            cycle.gone()
        super().connection_lost(exc)
        timer = self.timeout_keep_alive_task
        if timer is not None:
            timer.cancel()
            self.timeout_keep_alive_task = None

    def resume_writing(self) -> None:
        """The client's socket buffer drained: a streamed fast answer reads its upstream again."""
        super().resume_writing()
        cycle = self._inflight
        if cycle is not None and cycle.exchange is not None:
            cycle.exchange.writable()

    def shutdown(self) -> None:
        """Graceful shutdown: a fast request in flight is answered, then the connection closes."""
        cycle = self._inflight
        if cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False
            current: Any = self.cycle  # an ASGI cycle queued behind it, if any
            if current is not cycle and current is not None:
                current.keep_alive = False
            return
        super().shutdown()


class HeadHoldingTransport:
    """Holds a response's status line and headers until its first body bytes, then writes both.

    uvicorn writes the head and the body of a response with two ``write`` calls, each one a
    system call; on this machine that second call cost as much as the rest of a forwarded
    request. The head is held at most until the end of the current event-loop step (a
    ``call_soon`` flush), so a streamed answer whose body comes later is not delayed.
    """

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = b""  # b"": nothing written yet; None: head already out

    def write(self, data: bytes) -> None:
        """Hold the first write (the head); write it together with the next one."""
        held = self._held
        if held is None:
            self._transport.write(data)
        elif held == b"":
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            self._held = None
            self._transport.write(held + data)

    def flush(self) -> None:
        """Write a held head now (end of the loop step, or before closing)."""
        held = self._held
        if held:
            self._held = None
            self._transport.write(held)

    def close(self) -> None:
        """Flush, then close the connection."""
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        """Whether the underlying transport is closing."""
        return self._transport.is_closing()


def config(
    app: ProxyApp, *, host: str, port: int, log_level: str, keep_alive: int = 30
) -> uvicorn.Config:
    """The uvicorn configuration pmproxy runs with (also used by tests and benchmarks).

    ``keep_alive`` is how long (s) an idle client connection stays open.
    """
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http=ProxyProtocol,
        ws="websockets-sansio",
        lifespan="on",
        access_log=False,
        log_config=None,
        log_level=log_level,
        server_header=False,
        date_header=False,
        proxy_headers=False,
        backlog=2048,
        timeout_keep_alive=keep_alive,
    )


def serve(app: ProxyApp) -> None:
    """Run the application until SIGINT/SIGTERM, on ``app.settings.host:port``."""
    settings = app.settings
    server = uvicorn.Server(
        config(app, host=settings.host, port=settings.port, log_level=settings.log_level)
    )
    # Everything built so far (modules, FastAPI, pydantic, the app) lives as long as the
    # process: move it out of the collector's reach, so that a full collection, triggered by
    # the allocations of forwarded requests, does not walk it (a ~30 ms pause each time).
    gc.collect()
    gc.freeze()
    server.run()
