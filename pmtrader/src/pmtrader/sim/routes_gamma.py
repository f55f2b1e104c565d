"""Gamma API of the local exchange, mounted at ``/gamma`` (production: gamma-api.polymarket.com).

Shapes follow ``protocol-v1-gamma-rewards.md`` §5.1: camelCase keys, ``id`` as a string, and
``outcomes``, ``outcomePrices`` and ``clobTokenIds`` as JSON-ENCODED STRINGS
(``"[\\"Yes\\", \\"No\\"]"``), exactly as production sends them, so clients that
``json.loads`` those fields work unchanged.
Prices come from the live books (mid of best bid and ask, else the last trade, else the
catalogue's opening price).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from eth_hash.auto import keccak
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pmtrader.sim.catalogue import Catalogue, Event, Market
from pmtrader.sim.matching import AMOUNT_SCALE, PRICE_SCALE
from pmtrader.sim.records import fmt_amount, fmt_price
from pmtrader.sim.responses import (
    HttpError,
    ok,
    query_bool,
    query_float,
    query_int,
    query_list,
)
from pmtrader.sim.shapes import iso


@dataclass(frozen=True, slots=True)
class Quote:
    """Top of one token's book: prices in 1e-4 units, None when that side is empty."""

    best_bid: int | None
    best_ask: int | None
    last: int | None
    reference: int
    """A price that always exists: mid, else last trade, else the opening price."""


QuoteFn = Callable[[str], Quote]


def _num(base_units: int) -> float:
    # Display-only figures (volume, liquidity) are JSON numbers in Gamma; never order money.
    return float(Decimal(base_units) / AMOUNT_SCALE)


def _price_num(price: int | None) -> float | None:
    return None if price is None else float(Decimal(price) / PRICE_SCALE)


def tag_id(label: str) -> str:
    """A stable numeric id for a tag label (Gamma tags have numeric string ids)."""
    return str(int.from_bytes(keccak(label.lower().encode())[:3], "big"))


def tag_json(label: str) -> dict[str, Any]:
    """A Gamma tag object."""
    return {"id": tag_id(label), "label": label, "slug": label.lower().replace(" ", "-")}


