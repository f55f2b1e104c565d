"""pmproxy: a fast, safe, stateless reverse proxy for Polymarket's APIs.

``/clob/*``, ``/gamma/*``, ``/data/*`` and ``/chain`` are forwarded byte for byte to fixed
upstreams (clients sign their own requests; the proxy holds no credentials), ``/ws/market``
relays the market websocket. Around that: target and header hygiene, a body limit, rate budgets
shared by every client of the proxy, coalescing of identical public GETs, Prometheus metrics and
a dry-run mode that keeps orders and cancels local. Run it with ``pmproxy`` (uvicorn) or on AWS
Lambda with :func:`pmproxy.lambda_handler.handler`.

pmproxy forwards from where it runs. It is **not** a way around Polymarket's regional
restrictions: run it only where trading on Polymarket is allowed.
"""

from importlib.metadata import version as _version

__version__ = _version("pmproxy")

from pmproxy.app import Health, ProxyApp, UpstreamHealth, create_app
from pmproxy.budget import Budgets, TokenBucket
from pmproxy.errors import (
    BudgetExceededError,
    ChainMethodForbiddenError,
    ConfigError,
    DryRunRefusedError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    PmproxyError,
    RequestError,
    UnsafeRequestError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from pmproxy.settings import Settings, Upstream

__all__ = [
    "BudgetExceededError",
    "Budgets",
    "ChainMethodForbiddenError",
    "ConfigError",
    "DryRunRefusedError",
    "Health",
    "MethodNotAllowedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PmproxyError",
    "ProxyApp",
    "RequestError",
    "Settings",
    "TokenBucket",
    "UnsafeRequestError",
    "Upstream",
    "UpstreamError",
    "UpstreamHealth",
    "UpstreamTimeoutError",
    "UpstreamUnavailableError",
    "__version__",
    "create_app",
]
