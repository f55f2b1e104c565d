"""What every command shares: global options, settings, the client, errors, output, lookups.

The command line is the edge where ``os.environ`` is read (once, into :class:`Settings`); the
global options (``--env``, ``--proxy``) are laid over it. Every :class:`PmtraderError` a user
can cause is turned into a one-paragraph message and exit code 1, never a traceback.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar
from urllib.parse import urlparse

import typer
from rich.console import Console

from pmtrader.client import Client
from pmtrader.config import ApiCredentials, Settings
from pmtrader.errors import (
    ApiError,
    AuthError,
    ConfigError,
    ConnectionFailedError,
    GeoblockedError,
    InsufficientBalanceError,
    InvalidPriceError,
    NotFoundError,
    OrderSizeError,
    OrderStatusUnknownError,
    PmtraderError,
    RequestTimeoutError,
    TransportError,
)
from pmtrader.models.gamma import GammaMarket

__all__ = [
    "CliError",
    "JsonFlag",
    "Outcome",
    "State",
    "console",
    "credentials_path",
    "emit_json",
    "err_console",
    "fail",
    "fmt",
    "handle_errors",
    "load_credentials",
    "make_client",
    "outcome_of",
    "resolve_market",
    "save_credentials",
    "set_state",
    "state",
    "use_json",
]

console = Console(highlight=False, soft_wrap=False)
err_console = Console(stderr=True, highlight=False)

P = ParamSpec("P")
R = TypeVar("R")


class CliError(Exception):
    """A user-fixable problem, already phrased for the terminal (exit code 1)."""


@dataclass(slots=True)
class State:
    """The global options, kept on the typer context for every command."""

    env: str | None = None
    proxy: str | None = None
    json: bool = False
    verbose: bool = False

    def settings(self) -> Settings:
        """Settings from the environment with ``--env`` and ``--proxy`` on top."""
        environ = dict(os.environ)
        if self.env is not None:
            environ["PMT_ENV"] = self.env
        if self.proxy is not None:
            environ["PMPROXY_URL"] = self.proxy
        settings = Settings.from_env(environ)
        if settings.api_credentials is None:
            stored = load_credentials(settings)
            if stored is not None:
                settings = settings.with_credentials(stored)
        return settings


def use_json(flag: bool) -> None:
    """Honour a command's own ``--json`` (the global one works too)."""
    if flag:
        state().json = True


JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


_current = State()


def set_state(new: State) -> None:
    """Install the global options of this invocation (the root callback calls it)."""
    global _current  # noqa: PLW0603 - one invocation at a time; the root callback resets it
    _current = new


def state() -> State:
    """The :class:`State` of the running invocation."""
    return _current


def fail(message: str) -> NoReturn:
    """Stop the command with ``message`` and exit code 1."""
    raise CliError(message)


def _explain(exc: PmtraderError) -> str:
    if isinstance(exc, InvalidPriceError):
        near = " or ".join(fmt(p) for p in exc.nearest)
        return (
            f"Price {fmt(exc.price)} is not on this market's tick grid "
            f"(tick {fmt(exc.tick_size)}); try {near}."
        )
    if isinstance(exc, OrderSizeError):
        return f"{exc}. The market's minimum order size is {fmt(exc.minimum)} shares."
    if isinstance(exc, InsufficientBalanceError):
        return f"Not enough funds: {exc.message}. {exc.hint}"
    if isinstance(exc, GeoblockedError):
        return (
            "Polymarket refuses trading from your region (geoblocked). Nothing was traded; "
            "reading markets still works."
        )
    if isinstance(exc, AuthError):
        return (
            f"The venue refused the credentials ({exc.message}). Run `pmtrader keys` to create "
            "or derive an API key for PM_PRIVATE_KEY, or check PM_API_KEY/PM_API_SECRET/"
            "PM_API_PASSPHRASE."
        )
    if isinstance(exc, NotFoundError):
        return f"Not found: {exc.message}."
    if isinstance(exc, ApiError):
        return f"The venue answered {exc.status}: {exc.message}"
    if isinstance(exc, OrderStatusUnknownError):
        ids = ", ".join(exc.order_hashes)
        return (
            f"The order was sent but no answer came back, so it may or may not be live "
            f"(order id {ids}). It was not sent again; check with `pmtrader orders` before "
            "placing it once more."
        )
    if isinstance(exc, ConnectionFailedError | RequestTimeoutError):
        return f"Could not reach the venue ({exc}). Is it running? (`pmtrader sim serve` for sim)"
    if isinstance(exc, TransportError):
        return str(exc)
    if isinstance(exc, ConfigError):
        return f"Configuration: {exc}"
    return str(exc)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn user-fixable errors into a message on stderr and exit code 1 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except CliError as exc:
            err_console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
            raise typer.Exit(1) from None
        except PmtraderError as exc:
            err_console.print(f"[red]error:[/red] {_explain(exc)}", highlight=False)
            if state().verbose:
                err_console.print_exception()
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper


