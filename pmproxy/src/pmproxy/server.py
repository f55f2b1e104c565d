"""Serving pmproxy with uvicorn: one process, uvloop, httptools, no access log.

uvicorn's httptools protocol hands the application only the path of an absolute-form request
target (``GET http://evil.example/clob/x``) and drops the host; the subclass here puts the
target back into ``raw_path`` exactly as received, so the application can refuse it (400)
instead of silently forwarding a request that was addressed elsewhere.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from pmproxy.app import ProxyApp


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
        of any target; the literal bytes (before ``?``) go back into ``raw_path`` so that the
        application's checks see them.
        """
        super().on_headers_complete()
        scope = self.scope
        if scope.get("type") == "http" and "raw_path" in scope:
            literal = self.url.partition(b"?")[0]
            if literal != scope["raw_path"]:
                scope["raw_path"] = literal
            cycle = self.cycle
            if cycle.scope is scope:  # the cycle uvicorn just made for this request
                # Duck-typed: write, close and is_closing are all the cycle uses.
                cycle.transport = HeadHoldingTransport(self.transport, self.loop)  # type: ignore[assignment]


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


def config(app: ProxyApp, *, host: str, port: int, log_level: str) -> uvicorn.Config:
    """The uvicorn configuration pmproxy runs with (also used by tests and benchmarks)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http=TargetPreservingProtocol,
        ws="websockets-sansio",
        lifespan="on",
        access_log=False,
        log_config=None,
        log_level=log_level,
        server_header=False,
        date_header=False,
        proxy_headers=False,
        backlog=2048,
        timeout_keep_alive=30,
    )


def serve(app: ProxyApp) -> None:
    """Run the application until SIGINT/SIGTERM, on ``app.settings.host:port``."""
    settings = app.settings
    server = uvicorn.Server(
        config(app, host=settings.host, port=settings.port, log_level=settings.log_level)
    )
    server.run()
