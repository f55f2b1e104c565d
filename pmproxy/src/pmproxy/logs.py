"""Structured JSON logs, with secrets redacted before anything is rendered.

pmproxy never logs headers or bodies on purpose; the redaction processor is the second line:
any key that names a credential is masked, and any string that looks like a signed payload or
holds a ``POLY_*`` credential is replaced, whoever logged it.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Final, TextIO

import structlog

_SECRET_KEY: Final = re.compile(
    r"(poly[_-]?(api[_-]?key|passphrase|signature|secret)|signature|secret|passphrase"
    r"|authorization|cookie|api[_-]?key|private[_-]?key)",
    re.IGNORECASE,
)
_SECRET_TEXT: Final = re.compile(
    r"(signature|passphrase|secret|poly_api_key|private_key)", re.IGNORECASE
)
MASK: Final = "***"


def _scrub(value: object) -> object:
    if isinstance(value, str):
        return "<redacted: may hold a credential>" if _SECRET_TEXT.search(value) else value
    if isinstance(value, bytes | bytearray):
        return _scrub(bytes(value).decode("latin-1"))
    if isinstance(value, dict):
        return {
            k: (MASK if isinstance(k, str) and _SECRET_KEY.search(k) else _scrub(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def redact(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask credentials in every field of a log event."""
    for key, value in list(event_dict.items()):
        if _SECRET_KEY.search(key):
            event_dict[key] = MASK
        elif key != "event":
            event_dict[key] = _scrub(value)
        elif isinstance(value, str) and _SECRET_TEXT.search(value):
            event_dict[key] = "<redacted: may hold a credential>"
    return event_dict


def configure(level: str = "info", *, stream: TextIO | None = None) -> None:
    """Set up structlog (JSON lines) and the standard library's loggers (uvicorn, aiohttp).

    Called once by an entry point. Levels below ``level`` cost one comparison: the filtering
    logger drops them before any processor runs.

    Args:
        level: ``debug``, ``info``, ``warning`` or ``error``.
        stream: where lines go (standard error by default).
    """
    out = stream if stream is not None else sys.stderr
    numeric = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                redact,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.format_exc_info,
            ],
        )
    )
    for name in ("uvicorn", "uvicorn.error", "aiohttp", "pmproxy"):
        std = logging.getLogger(name)
        std.handlers = [handler]
        std.setLevel(numeric)
        std.propagate = False
    logging.getLogger("uvicorn.access").disabled = True
