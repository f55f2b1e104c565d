"""Clocks for the local exchange: real time, accelerated time, and a manual clock for tests.

Everything in the exchange asks a clock for integer UTC milliseconds; nothing reads the system
time directly, so a test can step time and the server can run it faster (``--speed``).
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "ManualClock", "ScaledClock"]


class Clock(Protocol):
    """Source of the current sim time in UTC milliseconds."""

    def now_ms(self) -> int:
        """Return the current time in integer milliseconds since the Unix epoch."""
        ...


class ScaledClock:
    """Wall-clock time sped up by ``speed`` from the moment the clock was made.

    With ``speed=1`` it is the system clock; with ``speed=10`` ten sim seconds pass each second.
    """

    def __init__(self, *, speed: float = 1.0, start_ms: int | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self._speed = speed
        self._wall0 = time.time_ns() // 1_000_000
        self._start = self._wall0 if start_ms is None else start_ms

    @property
    def speed(self) -> float:
        """How many sim milliseconds pass per wall-clock millisecond."""
        return self._speed

    def now_ms(self) -> int:
        """Return sim time: the start plus elapsed wall time times ``speed``."""
        elapsed = time.time_ns() // 1_000_000 - self._wall0
        return self._start + int(elapsed * self._speed)


class ManualClock:
    """A clock that only moves when told to (tests, deterministic replays)."""

    def __init__(self, start_ms: int) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        """Return the current manual time."""
        return self._now

    def advance(self, ms: int) -> int:
        """Move time forward by ``ms`` milliseconds and return the new time."""
        if ms < 0:
            raise ValueError("a clock never goes backwards")
        self._now += ms
        return self._now

    def set(self, now_ms: int) -> None:
        """Jump to ``now_ms`` (never backwards)."""
        if now_ms < self._now:
            raise ValueError("a clock never goes backwards")
        self._now = now_ms
