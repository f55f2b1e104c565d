"""Run the local exchange: build the exchange, the app and uvicorn, and say where it listens.

``pmtrader sim serve`` and ``python -m pmtrader.sim serve`` end up in :func:`run`. It prints the
URLs only once the socket accepts connections, so a launcher can wait for that line (or poll
``GET /ok``). SIGINT/SIGTERM shut down gracefully: the timer stops, websockets close, and the
exchange flushes its SQLite store.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from pmtrader.sim.app import SimApp, create_app
from pmtrader.sim.auth import FunderRegistry
from pmtrader.sim.clock import ScaledClock
from pmtrader.sim.context import FlowRunner
from pmtrader.sim.exchange import Exchange
from pmtrader.sim.matching import AMOUNT_SCALE

__all__ = ["ServeOptions", "build", "run"]

FUNDERS_FILE = "funders.json"


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """Everything ``pmtrader sim serve`` accepts."""

    host: str = "127.0.0.1"
    port: int = 8700
    seed: int = 7
    state_dir: Path | None = None
    initial_balance: int = 10_000
    flow: bool = True
    speed: float = 1.0


def _make_flow(exchange: Exchange, seed: int) -> FlowRunner:
    from pmtrader.sim.flow import Flow

    return Flow(exchange, seed=seed)


def _load_funders(state_dir: Path | None) -> FunderRegistry:
    registry = FunderRegistry()
    if state_dir is None:
        return registry
    path = state_dir / FUNDERS_FILE
    if path.exists():
        for eoa, makers in json.loads(path.read_text()).items():
            for maker in makers:
                registry.register(eoa, maker)
    return registry


def build(options: ServeOptions) -> SimApp:
    """Build the exchange (fresh, or reopened from the state directory) and its application."""
    clock = ScaledClock(speed=options.speed)
    balance = options.initial_balance * AMOUNT_SCALE
    if options.state_dir is not None:
        options.state_dir.mkdir(parents=True, exist_ok=True)
        exchange = Exchange.open(
            options.state_dir, seed=options.seed, clock=clock, initial_balance=balance
        )
    else:
        exchange = Exchange.create(seed=options.seed, clock=clock, initial_balance=balance)
    flow = _make_flow(exchange, options.seed) if options.flow else None
    app = create_app(
        exchange,
        clock=clock,
        seed=options.seed,
        flow=flow,
        funders=_load_funders(options.state_dir),
    )
    app.ctx.state_dir = options.state_dir
    return app


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn server that prints its URLs once it is listening."""

    def __init__(self, config: uvicorn.Config, options: ServeOptions) -> None:
        super().__init__(config)
        self.options = options

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if not self.started:
            return
        port = self.options.port
        for server in self.servers:
            for sock in server.sockets:
                port = sock.getsockname()[1]
        base = f"http://{self.options.host}:{port}"
        ws = f"ws://{self.options.host}:{port}"
        state = str(self.options.state_dir) if self.options.state_dir else "in memory"
        lines = [
            f"pmtrader sim ready: seed {self.options.seed}, speed {self.options.speed}x, "
            f"flow {'on' if self.options.flow else 'off'}, state {state}",
            f"  CLOB REST   {base}",
            f"  Gamma       {base}/gamma",
            f"  Data API    {base}/data-api",
            f"  WS market   {ws}/ws/market",
            f"  WS user     {ws}/ws/user",
            f"  Chain RPC   {base}/chain",
            f"  Operator    {base}/_sim/",
        ]
        print("\n".join(lines), flush=True)


def run(options: ServeOptions) -> None:
    """Serve until interrupted."""
    app = build(options)
    config = uvicorn.Config(
        app.asgi,
        host=options.host,
        port=options.port,
        http="httptools",
        ws="websockets-sansio",
        lifespan="on",
        access_log=False,
        log_level="warning",
        ws_ping_interval=None,
        proxy_headers=False,
        server_header=False,
    )
    server = _AnnouncingServer(config, options)
    server.run()
    if not server.started:
        sys.exit(1)
