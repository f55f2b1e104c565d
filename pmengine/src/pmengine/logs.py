"""JSON logs through structlog, with every secret scrubbed before a line is written.

Two guards: keys that name a secret (``private_key``, ``secret``, ``passphrase``, …) are masked
whatever their value, and the configured secret values themselves are replaced wherever they
appear inside any string (so an exception message quoting a key is still safe).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

MASK = "********"
_SECRET_KEYS = ("private_key", "secret", "passphrase", "api_key", "password", "signature")


class Redactor:
    """A structlog processor that removes secrets from every event."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values: set[str] = set()
        for s in secrets:
            if s and len(s) >= 8:
                values.add(s)
                if s.startswith("0x"):
                    values.add(s[2:])
        # Longest first so that a value containing another is replaced whole.
        self._values = sorted(values, key=len, reverse=True)

    def _clean(self, value: object) -> object:
        if isinstance(value, str):
            for secret in self._values:
                if secret in value:
                    value = value.replace(secret, MASK)
            return value
        if isinstance(value, dict):
            return {k: self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        if isinstance(value, int | float | bool) or value is None:
            return value
        return self._clean(repr(value))

    def __call__(
        self, logger: object, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key in list(event):
            if any(word in key.lower() for word in _SECRET_KEYS):
                event[key] = MASK
            else:
                event[key] = self._clean(event[key])
        return event


def configure(level: str, *, secrets: Iterable[str] = (), stream: TextIO | None = None) -> None:
    """Log JSON lines at ``level`` (debug/info/warning/error) to ``stream`` (stderr)."""
    numeric = getattr(logging, level.upper(), logging.INFO)
    redactor = Redactor(secrets)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redactor,
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )
