"""Typed events the exchange emits for the server to fan out over its websockets.

Market events carry ``market`` (condition id) and ``asset_id``s so the server can route them to
the market channel's subscribers; user events carry ``owner`` (the API key that must receive
them). Every event has ``to_wire()``: the production payload of ``protocol.md`` §5.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pmtrader.sim.matching import Side
from pmtrader.sim.records import OrderRecord, Trade, fmt_amount, fmt_price, side_name

__all__ = [
    "BestBidAsk",
    "BookSnapshotRequest",
    "EventSink",
    "LastTradePrice",
    "LevelChange",
    "MarketResolved",
    "PriceChange",
    "SimEvent",
    "TickSizeChange",
    "UserOrderEvent",
    "UserTradeEvent",
]


def _opt_price(price: int | None) -> str:
    return "0" if price is None else fmt_price(price)


@dataclass(frozen=True, slots=True)
class LevelChange:
    """One level of one token's book: its new total ``size`` (0 removes it), with the top after."""

    asset_id: str
    side: Side
    price: int
    size: int
    best_bid: int | None
    best_ask: int | None

    def to_wire(self) -> dict[str, Any]:
        """A ``price_changes[]`` entry (``hash`` left empty; the server may fill it)."""
        return {
            "asset_id": self.asset_id,
            "price": fmt_price(self.price),
            "size": fmt_amount(self.size),
            "side": side_name(self.side),
            "hash": "",
            "best_bid": _opt_price(self.best_bid),
            "best_ask": _opt_price(self.best_ask),
        }


@dataclass(frozen=True, slots=True)
class PriceChange:
    """Levels that changed in one market (YES and NO legs together, as production sends)."""

    market: str
    changes: tuple[LevelChange, ...]
    timestamp_ms: int

    @property
    def asset_ids(self) -> tuple[str, ...]:
        """Tokens this event concerns."""
        return tuple(dict.fromkeys(c.asset_id for c in self.changes))

    def to_wire(self) -> dict[str, Any]:
        """``{"event_type": "price_change", "market", "timestamp", "price_changes": [...]}``."""
        return {
            "event_type": "price_change",
            "market": self.market,
            "timestamp": str(self.timestamp_ms),
            "price_changes": [c.to_wire() for c in self.changes],
        }


@dataclass(frozen=True, slots=True)
class BookSnapshotRequest:
    """Trades changed these books: send subscribers a full ``book`` (build it with ``book()``)."""

    market: str
    asset_ids: tuple[str, ...]
    timestamp_ms: int

    def to_wire(self) -> dict[str, Any]:
        """Not sent as is: the server answers with ``Exchange.book(asset_id)`` per token."""
        return {"market": self.market, "asset_ids": list(self.asset_ids)}


@dataclass(frozen=True, slots=True)
class LastTradePrice:
    """A trade printed in one token (taker's side and price in that token's terms)."""

    market: str
    asset_id: str
    price: int
    side: Side
    size: int
    fee_rate_bps: int
    timestamp_ms: int
    transaction_hash: str

    @property
    def asset_ids(self) -> tuple[str, ...]:
        """Tokens this event concerns."""
        return (self.asset_id,)

    def to_wire(self) -> dict[str, Any]:
        """The ``last_trade_price`` payload."""
        return {
            "event_type": "last_trade_price",
            "asset_id": self.asset_id,
            "market": self.market,
            "price": fmt_price(self.price),
            "side": side_name(self.side),
            "size": fmt_amount(self.size),
            "fee_rate_bps": str(self.fee_rate_bps),
            "timestamp": str(self.timestamp_ms),
            "transaction_hash": self.transaction_hash,
        }


@dataclass(frozen=True, slots=True)
class TickSizeChange:
    """A token's minimum tick changed (prices past 0.96 / below 0.04 get a finer tick)."""

    market: str
    asset_id: str
    old_tick: int
    new_tick: int
    timestamp_ms: int

    @property
    def asset_ids(self) -> tuple[str, ...]:
        """Tokens this event concerns."""
        return (self.asset_id,)

    def to_wire(self) -> dict[str, Any]:
        """The ``tick_size_change`` payload."""
        return {
            "event_type": "tick_size_change",
            "asset_id": self.asset_id,
            "market": self.market,
            "old_tick_size": fmt_price(self.old_tick),
            "new_tick_size": fmt_price(self.new_tick),
            "timestamp": str(self.timestamp_ms),
        }