@contextmanager
def make_client(*, need_key: bool = False, need_creds: bool = False) -> Iterator[Client]:
    """A client for the chosen venue; checks the key (and L2 credentials) first.

    With ``need_creds`` and no stored or configured credentials, derives them from the key
    (an L1 call) and stores them like ``pmtrader keys`` does.
    """
    settings = state().settings()
    if state().verbose:
        err_console.print(f"using {settings!r}")  # secrets are masked in this repr
    if (need_key or need_creds) and settings.private_key is None:
        fail(
            "No private key configured: set PM_PRIVATE_KEY to your wallet's key (0x + 64 hex "
            "digits); for a proxy or Safe wallet also set PM_FUNDER_ADDRESS and "
            "PM_SIGNATURE_TYPE."
        )
    with Client(settings) as client:
        if need_creds and settings.api_credentials is None:
            creds = client.account.create_or_derive_api_key()
            path = save_credentials(settings, client.address, creds)
            err_console.print(f"API key derived for {client.address}, stored in {path}")
        yield client


# --- credentials file ---------------------------------------------------------------------


def credentials_path(settings: Settings) -> Path:
    """``$XDG_CONFIG_HOME/pmt/credentials-<env>.json`` (``~/.config`` when XDG is unset)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "pmt" / f"credentials-{settings.env}.json"


def _owner_key(settings: Settings) -> str:
    host = urlparse(settings.clob_url).netloc
    return host


def load_credentials(settings: Settings) -> ApiCredentials | None:
    """Stored credentials for this venue and this key's address, if any."""
    path = credentials_path(settings)
    if not path.is_file() or settings.private_key is None:
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    from eth_account import Account

    address = Account.from_key(settings.private_key.reveal()).address
    entry = data.get(_owner_key(settings), {}).get(address.lower())
    if not isinstance(entry, dict):
        return None
    return ApiCredentials.from_strings(entry["key"], entry["secret"], entry["passphrase"])


def save_credentials(settings: Settings, address: str, creds: ApiCredentials) -> Path:
    """Store ``creds`` for this venue and address in the 0600 credentials file."""
    path = credentials_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except ValueError:
            data = {}
    data.setdefault(_owner_key(settings), {})[address.lower()] = {
        "key": creds.key,
        "secret": creds.secret.reveal(),
        "passphrase": creds.passphrase.reveal(),
    }
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)
    os.chmod(path, 0o600)
    return path


# --- output -------------------------------------------------------------------------------


def fmt(value: Decimal | None, places: int | None = None) -> str:
    """A Decimal for people: no exponent, no trailing zeros (or ``places`` decimals)."""
    if value is None:
        return "-"
    if places is not None:
        return f"{value:,.{places}f}"
    text = format(value.normalize(), "f")
    return text


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def emit_json(value: object) -> None:
    """Print ``value`` as JSON on stdout (Decimals as exact strings)."""
    sys.stdout.write(json.dumps(value, default=_json_default, indent=2) + "\n")
    sys.stdout.flush()


# --- looking markets up -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """One outcome of a market: its name, token and Gamma price."""

    name: str
    token_id: str
    price: Decimal | None


def outcomes(market: GammaMarket) -> list[Outcome]:
    """The market's outcomes with tokens and prices, in Gamma's order."""
    result = []
    for i, token in enumerate(market.clob_token_ids):
        name = market.outcomes[i] if i < len(market.outcomes) else str(i)
        price = market.outcome_prices[i] if i < len(market.outcome_prices) else None
        result.append(Outcome(name, token, price))
    return result


def outcome_of(market: GammaMarket, name: str) -> Outcome:
    """The outcome called ``name`` (case-insensitive), or a message listing the choices."""
    choices = outcomes(market)
    for outcome in choices:
        if outcome.name.lower() == name.strip().lower():
            return outcome
    listed = ", ".join(o.name for o in choices)
    fail(f"Market {market.slug!r} has no outcome {name!r}; choose one of: {listed}.")


def _slug_from(ref: str) -> str:
    if "://" in ref or ref.startswith("polymarket.com"):
        path = urlparse(ref if "://" in ref else "https://" + ref).path
        parts = [p for p in path.split("/") if p]
        if not parts:
            fail(f"No market slug in the URL {ref!r}.")
        return parts[-1]
    return ref.strip()


def resolve_market(client: Client, ref: str) -> GammaMarket:
    """Find a market by slug, condition id or polymarket.com URL; suggest near slugs if unknown."""
    key = _slug_from(ref)
    if key.startswith("0x") and len(key) == 66:
        found = client.gamma.get_markets(condition_ids=key)
        if found:
            return found[0]
        fail(f"No market with condition id {key}.")
    try:
        return client.gamma.get_market_by_slug(key)
    except NotFoundError:
        pass
    slugs = [m.slug for m in client.gamma.iter_markets(closed=False)]
    near = difflib.get_close_matches(key, slugs, n=3, cutoff=0.5)
    near += [s for s in slugs if key.lower() in s and s not in near][: 3 - len(near)]
    if near:
        fail(f"No market with slug {key!r}. Did you mean: {', '.join(near)}?")
    fail(f"No market with slug {key!r}. Search with `pmtrader markets QUERY`.")
