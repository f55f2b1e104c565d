"""Prometheus metrics: latency histograms, order/fill/denial counters, exposure, P&L, staleness.

Each engine owns its registry (never the process-global one), so tests and several engines in
one process do not collide.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import start_http_server

_LATENCY_BUCKETS = (
    0.00001,
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)


class EngineMetrics:
    """The engine's metrics, in one registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.tick_to_decision = Histogram(
            "pmengine_tick_to_decision_seconds",
            "From a market event arriving to the risk decision on the signals it caused.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.decision_to_ack = Histogram(
            "pmengine_decision_to_ack_seconds",
            "From the risk decision to the venue's answer to the submit.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.orders = Counter("pmengine_orders", "Orders by outcome.", ["outcome"], registry=r)
        self.fills = Counter("pmengine_fills", "Fills booked.", registry=r)
        self.denials = Counter(
            "pmengine_risk_denials", "Orders denied by pre-trade risk.", ["reason"], registry=r
        )
        self.exposure = Gauge(
            "pmengine_exposure_pusd", "Cost held plus cash reserved by open BUYs.", registry=r
        )
        self.realized = Gauge("pmengine_realized_pnl_pusd", "Realized P&L.", registry=r)
        self.unrealized = Gauge(
            "pmengine_unrealized_pnl_pusd", "Unrealized P&L marked to mid.", registry=r
        )
        self.staleness = Gauge(
            "pmengine_feed_staleness_seconds", "Age of the oldest watched book.", registry=r
        )
        self.trading_state = Gauge(
            "pmengine_trading_state", "1 for the current trading state.", ["state"], registry=r
        )
        self.strategy_halted = Gauge(
            "pmengine_strategy_halted",
            "1 when a strategy was halted by an error.",
            ["strategy"],
            registry=r,
        )
        self.heartbeats = Counter("pmengine_heartbeats", "Order heartbeats sent.", registry=r)

    def set_state(self, state: str) -> None:
        """Flag the current trading state."""
        for name in ("ACTIVE", "REDUCING", "HALTED"):
            self.trading_state.labels(name).set(1 if name == state else 0)

    def render(self) -> bytes:
        """The exposition text (what the endpoint serves)."""
        return generate_latest(self.registry)

    def serve(self, port: int, addr: str = "127.0.0.1") -> int:
        """Serve ``/metrics`` over HTTP on ``addr:port`` (0 picks a free port); returns the port."""
        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        self._server = server
        return int(server.server_address[1])

    def stop(self) -> None:
        """Stop the HTTP endpoint if it runs."""
        server = getattr(self, "_server", None)
        if server is not None:
            server.shutdown()
            server.server_close()
