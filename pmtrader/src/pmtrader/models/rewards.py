"""Models of the liquidity-rewards and notification endpoints of the CLOB."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field

from pmtrader.models._base import Model, OptDecimal
from pmtrader.models.clob import MarketToken

__all__ = ["Notification", "RewardsConfig", "RewardsMarket"]


class RewardsConfig(Model):
    """One reward programme of a market: ``rate_per_day`` pUSD between two dates."""

    id: int | None = None
    asset_address: str = ""
    start_date: str = ""
    end_date: str = ""
    rate_per_day: Decimal = Decimal(0)
    total_rewards: OptDecimal = None
    total_days: int | None = None


class RewardsMarket(Model):
    """A market paying liquidity rewards (``/rewards/markets/current`` and ``/{condition_id}``).

    ``rewards_max_spread`` is in cents from the adjusted midpoint; ``rewards_min_size`` in shares.
    """

    condition_id: str
    question: str = ""
    market_slug: str = ""
    event_slug: str = ""
    image: str = ""
    rewards_max_spread: Decimal = Decimal(0)
    rewards_min_size: Decimal = Decimal(0)
    market_competitiveness: OptDecimal = None
    tokens: list[MarketToken] = Field(default_factory=list)
    rewards_config: list[RewardsConfig] = Field(default_factory=list)


class Notification(Model):
    """A notification of the API key (``GET /notifications``), e.g. a fill (``type`` 2)."""

    id: str | None = None
    type: int
    owner: str = ""
    payload: dict[str, Any] = Field(default_factory=dict)