@dataclass(frozen=True, slots=True)
class BestBidAsk:
    """The top of one token's book changed."""

    market: str
    asset_id: str
    best_bid: int | None
    best_ask: int | None
    timestamp_ms: int

    @property
    def asset_ids(self) -> tuple[str, ...]:
        """Tokens this event concerns."""
        return (self.asset_id,)

    def to_wire(self) -> dict[str, Any]:
        """The ``best_bid_ask`` payload (custom feature)."""
        spread = (
            ""
            if self.best_bid is None or self.best_ask is None
            else fmt_price(self.best_ask - self.best_bid)
        )
        return {
            "event_type": "best_bid_ask",
            "market": self.market,
            "asset_id": self.asset_id,
            "best_bid": _opt_price(self.best_bid),
            "best_ask": _opt_price(self.best_ask),
            "spread": spread,
            "timestamp": str(self.timestamp_ms),
        }


@dataclass(frozen=True, slots=True)
class MarketResolved:
    """A market resolved; trading stopped and winners were redeemed at 1 pUSD per share."""

    market: str
    gamma_id: str
    question: str
    slug: str
    description: str
    token_ids: tuple[str, ...]
    outcomes: tuple[str, ...]
    winning_asset_id: str
    winning_outcome: str
    event_id: str
    event_slug: str
    event_title: str
    timestamp_ms: int

    @property
    def asset_ids(self) -> tuple[str, ...]:
        """Tokens this event concerns."""
        return self.token_ids

    def to_wire(self) -> dict[str, Any]:
        """The ``market_resolved`` payload (custom feature)."""
        return {
            "event_type": "market_resolved",
            "id": self.gamma_id,
            "question": self.question,
            "market": self.market,
            "slug": self.slug,
            "description": self.description,
            "assets_ids": list(self.token_ids),
            "outcomes": list(self.outcomes),
            "winning_asset_id": self.winning_asset_id,
            "winning_outcome": self.winning_outcome,
            "event_message": {
                "id": self.event_id,
                "ticker": self.event_slug,
                "slug": self.event_slug,
                "title": self.event_title,
                "description": "",
            },
            "timestamp": str(self.timestamp_ms),
        }


@dataclass(frozen=True, slots=True)
class UserOrderEvent:
    """An order of ``owner`` was placed, (partly) filled, or cancelled.

    ``kind`` is PLACEMENT, UPDATE or CANCELLATION; ``order`` is a snapshot taken at emission.
    """

    owner: str
    kind: str
    order: dict[str, Any]
    market: str
    timestamp_ms: int

    def to_wire(self) -> dict[str, Any]:
        """The user-channel ``order`` payload."""
        order = self.order
        return {
            "event_type": "order",
            "type": self.kind,
            "id": order["id"],
            "owner": self.owner,
            "order_owner": self.owner,
            "market": order["market"],
            "asset_id": order["asset_id"],
            "side": order["side"],
            "original_size": order["original_size"],
            "size_matched": order["size_matched"],
            "price": order["price"],
            "outcome": order["outcome"],
            "associate_trades": order["associate_trades"],
            "status": order["status"],
            "order_type": order["order_type"],
            "expiration": order["expiration"],
            "maker_address": order["maker_address"],
            "created_at": str(order["created_at"]),
            "timestamp": str(self.timestamp_ms),
        }

    @classmethod
    def of(cls, kind: str, order: OrderRecord, timestamp_ms: int) -> UserOrderEvent:
        """Snapshot ``order`` for its owner."""
        return cls(order.owner, kind, order.to_wire(), order.market, timestamp_ms)


@dataclass(frozen=True, slots=True)
class UserTradeEvent:
    """A trade of ``owner`` (taker or maker) was matched or changed status."""

    owner: str
    trade: dict[str, Any]
    market: str
    timestamp_ms: int

    def to_wire(self) -> dict[str, Any]:
        """The user-channel ``trade`` payload."""
        trade = self.trade
        return {
            "event_type": "trade",
            "type": "TRADE",
            **trade,
            "trade_owner": self.owner,
            "matchtime": trade["match_time"],
            "timestamp": str(self.timestamp_ms),
        }

    @classmethod
    def of(cls, owner: str, trade: Trade, timestamp_ms: int) -> UserTradeEvent:
        """Snapshot ``trade`` as ``owner`` sees it."""
        return cls(owner, trade.to_wire(owner), trade.market, timestamp_ms)


SimEvent = (
    PriceChange
    | BookSnapshotRequest
    | LastTradePrice
    | TickSizeChange
    | BestBidAsk
    | MarketResolved
    | UserOrderEvent
    | UserTradeEvent
)
"""Any event the exchange emits."""

EventSink = Callable[[SimEvent], None]
"""A subscriber: called synchronously, in order, for every event."""
