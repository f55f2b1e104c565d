"""Settings: endpoints and credentials, read once from an environment mapping.

One frozen :class:`Settings` per process, built at the edge (CLI entry point, app factory, test)
with ``Settings.from_env(os.environ)`` and passed down. Library code never reads ``os.environ``.

Variables (all optional; defaults are production):

=====================  ==========================================================================
``PMT_ENV``            ``prod`` (default) or ``sim``: ``sim`` derives every URL from
                       ``PMT_SIM_URL`` (default ``http://127.0.0.1:8700``): CLOB at the root,
                       Gamma ``/gamma``, Data ``/data-api``, websockets ``ws://…/ws``,
                       RPC ``/chain``
``PMPROXY_URL``        send REST through pmproxy: CLOB ``{url}/clob``, Gamma ``{url}/gamma``,
                       Data ``{url}/data``, RPC ``{url}/chain``
``PM_CLOB_URL`` …      ``PM_GAMMA_URL``, ``PM_DATA_URL``, ``PM_WS_URL``, ``PM_RPC_URL``:
                       override one endpoint (wins over ``PMT_ENV`` and ``PMPROXY_URL``)
``PM_PRIVATE_KEY``     the signer's key (``0x`` + 64 hex); needed to sign orders and API-key calls
``PM_FUNDER_ADDRESS``  the wallet holding the funds (proxy, Safe or deposit wallet); defaults to
                       the key's own address
``PM_SIGNATURE_TYPE``  0 EOA (default), 1 Polymarket proxy, 2 Safe, 3 deposit wallet (POLY_1271)
``PM_API_KEY`` …       ``PM_API_SECRET``, ``PM_API_PASSPHRASE``: L2 credentials, all three or none
``PM_CHAIN_ID``        137 (Polygon, default) or 80002 (Amoy)
``PM_BUILDER_CODE``    your builder code (``0x`` + 64 hex, from the Builder profile on
                       polymarket.com): signed into every order's ``builder`` field so the
                       venue attributes its volume (and any builder fee) to you; unset or all
                       zeros means none. Per client, like py-clob-client-v2's
                       ``BuilderConfig.builder_code``
``PMT_HTTP_TIMEOUT``   seconds per request (default 10)
=====================  ==========================================================================

The private key, API secret and passphrase are :class:`Secret` values: their ``repr`` and ``str``
are masked, so they never reach a log line, a traceback or an error message by accident.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Final, Literal

from pmtrader.errors import ConfigError

__all__ = [
    "DEFAULT_SIM_URL",
    "ApiCredentials",
    "Secret",
    "Settings",
    "SignatureType",
]

PROD_CLOB_URL: Final = "https://clob.polymarket.com"
PROD_GAMMA_URL: Final = "https://gamma-api.polymarket.com"
PROD_DATA_URL: Final = "https://data-api.polymarket.com"
PROD_WS_URL: Final = "wss://ws-subscriptions-clob.polymarket.com/ws"
PROD_RPC_URL: Final = "https://polygon-rpc.com"
#: Where ``pmtrader sim serve`` listens unless told otherwise.
DEFAULT_SIM_URL: Final = "http://127.0.0.1:8700"

_HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_BYTES32 = re.compile(r"^0x[0-9a-fA-F]{64}$")


class Secret:
    """A string that never shows itself in ``repr``, ``str`` or f-strings.

    Call :meth:`reveal` at the one place the raw value is needed (signing, a header).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the raw secret. Use it only where it is needed, never to print it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> str | tuple[object, ...]:
        # A pickle (a cache, a process pool's argument, a crash dump) would carry the raw value
        # in the clear, so a secret is never pickled; pass the settings' environment instead.
        raise TypeError("a Secret cannot be pickled: it would write the value in the clear")


class SignatureType(enum.IntEnum):
    """How orders are signed, and so who ``maker`` and ``signer`` are (protocol.md §1.4)."""

    EOA = 0
    """The key's own address trades: maker = signer = the EOA."""
    POLY_PROXY = 1
    """A Polymarket proxy wallet (email/Magic login) holds the funds; the EOA signs."""
    POLY_GNOSIS_SAFE = 2
    """A Polymarket Safe (browser wallet login) holds the funds; the EOA signs."""
    POLY_1271 = 3
    """A deposit wallet (smart contract) holds the funds and is also the order's signer."""


@dataclass(frozen=True, slots=True)
class ApiCredentials:
    """L2 credentials: the API key and its HMAC secret and passphrase.

    Attributes:
        key: The API key (a UUID; it is the ``owner`` of every order, not secret on its own).
        secret: The url-safe base64 HMAC secret.
        passphrase: The passphrase sent with every authenticated request.
    """

    key: str
    secret: Secret
    passphrase: Secret

    @classmethod
    def from_strings(cls, key: str, secret: str, passphrase: str) -> ApiCredentials:
        """Wrap plain strings (as the venue returns them) into masked credentials."""
        return cls(key=key, secret=Secret(secret), passphrase=Secret(passphrase))


