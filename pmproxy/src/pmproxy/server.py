"""Serving pmproxy with uvicorn: one process, uvloop, httptools, no access log.

uvicorn's httptools protocol hands the application only the path of an absolute-form request
target (``GET http://evil.example/clob/x``) and drops the host; the subclass here puts the
target back into ``raw_path`` exactly as received, so the application can refuse it (400)
instead of silently forwarding a request that was addressed elsewhere.
"""

from __future__ import annotations

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from pmproxy.app import ProxyApp


class TargetPreservingProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with ``raw_path`` set to the literal request target."""

    def on_headers_complete(self) -> None:
        """Parse as uvicorn does, then restore an absolute-form or ``//`` target."""
        super().on_headers_complete()
        url: bytes = self.url
        if url[:1] != b"/" or url[:2] == b"//":
            scope = self.scope
            if scope.get("type") == "http" and "raw_path" in scope:
                scope["raw_path"] = url.partition(b"?")[0]


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
