"""The Prometheus endpoint serves the engine's latency histograms, counters and gauges."""

from __future__ import annotations

import httpx
from pmengine.metrics import EngineMetrics


def test_endpoint_serves_latency_orders_denials_exposure_and_state() -> None:
    metrics = EngineMetrics()
    metrics.tick_to_decision.observe(0.0002)
    metrics.decision_to_ack.observe(0.004)
    metrics.orders.labels("submitted").inc()
    metrics.denials.labels("MAX_POSITION").inc(2)
    metrics.exposure.set(12.5)
    metrics.set_state("HALTED")
    port = metrics.serve(0)
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        metrics.stop()
    assert "pmengine_tick_to_decision_seconds_bucket" in text
    assert "pmengine_decision_to_ack_seconds_count 1.0" in text
    assert 'pmengine_orders_total{outcome="submitted"} 1.0' in text
    assert 'pmengine_risk_denials_total{reason="MAX_POSITION"} 2.0' in text
    assert "pmengine_exposure_pusd 12.5" in text
    assert 'pmengine_trading_state{state="HALTED"} 1.0' in text
    assert 'pmengine_trading_state{state="ACTIVE"} 0.0' in text
