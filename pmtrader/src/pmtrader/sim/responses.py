"""Small HTTP helpers shared by the local exchange's route modules.

Every success is HTTP 200 (the official client treats anything else as an error) and every error
is ``{"error": "<Polymarket's message>"}`` with production's status code.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from pmtrader.errors import PmtraderError

_encoder = msgspec.json.Encoder()


class JsonResponse(Response):
    """A JSON response rendered compactly (msgspec) in insertion order."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Encode ``content`` as compact JSON."""
        return _encoder.encode(content)


class HttpError(PmtraderError):
    """Answer the current request with ``{"error": message}`` and ``status``.

    Route code raises it; the application's exception handler turns it into the response.
    """

    def __init__(self, status: int, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def ok(content: Any) -> JsonResponse:
    """A 200 JSON response."""
    return JsonResponse(content)


def error_response(status: int, message: str, **extra: object) -> JsonResponse:
    """An error response in Polymarket's shape."""
    return JsonResponse({"error": message, **extra}, status_code=status)


async def read_json(request: Request, *, message: str = "Invalid payload") -> Any:
    """Parse the request body as JSON, or answer 400 with ``message``."""
    body = await request.body()
    if not body:
        raise HttpError(400, message)
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise HttpError(400, message) from None


def query_list(request: Request, name: str) -> list[str]:
    """Every value of a repeatable query parameter, also splitting comma-separated values."""
    values: list[str] = []
    for raw in request.query_params.getlist(name):
        values.extend(v.strip() for v in raw.split(",") if v.strip())
    return values


def query_bool(request: Request, name: str) -> bool | None:
    """A ``true``/``false`` query parameter, or None when absent.

    Raises:
        HttpError: 400 when the value is neither.
    """
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    low = raw.lower()
    if low in ("true", "1"):
        return True
    if low in ("false", "0"):
        return False
    raise HttpError(400, f"invalid {name}: expected true or false, got {raw!r}")


def query_int(request: Request, name: str, default: int, *, lo: int = 0, hi: int = 10**9) -> int:
    """An integer query parameter within ``[lo, hi]``, or ``default`` when absent."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HttpError(400, f"invalid {name}: expected an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise HttpError(400, f"invalid {name}: must be between {lo} and {hi}")
    return value


def query_float(request: Request, name: str) -> float | None:
    """A number query parameter (filters only; never money on an order path), or None."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        raise HttpError(400, f"invalid {name}: expected a number, got {raw!r}") from None
