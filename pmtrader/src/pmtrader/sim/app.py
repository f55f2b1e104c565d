"""The local exchange's ASGI application: one port for CLOB, Gamma, Data, websockets and chain.

``create_app(exchange, clock=..., seed=...)`` wires the route modules around one exchange:

==================  ============================================================
``/``               CLOB REST (``routes_clob`` public, ``routes_orders`` L1/L2)
``/gamma/...``      Gamma API (``routes_gamma``)
``/data-api/...``   Data API (``routes_data``)
``/ws/market``      market channel; ``/ws/user`` user channel (``ws``)
``/chain``          Polygon JSON-RPC subset (``routes_chain``)
``/_sim/...``       operator endpoints (``routes_operator``)
==================  ============================================================

Every error leaves as ``{"error": "<Polymarket's message>"}`` with production's status. The
lifespan runs a timer task that moves the exchange to the current sim time (``advance``) and lets
the background traders act (``flow.step``) about twenty times a second; the fault middleware
wraps everything.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount

from pmtrader.sim.auth import AuthRejected, FunderRegistry
from pmtrader.sim.clock import Clock
from pmtrader.sim.context import FlowRunner, ServerContext
from pmtrader.sim.errors import (
    ApiKeyError,
    HeartbeatRejected,
    OrderRejected,
    SimError,
    UnknownMarket,
)
from pmtrader.sim.exchange import Exchange
from pmtrader.sim.faults import FaultMiddleware, Faults
from pmtrader.sim.responses import HttpError, JsonResponse, error_response
from pmtrader.sim.routes_chain import ChainRoutes
from pmtrader.sim.routes_clob import ClobRoutes
from pmtrader.sim.routes_data import DataRoutes
from pmtrader.sim.routes_gamma import GammaRoutes
from pmtrader.sim.routes_keys import KeyRoutes
from pmtrader.sim.routes_operator import OperatorRoutes
from pmtrader.sim.routes_orders import OrderRoutes
from pmtrader.sim.ws import WsHub

__all__ = ["TICK_INTERVAL_S", "SimApp", "create_app"]

log = structlog.get_logger("pmtrader.sim.app")

TICK_INTERVAL_S = 0.05
"""Wall-clock seconds between two timer steps (sim time advances ``speed`` times faster)."""


def _status_for(message: str, default: int = 400) -> int:
    # Production's override: a message saying "not found" is a 404.
    return 404 if "not found" in message.lower() else default


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HttpError)
    return error_response(exc.status, exc.message, **exc.extra)


async def _auth_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthRejected)
    return error_response(exc.status, exc.message)


async def _order_rejected(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OrderRejected)
    if exc.order_id:
        return error_response(400, exc.message, orderID=exc.order_id)
    return error_response(400, exc.message)


async def _unknown_market(request: Request, exc: Exception) -> Response:
    return error_response(404, str(exc) or "market not found")


async def _heartbeat_rejected(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HeartbeatRejected)
    return JsonResponse(
        {"error_msg": "Invalid Heartbeat ID", "heartbeat_id": exc.expected_id}, status_code=400
    )


async def _sim_error(request: Request, exc: Exception) -> Response:
    message = str(exc)
    return error_response(_status_for(message), message)


async def _starlette_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = "Not Found" if exc.status_code == 404 else str(exc.detail)
    return error_response(exc.status_code, message)


async def _internal(request: Request, exc: Exception) -> Response:
    log.exception("sim.internal_error", path=request.url.path)
    return error_response(500, "Internal Server Error")


class SimApp:
    """The assembled application and the pieces a server (or test) may want to reach.

    Attributes:
        asgi: the ASGI callable to serve (fault middleware outermost).
        ctx: the shared server context.
        hub: the websocket hub.
    """

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.hub = WsHub(ctx)
        self._timer: asyncio.Task[None] | None = None
        clob = ClobRoutes(ctx)
        orders = OrderRoutes(ctx)
        gamma = GammaRoutes(ctx.exchange.catalogue, clob.quote, ctx.now_ms)
        routes: list[BaseRoute] = [
            *OperatorRoutes(ctx).routes(),
            *ChainRoutes(ctx).routes(),
            *self.hub.routes(),
            Mount("/gamma", routes=list(gamma.routes())),
            Mount("/data-api", routes=list(DataRoutes(ctx, clob).routes())),
            *clob.routes(),
            *orders.routes(),
            *KeyRoutes(ctx, orders).routes(),
        ]
        handlers: dict[Any, Any] = {
            HttpError: _http_error,
            AuthRejected: _auth_error,
            OrderRejected: _order_rejected,
            UnknownMarket: _unknown_market,
            HeartbeatRejected: _heartbeat_rejected,
            ApiKeyError: _sim_error,
            SimError: _sim_error,
            HTTPException: _starlette_http,
            Exception: _internal,
        }
        self.starlette = Starlette(
            routes=routes, exception_handlers=handlers, lifespan=self._lifespan
        )
        self.asgi = FaultMiddleware(self.starlette, ctx.faults)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.ctx.exchange.subscribe(self.hub.on_event)
        self._timer = asyncio.create_task(self._run_timer())
        try:
            yield
        finally:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            await self.hub.close_all()
            self.ctx.exchange.unsubscribe(self.hub.on_event)
            self.ctx.exchange.close()

    def step(self) -> None:
        """Move the exchange to the current sim time and let the background traders act."""
        now = self.ctx.now_ms()
        self.ctx.exchange.advance(now)
        if self.ctx.flow is not None and not self.ctx.flow_paused:
            self.ctx.flow.step(now)

    async def _run_timer(self) -> None:
        while True:
            try:
                self.step()
            except Exception:  # keep the exchange ticking; the log says what broke
                log.exception("sim.timer_step_failed")
            await asyncio.sleep(TICK_INTERVAL_S)


def create_app(
    exchange: Exchange,
    *,
    clock: Clock,
    seed: int = 7,
    flow: FlowRunner | None = None,
    funders: FunderRegistry | None = None,
) -> SimApp:
    """Build the application around an exchange.

    Args:
        exchange: the core façade; the app subscribes to its events and closes it at shutdown.
        clock: the sim clock the exchange runs on.
        seed: seeds the fault decisions.
        flow: the background traders (``None`` for ``--no-flow``).
        funders: the EOA → allowed makers table (a fresh one when omitted).

    Returns:
        The app; serve ``app.asgi``.
    """
    ctx = ServerContext(
        exchange=exchange,
        clock=clock,
        faults=Faults(seed),
        seed=seed,
        funders=funders or FunderRegistry(),
        flow=flow,
    )
    return SimApp(ctx)
