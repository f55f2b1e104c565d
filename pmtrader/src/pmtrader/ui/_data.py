"""Clients, cached data and error display shared by every dashboard page.

The dashboard is an edge of the program, like the CLI: it reads the environment once per
configuration (``Settings.from_env``) and hands the settings to the SDK. Clients are cached with
``st.cache_resource`` (one connection pool per configuration); market data with a short-TTL
``st.cache_data`` so that several widgets on a page share one request.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from itertools import islice
from typing import Final, ParamSpec, TypeVar

import httpx
import streamlit as st
from eth_account import Account
from eth_account.signers.local import LocalAccount

from pmtrader.client import Client
from pmtrader.config import Secret, Settings
from pmtrader.errors import PmtraderError
from pmtrader.models.clob import Market, OrderBook, PricePoint
from pmtrader.models.gamma import GammaMarket, GammaTag
from pmtrader.models.rewards import RewardsMarket

__all__ = [
    "SIM_WALLET_FUNDS",
    "TradingAccount",
    "book",
    "clob_market",
    "close_all",
    "env_label",
    "gamma_by_condition",
    "gamma_market",
    "gamma_markets",
    "guard",
    "price_history",
    "public_client",
    "rewards_markets",
    "settings",
    "tags",
    "trade_events",
    "trading_account",
]

#: pUSD credited to the throwaway wallet the dashboard makes on the local exchange.
SIM_WALLET_FUNDS: Final = Decimal(1000)
_MAX_MARKETS: Final = 500
_ENV_PREFIXES: Final = ("PMT_", "PM_", "PMPROXY_")
#: Clients of throwaway sim wallets (one per browser session), closed by :func:`close_all`.
_THROWAWAY: list[Client] = []
_P = ParamSpec("_P")
_T = TypeVar("_T")


def _env_key() -> tuple[tuple[str, str], ...]:
    # The cache key of a configuration: the variables Settings reads (hashed, never shown).
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES)))


@st.cache_resource(show_spinner=False)
def _settings(key: tuple[tuple[str, str], ...]) -> Settings:
    return Settings.from_env(dict(key))


def settings() -> Settings:
    """The process's settings (from the environment; cached per configuration).

    Raises:
        ConfigError: A variable is malformed (the message names it).
    """
    return _settings(_env_key())


def _close(resource: object) -> None:
    if isinstance(resource, Client):
        resource.close()
    elif isinstance(resource, TradingAccount):
        resource.client.close()


@st.cache_resource(show_spinner=False, on_release=_close)
def _public_client(key: tuple[tuple[str, str], ...]) -> Client:
    base = _settings(key)
    # Public data needs no key: leave the credentials out so no call signs by accident.
    return Client(replace(base, private_key=None, api_credentials=None))


def public_client() -> Client:
    """A client for public market data (no credentials)."""
    return _public_client(_env_key())


def env_label() -> str:
    """Where the dashboard points, for the sidebar: ``sim @ http://…`` or ``prod``."""
    s = settings()
    if s.env == "sim":
        return f"local exchange at {s.clob_url}"
    if s.proxy_url:
        return f"production through pmproxy at {s.proxy_url}"
    return "production (Polymarket)"


@contextmanager
def guard(what: str) -> Iterator[None]:
    """Show a failure of ``what`` as the SDK's plain message (never a traceback)."""
    try:
        yield
    except PmtraderError as exc:
        st.error(f"{what}: {exc}")
    except httpx.HTTPError as exc:
        st.error(f"{what}: the venue could not be reached ({exc})")


def cached(ttl: float) -> Callable[[Callable[_P, _T]], Callable[_P, _T]]:
    """``st.cache_data`` with a short TTL and no spinner of its own (pages show theirs)."""

    def wrap(fn: Callable[_P, _T]) -> Callable[_P, _T]:
        return st.cache_data(ttl=ttl, show_spinner=False)(fn)

    return wrap


@cached(ttl=30)
def gamma_markets(
    *,
    active_only: bool,
    tag_id: str | None,
    end_before: str | None,
    min_liquidity: str | None,
) -> list[GammaMarket]:
    """Gamma markets matching the Markets page's filters (up to 500)."""
    client = public_client()
    filters: dict[str, str | int | bool | None] = {
        "closed": False if active_only else None,
        "tag_id": tag_id,
        "end_date_max": end_before,
        "liquidity_num_min": min_liquidity,
        "order": "volume24hr",
        "ascending": False,
    }
    pages = client.gamma.iter_markets(
        page_size=100, **{k: v for k, v in filters.items() if v is not None}
    )
    # Production lists tens of thousands; the busiest 500 are what a table can show.
    return list(islice(pages, _MAX_MARKETS))


