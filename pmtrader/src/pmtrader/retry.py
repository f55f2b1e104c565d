"""When to retry a request, as a pure function the transports call and the tests pin down.

The rule (issue 4): idempotent requests (GETs, and the read-only batch POSTs such as ``/books``)
retry with full-jitter exponential backoff on 429, 425 and 5xx and on timeouts and refused
connections, waiting what ``Retry-After`` asks when the venue says; anything that changes state
(an order POST, a cancel, an API-key creation) is never retried, because a second copy of an
order is worse than an error the caller can see and act on.
"""

from __future__ import annotations

import email.utils
import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = ["Failure", "RetryPolicy", "parse_retry_after", "retry_delay"]


class Failure(enum.Enum):
    """A failure that produced no HTTP status."""

    TIMEOUT = "timeout"
    CONNECT = "connect"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try an idempotent request.

    Attributes:
        attempts: Total attempts, including the first (1 disables retries).
        base_delay: Backoff cap of the first retry, in seconds; doubles per retry.
        max_delay: Largest backoff cap, in seconds.
        max_retry_after: Longest ``Retry-After`` honoured; a longer one is raised to the caller.
        statuses: HTTP statuses worth another try.
    """

    attempts: int = 3
    base_delay: float = 0.25
    max_delay: float = 4.0
    max_retry_after: float = 30.0
    statuses: frozenset[int] = field(
        default_factory=lambda: frozenset({425, 429, 500, 502, 503, 504})
    )

    @classmethod
    def never(cls) -> RetryPolicy:
        """A policy that makes exactly one attempt."""
        return cls(attempts=1)


def retry_delay(
    policy: RetryPolicy,
    *,
    idempotent: bool,
    attempt: int,
    status: int | None = None,
    failure: Failure | None = None,
    retry_after: float | None = None,
    rand: Callable[[], float],
) -> float | None:
    """Return how long to wait before the next attempt, or ``None`` to give up.

    Args:
        policy: The retry policy.
        idempotent: Whether sending the request twice is harmless.
        attempt: The attempt that just failed, counting from 1.
        status: The HTTP status of the failed attempt, if there was a response.
        failure: The transport failure, if there was no response.
        retry_after: Seconds from the response's ``Retry-After`` header, if any.
        rand: A source of uniform floats in ``[0, 1)`` for the jitter.

    Returns:
        Seconds to sleep, or ``None`` when the request must not be retried.
    """
    if not idempotent or attempt >= policy.attempts:
        return None
    if failure is None and (status is None or status not in policy.statuses):
        return None
    if retry_after is not None:
        if retry_after > policy.max_retry_after:
            return None
        return max(retry_after, 0.0)
    cap = min(policy.max_delay, policy.base_delay * (1 << (attempt - 1)))
    return rand() * cap


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Parse a ``Retry-After`` header: delta seconds or an HTTP date.

    Args:
        value: The header value, or ``None``.
        now: The current time for HTTP-date values (UTC now by default).

    Returns:
        Seconds to wait (never negative), or ``None`` if absent or unparseable.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return None
    return max(seconds, 0.0)
