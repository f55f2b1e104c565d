"""Prometheus metrics of one proxy application (its own registry, so apps never share counts).

Children of labelled metrics are cached: ``labels()`` takes a lock and builds a key on every
call, which is measurable on the hot path; a dict lookup is not.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

# Upstream latency buckets (seconds): loopback (sub-ms) to a slow venue answer.
_BUCKETS: Final = (
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
    5.0,
    10.0,
    30.0,
)


class Metrics:
    """The counters and histograms pmproxy exports at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "pmproxy_requests",
            "Requests answered, by route and HTTP status.",
            ["route", "status"],
            registry=self.registry,
        )
        self.upstream_latency = Histogram(
            "pmproxy_upstream_latency_seconds",
            "Time from sending a request upstream to receiving its status and headers.",
            ["route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "pmproxy_upstream_errors",
            "Upstream calls that failed, by route and kind (timeout, unavailable).",
            ["route", "kind"],
            registry=self.registry,
        )
        self.rejections = Counter(
            "pmproxy_rejected_requests",
            "Requests refused locally without an upstream call, by route and status.",
            ["route", "status"],
            registry=self.registry,
        )
        self.budget_rejections = Counter(
            "pmproxy_budget_rejections",
            "Requests answered 429 locally because a rate budget was spent, by family.",
            ["family"],
            registry=self.registry,
        )
        self.coalesced = Counter(
            "pmproxy_coalesced_requests",
            "GETs answered from an identical in-flight upstream call, by route.",
            ["route"],
            registry=self.registry,
        )
        self.dry_run = Counter(
            "pmproxy_dry_run_answers",
            "Mutating CLOB calls answered locally in dry-run.",
            registry=self.registry,
        )
        self._requests: dict[tuple[str, int], Counter] = {}
        self._latency: dict[str, Histogram] = {}

    def count_request(self, route: str, status: int) -> None:
        """Count one answered request."""
        child = self._requests.get((route, status))
        if child is None:
            child = self.requests.labels(route, str(status))
            self._requests[(route, status)] = child
        child.inc()

    def observe_latency(self, route: str, seconds: float) -> None:
        """Record the upstream time to headers of one call."""
        child = self._latency.get(route)
        if child is None:
            child = self.upstream_latency.labels(route)
            self._latency[route] = child
        child.observe(seconds)

    def latency_quantiles(self, route: str) -> dict[str, float | None]:
        """p50 and p99 upstream latency of a route in milliseconds, from the histogram buckets.

        Interpolated linearly inside a bucket, as Prometheus' ``histogram_quantile`` does;
        ``None`` before the first call.
        """
        counts = sorted(
            (float(sample.labels["le"]), sample.value)
            for metric in self.upstream_latency.collect()
            for sample in metric.samples
            if sample.name.endswith("_bucket") and sample.labels.get("route") == route
        )
        total = counts[-1][1] if counts else 0.0
        if total == 0:
            return {"p50_ms": None, "p99_ms": None}
        return {
            "p50_ms": _quantile(counts, 0.5 * total),
            "p99_ms": _quantile(counts, 0.99 * total),
        }

    def render(self) -> bytes:
        """The registry in Prometheus' text exposition format."""
        return generate_latest(self.registry)


def _quantile(counts: list[tuple[float, float]], rank: float) -> float:
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in counts:
        if count >= rank:
            if bound == float("inf"):
                return round(lower_bound * 1000, 3)
            span = count - lower_count
            frac = (rank - lower_count) / span if span else 1.0
            return round((lower_bound + (bound - lower_bound) * frac) * 1000, 3)
        lower_bound, lower_count = bound, count
    return round(lower_bound * 1000, 3)
