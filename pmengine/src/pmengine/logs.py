"""JSON logs through structlog, with every secret scrubbed before a line is written.

Two guards: keys that name a secret (``private_key``, ``secret``, ``passphrase``, …) are masked
whatever their value, and the configured secret values themselves are replaced wherever they
appear inside any string (so an exception message quoting a key is still safe). Secrets known
only later (the L2 API credentials the live gateway derives at start) are added to the same
:class:`Redactor` with :meth:`Redactor.add`; :func:`configure` returns it for that.

Standard-library logging goes through the same pipeline: pmtrader's HTTP layer
(``pmtrader.http``) and pmengine log at the engine's level, as JSON lines on the same stream,
redacted the same way. Every other library is held at WARNING or above whatever the engine's
level: their DEBUG output was never checked for secrets, and one of them is known to leak —
``websockets`` at DEBUG prints every frame, and the user channel's subscribe frame carries the
API key, secret and passphrase.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog
from structlog.stdlib import ProcessorFormatter
from structlog.typing import Processor

MASK = "********"
_SECRET_KEYS = ("private_key", "secret", "passphrase", "api_key", "password", "signature")

#: Standard-library loggers that follow the engine's level (their lines are pmt's own).
OWN_LOGGERS = ("pmengine", "pmtrader")
#: Loggers held at WARNING even when the root allowed less (their DEBUG prints secrets).
QUIET_LOGGERS = ("websockets",)
_FLOOR = logging.WARNING


class Redactor:
    """A structlog processor that removes secrets from every event."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._values: list[str] = []
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Scrub these values too from every later line (short or empty ones are ignored).

        Values shorter than 8 characters are not secrets worth masking: replacing them would
        mangle ordinary text. A ``0x`` value is also scrubbed without its prefix.
        """
        values = set(self._values)
        for s in secrets:
            if s and len(s) >= 8:
                values.add(s)
                if s.startswith("0x"):
                    values.add(s[2:])
        # Longest first so that a value containing another is replaced whole; one assignment,
        # so a line written meanwhile from another thread sees the old list or the new one.
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


class _JsonHandler(logging.StreamHandler[TextIO]):
    """The root handler :func:`configure` installs (found again and replaced by its type)."""


def configure(level: str, *, secrets: Iterable[str] = (), stream: TextIO | None = None) -> Redactor:
    """Log JSON lines at ``level`` (debug/info/warning/error) to ``stream`` (stderr).

    Calling it again replaces the previous configuration (structlog's, and the root handler
    it installed), so a process has one pipeline.

    Returns:
        The redactor every line goes through: :meth:`Redactor.add` registers secrets learnt
        later.
    """
    numeric = getattr(logging, level.upper(), logging.INFO)
    out = stream or sys.stderr
    redactor = Redactor(secrets)
    stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            stamp,
            structlog.processors.format_exc_info,
            redactor,
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # One write per line: a line from the stdlib handler cannot land inside it.
        logger_factory=structlog.WriteLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    foreign: list[Processor] = [
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        stamp,
    ]
    handler = _JsonHandler(out)
    handler.setFormatter(
        ProcessorFormatter(
            foreign_pre_chain=foreign,
            processors=[
                ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redactor,
                structlog.processors.JSONRenderer(sort_keys=True),
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _JsonHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(max(numeric, _FLOOR))
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(numeric)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, _FLOOR))
    return redactor
