"""Models of the Data API (``https://data-api.polymarket.com``): positions, trades, activity, value.

The Data API is camelCase and sends JSON numbers (not strings); they are parsed straight into
``Decimal`` from the JSON text, so no binary float is involved.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import ConfigDict
from pydantic.alias_generators import to_camel

from pmtrader.models._base import Model, OptDecimal

__all__ = ["Activity", "DataTrade", "PortfolioValue", "Position"]


class _Data(Model):
    model_config = ConfigDict(
        frozen=True,
        extra="allow",
        populate_by_name=True,
        alias_generator=to_camel,
        coerce_numbers_to_str=True,
    )


class Position(_Data):
    """One holding of a user (``GET /positions``)."""

    proxy_wallet: str = ""
    asset: str
    condition_id: str = ""
    size: Decimal
    avg_price: OptDecimal = None
    initial_value: OptDecimal = None
    current_value: OptDecimal = None
    cash_pnl: OptDecimal = None
    percent_pnl: OptDecimal = None
    total_bought: OptDecimal = None
    realized_pnl: OptDecimal = None
    cur_price: OptDecimal = None
    redeemable: bool = False
    mergeable: bool = False
    title: str = ""
    slug: str = ""
    event_slug: str = ""
    outcome: str = ""
    outcome_index: int | None = None
    opposite_outcome: str = ""
    opposite_asset: str = ""
    end_date: str | None = None
    negative_risk: bool = False


class DataTrade(_Data):
    """One trade of a user as the Data API reports it (``GET /trades``)."""

    proxy_wallet: str = ""
    side: str
    asset: str
    condition_id: str = ""
    size: Decimal
    price: Decimal
    timestamp: int
    title: str = ""
    slug: str = ""
    event_slug: str = ""
    outcome: str = ""
    outcome_index: int | None = None
    transaction_hash: str = ""


class Activity(_Data):
    """One entry of a user's activity feed (``GET /activity``): trades, splits, redemptions…"""

    proxy_wallet: str = ""
    timestamp: int
    type: str
    condition_id: str = ""
    asset: str = ""
    side: str = ""
    size: OptDecimal = None
    usdc_size: OptDecimal = None
    price: OptDecimal = None
    outcome: str = ""
    outcome_index: int | None = None
    title: str = ""
    slug: str = ""
    transaction_hash: str = ""


class PortfolioValue(_Data):
    """``GET /value``: the current value of a user's positions, in pUSD."""

    user: str
    value: Decimal