def _strip_slash(url: str) -> str:
    return url.rstrip("/")


def _http_url(name: str, value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must be an http:// or https:// URL, got {value!r}")
    return _strip_slash(value)


def _ws_from_http(url: str) -> str:
    if url.startswith("https://"):
        return "wss://" + url.removeprefix("https://")
    return "ws://" + url.removeprefix("http://")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a client needs: endpoints, credentials and transport limits.

    Build one with :meth:`from_env` (or :meth:`for_sim` in tests); replace fields with
    :meth:`with_credentials` or :func:`dataclasses.replace`.

    Attributes:
        env: ``"prod"`` or ``"sim"``.
        clob_url: CLOB REST base URL (no trailing slash).
        gamma_url: Gamma API base URL.
        data_url: Data API base URL.
        ws_url: Websocket base; the channels are ``{ws_url}/market`` and ``{ws_url}/user``.
        rpc_url: Polygon JSON-RPC URL (balances and allowances on chain).
        private_key: The signer's key, masked.
        funder: The address holding the funds, or ``None`` for the key's own address.
        signature_type: How orders are signed (see :class:`SignatureType`).
        api_credentials: L2 credentials, if known (else derive them with the key).
        chain_id: 137 (Polygon) or 80002 (Amoy).
        timeout: Seconds allowed for each HTTP request.
        proxy_url: pmproxy's base URL when REST goes through it.
        builder_code: The builder code (``0x`` + 64 hex) signed into every order's ``builder``
            field, or ``None``. The venue credits the order's volume to that builder and charges
            its taker fee, if it has one; balance-capped market BUYs reserve room for that fee.

    Raises:
        ConfigError: ``builder_code`` is not a ``0x``-prefixed 32-byte hex string.
    """

    env: Literal["prod", "sim"] = "prod"
    clob_url: str = PROD_CLOB_URL
    gamma_url: str = PROD_GAMMA_URL
    data_url: str = PROD_DATA_URL
    ws_url: str = PROD_WS_URL
    rpc_url: str = PROD_RPC_URL
    private_key: Secret | None = field(default=None, repr=False)
    funder: str | None = None
    signature_type: SignatureType = SignatureType.EOA
    api_credentials: ApiCredentials | None = field(default=None, repr=False)
    chain_id: int = 137
    timeout: float = 10.0
    proxy_url: str | None = None
    builder_code: str | None = None

    def __post_init__(self) -> None:
        if self.builder_code is not None and not _BYTES32.match(self.builder_code):
            raise ConfigError(
                "PM_BUILDER_CODE must be 0x followed by 64 hex digits (a bytes32 builder code "
                f"from your polymarket.com builder profile), got {self.builder_code!r}"
            )

    def __repr__(self) -> str:
        # Secrets stay out even if a future field forgets repr=False: list only safe fields.
        return (
            f"Settings(env={self.env!r}, clob_url={self.clob_url!r}, gamma_url={self.gamma_url!r},"
            f" data_url={self.data_url!r}, ws_url={self.ws_url!r}, rpc_url={self.rpc_url!r},"
            f" funder={self.funder!r}, signature_type={self.signature_type.name},"
            f" private_key={'set' if self.private_key else 'unset'},"
            f" api_credentials={'set' if self.api_credentials else 'unset'},"
            f" chain_id={self.chain_id}, timeout={self.timeout}, proxy_url={self.proxy_url!r},"
            f" builder_code={self.builder_code!r})"
        )

    @classmethod
    def for_sim(cls, sim_url: str = DEFAULT_SIM_URL, **overrides: object) -> Settings:
        """Settings for the local exchange at ``sim_url`` (``pmtrader sim serve``).

        Args:
            sim_url: The exchange's one HTTP URL.
            **overrides: Any other field, e.g. ``private_key=Secret(...)``.

        Returns:
            Settings whose every endpoint points at the local exchange.
        """
        base = _http_url("PMT_SIM_URL", sim_url)
        settings = cls(
            env="sim",
            clob_url=base,
            gamma_url=f"{base}/gamma",
            data_url=f"{base}/data-api",
            ws_url=f"{_ws_from_http(base)}/ws",
            rpc_url=f"{base}/chain",
        )
        return replace(settings, **overrides)  # type: ignore[arg-type]  # fields checked by dataclass

    def with_credentials(self, credentials: ApiCredentials) -> Settings:
        """Return a copy carrying the given L2 credentials."""
        return replace(self, api_credentials=credentials)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read settings from an environment mapping (pass ``os.environ`` at the edge).

        Args:
            environ: The variables; unknown ones are ignored, empty ones count as unset.

        Returns:
            The settings.

        Raises:
            ConfigError: A variable is malformed; the message names it and says what it must be.
        """
        env = {k: v.strip() for k, v in environ.items() if v.strip()}
        mode = env.get("PMT_ENV", "prod").lower()
        if mode not in ("prod", "sim"):
            raise ConfigError(f"PMT_ENV must be 'prod' or 'sim', got {env['PMT_ENV']!r}")
        settings = cls.for_sim(env.get("PMT_SIM_URL", DEFAULT_SIM_URL)) if mode == "sim" else cls()
        urls: dict[str, str] = {}
        proxy = env.get("PMPROXY_URL")
        if proxy is not None:
            proxy = _http_url("PMPROXY_URL", proxy)
            urls.update(
                clob_url=f"{proxy}/clob",
                gamma_url=f"{proxy}/gamma",
                data_url=f"{proxy}/data",
                rpc_url=f"{proxy}/chain",
            )
        for var, attr in (
            ("PM_CLOB_URL", "clob_url"),
            ("PM_GAMMA_URL", "gamma_url"),
            ("PM_DATA_URL", "data_url"),
            ("PM_RPC_URL", "rpc_url"),
        ):
            if var in env:
                urls[attr] = _http_url(var, env[var])
        if "PM_WS_URL" in env:
            ws = env["PM_WS_URL"]
            if not ws.startswith(("ws://", "wss://")):
                raise ConfigError(f"PM_WS_URL must be a ws:// or wss:// URL, got {ws!r}")
            urls["ws_url"] = _strip_slash(ws)

        private_key: Secret | None = None
        if "PM_PRIVATE_KEY" in env:
            raw = env["PM_PRIVATE_KEY"]
            if not _HEX_KEY.match(raw):
                # Never echo the value: it may be a real key with a typo.
                raise ConfigError(
                    f"PM_PRIVATE_KEY must be 64 hex digits (optionally 0x-prefixed); "
                    f"got {len(raw)} characters"
                )
            private_key = Secret(raw if raw.startswith("0x") else "0x" + raw)

        funder = env.get("PM_FUNDER_ADDRESS")
        if funder is not None and not _ADDRESS.match(funder):
            raise ConfigError(
                f"PM_FUNDER_ADDRESS must be a 0x-prefixed 40-hex-digit address, got {funder!r}"
            )

        signature_type = SignatureType.EOA
        if "PM_SIGNATURE_TYPE" in env:
            raw_type = env["PM_SIGNATURE_TYPE"]
            try:
                signature_type = SignatureType(int(raw_type))
            except ValueError:
                raise ConfigError(
                    "PM_SIGNATURE_TYPE must be 0 (EOA), 1 (Polymarket proxy), 2 (Safe) or "
                    f"3 (deposit wallet), got {raw_type!r}"
                ) from None

        cred_vars = ("PM_API_KEY", "PM_API_SECRET", "PM_API_PASSPHRASE")
        present = [v for v in cred_vars if v in env]
        credentials: ApiCredentials | None = None
        if present and len(present) != len(cred_vars):
            missing = ", ".join(v for v in cred_vars if v not in env)
            raise ConfigError(
                f"PM_API_KEY, PM_API_SECRET and PM_API_PASSPHRASE go together; missing {missing}"
                " (or unset all three to derive credentials from PM_PRIVATE_KEY)"
            )
        if present:
            credentials = ApiCredentials.from_strings(
                env["PM_API_KEY"], env["PM_API_SECRET"], env["PM_API_PASSPHRASE"]
            )

        chain_id = settings.chain_id
        if "PM_CHAIN_ID" in env:
            if env["PM_CHAIN_ID"] not in ("137", "80002"):
                raise ConfigError(
                    f"PM_CHAIN_ID must be 137 (Polygon) or 80002 (Amoy), got {env['PM_CHAIN_ID']!r}"
                )
            chain_id = int(env["PM_CHAIN_ID"])

        timeout = settings.timeout
        if "PMT_HTTP_TIMEOUT" in env:
            try:
                timeout = float(env["PMT_HTTP_TIMEOUT"])
            except ValueError:
                timeout = -1.0
            if not 0 < timeout <= 300:
                raise ConfigError(
                    "PMT_HTTP_TIMEOUT must be a number of seconds in (0, 300], "
                    f"got {env['PMT_HTTP_TIMEOUT']!r}"
                )

        builder_code = env.get("PM_BUILDER_CODE")
        if builder_code is not None and _BYTES32.match(builder_code) and not int(builder_code, 16):
            builder_code = None  # zero is "no builder", as in the signed order

        return replace(
            settings,
            builder_code=builder_code,
            private_key=private_key,
            funder=funder,
            signature_type=signature_type,
            api_credentials=credentials,
            chain_id=chain_id,
            timeout=timeout,
            proxy_url=proxy,
            **urls,  # type: ignore[arg-type]  # keys are Settings' str URL fields
        )
