"""pmtrader: Polymarket's CLOB V2, Gamma and Data APIs from Python, plus a local exchange.

The public API is re-exported here; everything else is an implementation detail.
"""

from importlib.metadata import version as _version

from pmtrader.client import AsyncClient, Client
from pmtrader.config import ApiCredentials, Secret, Settings, SignatureType
from pmtrader.doctor import Check, CheckStatus, DoctorReport
from pmtrader.errors import (
    ApiError,
    AuthError,
    BookIntegrityError,
    ConfigError,
    ConnectionFailedError,
    GeoblockedError,
    InsufficientBalanceError,
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
    TransportError,
    UnexpectedResponseError,
    ValidationError,
)
from pmtrader.models import AssetType, OrderBook, OrderType, Side
from pmtrader.preview import OrderPreview
from pmtrader.retry import RetryPolicy
from pmtrader.signing import SignedOrder

__version__ = _version("pmtrader")

__all__ = [
    "ApiCredentials",
    "ApiError",
    "AssetType",
    "AsyncClient",
    "AuthError",
    "BookIntegrityError",
    "Check",
    "CheckStatus",
    "Client",
    "ConfigError",
    "ConnectionFailedError",
    "DoctorReport",
    "GeoblockedError",
    "InsufficientBalanceError",
    "InvalidPriceError",
    "NotFoundError",
    "OrderBook",
    "OrderPreview",
    "OrderRejectedError",
    "OrderSizeError",
    "OrderStatusUnknownError",
    "OrderType",
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
    "TransportError",
    "UnexpectedResponseError",
    "ValidationError",
    "__version__",
]
