"""pmtrader: Polymarket's CLOB V2, Gamma and Data APIs from Python, plus a local exchange.

The public API is re-exported here; everything else is an implementation detail.
"""

from importlib.metadata import version as _version

from pmtrader.errors import PmtraderError

__version__ = _version("pmtrader")

__all__ = [
    "PmtraderError",
    "__version__",
]