def market_json(
    market: Market, event: Event, quote_fn: QuoteFn, *, now_ms: int, with_event: bool = True
) -> dict[str, Any]:
    """One Gamma market object."""
    yes = quote_fn(market.yes_token)
    if market.closed and market.winner is not None:
        yes_price = PRICE_SCALE if market.winner == market.yes_token else 0
    else:
        yes_price = yes.reference
    prices = [fmt_price(yes_price), fmt_price(PRICE_SCALE - yes_price)]
    spread = None if yes.best_bid is None or yes.best_ask is None else yes.best_ask - yes.best_bid
    history = market.history
    day_change = 0.0
    if history:
        day_ago = history[-25][1] if len(history) > 24 else history[0][1]
        day_change = float(Decimal(yes_price - day_ago) / PRICE_SCALE)
    out: dict[str, Any] = {
        "id": market.gamma_id,
        "question": market.question,
        "conditionId": market.condition_id,
        "questionID": market.question_id,
        "slug": market.slug,
        "description": market.description,
        "category": market.category,
        "image": market.image,
        "icon": market.icon,
        "startDate": iso(market.start_ms),
        "endDate": iso(market.end_ms),
        "endDateIso": iso(market.end_ms)[:10],
        "startDateIso": iso(market.start_ms)[:10],
        "outcomes": json.dumps(list(market.outcomes)),
        "outcomePrices": json.dumps(prices),
        "clobTokenIds": json.dumps(list(market.token_ids)),
        "version": "v1",
        "volume": fmt_amount(market.volume),
        "volumeNum": _num(market.volume),
        "volume24hr": _num(market.volume // 30),
        "volumeClob": _num(market.volume),
        "liquidity": fmt_amount(market.liquidity),
        "liquidityNum": _num(market.liquidity),
        "liquidityClob": _num(market.liquidity),
        "active": True,
        "closed": market.closed,
        "archived": False,
        "restricted": False,
        "acceptingOrders": market.accepting_orders and now_ms < market.end_ms,
        "enableOrderBook": True,
        "negRisk": market.neg_risk,
        "negRiskMarketID": market.neg_risk_market_id or None,
        "groupItemTitle": market.group_item_title,
        "orderPriceMinTickSize": _price_num(market.tick),
        "orderMinSize": _num(market.min_order_size),
        "rewardsMinSize": market.rewards.min_size,
        "rewardsMaxSpread": float(market.rewards.max_spread),
        "clobRewards": [
            {
                "id": tag_id(market.condition_id),
                "conditionId": market.condition_id,
                "assetAddress": "0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB",
                "rewardsAmount": 0,
                "rewardsDailyRate": float(market.rewards.daily_rate),
                "startDate": iso(market.start_ms)[:10],
                "endDate": iso(market.end_ms)[:10],
            }
        ],
        "bestBid": _price_num(yes.best_bid),
        "bestAsk": _price_num(yes.best_ask),
        "spread": _price_num(spread),
        "lastTradePrice": _price_num(yes.last) if yes.last is not None else 0,
        "oneDayPriceChange": day_change,
        "makerBaseFee": 0,
        "takerBaseFee": 0,
        "feesEnabled": market.fees.rate > 0,
        "umaResolutionStatus": "resolved" if market.closed else "",
    }
    if with_event:
        out["events"] = [event_json(event, quote_fn, now_ms=now_ms, with_markets=False)]
    return out


def event_json(
    event: Event, quote_fn: QuoteFn, *, now_ms: int, with_markets: bool = True
) -> dict[str, Any]:
    """One Gamma event object (with its markets unless ``with_markets`` is False)."""
    volume = sum(m.volume for m in event.markets)
    liquidity = sum(m.liquidity for m in event.markets)
    out: dict[str, Any] = {
        "id": event.id,
        "ticker": event.slug,
        "slug": event.slug,
        "title": event.title,
        "description": event.description,
        "category": event.category,
        "image": event.image,
        "icon": event.image,
        "startDate": iso(event.start_ms),
        "endDate": iso(event.end_ms),
        "creationDate": iso(event.start_ms),
        "active": True,
        "closed": all(m.closed for m in event.markets),
        "archived": False,
        "featured": False,
        "restricted": False,
        "liquidity": _num(liquidity),
        "volume": _num(volume),
        "volume24hr": _num(volume // 30),
        "openInterest": _num(liquidity // 2),
        "negRisk": event.neg_risk,
        "enableNegRisk": event.neg_risk,
        "negRiskMarketID": event.neg_risk_market_id or None,
        "commentCount": len(event.markets) * 17,
        "tags": [tag_json(t) for t in event.tags],
    }
    if with_markets:
        out["markets"] = [
            market_json(m, event, quote_fn, now_ms=now_ms, with_event=False) for m in event.markets
        ]
    return out


def _sort_and_page(items: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
    order = [f for f in (request.query_params.get("order") or "").split(",") if f.strip()]
    ascending = query_bool(request, "ascending")
    if order:
        reverse = not ascending if ascending is not None else True
        for field in reversed(order):
            name = field.strip()

            def key(item: dict[str, Any], name: str = name) -> tuple[int, Any]:
                value = item.get(name)
                if name == "id" and isinstance(value, str) and value.isdigit():
                    return (0, int(value))
                return (1 if value is None else 0, value if value is not None else 0)

            items.sort(key=key, reverse=reverse)
    offset = query_int(request, "offset", 0)
    limit = query_int(request, "limit", 100, lo=0, hi=1000)
    return items[offset : offset + limit]


def _ms_filter(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        if raw.isdigit():
            return int(raw) * (1 if len(raw) > 11 else 1000)
        return int(datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        raise HttpError(400, f"invalid {name}: expected an ISO date, got {raw!r}") from None


def _range_ok(value: float, lo: float | None, hi: float | None) -> bool:
    return (lo is None or value >= lo) and (hi is None or value <= hi)


class GammaRoutes:
    """The Gamma endpoints over one catalogue.

    Args:
        catalogue: the exchange's markets and events.
        quote_fn: top of book of a token, from the live exchange.
        now_fn: sim time in milliseconds.
    """

    def __init__(self, catalogue: Catalogue, quote_fn: QuoteFn, now_fn: Callable[[], int]) -> None:
        self.catalogue = catalogue
        self.quote_fn = quote_fn
        self.now_fn = now_fn

    def routes(self) -> list[Route]:
        """The Starlette routes, relative to the ``/gamma`` mount."""
        return [
            Route("/markets", self.markets),
            Route("/markets/slug/{slug}", self.market_by_slug),
            Route("/markets/{id}", self.market_by_id),
            Route("/events", self.events),
            Route("/events/slug/{slug}", self.event_by_slug),
            Route("/events/{id}", self.event_by_id),
            Route("/tags", self.tags),
            Route("/public-search", self.search),
            Route("/search", self.search),
        ]

    def _market(self, market: Market) -> dict[str, Any]:
        event = self.catalogue.event_of(market)
        return market_json(market, event, self.quote_fn, now_ms=self.now_fn())

    def _event(self, event: Event) -> dict[str, Any]:
        return event_json(event, self.quote_fn, now_ms=self.now_fn())

    async def markets(self, request: Request) -> Response:
        """``GET /markets`` with production's filters."""
        ids = set(query_list(request, "id"))
        slugs = set(query_list(request, "slug"))
        tokens = set(query_list(request, "clob_token_ids"))
        conditions = {c.lower() for c in query_list(request, "condition_ids")}
        tags = set(query_list(request, "tag_id"))
        active = query_bool(request, "active")
        closed = query_bool(request, "closed")
        archived = query_bool(request, "archived")
        liq = (query_float(request, "liquidity_num_min"), query_float(request, "liquidity_num_max"))
        vol = (query_float(request, "volume_num_min"), query_float(request, "volume_num_max"))
        end = (_ms_filter(request, "end_date_min"), _ms_filter(request, "end_date_max"))
        start = (_ms_filter(request, "start_date_min"), _ms_filter(request, "start_date_max"))
        selected: list[Market] = []
        for m in self.catalogue.markets:
            if ids and m.gamma_id not in ids:
                continue
            if slugs and m.slug not in slugs:
                continue
            if tokens and not tokens.intersection(m.token_ids):
                continue
            if conditions and m.condition_id.lower() not in conditions:
                continue
            if tags and not tags.intersection(tag_id(t) for t in m.tags):
                continue
            if closed is not None and m.closed != closed:
                continue
            if active is False or archived is True:
                continue  # every sim market is active and none is archived
            if not _range_ok(_num(m.liquidity), *liq) or not _range_ok(_num(m.volume), *vol):
                continue
            if not _range_ok(m.end_ms, *end) or not _range_ok(m.start_ms, *start):
                continue
            selected.append(m)
        items = [self._market(m) for m in selected]
        return ok(_sort_and_page(items, request))

    async def market_by_id(self, request: Request) -> Response:
        """``GET /markets/{id}``: by Gamma id (or condition id, for convenience)."""
        key = request.path_params["id"]
        for m in self.catalogue.markets:
            if key in (m.gamma_id, m.condition_id):
                return ok(self._market(m))
        raise HttpError(404, "market not found")

    async def market_by_slug(self, request: Request) -> Response:
        """``GET /markets/slug/{slug}``."""
        slug = request.path_params["slug"]
        for m in self.catalogue.markets:
            if m.slug == slug:
                return ok(self._market(m))
        raise HttpError(404, "market not found")

    async def events(self, request: Request) -> Response:
        """``GET /events`` with production's filters."""
        ids = set(query_list(request, "id"))
        slugs = set(query_list(request, "slug"))
        tags = set(query_list(request, "tag_id"))
        tag_slugs = set(query_list(request, "tag_slug"))
        active = query_bool(request, "active")
        closed = query_bool(request, "closed")
        archived = query_bool(request, "archived")
        liq = (query_float(request, "liquidity_min"), query_float(request, "liquidity_max"))
        vol = (query_float(request, "volume_min"), query_float(request, "volume_max"))
        end = (_ms_filter(request, "end_date_min"), _ms_filter(request, "end_date_max"))
        items: list[dict[str, Any]] = []
        for e in self.catalogue.events:
            is_closed = all(m.closed for m in e.markets)
            if ids and e.id not in ids:
                continue
            if slugs and e.slug not in slugs:
                continue
            if tags and not tags.intersection(tag_id(t) for t in e.tags):
                continue
            if tag_slugs and not tag_slugs.intersection(t.lower() for t in e.tags):
                continue
            if closed is not None and is_closed != closed:
                continue
            if active is False or archived is True:
                continue
            liquidity = _num(sum(m.liquidity for m in e.markets))
            volume = _num(sum(m.volume for m in e.markets))
            if not _range_ok(liquidity, *liq) or not _range_ok(volume, *vol):
                continue
            if not _range_ok(e.end_ms, *end):
                continue
            items.append(self._event(e))
        return ok(_sort_and_page(items, request))

    async def event_by_id(self, request: Request) -> Response:
        """``GET /events/{id}``."""
        event = self.catalogue.event(request.path_params["id"])
        if event is None:
            raise HttpError(404, "event not found")
        return ok(self._event(event))

    async def event_by_slug(self, request: Request) -> Response:
        """``GET /events/slug/{slug}``."""
        slug = request.path_params["slug"]
        for e in self.catalogue.events:
            if e.slug == slug:
                return ok(self._event(e))
        raise HttpError(404, "event not found")

    async def tags(self, request: Request) -> Response:
        """``GET /tags``: every tag used by the catalogue."""
        labels = sorted({t for e in self.catalogue.events for t in e.tags})
        items = [tag_json(t) for t in labels]
        offset = query_int(request, "offset", 0)
        limit = query_int(request, "limit", 1000, lo=0, hi=1000)
        return ok(items[offset : offset + limit])

    async def search(self, request: Request) -> Response:
        """``GET /public-search?q=``: events (with markets) and tags whose text matches."""
        q = (request.query_params.get("q") or "").strip().lower()
        if not q:
            raise HttpError(400, "missing q: pass the text to search for, e.g. ?q=bitcoin")
        limit = query_int(request, "limit_per_type", 10, lo=1, hi=100)
        events = [
            e
            for e in self.catalogue.events
            if q in e.title.lower()
            or q in e.slug
            or any(q in m.question.lower() for m in e.markets)
            or any(q in t.lower() for t in e.tags)
        ]
        tags = sorted({t for e in self.catalogue.events for t in e.tags if q in t.lower()})
        return ok(
            {
                "events": [self._event(e) for e in events[:limit]],
                "tags": [tag_json(t) for t in tags[:limit]],
                "profiles": [],
                "pagination": {"hasMore": len(events) > limit, "totalResults": len(events)},
            }
        )
