"""Rate budgets shared by every client of one proxy: token buckets per endpoint family.

Polymarket limits by source IP (Cloudflare, sliding windows; excess is throttled, then 429, and
persistent excess gets the IP blocked). A fleet behind one proxy shares that IP, so the proxy
keeps the whole fleet inside a share (``budget_scale``) of each documented limit and answers 429
with ``Retry-After`` itself, before the venue has to. Limits below are Polymarket's as documented
(protocol notes §7.1), per 10 s and, for trading, also per 10 min.

A request is charged to its specific family (if any), its route's general family and the global
family, all or nothing: when any bucket lacks a token, nothing is taken.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from pmproxy.errors import BudgetExceededError

# Distinct (route, method, path) whose buckets are remembered (cleared when full).
_MEMO_SIZE: Final = 4096
_MEMO_PATH: Final = 256  # longer paths are not remembered (at most ~1 MiB of keys)

# family -> ((requests, window seconds), ...)
LIMITS: Final[dict[str, tuple[tuple[int, int], ...]]] = {
    "global": ((15_000, 10),),
    "clob": ((9_000, 10),),
    "clob.book": ((1_500, 10),),
    "clob.books": ((500, 10),),
    "clob.prices-history": ((1_000, 10),),
    "clob.tick-size": ((200, 10),),
    "clob.balance-allowance": ((200, 10),),
    "clob.balance-allowance-update": ((50, 10),),
    "clob.data-orders-trades": ((500, 10),),
    "clob.notifications": ((125, 10),),
    "clob.api-keys": ((100, 10),),
    "clob.post-order": ((3_500, 10), (36_000, 600)),
    "clob.delete-order": ((3_000, 10), (30_000, 600)),
    "clob.post-orders": ((1_000, 10), (15_000, 600)),
    "clob.delete-orders": ((1_000, 10), (15_000, 600)),
    "clob.cancel-all": ((250, 10), (6_000, 600)),
    "clob.cancel-market-orders": ((1_000, 10), (1_500, 600)),
    "gamma": ((4_000, 10),),
    "gamma.markets": ((300, 10),),
    "gamma.events": ((500, 10),),
    "data": ((1_000, 10),),
    "data.trades": ((200, 10),),
    "data.positions": ((150, 10),),
}

_CLOB_EXACT: Final[dict[tuple[str, str], str]] = {
    ("GET", "/book"): "clob.book",
    ("GET", "/price"): "clob.book",
    ("GET", "/midpoint"): "clob.book",
    ("POST", "/books"): "clob.books",
    ("POST", "/prices"): "clob.books",
    ("POST", "/midpoints"): "clob.books",
    ("GET", "/prices-history"): "clob.prices-history",
    ("GET", "/tick-size"): "clob.tick-size",
    ("GET", "/balance-allowance"): "clob.balance-allowance",
    ("GET", "/balance-allowance/update"): "clob.balance-allowance-update",
    ("GET", "/data/orders"): "clob.data-orders-trades",
    ("GET", "/data/trades"): "clob.data-orders-trades",
    ("POST", "/order"): "clob.post-order",
    ("DELETE", "/order"): "clob.delete-order",
    ("POST", "/orders"): "clob.post-orders",
    ("DELETE", "/orders"): "clob.delete-orders",
    ("DELETE", "/cancel-all"): "clob.cancel-all",
    ("DELETE", "/cancel-market-orders"): "clob.cancel-market-orders",
}
_OTHER_EXACT: Final[dict[tuple[str, str], str]] = {
    ("gamma", "/markets"): "gamma.markets",
    ("gamma", "/events"): "gamma.events",
    ("data", "/trades"): "data.trades",
    ("data", "/positions"): "data.positions",
}


def family_of(route: str, method: str, path: str) -> str | None:
    """The specific endpoint family of a request, or ``None`` when only the general ones apply.

    Args:
        route: ``clob``, ``gamma`` or ``data``.
        method: HTTP method, upper case.
        path: the path after the route prefix, without query (``/book``).
    """
    path = path.rstrip("/") or "/"
    if route == "clob":
        family = _CLOB_EXACT.get((method, path))
        if family is not None:
            return family
        if path.startswith("/notifications"):
            return "clob.notifications"
        if path.startswith("/auth/"):
            return "clob.api-keys"
        return None
    return _OTHER_EXACT.get((route, path))


class TokenBucket:
    """A bucket of ``capacity`` tokens refilled continuously over ``window`` seconds."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, capacity: float, window: float, now: float) -> None:
        self.capacity = capacity
        self.rate = capacity / window
        self.tokens = capacity
        self.stamp = now

    def wait(self, now: float) -> float:
        """Refill up to ``now`` and return the seconds until one token is available (0: now)."""
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate


@dataclass(frozen=True, slots=True)
class _Family:
    name: str
    buckets: tuple[TokenBucket, ...]


class Budgets:
    """The token buckets of one proxy process, one set per family.

    Args:
        scale: share of each documented limit to allow (0.8 keeps 20 % headroom).
        clock: monotonic clock in seconds (injected so tests can step time).
    """

    def __init__(self, *, scale: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        now = clock()
        self._families = {
            name: _Family(
                name,
                tuple(
                    TokenBucket(max(1.0, math.floor(limit * scale)), float(window), now)
                    for limit, window in windows
                ),
            )
            for name, windows in LIMITS.items()
        }
        # The families charged for (route, specific family): built lazily, a handful of entries.
        self._chains: dict[tuple[str, str | None], tuple[_Family, ...]] = {}
        # The buckets charged for (route, method, path), with their family's name.
        self._memo: dict[tuple[str, str, str], tuple[tuple[TokenBucket, str], ...]] = {}

    def capacity(self, family: str) -> int:
        """The burst size of a family's shortest window (for docs and tests)."""
        return int(self._families[family].buckets[0].capacity)

    def charge(self, route: str, method: str, path: str) -> None:
        """Take one token from every family the request belongs to, or none at all.

        Raises:
            BudgetExceededError: some bucket is empty; carries the family and whole seconds to wait.
        """
        key = (route, method, path)
        buckets = self._memo.get(key)
        if buckets is None:
            buckets = self._buckets_of(route, method, path)
            if len(path) <= _MEMO_PATH:
                if len(self._memo) >= _MEMO_SIZE:
                    self._memo.clear()  # paths with ids in them: keep the memo small
                self._memo[key] = buckets
        now = self._clock()
        worst = 0.0
        worst_family = ""
        for bucket, family in buckets:
            # TokenBucket.wait, inlined: this runs for every forwarded request.
            if now > bucket.stamp:
                tokens = bucket.tokens + (now - bucket.stamp) * bucket.rate
                bucket.tokens = tokens if tokens < bucket.capacity else bucket.capacity
                bucket.stamp = now
            if bucket.tokens < 1.0:
                wait = (1.0 - bucket.tokens) / bucket.rate
                if wait > worst:
                    worst, worst_family = wait, family
        if worst > 0.0:
            raise BudgetExceededError(worst_family, max(1, math.ceil(worst)))
        for bucket, _ in buckets:
            bucket.tokens -= 1.0

    def _buckets_of(
        self, route: str, method: str, path: str
    ) -> tuple[tuple[TokenBucket, str], ...]:
        specific = family_of(route, method, path)
        chain = self._chains.get((route, specific))
        if chain is None:
            names = [n for n in (specific, route, "global") if n is not None and n in LIMITS]
            chain = tuple(self._families[n] for n in names)
            self._chains[(route, specific)] = chain
        return tuple((bucket, family.name) for family in chain for bucket in family.buckets)
