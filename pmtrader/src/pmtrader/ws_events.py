"""What the websocket streams tell their consumers: small typed events with exact integers.

Prices are 1e-4 units and sizes 1e-6 base units (``Decimal`` views are properties); ``raw`` is
the decoded wire struct for the rare field an event does not lift out. Market-stream events name
the token they concern and carry its :class:`~pmtrader.book.Book`, which the stream keeps current.

A consumer is always told when a book stops mirroring the venue (:class:`BookStale`) and when it
does again (:class:`BookResynced`); between the two, ``book.stale`` is true and nothing should
trade on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pmtrader.book import Book, format_price, format_size
from pmtrader.errors import StaleFeedError
from pmtrader.wire import (
    LastTradePriceEvent,
    MarketResolvedEvent,
    NewMarketEvent,
    OrderEvent,
    TradeEvent,
)

__all__ = [
    "BookResynced",
    "BookStale",
    "BookUpdated",
    "FeedRestored",
    "FeedStale",
    "MakerFill",
    "MarketListed",
    "MarketResolved",
    "MarketStreamEvent",
    "OrderUpdate",
    "TickSizeChanged",
    "TradePrinted",
    "TradeUpdate",
    "UserStreamEvent",
]


def _price(units: int) -> Decimal:
    return Decimal(format_price(units))


def _size(base_units: int) -> Decimal:
    return Decimal(format_size(base_units))


# -- market stream -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BookUpdated:
    """A fresh book changed: a ``price_change`` was applied or a ``book`` snapshot replaced it.

    Attributes:
        asset_id: The token.
        book: The token's book, already updated.
        timestamp: The venue's event time, milliseconds.
        snapshot: True when a full ``book`` event replaced the levels (after a trade).
    """

    asset_id: str
    book: Book
    timestamp: int
    snapshot: bool


@dataclass(frozen=True, slots=True)
class BookStale:
    """These books no longer mirror the venue: do not trade on them until resynced.

    Attributes:
        asset_ids: The tokens concerned.
        reason: ``"silent"`` (no frame, not even ``PONG``, within ``stale_after``),
            ``"disconnected"`` (the connection closed or failed), ``"inconsistent"`` (the feed
            contradicted the local book; only that token is resynced) or ``"closed"``.
        error: The same news as a typed error, for consumers that prefer to raise it.
    """

    asset_ids: tuple[str, ...]
    reason: str
    error: StaleFeedError


@dataclass(frozen=True, slots=True)
class BookResynced:
    """A stale (or brand-new) book was rebuilt from a fresh snapshot and can be traded on again.

    Attributes:
        asset_id: The token.
        book: The rebuilt book.
        hash: The venue's hash of the snapshot it was rebuilt from.
    """

    asset_id: str
    book: Book
    hash: str


@dataclass(frozen=True, slots=True)
class TradePrinted:
    """A trade printed in this token (the venue's ``last_trade_price``).

    Attributes:
        asset_id: The token.
        market: The condition id.
        price: Trade price, 1e-4 units.
        size: Shares, 1e-6 base units.
        side: The taker's side, ``"BUY"`` or ``"SELL"``.
        timestamp: Milliseconds.
        raw: The decoded wire event.
    """

    asset_id: str
    market: str
    price: int
    size: int
    side: str
    timestamp: int
    raw: LastTradePriceEvent

    @property
    def price_decimal(self) -> Decimal:
        """The trade price as a Decimal."""
        return _price(self.price)

    @property
    def size_decimal(self) -> Decimal:
        """The shares traded as a Decimal."""
        return _size(self.size)


@dataclass(frozen=True, slots=True)
class TickSizeChanged:
    """A token's tick changed; orders must use the new grid (the book's ``tick_size`` is set).

    Attributes:
        asset_id: The token.
        market: The condition id.
        old_tick: The previous tick, 1e-4 units.
        new_tick: The new tick, 1e-4 units.
        timestamp: Milliseconds.
    """

    asset_id: str
    market: str
    old_tick: int
    new_tick: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class MarketResolved:
    """A market resolved: ``winning_asset_id`` pays 1 pUSD a share and trading has stopped."""

    market: str
    asset_ids: tuple[str, ...]
    winning_asset_id: str
    winning_outcome: str
    timestamp: int
    raw: MarketResolvedEvent


@dataclass(frozen=True, slots=True)
class MarketListed:
    """A new market was created (only with the custom feature on)."""

    market: str
    asset_ids: tuple[str, ...]
    question: str
    slug: str
    timestamp: int
    raw: NewMarketEvent


MarketStreamEvent = (
    BookUpdated
    | BookStale
    | BookResynced
    | TradePrinted
    | TickSizeChanged
    | MarketResolved
    | MarketListed
)
"""Anything ``async for event in market_stream`` yields."""

# -- user stream ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """One of the caller's orders was placed, filled in part, or cancelled.

    Attributes:
        kind: ``"PLACEMENT"``, ``"UPDATE"`` (a fill) or ``"CANCELLATION"``.
        order_id: The order's id (its EIP-712 hash).
        market: The condition id.
        asset_id: The token.
        side: ``"BUY"`` or ``"SELL"``.
        price: Limit price, 1e-4 units.
        original_size: Shares ordered, 1e-6 base units.
        size_matched: Shares filled so far, 1e-6 base units.
        status: The venue's status (``"LIVE"``...), ``""`` when the event has none.
        timestamp: The event time as the venue sent it.
        raw: The decoded wire event.
    """

    kind: str
    order_id: str
    market: str
    asset_id: str
    side: str
    price: int
    original_size: int
    size_matched: int
    status: str
    timestamp: int
    raw: OrderEvent

    @property
    def remaining(self) -> int:
        """Shares still open, 1e-6 base units."""
        return self.original_size - self.size_matched


@dataclass(frozen=True, slots=True)
class MakerFill:
    """One resting order a trade matched (price and amount in that order's token)."""

    order_id: str
    asset_id: str
    price: int
    matched_amount: int
    owner: str


@dataclass(frozen=True, slots=True)
class TradeUpdate:
    """A trade of the caller matched or moved on (``MATCHED`` → ``MINED`` → ``CONFIRMED``).

    Attributes:
        trade_id: The trade's id.
        status: ``MATCHED``, ``MINED``, ``CONFIRMED``, ``RETRYING`` or ``FAILED``.
        market: The condition id.
        asset_id: The taker's token.
        side: The taker's side.
        price: Taker price, 1e-4 units.
        size: Shares, 1e-6 base units.
        taker_order_id: The taker order's id.
        trader_side: ``"TAKER"`` or ``"MAKER"`` from the caller's point of view (``""`` if absent).
        maker_orders: The resting orders matched.
        timestamp: The event time as the venue sent it.
        raw: The decoded wire event.
    """

    trade_id: str
    status: str
    market: str
    asset_id: str
    side: str
    price: int
    size: int
    taker_order_id: str
    trader_side: str
    maker_orders: tuple[MakerFill, ...]
    timestamp: int
    raw: TradeEvent

    @property
    def final(self) -> bool:
        """Whether the status can no longer change (``CONFIRMED`` or ``FAILED``)."""
        return self.status in {"CONFIRMED", "FAILED"}


@dataclass(frozen=True, slots=True)
class FeedStale:
    """The user feed went silent or dropped: order and trade events may have been missed.

    Check open orders and trades over REST after :class:`FeedRestored`.
    """

    reason: str
    error: StaleFeedError


@dataclass(frozen=True, slots=True)
class FeedRestored:
    """The user feed is connected and subscribed again."""

    reconnects: int


UserStreamEvent = OrderUpdate | TradeUpdate | FeedStale | FeedRestored
"""Anything ``async for event in user_stream`` yields."""
