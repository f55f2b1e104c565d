"""Engine settings: read once from the environment at the edge, with command-line flags on top.

Names, defaults and precedence (issue 9):

=============================================================  =====================================
variable(s), first one set wins                                default
=============================================================  =====================================
``PMENGINE_PRIVATE_KEY``, ``PM_PRIVATE_KEY``, ``PRIVATE_KEY``  required for live trading; never
                                                               read in dry-run
``PMENGINE_FUNDER_ADDRESS``, ``PM_FUNDER_ADDRESS``             the key's own address
``PM_SIGNATURE_TYPE``, ``PMENGINE_SIGNATURE_TYPE``             ``0``
``PMENGINE_CLOB_URL``                                          ``https://clob.polymarket.com/``
``PMENGINE_WS_URL``                                            ``wss://ws-subscriptions-clob.polymarket.com/ws``
``PMENGINE_MAX_POSITION_SIZE`` (shares per token)              ``1000``
``PMENGINE_MAX_TOTAL_EXPOSURE`` (pUSD)                         ``5000``
``PMENGINE_TICK_INTERVAL_MS``                                  ``1000``
``PMENGINE_LOG_LEVEL``                                         ``info``
``PMPROXY_URL``                                                unset: talk to the CLOB directly
``PMENGINE_STATE_DIR``                                         ``./pmengine-state``
``PMENGINE_METRICS_PORT``                                      unset: no metrics endpoint
``PM_BUILDER_CODE`` (extra: pmtrader's variable, same rules)   unset: no builder credited
=============================================================  =====================================

Flags (``--dry-run``, ``--strategy``, ``--markets``, ``--param``, ``--state-dir``,
``--metrics-port``, ``--env``) override the environment. When ``PMENGINE_SECRET_ID`` or
``PMENGINE_SSM_PARAMETER`` is set (and not in dry-run), the key comes from AWS through
:mod:`pmengine.secrets`. A key in the environment *and* a secret store (or both stores) is a
configuration error naming both variables, not a silent precedence: with real money the operator
must know which key signs. A bad value raises :class:`~pmengine.errors.ConfigError` naming the
variable and what it must be.

``PM_BUILDER_CODE`` is not in issue 9's list: it is pmtrader's variable, read by pmtrader's own
parser (``0x`` + 64 hex; all zeros means none), and the live gateway signs it into every order's
``builder`` field as pmtrader's order path does.

The key is held as pmtrader's masked :class:`pmtrader.config.Secret` (one masked type across the
toolkit; re-exported here as ``Secret``), so it never shows in a repr, a log line or an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Final

from pmtrader.config import Secret
from pmtrader.config import Settings as PmtSettings
from pmtrader.errors import ConfigError as PmtConfigError

from pmengine.errors import ConfigError

DEFAULT_CLOB_URL: Final = "https://clob.polymarket.com/"
DEFAULT_WS_URL: Final = "wss://ws-subscriptions-clob.polymarket.com/ws"
DEFAULT_GAMMA_URL: Final = "https://gamma-api.polymarket.com"
#: ``--env sim``: the local exchange (``pmtrader sim serve``) unless the URLs are set.
SIM_CLOB_URL: Final = "http://127.0.0.1:8700/"
SIM_WS_URL: Final = "ws://127.0.0.1:8700/ws"
DEFAULT_MAX_POSITION_SIZE: Final = Decimal(1000)
DEFAULT_MAX_TOTAL_EXPOSURE: Final = Decimal(5000)
DEFAULT_TICK_INTERVAL_MS: Final = 1000
DEFAULT_LOG_LEVEL: Final = "info"
DEFAULT_STATE_DIR: Final = "pmengine-state"
LOG_LEVELS: Final = ("debug", "info", "warning", "error")
ENVS: Final = ("prod", "sim")

PRIVATE_KEY_VARS: Final = ("PMENGINE_PRIVATE_KEY", "PM_PRIVATE_KEY", "PRIVATE_KEY")
FUNDER_VARS: Final = ("PMENGINE_FUNDER_ADDRESS", "PM_FUNDER_ADDRESS")
SIGNATURE_TYPE_VARS: Final = ("PM_SIGNATURE_TYPE", "PMENGINE_SIGNATURE_TYPE")
SECRET_ID_VAR: Final = "PMENGINE_SECRET_ID"  # noqa: S105 - a variable name, not a secret
SSM_PARAMETER_VAR: Final = "PMENGINE_SSM_PARAMETER"
BUILDER_CODE_VAR: Final = "PM_BUILDER_CODE"

_HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_PARAM = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*=.*$")


@dataclass(frozen=True)
class CliOverrides:
    """What the command line said; ``None``/empty means "not given, use the environment"."""

    dry_run: bool | None = None
    strategies: tuple[str, ...] = ()
    spread_watcher: bool = False
    markets: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    state_dir: str | None = None
    metrics_port: int | None = None
    env: str | None = None


@dataclass(frozen=True)
class Settings:
    """One frozen settings object per process, passed down from the edge."""

    dry_run: bool
    private_key: Secret | None = field(repr=False)
    funder_address: str | None
    signature_type: int
    clob_url: str
    ws_url: str
    max_position_size: Decimal
    max_total_exposure: Decimal
    tick_interval_ms: int
    log_level: str
    pmproxy_url: str | None
    state_dir: Path
    metrics_port: int | None
    env: str
    strategies: tuple[str, ...] = ()
    spread_watcher: bool = False
    markets: tuple[str, ...] = ()
    params: tuple[tuple[str, str], ...] = ()
    builder_code: str | None = None

    @property
    def market_ws_url(self) -> str:
        """The market channel URL (``…/ws/market``)."""
        return self.ws_url.rstrip("/") + "/market"

    @property
    def user_ws_url(self) -> str:
        """The user channel URL (``…/ws/user``)."""
        return self.ws_url.rstrip("/") + "/user"

    @property
    def rest_url(self) -> str:
        """Where REST requests go: pmproxy's ``/clob/`` when configured, else the CLOB."""
        if self.pmproxy_url:
            return self.pmproxy_url.rstrip("/") + "/clob/"
        return self.clob_url

    @property
    def gamma_url(self) -> str:
        """Gamma (market metadata): through pmproxy, the local exchange's ``/gamma``, or prod."""
        if self.pmproxy_url:
            return self.pmproxy_url.rstrip("/") + "/gamma"
        if self.env == "sim":
            return self.clob_url.rstrip("/") + "/gamma"
        return DEFAULT_GAMMA_URL

    def sdk_settings(self) -> PmtSettings:
        """pmtrader's settings for these endpoints, holding no key and no credentials.

        Every venue call the engine makes (market lookup, the REST book fallback, the live
        gateway) goes through pmtrader's clients built from this one mapping, so pmproxy and
        ``--env sim`` route all of them the same way.
        """
        base = self.rest_url.rstrip("/")
        if self.pmproxy_url is None and self.env == "sim":
            return PmtSettings.for_sim(base, ws_url=self.ws_url.rstrip("/"))
        return PmtSettings(
            env="sim" if self.env == "sim" else "prod",
            clob_url=base,
            gamma_url=self.gamma_url,
            ws_url=self.ws_url.rstrip("/"),
            proxy_url=self.pmproxy_url,
        )

    def param_dict(self) -> dict[str, str]:
        """The ``--param k=v`` pairs as a dict (later pairs win)."""
        return dict(self.params)


