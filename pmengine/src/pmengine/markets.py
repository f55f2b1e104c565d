"""Market metadata for ``--markets SLUG…``: Gamma's market objects to pmstrat ``MarketInfo``.

Gamma writes ``clobTokenIds`` and ``outcomes`` as JSON-encoded strings and sizes as decimal
numbers; everything is converted exactly to integers here, at the edge.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from pmengine.errors import PmengineError
from pmengine.units import amount_to_int, price_to_int
from pmstrat import MarketInfo


class MarketLookupError(PmengineError):
    """A market slug could not be resolved to a tradable binary market."""


def _json_list(value: object, what: str, slug: str) -> list[str]:
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, list) or len(value) != 2:
        raise MarketLookupError(f"market {slug!r}: {what} is not a pair: {value!r}")
    return [str(v) for v in value]


def _end_ms(raw: object) -> int | None:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return int(datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def market_info(raw: Mapping[str, Any]) -> MarketInfo:
    """Convert one Gamma market object.

    Raises:
        MarketLookupError: a field the engine needs is missing or malformed.
    """
    slug = str(raw.get("slug", ""))
    try:
        tokens = _json_list(raw.get("clobTokenIds"), "clobTokenIds", slug)
        outcomes = _json_list(raw.get("outcomes", '["Yes","No"]'), "outcomes", slug)
        tick = price_to_int(Decimal(str(raw.get("orderPriceMinTickSize", "0.01"))))
        min_size = amount_to_int(Decimal(str(raw.get("orderMinSize", "5"))))
        spread_cents = Decimal(str(raw.get("rewardsMaxSpread") or 0))
        rewards_min = amount_to_int(Decimal(str(raw.get("rewardsMinSize") or 0)))
        daily = Decimal(0)
        for program in raw.get("clobRewards") or []:
            if isinstance(program, dict):
                daily += Decimal(str(program.get("rewardsDailyRate") or 0))
        daily_rate = amount_to_int(daily.quantize(Decimal("0.000001")))
    except (ValueError, ArithmeticError, json.JSONDecodeError) as exc:
        raise MarketLookupError(f"market {slug!r}: {exc}") from exc
    return MarketInfo(
        str(raw.get("conditionId", "")),
        (tokens[0], tokens[1]),
        slug=slug,
        question=str(raw.get("question", "")),
        outcomes=(outcomes[0], outcomes[1]),
        tick=tick,
        min_size=min_size,
        end_ms=_end_ms(raw.get("endDate")),
        neg_risk=bool(raw.get("negRisk", False)),
        rewards_max_spread=int(spread_cents * 100),
        rewards_min_size=rewards_min,
        rewards_daily_rate=daily_rate,
        active=bool(raw.get("active", True)) and not bool(raw.get("closed", False)),
    )


async def resolve_markets(
    gamma_url: str, slugs: list[str], *, http_timeout_s: float = 10.0
) -> list[MarketInfo]:
    """Look every slug up on Gamma (``GET /markets?slug=…``).

    Raises:
        MarketLookupError: a slug is unknown or the service cannot be reached.
    """
    out: list[MarketInfo] = []
    async with httpx.AsyncClient(
        base_url=gamma_url.rstrip("/") + "/", timeout=http_timeout_s
    ) as client:
        for slug in slugs:
            try:
                resp = await client.get("markets", params={"slug": slug})
                resp.raise_for_status()
                body = resp.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise MarketLookupError(
                    f"cannot look up market {slug!r} at {gamma_url}: {exc}"
                ) from exc
            items = (
                body
                if isinstance(body, list)
                else body.get("data", [])
                if isinstance(body, dict)
                else []
            )
            if not items:
                raise MarketLookupError(f"no market with slug {slug!r} at {gamma_url}")
            out.append(market_info(items[0]))
    return out
