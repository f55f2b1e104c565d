"""pmtrader: Polymarket's CLOB V2, Gamma and Data APIs from Python, plus a local exchange.

The public API is re-exported here; everything else is an implementation detail.
"""

from importlib.metadata import version as _version

from pmtrader._amounts import Amounts, limit_amounts
from pmtrader.book import Book, book_hash
from pmtrader.client import AsyncClient, Client
from pmtrader.config import ApiCredentials, Secret, Settings, SignatureType
from pmtrader.doctor import Check, CheckStatus, DoctorReport
from pmtrader.errors import (
    ApiError,
    AuthError,
    BookIntegrityError,
    ConfigError,
    ConnectionFailedError,
    FeedDecodeError,
    GeoblockedError,
    InsufficientBalanceError,
    InvalidHeartbeatError,
    InvalidPriceError,
    NotFoundError,
    OrderRejectedError,
    OrderSizeError,
    OrderStatusUnknownError,
    PmtraderError,
    RateLimitedError,
    RequestTimeoutError,
    ServiceUnavailableError,
    SigningError,
    StaleFeedError,
    TransportError,
    UnexpectedResponseError,
    UnsupportedVersionError,
    ValidationError,
)
from pmtrader.models import AssetType, OrderBook, OrderType, Side
from pmtrader.preview import OrderPreview
from pmtrader.retry import RetryPolicy
from pmtrader.signing import SignedOrder
from pmtrader.ws_events import (
    BookResynced,
    BookStale,
    BookUpdated,
    FeedRestored,
    FeedStale,
    OrderUpdate,
    TickSizeChanged,
    TradePrinted,
    TradeUpdate,
)
from pmtrader.ws_market import MarketStream
from pmtrader.ws_user import UserStream

__version__ = _version("pmtrader")

__all__ = [
    "Amounts",
    "ApiCredentials",
    "ApiError",
    "AssetType",
    "AsyncClient",
    "AuthError",
    "Book",
    "BookIntegrityError",
    "BookResynced",
    "BookStale",
    "BookUpdated",
    "Check",
    "CheckStatus",
    "Client",
    "ConfigError",
    "ConnectionFailedError",
    "DoctorReport",
    "FeedDecodeError",
    "FeedRestored",
    "FeedStale",
    "GeoblockedError",
    "InsufficientBalanceError",
    "InvalidHeartbeatError",
    "InvalidPriceError",
    "MarketStream",
    "NotFoundError",
    "OrderBook",
    "OrderPreview",
    "OrderRejectedError",
    "OrderSizeError",
    "OrderStatusUnknownError",
    "OrderType",
    "OrderUpdate",
    "PmtraderError",
    "RateLimitedError",
    "RequestTimeoutError",
    "RetryPolicy",
    "Secret",
    "ServiceUnavailableError",
    "Settings",
    "Side",
    "SignatureType",
    "SignedOrder",
    "SigningError",
    "StaleFeedError",
    "TickSizeChanged",
    "TradePrinted",
    "TradeUpdate",
    "TransportError",
    "UnexpectedResponseError",
    "UnsupportedVersionError",
    "UserStream",
    "ValidationError",
    "__version__",
    "book_hash",
    "limit_amounts",
]
