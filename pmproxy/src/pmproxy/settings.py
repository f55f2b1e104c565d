"""pmproxy's settings: one frozen object, read once at the edge, passed down.

The command line and the Lambda handler build it from ``PMPROXY_*`` environment variables
(:meth:`Settings.from_env`) and lay flags on top (:func:`dataclasses.replace`); nothing else in
the package reads the environment. The defaults point at Polymarket's production hosts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from pmproxy.errors import ConfigError

DEFAULT_CLOB_URL: Final = "https://clob.polymarket.com"
DEFAULT_GAMMA_URL: Final = "https://gamma-api.polymarket.com"
DEFAULT_DATA_URL: Final = "https://data-api.polymarket.com"
DEFAULT_CHAIN_URL: Final = "https://polygon-rpc.com"
DEFAULT_WS_URL: Final = "wss://ws-subscriptions-clob.polymarket.com/ws"

# Read-only JSON-RPC methods an SDK needs, plus the two a wallet needs to send a transaction it
# signed itself (approvals): the proxy never holds a key, so it only relays what clients signed.
DEFAULT_CHAIN_METHODS: Final = frozenset(
    {
        "eth_blockNumber",
        "eth_call",
        "eth_chainId",
        "eth_estimateGas",
        "eth_feeHistory",
        "eth_gasPrice",
        "eth_getBalance",
        "eth_getBlockByNumber",
        "eth_getCode",
        "eth_getLogs",
        "eth_getTransactionByHash",
        "eth_getTransactionCount",
        "eth_getTransactionReceipt",
        "eth_maxPriorityFeePerGas",
        "eth_sendRawTransaction",
        "net_version",
        "web3_clientVersion",
    }
)

_LOG_LEVELS: Final = ("debug", "info", "warning", "error")


@dataclass(frozen=True, slots=True)
class Upstream:
    """One upstream origin: where a route forwards, parsed once.

    Attributes:
        scheme: ``http``/``https`` (``ws``/``wss`` for the websocket upstream).
        host: host name or address; never taken from a request.
        port: explicit port, or ``None`` for the scheme's default.
        base_path: path prefix every forwarded path is appended to (``""`` for none).
    """

    scheme: str
    host: str
    port: int | None
    base_path: str

    @classmethod
    def parse(cls, url: str, *, setting: str, schemes: tuple[str, ...]) -> Upstream:
        """Parse and check an upstream URL from a setting.

        Raises:
            ConfigError: the URL has another scheme, no host, credentials, a query or a fragment.
        """
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"{setting}: {url!r} is not a valid URL ({exc})") from exc
        if parts.scheme not in schemes:
            raise ConfigError(
                f"{setting}: {url!r} must start with {' or '.join(s + '://' for s in schemes)}"
            )
        if not parts.hostname:
            raise ConfigError(f"{setting}: {url!r} has no host")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ConfigError(f"{setting}: {url!r} must not carry credentials, a query or a #")
        return cls(
            scheme=parts.scheme,
            host=parts.hostname,
            port=port,
            base_path=parts.path.rstrip("/"),
        )

    @property
    def origin(self) -> str:
        """``scheme://host[:port]``, for logs and ``/health``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + (f":{self.port}" if self.port else "")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything pmproxy is configured with.

    Attributes:
        host: address to listen on.
        port: port to listen on.
        dry_run: answer mutating CLOB calls locally instead of forwarding them.
        clob_url: CLOB REST origin (``/clob/*``).
        gamma_url: Gamma origin (``/gamma/*``).
        data_url: Data API origin (``/data/*``).
        chain_url: Polygon JSON-RPC endpoint (``/chain``).
        ws_url: websocket base; ``/ws/market`` forwards to ``{ws_url}/market``.
        max_body_bytes: largest request body accepted (413 above it).
        connect_timeout: seconds to open an upstream connection (504 after).
        read_timeout: seconds to wait for each upstream read (504 after).
        budgets: whether the per-family rate budgets apply.
        budget_scale: share of Polymarket's documented limits this proxy allows itself.
        coalesce: whether identical concurrent public GETs share one upstream call.
        pool_size: most open upstream connections per host.
        log_level: ``debug``, ``info``, ``warning`` or ``error``.
        chain_methods: JSON-RPC methods ``/chain`` lets through.
        ca_file: PEM bundle to verify ``https`` upstreams with (``""``: the system's).
    """

    host: str = "127.0.0.1"
    port: int = 8080
    dry_run: bool = False
    clob_url: str = DEFAULT_CLOB_URL
    gamma_url: str = DEFAULT_GAMMA_URL
    data_url: str = DEFAULT_DATA_URL
    chain_url: str = DEFAULT_CHAIN_URL
    ws_url: str = DEFAULT_WS_URL
    max_body_bytes: int = 1_048_576
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    budgets: bool = True
    budget_scale: float = 0.8
    coalesce: bool = True
    pool_size: int = 100
    log_level: str = "info"
    chain_methods: frozenset[str] = field(default=DEFAULT_CHAIN_METHODS)
    ca_file: str = ""

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError(f"port: {self.port} is not between 1 and 65535")
        if self.max_body_bytes < 0:
            raise ConfigError("max_body_bytes: must be 0 or more")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ConfigError("connect_timeout and read_timeout: must be more than 0 seconds")
        if not 0 < self.budget_scale <= 10:
            raise ConfigError(f"budget_scale: {self.budget_scale} is not in (0, 10]")
        if self.pool_size < 1:
            raise ConfigError("pool_size: must be at least 1")
        if self.log_level not in _LOG_LEVELS:
            choices = ", ".join(_LOG_LEVELS)
            raise ConfigError(f"log_level: {self.log_level!r} is not one of {choices}")
        for name in ("clob_url", "gamma_url", "data_url", "chain_url"):
            Upstream.parse(getattr(self, name), setting=name, schemes=("http", "https"))
        Upstream.parse(self.ws_url, setting="ws_url", schemes=("ws", "wss"))

    def upstream(self, route: str) -> Upstream:
        """The parsed origin of a route (``clob``, ``gamma``, ``data``, ``chain`` or ``ws``)."""
        url: str = getattr(self, f"{route}_url")
        schemes = ("ws", "wss") if route == "ws" else ("http", "https")
        return Upstream.parse(url, setting=f"{route}_url", schemes=schemes)

    def with_overrides(self, **overrides: object) -> Settings:
        """Return a copy with the given fields replaced (``None`` values are ignored).

        Raises:
            ConfigError: an override names no setting or holds an invalid value.
        """
        known = {f.name for f in dataclasses.fields(self)}
        changes = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(changes) - known
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]  # checked above

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read ``PMPROXY_*`` variables (e.g. ``PMPROXY_CLOB_URL``, ``PMPROXY_DRY_RUN=1``).

        Args:
            environ: the environment, passed in by the entry point (``os.environ``).

        Raises:
            ConfigError: a variable holds a value of the wrong kind.
        """
        values: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(f"PMPROXY_{f.name.upper()}")
            if raw is None or raw.strip() == "":
                continue
            values[f.name] = _parse(f"PMPROXY_{f.name.upper()}", raw.strip(), f.default)
        return cls().with_overrides(**values)


def _parse(name: str, raw: str, default: object) -> object:
    if isinstance(default, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}: {raw!r} is not a boolean (use 1/0, true/false)")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name}: {raw!r} is not a whole number") from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{name}: {raw!r} is not a number") from None
    if isinstance(default, frozenset):
        return frozenset(m.strip() for m in raw.split(",") if m.strip())
    return raw
