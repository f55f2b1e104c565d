"""Models of the Gamma API (``https://gamma-api.polymarket.com``): markets, events, tags, search.

Gamma is camelCase on the wire; attributes here are snake_case with the production name as the
alias. Gamma sends ``outcomes``, ``outcomePrices`` and ``clobTokenIds`` as JSON-encoded
*strings*; these models decode them into real lists (prices as ``Decimal``), and
:meth:`GammaMarket.token_for` pairs an outcome with its token id.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from pmtrader.models._base import JsonList, Model, OptDecimal

__all__ = ["GammaEvent", "GammaMarket", "GammaTag", "SearchResults"]


class _Gamma(Model):
    model_config = ConfigDict(
        frozen=True,
        extra="allow",
        populate_by_name=True,
        alias_generator=to_camel,
        coerce_numbers_to_str=True,
    )


class GammaTag(_Gamma):
    """A Gamma tag (``GET /tags``)."""

    id: str
    label: str = ""
    slug: str = ""


class GammaMarket(_Gamma):
    """A Gamma market (``GET /markets``, ``/markets/{id}``, ``/markets/slug/{slug}``)."""

    id: str
    question: str = ""
    condition_id: str = ""
    question_id: str = Field(default="", alias="questionID")
    slug: str = ""
    description: str = ""
    start_date: str | None = None
    end_date: str | None = None
    outcomes: Annotated[list[str], JsonList] = Field(default_factory=list)
    outcome_prices: Annotated[list[Decimal], JsonList] = Field(default_factory=list)
    clob_token_ids: Annotated[list[str], JsonList] = Field(
        default_factory=list, alias="clobTokenIds"
    )
    position_ids: Annotated[list[str], JsonList] = Field(default_factory=list)
    version: str | None = None
    volume_num: OptDecimal = None
    liquidity_num: OptDecimal = None
    volume24hr: OptDecimal = Field(default=None, alias="volume24hr")
    active: bool = True
    closed: bool = False
    archived: bool = False
    accepting_orders: bool = True
    enable_order_book: bool = True
    neg_risk: bool = False
    neg_risk_market_id: str | None = Field(default=None, alias="negRiskMarketID")
    order_price_min_tick_size: OptDecimal = None
    order_min_size: OptDecimal = None
    rewards_min_size: OptDecimal = None
    rewards_max_spread: OptDecimal = None
    best_bid: OptDecimal = None
    best_ask: OptDecimal = None
    spread: OptDecimal = None
    last_trade_price: OptDecimal = None
    fees_enabled: bool | None = None

    def token_for(self, outcome: str) -> str:
        """The token id trading ``outcome`` (case-insensitive), e.g. ``token_for("Yes")``.

        Raises:
            KeyError: The market has no such outcome.
        """
        for name, token in zip(self.outcomes, self.clob_token_ids, strict=False):
            if name.lower() == outcome.lower():
                return token
        raise KeyError(f"market {self.id} has no outcome {outcome!r}; outcomes: {self.outcomes}")


class GammaEvent(_Gamma):
    """A Gamma event: a group of markets (``GET /events``, ``/events/{id}``, by slug)."""

    id: str
    ticker: str = ""
    slug: str = ""
    title: str = ""
    description: str = ""
    start_date: str | None = None
    end_date: str | None = None
    active: bool = True
    closed: bool = False
    archived: bool = False
    featured: bool = False
    neg_risk: bool = False
    liquidity: OptDecimal = None
    volume: OptDecimal = None
    markets: list[GammaMarket] = Field(default_factory=list)
    tags: list[GammaTag] = Field(default_factory=list)


class SearchResults(_Gamma):
    """``GET /public-search``: events and tags matching a text query."""

    events: list[GammaEvent] = Field(default_factory=list)
    tags: list[GammaTag] = Field(default_factory=list)
