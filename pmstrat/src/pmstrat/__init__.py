"""pmstrat: strategies, backtests, rewards simulation and sweeps for Polymarket.

The public API is re-exported here; everything else is an implementation detail.
"""

from importlib.metadata import version as _version

from pmstrat.context import (
    Context,
    Fill,
    Level,
    MarketInfo,
    OpenOrder,
    OrderBookSnapshot,
    Position,
)
from pmstrat.dsl import (
    Param,
    ScreenHit,
    Strategy,
    StrategyInstance,
    Watch,
    get_strategy,
    normalize_signals,
    register,
    registered_strategies,
    run_screens,
    strategy,
)
from pmstrat.errors import (
    BacktestError,
    DataError,
    ParameterError,
    PmstratError,
    SignalError,
    StrategyError,
    StrategyNotFoundError,
    SweepError,
    VenueError,
)
from pmstrat.signal import Buy, Cancel, Hold, OrderType, Sell, Side, Signal, Urgency
from pmstrat.units import (
    amount_decimal,
    amount_units,
    price_decimal,
    price_units,
)

__version__ = _version("pmstrat")

__all__ = [
    "BacktestError",
    "Buy",
    "Cancel",
    "Context",
    "DataError",
    "Fill",
    "Hold",
    "Level",
    "MarketInfo",
    "OpenOrder",
    "OrderBookSnapshot",
    "OrderType",
    "Param",
    "ParameterError",
    "PmstratError",
    "Position",
    "ScreenHit",
    "Sell",
    "Side",
    "Signal",
    "SignalError",
    "Strategy",
    "StrategyError",
    "StrategyInstance",
    "StrategyNotFoundError",
    "SweepError",
    "Urgency",
    "VenueError",
    "Watch",
    "__version__",
    "amount_decimal",
    "amount_units",
    "get_strategy",
    "normalize_signals",
    "price_decimal",
    "price_units",
    "register",
    "registered_strategies",
    "run_screens",
    "strategy",
]
