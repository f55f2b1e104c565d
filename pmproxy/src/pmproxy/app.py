"""The pmproxy ASGI application: FastAPI for the admin surface, raw ASGI for the hot path.

:class:`ProxyApp` is a FastAPI application (``/health``, ``/metrics``, ``/docs``,
``/openapi.json``) whose ``__call__`` first looks at the raw path: requests on ``/clob``,
``/gamma``, ``/data`` and ``/chain`` go straight to the :class:`~pmproxy.forward.Forwarder`
and ``/ws/market`` to the websocket relay, so no routing, middleware or validation runs per
forwarded request. Everything else falls through to FastAPI.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import aiohttp
from fastapi import FastAPI, Response
from pydantic import BaseModel
from starlette.types import Receive, Scope, Send
from yarl import URL

from pmproxy import __version__
from pmproxy.budget import Budgets
from pmproxy.errors import UnsafeRequestError
from pmproxy.fastpath import FastPath
from pmproxy.forward import ROUTES, Forwarder
from pmproxy.metrics import Metrics
from pmproxy.settings import Settings
from pmproxy.upstream import FAILURES, UpstreamPool
from pmproxy.websocket import PATH as WS_PATH
from pmproxy.websocket import relay_market

_HEALTH_TTL = 5.0
_HEALTH_TIMEOUT = 2.0
_DESCRIPTION = """\
A stateless reverse proxy for Polymarket's APIs. Clients sign their own requests; pmproxy
forwards them byte for byte (raw path, raw query, body, `POLY_*` headers untouched).

* `/clob/*` → CLOB REST, `/gamma/*` → Gamma, `/data/*` → Data API
* `/chain` → Polygon JSON-RPC (POST only, method allowlist)
* `/ws/market` → the CLOB market websocket channel

pmproxy forwards from where it runs. It is **not** a way around Polymarket's regional
restrictions: run it only where trading on Polymarket is allowed.
"""


class UpstreamHealth(BaseModel):
    """Reachability of one upstream, probed at most every 5 s."""

    url: str
    reachable: bool
    status: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None


class Health(BaseModel):
    """Liveness of the proxy and reachability of each upstream."""

    status: str
    version: str
    dry_run: bool
    upstreams: dict[str, UpstreamHealth]


class ProxyApp(FastAPI):
    """pmproxy as one ASGI application (built by :func:`create_app`).

    Attributes:
        settings: the settings it was built with.
        metrics: its Prometheus metrics.
        pool: its upstream client sessions.
        forwarder: the raw-ASGI passthrough.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.pool = UpstreamPool(settings)
        self.forwarder = Forwarder(
            settings,
            pool=self.pool,
            metrics=self.metrics,
            budgets=Budgets(scale=settings.budget_scale) if settings.budgets else None,
        )
        # The server's callback-driven path for complete small requests (same rules).
        self.fast = FastPath(self.forwarder)
        self._ws_upstream = settings.upstream("ws")
        self._health: tuple[float, Health] | None = None
        super().__init__(
            title="pmproxy",
            version=__version__,
            description=_DESCRIPTION,
            lifespan=_lifespan,
        )
        self.add_api_route(
            "/health",
            self.health,
            methods=["GET"],
            response_model=Health,
            summary="Liveness and upstream reachability",
        )
        self.add_api_route(
            "/metrics",
            self.prometheus,
            methods=["GET"],
            response_class=Response,
            summary="Prometheus metrics",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch: forwarding routes and ``/ws/market`` first, FastAPI for the rest."""
        kind = scope["type"]
        if kind == "http":
            raw: bytes | None = scope.get("raw_path")
            if raw is None:
                # Some servers (Mangum) give only the decoded path: re-encode it, so that
                # whatever decoded into "%", "\" or a control is refused by the checks.
                raw = quote(scope["path"], safe="/:@!$&'()*+,;=-._~").encode("ascii")
            if raw[:1] != b"/" or raw[:2] == b"//":
                await self.forwarder.refuse(
                    UnsafeRequestError("the request target must be a path ('/…'), not a URL"),
                    send,
                    method=scope.get("method", ""),
                )
                return
            found = self.forwarder.match(raw)
            if found is not None:
                await self.forwarder.handle(found[0], found[1], scope, receive, send)
                return
        elif kind == "websocket" and scope["path"] == WS_PATH:
            await relay_market(scope, receive, send, upstream=self._ws_upstream, pool=self.pool)
            return
        await super().__call__(scope, receive, send)

    async def health(self) -> Health:
        """Say the proxy is alive and whether each upstream answers (any HTTP status counts)."""
        now = time.monotonic()
        if self._health is not None and now - self._health[0] < _HEALTH_TTL:
            return self._health[1]
        names = ROUTES
        probes = await asyncio.gather(*(self._probe(name) for name in names))
        upstreams = dict(zip(names, probes, strict=True))
        health = Health(
            status="ok" if all(u.reachable for u in upstreams.values()) else "degraded",
            version=__version__,
            dry_run=self.settings.dry_run,
            upstreams=upstreams,
        )
        self._health = (now, health)
        return health

    async def _probe(self, name: str) -> UpstreamHealth:
        upstream = self.settings.upstream(name)
        url = URL.build(
            scheme=upstream.scheme,
            host=upstream.host,
            port=upstream.port,
            path=upstream.base_path or "/",
            encoded=True,
        )
        quantiles: dict[str, Any] = self.metrics.latency_quantiles(name)
        started = time.perf_counter()
        try:
            async with self.pool.session().get(
                url, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=_HEALTH_TIMEOUT)
            ) as response:
                status = response.status
        except FAILURES as exc:
            return UpstreamHealth(
                url=upstream.origin, reachable=False, error=type(exc).__name__, **quantiles
            )
        return UpstreamHealth(
            url=upstream.origin,
            reachable=True,
            status=status,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            **quantiles,
        )

    async def prometheus(self) -> Response:
        """Requests by route and status, upstream latency histograms, errors, budget refusals,
        coalesced GETs and dry-run answers, in Prometheus' text format."""
        return Response(
            self.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI schema, with the forwarding routes described (they bypass FastAPI)."""
        if self.openapi_schema is not None:
            return self.openapi_schema
        schema = super().openapi()
        paths: dict[str, Any] = schema.setdefault("paths", {})
        for name in ("clob", "gamma", "data"):
            origin = self.settings.upstream(name).origin
            paths[f"/{name}/{{path}}"] = {
                method: {
                    "summary": f"Forward to {origin}/{{path}}",
                    "description": "Raw path, query, body and POLY_* headers forwarded as "
                    "received; hop-by-hop headers and cookies dropped.",
                    "tags": ["forwarding"],
                    "parameters": [
                        {
                            "name": "path",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {"200": {"description": "The upstream's answer"}},
                }
                for method in ("get", "post", "delete")
            }
        paths["/chain"] = {
            "post": {
                "summary": f"JSON-RPC to {self.settings.upstream('chain').origin}",
                "description": "Allowed methods: " + ", ".join(sorted(self.settings.chain_methods)),
                "tags": ["forwarding"],
                "responses": {"200": {"description": "The node's JSON-RPC answer"}},
            }
        }
        self.openapi_schema = schema
        return schema


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    if isinstance(app, ProxyApp):
        await app.pool.close()


def create_app(settings: Settings | None = None) -> ProxyApp:
    """Build the pmproxy application.

    Args:
        settings: the configuration; production defaults when omitted. The caller reads the
            environment (see :meth:`Settings.from_env`); this function does not.
    """
    return ProxyApp(settings if settings is not None else Settings())
