"""Prometheus metrics of one proxy application (its own registry, so apps never share counts).

The two metrics touched by every forwarded request (answers by route and status, upstream
latency by route) are plain dicts and lists of ints, turned into Prometheus families only when
``/metrics`` is scraped: ``prometheus_client``'s ``labels()`` and ``observe()`` take a lock and
build keys on each call, several microseconds per request on this hot path. The rarer counters
(errors, refusals, budget rejections, coalesced GETs, dry-run answers) are ordinary ones.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
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
        self._requests: dict[tuple[str, str, int], int] = {}
        # route -> [count per bucket (the last one is +Inf), sum of seconds]
        self._latency: dict[str, tuple[list[int], list[float]]] = {}
        self.registry.register(_HotCollector(self))
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

    def count_request(self, route: str, method: str, status: int) -> None:
        """Count one answered request.

        Methods outside the standard ones are counted as ``OTHER``, so that a client cannot
        grow the number of series.
        """
        key = (route, method if method in _METHODS else "OTHER", status)
        counts = self._requests
        counts[key] = counts.get(key, 0) + 1

    def answered(self, route: str, status: int) -> int:
        """How many requests on a route were answered with a status, all methods together."""
        return sum(
            count for (r, _, s), count in self._requests.items() if r == route and s == status
        )

    def observe_latency(self, route: str, seconds: float) -> None:
        """Record the upstream time to headers of one call."""
        entry = self._latency.get(route)
        if entry is None:
            entry = self._latency[route] = ([0] * (len(_BUCKETS) + 1), [0.0])
        entry[0][bisect.bisect_left(_BUCKETS, seconds)] += 1
        entry[1][0] += seconds

    def _cumulative(self, route: str) -> list[tuple[float, int]]:
        entry = self._latency.get(route)
        counts = entry[0] if entry is not None else [0] * (len(_BUCKETS) + 1)
        total = 0
        out: list[tuple[float, int]] = []
        for bound, count in zip((*_BUCKETS, float("inf")), counts, strict=True):
            total += count
            out.append((bound, total))
        return out

    def latency_quantiles(self, route: str) -> dict[str, float | None]:
        """p50 and p99 upstream latency of a route in milliseconds, from the histogram buckets.

        Interpolated linearly inside a bucket, as Prometheus' ``histogram_quantile`` does;
        ``None`` before the first call.
        """
        counts = [(bound, float(count)) for bound, count in self._cumulative(route)]
        total = counts[-1][1]
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


class _HotCollector(Collector):
    """Exports the hot-path counts as ``pmproxy_requests_total`` and the latency histogram."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "pmproxy_requests",
            "Requests answered, by route, HTTP method and HTTP status.",
            labels=["route", "method", "status"],
        )
        for (route, method, status), count in sorted(self._metrics._requests.items()):
            requests.add_metric([route, method, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "pmproxy_upstream_latency_seconds",
            "Time from sending a request upstream to receiving its status and headers.",
            labels=["route"],
        )
        for route in sorted(self._metrics._latency):
            buckets = [
                ("+Inf" if bound == float("inf") else repr(bound), float(count))
                for bound, count in self._metrics._cumulative(route)
            ]
            latency.add_metric([route], buckets, self._metrics._latency[route][1][0])
        yield latency
