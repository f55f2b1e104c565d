"""Market metadata for ``--markets SLUG…``: pmstrat's ``MarketInfo`` from the venue.

The engine gives its strategies exactly what a backtest or ``pmstrat`` itself would: each slug is
looked up through pmtrader's client (Gamma's market, the CLOB market's rewards terms, the fee
schedule) and converted by :func:`pmstrat.venue.fetch_market`, so a strategy sees the same
ticks, minimum sizes, rewards and fees live as in research.
"""

from __future__ import annotations

import asyncio

from pmstrat.venue import fetch_market
from pmtrader.config import Settings as PmtSettings

from pmengine.errors import PmengineError
from pmstrat import MarketInfo, VenueError
from pmtrader import Client


class MarketLookupError(PmengineError):
    """A market slug could not be resolved to a tradable binary market."""


async def resolve_markets(settings: PmtSettings, slugs: list[str]) -> list[MarketInfo]:
    """Look every slug up (before trading starts; the lookups run off the event loop).

    Args:
        settings: pmtrader's settings for the engine's endpoints (``Settings.sdk_settings``).
        slugs: market slugs, in the order the strategies should see them.

    Raises:
        MarketLookupError: a slug is unknown, not a binary market, or the venue is unreachable.
    """
    if not slugs:
        return []

    def fetch() -> list[MarketInfo]:
        with Client(settings) as client:
            return [fetch_market(client, slug) for slug in slugs]

    try:
        return await asyncio.to_thread(fetch)
    except VenueError as exc:
        raise MarketLookupError(str(exc)) from exc
