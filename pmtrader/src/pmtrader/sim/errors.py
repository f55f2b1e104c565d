"""Errors the local exchange raises; all derive from ``PmtraderError`` through ``SimError``.

The messages are Polymarket's own strings (see ``protocol.md`` §1.7 and the error-code list), so a
server can put ``str(exc)`` into ``{"error": ...}`` unchanged::

    PmtraderError
    └── SimError
        ├── OrderRejected       an order failed admission or matching; the ledger is unchanged
        ├── ApiKeyError         create/derive/delete of an API key failed
        ├── HeartbeatRejected   wrong heartbeat id (carries the expected id)
        ├── UnknownMarket       a token or condition id the catalogue does not hold
        └── StateError          a state directory that does not fit this exchange (other seed)
"""

from __future__ import annotations

from pmtrader.errors import PmtraderError

__all__ = [
    "ApiKeyError",
    "HeartbeatRejected",
    "OrderRejected",
    "SimError",
    "StateError",
    "UnknownMarket",
]


class SimError(PmtraderError):
    """Root of the local exchange's errors."""


class OrderRejected(SimError):  # noqa: N818 - the name the issue and the server use
    """An order was refused; ``str(exc)`` is Polymarket's exact message for the reason."""

    def __init__(self, message: str, *, order_id: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.order_id = order_id


class ApiKeyError(SimError):
    """API-key creation, derivation or deletion failed (production wording)."""


class HeartbeatRejected(SimError):  # noqa: N818 - reads as the venue's "Invalid Heartbeat ID"
    """A heartbeat carried the wrong id; ``expected_id`` is what the server wants next."""

    def __init__(self, expected_id: str) -> None:
        super().__init__("Invalid Heartbeat ID")
        self.expected_id = expected_id


class UnknownMarket(SimError):  # noqa: N818 - the server imports it by this name
    """No market with that token or condition id (``Invalid token id``, ``market not found``)."""


class StateError(SimError):
    """The state directory was written by an exchange with different settings."""
