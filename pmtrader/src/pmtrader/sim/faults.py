"""Fault injection for reliability tests: the ways a real venue misbehaves, on command.

Set through ``POST /_sim/fault`` (or ``pmtrader sim fault``, or ``SimServer.fault(...)``) with any
of these keys; keys left out keep their value, ``{"reset": true}`` clears everything:

==============================  ================================================================
``rest_fail_rate``              fraction (0..1) of REST calls answered with ``rest_fail_status``
``rest_fail_status``            425, 429, 500 or 503 (default 503), with Polymarket's error body
``rest_delay_rate``             fraction (0..1) of REST calls held for ``rest_delay_ms`` first
``rest_delay_ms``               the delay, milliseconds
``paths``                       path prefixes the two REST faults apply to (default: every path)
``drop_order_responses``        the next N ``POST /order``/``POST /orders`` are executed but
                                their HTTP response never arrives: the connection closes, no
                                bytes written
``drop_order_response_rate``    fraction (0..1) of ``POST /order``/``POST /orders`` executed
                                with their response dropped the same way, once any pending
                                ``drop_order_responses`` are used up (one seeded draw per post)
``seed``                        an integer seeding the random faults instead of the server's
                                ``--seed`` (``null``: back to it); with the same seed and rate the
                                n-th order post after the change meets the same drop decision
``ws_drop``                     ``true``: every open websocket goes silent (no events, no
                                ``PONG``) while its TCP connection stays open, as a dead feed
                                looks to a client
==============================  ================================================================

Which calls fail or wait is decided by a ``random.Random`` seeded from the server's ``--seed`` (or
the ``seed`` setting) and reseeded at every change, so the same sequence of requests meets the
same faults. Order-response drops draw from a generator of their own, so REST traffic in between
(book reads, order lookups) never shifts which order posts lose their answer. Operator paths
(``/_sim/...``) and websocket upgrades are never faulted.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field, replace
from typing import Any

from pmtrader.sim.errors import SimError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FAIL_MESSAGES: dict[int, str] = {
    425: "service not ready: the matching engine is restarting, retry with backoff",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Trading is currently disabled. Check polymarket.com for updates",
}
"""The error text sent with each injectable status (production's, where it publishes one)."""

_DROPPED = "pmtrader-sim: response dropped on purpose"
"""Returned to the ASGI server instead of ``None``: uvicorn then closes the connection without
writing a byte, which is exactly an HTTP response that never arrives."""


class FaultSettingsError(SimError):
    """A fault setting was malformed; the message says which and what is allowed."""


@dataclass(frozen=True, slots=True)
class FaultSettings:
    """The faults in force (all off by default)."""

    rest_fail_rate: float = 0.0
    rest_fail_status: int = 503
    rest_delay_rate: float = 0.0
    rest_delay_ms: int = 0
    paths: tuple[str, ...] = ()
    drop_order_responses: int = 0
    drop_order_response_rate: float = 0.0
    seed: int | None = None

    def to_json(self) -> dict[str, object]:
        """Return the settings as the JSON ``/_sim/fault`` answers with."""
        return {
            "rest_fail_rate": self.rest_fail_rate,
            "rest_fail_status": self.rest_fail_status,
            "rest_delay_rate": self.rest_delay_rate,
            "rest_delay_ms": self.rest_delay_ms,
            "paths": list(self.paths),
            "drop_order_responses": self.drop_order_responses,
            "drop_order_response_rate": self.drop_order_response_rate,
            "seed": self.seed,
        }


def _rate(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise FaultSettingsError(f"{name} must be a number between 0 and 1, got {value!r}")
    try:
        rate = float(value)
    except ValueError:
        raise FaultSettingsError(
            f"{name} must be a number between 0 and 1, got {value!r}"
        ) from None
    if not 0.0 <= rate <= 1.0:
        raise FaultSettingsError(f"{name} must be between 0 and 1, got {value!r}")
    return rate


def _seed(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise FaultSettingsError(f"seed must be a whole number or null, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise FaultSettingsError(f"seed must be a whole number or null, got {value!r}") from None


def _non_negative_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise FaultSettingsError(f"{name} must be a whole number >= 0, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise FaultSettingsError(f"{name} must be a whole number >= 0, got {value!r}") from None
    if number < 0:
        raise FaultSettingsError(f"{name} must be a whole number >= 0, got {value!r}")
    return number


@dataclass(slots=True)
class Faults:
    """The fault state of one running exchange, and the decisions it makes per request.

    Args:
        seed: the server's seed; every change reseeds the generator from it.
    """

    seed: int
    settings: FaultSettings = field(default_factory=FaultSettings)
    ws_generation: int = 0
    """Bumped by ``ws_drop``: a websocket opened in an older generation has gone silent."""
    order_posts: int = 0
    """Order posts (``POST /order``, ``POST /orders``) seen since the last change."""
    dropped_responses: int = 0
    """Of those, how many had their response dropped."""
    _changes: int = 0
    _rng: random.Random = field(default_factory=random.Random)
    _drop_rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self._reseed()

    def _reseed(self) -> None:
        chosen = self.settings.seed
        # An explicit seed alone decides: the same body gives the same faults on any server.
        base = f"{self.seed}/{self._changes}" if chosen is None else f"seed={chosen}"
        self._rng = random.Random(base)
        self._drop_rng = random.Random(base + "/order-drops")

    def configure(self, changes: dict[str, object]) -> FaultSettings:
        """Apply a ``/_sim/fault`` body and return the settings now in force.

        Raises:
            FaultSettingsError: on an unknown key or a value out of range.
        """
        known = {
            "rest_fail_rate",
            "rest_fail_status",
            "rest_delay_rate",
            "rest_delay_ms",
            "paths",
            "drop_order_responses",
            "drop_order_response_rate",
            "seed",
            "ws_drop",
            "reset",
        }
        unknown = sorted(set(changes) - known)
        if unknown:
            raise FaultSettingsError(
                f"unknown fault setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        settings = FaultSettings() if changes.get("reset") else self.settings
        if "rest_fail_rate" in changes:
            settings = replace(
                settings, rest_fail_rate=_rate("rest_fail_rate", changes["rest_fail_rate"])
            )
        if "rest_delay_rate" in changes:
            settings = replace(
                settings, rest_delay_rate=_rate("rest_delay_rate", changes["rest_delay_rate"])
            )
        if "rest_fail_status" in changes:
            status = _non_negative_int("rest_fail_status", changes["rest_fail_status"])
            if status not in FAIL_MESSAGES:
                raise FaultSettingsError(
                    f"rest_fail_status must be one of {sorted(FAIL_MESSAGES)}, got {status}"
                )
            settings = replace(settings, rest_fail_status=status)
        if "rest_delay_ms" in changes:
            delay = _non_negative_int("rest_delay_ms", changes["rest_delay_ms"])
            settings = replace(settings, rest_delay_ms=delay)
        if "drop_order_responses" in changes:
            drops = _non_negative_int("drop_order_responses", changes["drop_order_responses"])
            settings = replace(settings, drop_order_responses=drops)
        if "drop_order_response_rate" in changes:
            drop_rate = _rate("drop_order_response_rate", changes["drop_order_response_rate"])
            settings = replace(settings, drop_order_response_rate=drop_rate)
        if "seed" in changes:
            settings = replace(settings, seed=_seed(changes["seed"]))
        if "paths" in changes:
            paths = changes["paths"]
            if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
                raise FaultSettingsError('paths must be a list of path prefixes like ["/order"]')
            settings = replace(settings, paths=tuple(paths))
        if changes.get("ws_drop"):
            self.ws_generation += 1
        self.settings = settings
        self._changes += 1
        self.order_posts = 0
        self.dropped_responses = 0
        self._reseed()
        return settings

    def _applies(self, path: str) -> bool:
        if path.startswith("/_sim"):
            return False
        return not self.settings.paths or any(path.startswith(p) for p in self.settings.paths)

    def pick_failure(self, path: str) -> int | None:
        """Return the status to fail this request with, or None to let it through."""
        rate = self.settings.rest_fail_rate
        if rate <= 0.0 or not self._applies(path):
            return None
        return self.settings.rest_fail_status if self._rng.random() < rate else None

    def pick_delay(self, path: str) -> float:
        """Return how long (seconds) to hold this request first; 0 for none."""
        s = self.settings
        if s.rest_delay_rate <= 0.0 or s.rest_delay_ms <= 0 or not self._applies(path):
            return 0.0
        return s.rest_delay_ms / 1000 if self._rng.random() < s.rest_delay_rate else 0.0

    def take_order_drop(self, method: str, path: str) -> bool:
        """Decide whether this order placement's response is dropped (it still executes).

        A pending ``drop_order_responses`` count is used up first; after that each order post
        draws once from its own seeded generator against ``drop_order_response_rate`` (every
        post draws, dropped or not, so the n-th post's fate depends only on the seed and rate).
        """
        if method != "POST" or path not in ("/order", "/orders"):
            return False
        self.order_posts += 1
        s = self.settings
        if s.drop_order_responses > 0:
            self.settings = replace(s, drop_order_responses=s.drop_order_responses - 1)
            self.dropped_responses += 1
            return True
        if s.drop_order_response_rate <= 0.0:
            return False
        if self._drop_rng.random() < s.drop_order_response_rate:
            self.dropped_responses += 1
            return True
        return False


class FaultMiddleware:
    """ASGI middleware that applies :class:`Faults` to every HTTP request.

    It must wrap the whole application (outermost), so that a dropped response reaches the ASGI
    server as a non-``None`` return value and the connection closes with nothing written.
    """

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return None
        path: str = scope["path"]
        delay = self.faults.pick_delay(path)
        if delay > 0:
            await asyncio.sleep(delay)
        status = self.faults.pick_failure(path)
        if status is not None:
            await _send_error(send, status)
            return None
        if self.faults.take_order_drop(scope["method"], path):

            async def swallow(message: Message) -> None:
                return None

            await self.app(scope, receive, swallow)
            return _DROPPED
        await self.app(scope, receive, send)
        return None


async def _send_error(send: Send, status: int) -> None:
    body = json.dumps({"error": FAIL_MESSAGES[status]}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 429:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
