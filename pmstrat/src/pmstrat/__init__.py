"""pmstrat: strategies, backtests, rewards simulation and sweeps for Polymarket.

The public API is re-exported here; everything else is an implementation detail.
"""

from importlib.metadata import version as _version

from pmstrat.errors import PmstratError

__version__ = _version("pmstrat")

__all__ = [
    "PmstratError",
    "__version__",
]
