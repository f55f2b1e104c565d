"""The pmstrat exception tree.

Every error pmstrat raises on purpose derives from one root, so a command line or an engine can
catch ``PmstratError`` and print its message instead of a traceback::

    PmstratError
    ├── SignalError              a Buy/Sell/Cancel built with an impossible value
    ├── ParameterError           an unknown parameter, a wrong type, a value outside its range
    ├── StrategyError            a strategy that cannot be defined, found or run
    │   └── StrategyNotFoundError   no registered strategy and no importable ``module:attr``
    ├── DataError                a recording or stream that is missing or has the wrong shape
    ├── BacktestError            a backtest configured inconsistently (no markets, bad latency...)
    ├── SweepError               a sweep with nothing to run or a worker that failed
    └── VenueError               market data could not be fetched through pmtrader
"""

from __future__ import annotations


class PmstratError(Exception):
    """Root of every error pmstrat raises on purpose."""


class SignalError(PmstratError, ValueError):
    """A signal was built with a value no exchange would accept (price off 0..1, size <= 0...)."""


class ParameterError(PmstratError, ValueError):
    """A strategy parameter is unknown, of the wrong type, or outside its declared range."""


class StrategyError(PmstratError):
    """A strategy is malformed (bad declaration) or failed while running."""


class StrategyNotFoundError(StrategyError, LookupError):
    """No strategy is registered under that name and it is not an importable ``module:attr``."""


class DataError(PmstratError):
    """Market data (a Parquet recording, a synthetic stream) is missing or malformed."""


class BacktestError(PmstratError):
    """A backtest was configured inconsistently."""


class SweepError(PmstratError):
    """A parameter sweep has nothing to run, or one of its workers failed."""


class VenueError(PmstratError):
    """Market data could not be fetched from the venue (production or the local exchange)."""
