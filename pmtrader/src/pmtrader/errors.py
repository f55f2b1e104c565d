"""The pmtrader exception tree.

Every error pmtrader raises on purpose derives from one root, so callers can catch
``PmtraderError`` and know they have seen everything the toolkit itself reports::

    PmtraderError
    ├── ConfigError                    a setting is missing or malformed (names the variable)
    ├── ValidationError                bad input from the caller, caught before anything is sent
    │   ├── InvalidPriceError          off the tick grid or outside (0, 1); names the nearest prices
    │   └── OrderSizeError             below the market minimum or not a whole cent of shares
    ├── SigningError                   an order or request could not be signed (key, signer, type)
    │   └── UnsupportedVersionError    the venue's /version is not the CLOB V2 orders pmt signs
    ├── BookIntegrityError             a book's hash does not match its contents
    │   └── StaleFeedError             a market feed went silent or dropped: its books are stale
    ├── FeedDecodeError                a websocket frame is not the venue's documented shape
    ├── TransportError                 the request did not produce an HTTP response
    │   ├── RequestTimeoutError        connect/read/write/pool timeout
    │   ├── ConnectionFailedError      refused, reset, DNS failure
    │   └── OrderStatusUnknownError    an order POST got no answer: it may or may not be live
    └── ApiError                       the venue answered with an error status
        ├── AuthError                  401/403: credentials missing, wrong or not bound to the key
        ├── GeoblockedError            403: trading is restricted in the caller's region
        ├── NotFoundError              404: unknown market, token, order or book
        ├── RateLimitedError           429: slow down (``retry_after`` seconds when known)
        ├── OrderRejectedError         400 on an order: Polymarket's reason, verbatim
        │   └── InsufficientBalanceError   not enough pUSD/tokens or allowance, and how to fix it
        ├── InvalidHeartbeatError      400 on a heartbeat: stale id; ``expected_id`` is the next one
        ├── ServiceUnavailableError    425/5xx: matching engine restarting, trading disabled
        └── UnexpectedResponseError    a 200 whose body does not have the documented shape

Messages never contain request headers, private keys, API secrets or passphrases: an
``ApiError`` carries the status, the venue's message and the method and path only.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = [
    "ApiError",
    "AuthError",
    "BookIntegrityError",
    "ConfigError",
    "ConnectionFailedError",
    "FeedDecodeError",
    "GeoblockedError",
    "InsufficientBalanceError",
    "InvalidHeartbeatError",
    "InvalidPriceError",
    "NotFoundError",
    "OrderRejectedError",
    "OrderSizeError",
    "OrderStatusUnknownError",
    "PmtraderError",
    "RateLimitedError",
    "RequestTimeoutError",
    "ServiceUnavailableError",
    "SigningError",
    "StaleFeedError",
    "TransportError",
    "UnexpectedResponseError",
    "UnsupportedVersionError",
    "ValidationError",
]


class PmtraderError(Exception):
    """Root of every error pmtrader raises on purpose."""


class ConfigError(PmtraderError):
    """A setting is missing or malformed; the message names the variable and what it must be."""


class ValidationError(PmtraderError):
    """The caller's input is wrong; the message says what to change. Nothing was sent."""


class InvalidPriceError(ValidationError):
    """A price is off the market's tick grid or outside ``(0, 1)``.

    Attributes:
        price: The price that was given.
        tick_size: The market's tick size.
        nearest: The valid prices closest to ``price`` (one or two of them).
    """

    def __init__(
        self, message: str, *, price: Decimal, tick_size: Decimal, nearest: tuple[Decimal, ...]
    ) -> None:
        super().__init__(message)
        self.price = price
        self.tick_size = tick_size
        self.nearest = nearest


class OrderSizeError(ValidationError):
    """An order size is below the market's minimum or finer than the venue accepts.

    Attributes:
        size: The size that was given (shares, or pUSD for a market BUY).
        minimum: The market's minimum order size in shares.
    """

    def __init__(self, message: str, *, size: Decimal, minimum: Decimal) -> None:
        super().__init__(message)
        self.size = size
        self.minimum = minimum


class SigningError(PmtraderError):
    """An order or an authenticated request could not be signed."""


class UnsupportedVersionError(SigningError):
    """The venue's ``GET /version`` names an order protocol other than CLOB V2 (version 2).

    pmt signs only V2 orders (EIP-712 domain version "2"); an order signed for the wrong struct
    would be refused at best, so nothing is signed or sent.

    Attributes:
        version: The version the venue reported.
    """

    def __init__(self, message: str, *, version: int) -> None:
        super().__init__(message)
        self.version = version


class BookIntegrityError(PmtraderError):
    """A book's ``hash`` does not match its contents: do not trade on it; fetch a fresh one."""


