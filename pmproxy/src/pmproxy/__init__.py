"""pmproxy: a stateless reverse proxy for Polymarket's APIs.

The public API is re-exported here; everything else is an implementation detail.
"""

from importlib.metadata import version as _version

from pmproxy.errors import PmproxyError

__version__ = _version("pmproxy")

__all__ = [
    "PmproxyError",
    "__version__",
]