@cached(ttl=300)
def tags() -> list[GammaTag]:
    """Gamma's tags (for the tag filter)."""
    return public_client().gamma.get_tags(limit=200)


@cached(ttl=30)
def gamma_market(slug: str) -> GammaMarket:
    """One Gamma market by slug."""
    return public_client().gamma.get_market_by_slug(slug)


@cached(ttl=60)
def clob_market(condition_id: str) -> Market:
    """The CLOB's view of a market: tick, minimum size, rewards."""
    return public_client().markets.get_market(condition_id)


@cached(ttl=2)
def book(token_id: str) -> OrderBook:
    """A token's order book (two-second cache: the live fragments refresh it)."""
    return public_client().books.get_order_book(token_id)


@cached(ttl=15)
def price_history(token_id: str, interval: str) -> list[PricePoint]:
    """A token's price history for an interval (``1h``, ``6h``, ``1d``, ``1w``, ``max``)."""
    return public_client().books.get_prices_history(token_id, interval=interval).history


@cached(ttl=5)
def trade_events(condition_id: str) -> list[dict[str, object]]:
    """The market's recent trades as the CLOB's live-activity feed sends them."""
    return public_client().markets.get_market_trades_events(condition_id)


@cached(ttl=60)
def rewards_markets() -> list[RewardsMarket]:
    """Markets paying liquidity rewards now."""
    return public_client().markets.get_current_rewards()


@cached(ttl=300)
def gamma_by_condition(condition_ids: tuple[str, ...]) -> dict[str, GammaMarket]:
    """Gamma markets by condition id (names and slugs for CLOB-only listings)."""
    client = public_client()
    found: dict[str, GammaMarket] = {}
    for start in range(0, len(condition_ids), 50):
        chunk = list(condition_ids[start : start + 50])
        for m in client.gamma.get_markets(condition_ids=chunk, limit=len(chunk)):
            found[m.condition_id.lower()] = m
    return found


@dataclass(frozen=True, slots=True)
class TradingAccount:
    """A client that can sign, and how it came to be.

    Attributes:
        client: The client, with L2 credentials in place.
        throwaway: Whether the dashboard made the wallet itself on the local exchange.
    """

    client: Client
    throwaway: bool


def _sim_wallet(base: Settings) -> TradingAccount:
    account: LocalAccount = Account.create()
    response = httpx.post(
        f"{base.clob_url}/_sim/fund",
        json={"address": account.address, "amount": str(SIM_WALLET_FUNDS)},
        timeout=base.timeout,
    )
    if response.status_code != 200:
        raise PmtraderError(
            f"the local exchange would not fund a new wallet ({response.status_code})"
        )
    client = Client(replace(base, private_key=Secret(account.key.hex()), api_credentials=None))
    _THROWAWAY.append(client)
    client.account.create_or_derive_api_key()
    return TradingAccount(client=client, throwaway=True)


def close_all() -> None:
    """Close every client the dashboard opened and forget cached data.

    Cached data is keyed by its arguments, not by the environment (which is fixed for a
    dashboard process); whoever changes the environment in-process (tests) calls this.
    """
    st.cache_data.clear()
    st.cache_resource.clear()  # closes cached clients through on_release
    while _THROWAWAY:
        _THROWAWAY.pop().close()


@st.cache_resource(show_spinner=False, on_release=_close)
def _configured_account(key: tuple[tuple[str, str], ...]) -> TradingAccount:
    client = Client(_settings(key))
    if client.api_credentials is None:
        client.account.create_or_derive_api_key()
    return TradingAccount(client=client, throwaway=False)


def trading_account() -> TradingAccount | None:
    """The account that trades from the dashboard, or ``None`` when none can be had.

    With a key configured (``PM_PRIVATE_KEY``), that key. Without one on the local exchange, a
    throwaway wallet funded with :data:`SIM_WALLET_FUNDS` pUSD, kept for this browser session.
    In production without a key: ``None`` (the pages say what to set).

    Raises:
        PmtraderError: Deriving the API key or funding the wallet failed.
    """
    base = settings()
    if base.private_key is not None:
        return _configured_account(_env_key())
    if base.env != "sim":
        return None
    held = st.session_state.get("_sim_account")
    if isinstance(held, TradingAccount):
        return held
    made = _sim_wallet(base)
    st.session_state["_sim_account"] = made
    return made
