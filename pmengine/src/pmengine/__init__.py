"""pmengine: an asyncio trading engine for Polymarket.

The public API is re-exported here; everything else is an implementation detail.
"""

from importlib.metadata import version as _version

from pmengine.errors import PmengineError

__version__ = _version("pmengine")

__all__ = [
    "PmengineError",
    "__version__",
]