KeyLoader = Callable[[Mapping[str, str]], str | None]


def _first(environ: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    for name in names:
        value = environ.get(name)
        if value is not None and value.strip() != "":
            return name, value.strip()
    return None


def _decimal(environ: Mapping[str, str], name: str, default: Decimal) -> Decimal:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise ConfigError(f"{name} must be a positive number, got {raw!r}") from None
    if not value.is_finite() or value <= 0:
        raise ConfigError(f"{name} must be a positive number, got {raw!r}")
    if value != value.quantize(Decimal("0.000001")):
        raise ConfigError(f"{name} must have at most 6 decimal places, got {raw!r}")
    return value


def _int(environ: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be an integer from {low} to {high}, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be an integer from {low} to {high}, got {raw!r}")
    return value


def _url(name: str, raw: str, schemes: tuple[str, ...]) -> str:
    value = raw.strip()
    if not any(value.startswith(s + "://") for s in schemes) or len(value) <= 8:
        wanted = " or ".join(f"{s}://" for s in schemes)
        raise ConfigError(f"{name} must be a URL starting with {wanted}, got {raw!r}")
    return value


def _key_sources(environ: Mapping[str, str]) -> list[str]:
    """The variables naming a source of the signing key (at most one key variable counts).

    ``PMENGINE_PRIVATE_KEY``, ``PM_PRIVATE_KEY`` and ``PRIVATE_KEY`` are one source checked in
    that order (issue 9); each secret store is a source of its own.
    """
    found = _first(environ, PRIVATE_KEY_VARS)
    stores = [name for name in (SECRET_ID_VAR, SSM_PARAMETER_VAR) if environ.get(name, "").strip()]
    return ([found[0]] if found is not None else []) + stores


def _private_key(environ: Mapping[str, str], key_loader: KeyLoader | None) -> Secret | None:
    sources = _key_sources(environ)
    if len(sources) > 1:
        # Two places for one key is a footgun (a stale key in a unit file silently outranking
        # the one in Secrets Manager, or the reverse): refuse and say which to unset. Only the
        # variable names are quoted, never a value.
        named = ", ".join(sources[:-1]) + " and " + sources[-1]
        both, other = ("both", "the other") if len(sources) == 2 else ("all", "the others")
        raise ConfigError(
            f"{named} are {both} set, but the signing key must come from exactly one place: "
            f"set only one of them and unset {other}"
        )
    found = _first(environ, PRIVATE_KEY_VARS)
    if found is not None:
        name, value = found
    elif sources and key_loader is not None:
        loaded = key_loader(environ)
        if loaded is None:
            return None
        name = sources[0]
        value = loaded.strip()
    else:
        return None
    if not _HEX_KEY.match(value):
        # Never echo the value: it is (meant to be) a private key.
        raise ConfigError(f"{name} must be a 32-byte hex private key (64 hex digits, optional 0x)")
    return Secret(value if value.startswith("0x") else "0x" + value)


def _builder_code(environ: Mapping[str, str]) -> str | None:
    """``PM_BUILDER_CODE`` exactly as pmtrader reads it: through pmtrader's own parser."""
    raw = environ.get(BUILDER_CODE_VAR)
    if raw is None:
        return None
    try:
        return PmtSettings.from_env({BUILDER_CODE_VAR: raw}).builder_code
    except PmtConfigError as exc:
        raise ConfigError(str(exc)) from None


def load_settings(
    environ: Mapping[str, str],
    overrides: CliOverrides | None = None,
    *,
    key_loader: KeyLoader | None = None,
) -> Settings:
    """Build the settings from the environment with the command line on top.

    Args:
        environ: the process environment (passed in so that library code never reads it).
        overrides: what the command line said.
        key_loader: fetches the private key from a secret store when ``PMENGINE_SECRET_ID`` or
            ``PMENGINE_SSM_PARAMETER`` is set (a key variable set as well is an error).

    Raises:
        ConfigError: a value is malformed, or the key has more than one source; the message
            names the variable(s) (or flag), never the key.
    """
    cli = overrides or CliOverrides()
    dry_run_env = environ.get("PMENGINE_DRY_RUN", "").strip().lower()
    if dry_run_env not in ("", "0", "1", "true", "false", "yes", "no"):
        raise ConfigError(f"PMENGINE_DRY_RUN must be true or false, got {dry_run_env!r}")
    dry_run = cli.dry_run if cli.dry_run is not None else dry_run_env in ("1", "true", "yes")

    env = cli.env if cli.env is not None else environ.get("PMENGINE_ENV", "prod").strip() or "prod"
    if env not in ENVS:
        raise ConfigError(f"--env must be one of {', '.join(ENVS)}, got {env!r}")

    private_key = None if dry_run else _private_key(environ, key_loader)
    if not dry_run and private_key is None:
        raise ConfigError(
            "live trading needs a private key: set PMENGINE_PRIVATE_KEY (or PM_PRIVATE_KEY or "
            "PRIVATE_KEY, or PMENGINE_SECRET_ID / PMENGINE_SSM_PARAMETER), or pass --dry-run"
        )

    funder = _first(environ, FUNDER_VARS)
    if funder is not None and not _ADDRESS.match(funder[1]):
        raise ConfigError(f"{funder[0]} must be a 0x-prefixed 20-byte hex address")
    sig_found = _first(environ, SIGNATURE_TYPE_VARS)
    signature_type = 0
    if sig_found is not None:
        signature_type = _int({sig_found[0]: sig_found[1]}, sig_found[0], 0, low=0, high=3)

    clob_url = _url(
        "PMENGINE_CLOB_URL", environ.get("PMENGINE_CLOB_URL") or DEFAULT_CLOB_URL, ("http", "https")
    )
    ws_url = _url(
        "PMENGINE_WS_URL", environ.get("PMENGINE_WS_URL") or DEFAULT_WS_URL, ("ws", "wss")
    )
    proxy_raw = environ.get("PMPROXY_URL", "").strip()
    pmproxy_url = _url("PMPROXY_URL", proxy_raw, ("http", "https")) if proxy_raw else None

    log_level = (environ.get("PMENGINE_LOG_LEVEL") or DEFAULT_LOG_LEVEL).strip().lower()
    if log_level not in LOG_LEVELS:
        raise ConfigError(
            f"PMENGINE_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}"
        )

    if cli.state_dir is not None:
        if not cli.state_dir.strip():
            raise ConfigError("--state-dir must be a directory path, got an empty string")
        state_dir = Path(cli.state_dir)
    else:
        state_dir = Path(environ.get("PMENGINE_STATE_DIR", "").strip() or DEFAULT_STATE_DIR)

    if cli.metrics_port is not None:
        if not 0 <= cli.metrics_port <= 65535:
            raise ConfigError(f"--metrics-port must be from 0 to 65535, got {cli.metrics_port}")
        metrics_port: int | None = cli.metrics_port
    else:
        port = _int(environ, "PMENGINE_METRICS_PORT", -1, low=0, high=65535)
        metrics_port = None if port < 0 else port

    params: list[tuple[str, str]] = []
    for item in cli.params:
        if not _PARAM.match(item):
            raise ConfigError(f"--param must look like key=value, got {item!r}")
        key, _, value = item.partition("=")
        params.append((key, value))
    for spec in cli.strategies:
        if not spec.strip():
            raise ConfigError("--strategy must be a strategy name or MODULE:NAME, got ''")

    return Settings(
        dry_run=dry_run,
        private_key=private_key,
        funder_address=funder[1] if funder else None,
        signature_type=signature_type,
        clob_url=clob_url,
        ws_url=ws_url,
        max_position_size=_decimal(
            environ, "PMENGINE_MAX_POSITION_SIZE", DEFAULT_MAX_POSITION_SIZE
        ),
        max_total_exposure=_decimal(
            environ, "PMENGINE_MAX_TOTAL_EXPOSURE", DEFAULT_MAX_TOTAL_EXPOSURE
        ),
        tick_interval_ms=_int(
            environ, "PMENGINE_TICK_INTERVAL_MS", DEFAULT_TICK_INTERVAL_MS, low=10, high=3_600_000
        ),
        log_level=log_level,
        pmproxy_url=pmproxy_url,
        state_dir=state_dir,
        metrics_port=metrics_port,
        env=env,
        strategies=tuple(s.strip() for s in cli.strategies),
        spread_watcher=cli.spread_watcher,
        markets=tuple(cli.markets),
        params=tuple(params),
        builder_code=_builder_code(environ),
    )
