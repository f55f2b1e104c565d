"""pmengine: an asyncio trading engine for Polymarket.

Market data in, strategies (pmstrat, plain Python) called when what they watch changes, every
order through pre-trade risk, the signed payload journalled before it is sent, fills back into
positions and P&L. Dry-run never loads a key and never sends a mutating request. The hot path
(books, orders, positions, risk, the dispatch core) is compiled with mypyc in the built wheel;
``pmengine --version`` says which build runs.

The public API is re-exported here; everything else is an implementation detail.
"""

from importlib.metadata import version as _version

from pmtrader.config import Secret  # the toolkit's one masked type, re-exported

from pmengine.book import Book
from pmengine.config import CliOverrides, Settings, load_settings
from pmengine.core import EngineCore
from pmengine.engine import Engine, EngineConfig
from pmengine.errors import (
    AmbiguousSubmitError,
    ConfigError,
    DuplicateIntentError,
    GatewayError,
    IllegalTransitionError,
    JournalError,
    OrderError,
    PmengineError,
    ReconciliationError,
    StrategyError,
)
from pmengine.gateway import (
    DryRunGateway,
    Gateway,
    SignedOrder,
    SubmitResult,
    VenueFill,
    VenueOrder,
)
from pmengine.journal import Journal
from pmengine.metrics import EngineMetrics
from pmengine.order import Order, OrderBookkeeper, OrderRequest
from pmengine.position import Portfolio, Position
from pmengine.replay import ReplayDriver
from pmengine.risk import RiskEngine, RiskLimits
from pmengine.strategy import StrategyRunner, load_strategy

__version__ = _version("pmengine")

__all__ = [
    "AmbiguousSubmitError",
    "Book",
    "CliOverrides",
    "ConfigError",
    "DryRunGateway",
    "DuplicateIntentError",
    "Engine",
    "EngineConfig",
    "EngineCore",
    "EngineMetrics",
    "Gateway",
    "GatewayError",
    "IllegalTransitionError",
    "Journal",
    "JournalError",
    "Order",
    "OrderBookkeeper",
    "OrderError",
    "OrderRequest",
    "PmengineError",
    "Portfolio",
    "Position",
    "ReconciliationError",
    "ReplayDriver",
    "RiskEngine",
    "RiskLimits",
    "Secret",
    "Settings",
    "SignedOrder",
    "StrategyError",
    "StrategyRunner",
    "SubmitResult",
    "VenueFill",
    "VenueOrder",
    "__version__",
    "load_settings",
    "load_strategy",
]
