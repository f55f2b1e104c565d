"""Production JSON shapes the server builds itself (the core's records cover the rest).

* ``book_wire``: a ``BookSnapshot`` with its ``hash`` filled in by the venue's SHA-1 recipe, so the
  official client's ``get_order_book_hash(book) == book["hash"]``.
* CLOB market objects (``/markets``, ``/simplified-markets``, ``/clob-markets/{id}``) from the
  catalogue, snake_case as production sends them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pmtrader.book import book_hash
from pmtrader.sim.catalogue import Market
from pmtrader.sim.matching import AMOUNT_SCALE, PRICE_SCALE
from pmtrader.sim.records import BookSnapshot, fmt_amount, fmt_price

TICK_STRINGS = {1000: "0.1", 100: "0.01", 50: "0.005", 25: "0.0025", 10: "0.001", 1: "0.0001"}
"""Tick (1e-4 units) → the exact string the client uses as a rounding-table key."""


def tick_number(tick: int) -> float:
    """The tick as a JSON number whose ``str()`` is exactly one of the client's table keys.

    ``str(0.01) == "0.01"`` and likewise for every tick in ``TICK_STRINGS``; a ``Decimal`` would
    not survive JSON, and ``0.010`` would break the client's dictionary lookup.
    """
    number = float(TICK_STRINGS[tick])
    assert str(number) == TICK_STRINGS[tick]
    return number


def book_wire(snapshot: BookSnapshot, *, event_type: str | None = None) -> dict[str, Any]:
    """The ``/book`` body (or, with ``event_type="book"``, the websocket ``book`` event)."""
    body = snapshot.to_wire()
    body["hash"] = book_hash(
        body["market"],
        body["asset_id"],
        body["timestamp"],
        body["bids"],
        body["asks"],
        body["min_order_size"],
        body["tick_size"],
        body["neg_risk"],
        body["last_trade_price"],
    )
    if event_type is not None:
        return {"event_type": event_type, **body}
    return body


def _price_number(price: int) -> float:
    # Catalogue display prices (``tokens[].price``) are JSON numbers in production.
    return float(Decimal(price) / PRICE_SCALE)


def token_prices(market: Market, yes_price: int) -> tuple[int, int]:
    """YES and NO display prices; a resolved market shows 1 and 0."""
    if market.closed and market.winner is not None:
        yes = PRICE_SCALE if market.winner == market.yes_token else 0
        return yes, PRICE_SCALE - yes
    return yes_price, PRICE_SCALE - yes_price


def _tokens(market: Market, yes_price: int) -> list[dict[str, Any]]:
    prices = token_prices(market, yes_price)
    return [
        {
            "token_id": token,
            "outcome": outcome,
            "price": _price_number(price),
            "winner": market.winner == token,
        }
        for token, outcome, price in zip(market.token_ids, market.outcomes, prices, strict=True)
    ]


def _rewards(market: Market) -> dict[str, Any]:
    return {
        "rates": [
            {
                "asset_address": "0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB",
                "rewards_daily_rate": float(market.rewards.daily_rate),
            }
        ],
        "min_size": market.rewards.min_size,
        "max_spread": float(market.rewards.max_spread),
    }


def iso(ms: int) -> str:
    """Milliseconds since the epoch as an ISO-8601 UTC string (``2026-11-29T13:00:00Z``)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def clob_market(market: Market, yes_price: int, *, now_ms: int) -> dict[str, Any]:
    """The CLOB ``/markets`` object (snake_case)."""
    accepting = market.accepting_orders and now_ms < market.end_ms
    return {
        "enable_order_book": True,
        "active": True,
        "closed": market.closed,
        "archived": False,
        "accepting_orders": accepting,
        "accepting_order_timestamp": iso(market.start_ms),
        "minimum_order_size": float(Decimal(market.min_order_size) / AMOUNT_SCALE),
        "minimum_tick_size": tick_number(market.tick),
        "condition_id": market.condition_id,
        "question_id": market.question_id,
        "question": market.question,
        "description": market.description,
        "market_slug": market.slug,
        "end_date_iso": iso(market.end_ms),
        "game_start_time": None,
        "seconds_delay": 0,
        "fpmm": "",
        "maker_base_fee": 0,
        "taker_base_fee": 0,
        "notifications_enabled": True,
        "neg_risk": market.neg_risk,
        "neg_risk_market_id": market.neg_risk_market_id,
        "neg_risk_request_id": market.question_id if market.neg_risk else "",
        "icon": market.icon,
        "image": market.image,
        "rewards": _rewards(market),
        "is_50_50_outcome": False,
        "tokens": _tokens(market, yes_price),
        "tags": list(market.tags),
    }


def simplified_market(market: Market, yes_price: int, *, now_ms: int) -> dict[str, Any]:
    """The CLOB ``/simplified-markets`` object."""
    return {
        "condition_id": market.condition_id,
        "rewards": _rewards(market),
        "tokens": _tokens(market, yes_price),
        "active": True,
        "closed": market.closed,
        "archived": False,
        "accepting_orders": market.accepting_orders and now_ms < market.end_ms,
    }


def clob_market_info(market: Market, *, now_ms: int) -> dict[str, Any]:
    """``/clob-markets/{condition_id}``: the compact info the client caches before market orders.

    ``t`` lists ``{"t": token_id, "o": outcome}``; ``mts`` is the tick as a number whose ``str``
    is a rounding-table key; ``nr`` the neg-risk flag; ``fd`` the fee parameters ``{r, e, to}``.
    """
    return {
        "c": market.condition_id,
        "t": [
            {"t": token, "o": outcome}
            for token, outcome in zip(market.token_ids, market.outcomes, strict=True)
        ],
        "mts": tick_number(market.tick),
        "mos": float(Decimal(market.min_order_size) / AMOUNT_SCALE),
        "nr": market.neg_risk,
        "fd": market.fees.to_wire(),
        "gst": None,
        "r": _rewards(market),
        "mbf": 0,
        "tbf": 0,
        "rfqe": False,
        "itode": False,
        "ibce": False,
        "oas": accepting_since(market),
        "ao": market.accepting_orders and now_ms < market.end_ms,
    }


def accepting_since(market: Market) -> str:
    """When the market started accepting orders (ISO-8601)."""
    return iso(market.start_ms)


def price_str(price: int | None) -> str:
    """A price as production's string, ``""`` when there is none."""
    return "" if price is None else fmt_price(price)


def amount_str(amount: int) -> str:
    """Base units as production's decimal string."""
    return fmt_amount(amount)