class TransportError(PmtraderError):
    """The request did not produce an HTTP response (timeout, refused connection...).

    Attributes:
        method: The HTTP method.
        path: The path that was requested (no query string, no host).
    """

    def __init__(self, message: str, *, method: str = "", path: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.path = path


class RequestTimeoutError(TransportError):
    """Connecting, sending or reading took longer than the configured timeout."""


class ConnectionFailedError(TransportError):
    """The connection was refused or reset, or the host name did not resolve."""


class OrderStatusUnknownError(TransportError):
    """An order was sent but no answer came back, so it may be live on the book.

    pmtrader never re-sends an order on its own: look it up (``client.orders.get(order_hash)``
    or the open orders) before deciding to place it again.

    Attributes:
        order_hashes: The EIP-712 hashes of the orders that were sent (the venue's order ids).
    """

    def __init__(
        self, message: str, *, method: str = "", path: str = "", order_hashes: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message, method=method, path=path)
        self.order_hashes = order_hashes


class ApiError(PmtraderError):
    """The venue answered with an error status.

    Attributes:
        status: The HTTP status code.
        message: The venue's error message (the ``error`` field of its JSON body, or its text).
        method: The HTTP method of the request.
        path: The request path without host or query string.
    """

    def __init__(self, message: str, *, status: int, method: str, path: str) -> None:
        super().__init__(f"{method} {path} -> {status}: {message}")
        self.status = status
        self.message = message
        self.method = method
        self.path = path


class AuthError(ApiError):
    """401/403: credentials are missing or wrong, or the API key is bound to another address."""


class GeoblockedError(ApiError):
    """403: Polymarket does not accept orders from the caller's region (reads still work)."""


class NotFoundError(ApiError):
    """404: the market, token, order or book does not exist."""


class RateLimitedError(ApiError):
    """429: the venue throttled the caller.

    Attributes:
        retry_after: Seconds the venue asked us to wait (``Retry-After``), or ``None``.
    """

    def __init__(
        self, message: str, *, status: int, method: str, path: str, retry_after: float | None
    ) -> None:
        super().__init__(message, status=status, method=method, path=path)
        self.retry_after = retry_after


class OrderRejectedError(ApiError):
    """The venue refused an order; ``message`` is Polymarket's reason, verbatim."""


class InsufficientBalanceError(OrderRejectedError):
    """The order needs more pUSD or tokens, or a larger allowance, than the funder has.

    Attributes:
        hint: What is missing and how to fix it.
    """

    def __init__(self, message: str, *, status: int, method: str, path: str, hint: str) -> None:
        super().__init__(message, status=status, method=method, path=path)
        self.hint = hint

    def __str__(self) -> str:
        return f"{super().__str__()} ({self.hint})"


class InvalidHeartbeatError(ApiError):
    """The venue refused a heartbeat id (stale or wrong); the deadline was not refreshed.

    Attributes:
        expected_id: The id the venue expects next (send it, or ``""`` to re-arm), if it said.
    """

    def __init__(
        self, message: str, *, status: int, method: str, path: str, expected_id: str | None
    ) -> None:
        super().__init__(message, status=status, method=method, path=path)
        self.expected_id = expected_id


class ServiceUnavailableError(ApiError):
    """425 or 5xx: the matching engine is restarting, trading is paused, or the host failed."""


class UnexpectedResponseError(ApiError):
    """The venue answered 200 with a body that does not have the documented shape."""


class StaleFeedError(BookIntegrityError):
    """A market feed went silent or dropped, so its books no longer mirror the venue.

    Raised (or delivered as an event) by the websocket streams; the books come back only from a
    fresh snapshot after the stream reconnects. Do not trade on a book while this stands.

    Attributes:
        asset_ids: The tokens whose books are stale.
        reason: Why: ``"silent"`` (no message within the bound), ``"disconnected"`` or
            ``"inconsistent"`` (the feed contradicted the local book).
    """

    def __init__(self, message: str, *, asset_ids: tuple[str, ...] = (), reason: str = "") -> None:
        super().__init__(message)
        self.asset_ids = asset_ids
        self.reason = reason


class FeedDecodeError(PmtraderError):
    """A websocket frame is not JSON, or an event of a known type lacks a documented field.

    Unknown event types are not errors (they are skipped); this is a frame the toolkit should
    understand and cannot. The streams keep running: they apply what could be read and resync
    the books the unreadable event may have touched.

    Attributes:
        event_type: The event's ``event_type`` (``""`` when the frame was not JSON at all).
        events: The events of the same frame that did decode, in order.
    """

    def __init__(
        self, message: str, *, event_type: str = "", events: tuple[object, ...] = ()
    ) -> None:
        super().__init__(message)
        self.event_type = event_type
        self.events = events
