"""The venue's websocket payloads as msgspec structs, and the decoders for both channels.

This is the only module that reads raw websocket JSON. Every event of the market channel
(``book``, ``price_change``, ``tick_size_change``, ``last_trade_price``, ``best_bid_ask``,
``new_market``, ``market_resolved``) and of the user channel (``order``, ``trade``) is a
``msgspec.Struct`` tagged by ``event_type``; field names are the venue's, values its strings
(prices and sizes stay decimal strings here; :mod:`pmtrader.book` turns them into exact integers).

Frames may carry one event object or a JSON array of them. An event type this module does not
know is skipped (logged at debug), never an error: the venue adds event types over time. A frame
that is not JSON, or a known event missing a documented field, raises
:class:`~pmtrader.errors.FeedDecodeError` carrying the events of that frame that did decode.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
import structlog

# The unit parsers' string memos, shared on purpose: the decoder's hot path reads them directly
# (a subscript per value) and falls back to the parsers, which fill them.
from pmtrader._wire_units import _PRICE_MEMO as _PRICES
from pmtrader._wire_units import _SIZE_MEMO as _SIZES
from pmtrader._wire_units import parse_prices, parse_sizes
from pmtrader.errors import FeedDecodeError

__all__ = [
    "BestBidAskEvent",
    "BookEvent",
    "EventMessage",
    "LastTradePriceEvent",
    "LegacyLevelChange",
    "MakerOrder",
    "MarketEvent",
    "MarketResolvedEvent",
    "NewMarketEvent",
    "OrderEvent",
    "PriceChangeEvent",
    "PriceLevel",
    "PriceLevelChange",
    "RawBookEvent",
    "RawMarketEvent",
    "TickSizeChangeEvent",
    "TradeEvent",
    "UserEvent",
    "decode_book",
    "decode_market",
    "decode_market_raw",
    "decode_user",
    "level_columns",
]

_log = structlog.get_logger("pmtrader.wire")

# -- market channel ----------------------------------------------------------------------------


class PriceLevel(msgspec.Struct, frozen=True, gc=False):
    """One ``{"price", "size"}`` level of a ``book`` event."""

    price: str
    size: str


class BookEvent(msgspec.Struct, frozen=True, tag_field="event_type", tag="book"):
    """A full snapshot of one token's book (on subscribe, and after trades).

    ``bids`` ascend and ``asks`` descend: the best level of each side is last, as on REST.
    The last four fields are optional on the websocket (present on REST ``/book``).
    """

    asset_id: str
    market: str
    bids: list[PriceLevel]
    asks: list[PriceLevel]
    timestamp: str
    hash: str = ""
    min_order_size: str | None = None
    tick_size: str | None = None
    neg_risk: bool | None = None
    last_trade_price: str | None = None


class RawBookEvent(msgspec.Struct, frozen=True, gc=False, tag_field="event_type", tag="book"):
    """A :class:`BookEvent` whose ``bids`` and ``asks`` stay raw JSON (:func:`decode_market_raw`).

    For :meth:`pmtrader.book.Book.apply_snapshot_wire`, which parses only the levels that
    changed since the token's previous snapshot. The other fields are :class:`BookEvent`'s.
    """

    asset_id: str
    market: str
    bids: msgspec.Raw
    asks: msgspec.Raw
    timestamp: str
    hash: str = ""
    min_order_size: str | None = None
    tick_size: str | None = None
    neg_risk: bool | None = None
    last_trade_price: str | None = None


class PriceLevelChange(msgspec.Struct, frozen=True, gc=False):
    """One entry of ``price_changes``: the new total ``size`` at ``price`` (``"0"`` removes it).

    ``side`` is ``BUY`` for a bid level and ``SELL`` for an ask level; ``best_bid``/``best_ask``
    are the token's top of book after the change (``"0"``, or ``"1"`` for asks, when empty).
    """

    asset_id: str
    price: str
    size: str
    side: Literal["BUY", "SELL"]
    hash: str = ""
    best_bid: str = ""
    best_ask: str = ""


class LegacyLevelChange(msgspec.Struct, frozen=True, gc=False):
    """One entry of the pre-September-2025 ``changes`` list (one token per event)."""

    price: str
    side: Literal["BUY", "SELL"]
    size: str


class PriceChangeEvent(msgspec.Struct, frozen=True, tag_field="event_type", tag="price_change"):
    """Levels that changed in one market; YES and NO legs arrive in one event.

    The current schema fills ``price_changes``; the legacy one fills ``asset_id``, ``hash`` and
    ``changes``. Use :meth:`entries` to read either as ``PriceLevelChange`` values.
    """

    market: str
    timestamp: str
    price_changes: list[PriceLevelChange] = []
    asset_id: str = ""
    hash: str = ""
    changes: list[LegacyLevelChange] = []

    def entries(self) -> list[PriceLevelChange]:
        """Every level change, whichever schema the event used."""
        if self.price_changes or not self.changes:
            return self.price_changes
        return [
            PriceLevelChange(self.asset_id, c.price, c.size, c.side, self.hash)
            for c in self.changes
        ]


class TickSizeChangeEvent(
    msgspec.Struct, frozen=True, tag_field="event_type", tag="tick_size_change"
):
    """A token's minimum tick changed (prices past 0.96 or below 0.04 get a finer tick)."""

    asset_id: str
    market: str
    old_tick_size: str
    new_tick_size: str
    timestamp: str


class LastTradePriceEvent(
    msgspec.Struct, frozen=True, tag_field="event_type", tag="last_trade_price"
):
    """A trade printed: taker ``side``, ``price`` and ``size`` in this token's terms."""

    asset_id: str
    market: str
    price: str
    side: str
    size: str
    timestamp: str
    fee_rate_bps: str = ""
    transaction_hash: str = ""


class BestBidAskEvent(msgspec.Struct, frozen=True, tag_field="event_type", tag="best_bid_ask"):
    """The top of one token's book changed (custom feature)."""

    market: str
    asset_id: str
    best_bid: str
    best_ask: str
    timestamp: str
    spread: str = ""


class EventMessage(msgspec.Struct, frozen=True):
    """The parent event of a new or resolved market."""

    id: str = ""
    ticker: str = ""
    slug: str = ""
    title: str = ""
    description: str = ""


class NewMarketEvent(msgspec.Struct, frozen=True, tag_field="event_type", tag="new_market"):
    """A market was created (custom feature)."""

    id: str
    market: str
    assets_ids: list[str]
    timestamp: str
    question: str = ""
    slug: str = ""
    description: str = ""
    outcomes: list[str] = []
    event_message: EventMessage | None = None


class MarketResolvedEvent(
    msgspec.Struct, frozen=True, tag_field="event_type", tag="market_resolved"
):
    """A market resolved; ``winning_asset_id`` pays 1 pUSD a share (custom feature)."""

    id: str
    market: str
    assets_ids: list[str]
    winning_asset_id: str
    timestamp: str
    winning_outcome: str = ""
    question: str = ""
    slug: str = ""
    description: str = ""
    outcomes: list[str] = []
    event_message: EventMessage | None = None


MarketEvent = (
    BookEvent
    | PriceChangeEvent
    | TickSizeChangeEvent
    | LastTradePriceEvent
    | BestBidAskEvent
    | NewMarketEvent
    | MarketResolvedEvent
)
"""Any event of the market channel."""

RawMarketEvent = (
    RawBookEvent
    | PriceChangeEvent
    | TickSizeChangeEvent
    | LastTradePriceEvent
    | BestBidAskEvent
    | NewMarketEvent
    | MarketResolvedEvent
)
"""Any event of the market channel, ``book`` events with raw sides (:func:`decode_market_raw`)."""

# -- user channel ------------------------------------------------------------------------------


class OrderEvent(msgspec.Struct, frozen=True, tag_field="event_type", tag="order"):
    """One of the caller's orders was placed, partly filled or cancelled.

    ``type`` is ``PLACEMENT``, ``UPDATE`` (a fill) or ``CANCELLATION``.
    """

    type: str
    id: str
    market: str
    asset_id: str
    side: str
    price: str
    original_size: str
    size_matched: str
    timestamp: str
    owner: str = ""
    order_owner: str = ""
    outcome: str = ""
    associate_trades: list[str] | None = None
    status: str = ""
    order_type: str = ""
    expiration: str = ""
    maker_address: str = ""
    created_at: str = ""


class MakerOrder(msgspec.Struct, frozen=True):
    """A resting order a trade matched against."""

    order_id: str
    matched_amount: str
    price: str
    asset_id: str = ""
    owner: str = ""
    outcome: str = ""
    fee_rate_bps: str = ""
    maker_address: str = ""
    side: str = ""


class TradeEvent(msgspec.Struct, frozen=True, tag_field="event_type", tag="trade"):
    """A trade involving the caller matched, or changed status.

    ``status`` moves ``MATCHED`` → ``MINED`` → ``CONFIRMED`` (``RETRYING`` goes back to
    ``MINED``; ``CONFIRMED`` and ``FAILED`` are final). The match time is spelled ``match_time``
    or ``matchtime`` depending on the sample; :attr:`match_time_ms`-style parsing is the
    caller's, this struct keeps both.
    """

    id: str
    taker_order_id: str
    market: str
    asset_id: str
    side: str
    size: str
    price: str
    status: str
    type: str = "TRADE"
    owner: str = ""
    trade_owner: str = ""
    outcome: str = ""
    match_time: str = ""
    matchtime: str = ""
    last_update: str = ""
    timestamp: str = ""
    fee_rate_bps: str = ""
    transaction_hash: str = ""
    trader_side: str = ""
    maker_address: str = ""
    bucket_index: int | None = None
    maker_orders: list[MakerOrder] = []


UserEvent = OrderEvent | TradeEvent
"""Any event of the user channel."""

# -- decoding ----------------------------------------------------------------------------------

_MARKET_TYPES: dict[str, type[Any]] = {
    "book": BookEvent,
    "price_change": PriceChangeEvent,
    "tick_size_change": TickSizeChangeEvent,
    "last_trade_price": LastTradePriceEvent,
    "best_bid_ask": BestBidAskEvent,
    "new_market": NewMarketEvent,
    "market_resolved": MarketResolvedEvent,
}
_USER_TYPES: dict[str, type[Any]] = {"order": OrderEvent, "trade": TradeEvent}

_market_frame = msgspec.json.Decoder(list[MarketEvent] | MarketEvent)
_market_raw_frame = msgspec.json.Decoder(list[RawMarketEvent] | RawMarketEvent)
_user_frame = msgspec.json.Decoder(list[UserEvent] | UserEvent)
_any_frame = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def decode_market(frame: bytes | str) -> list[MarketEvent]:
    """Decode one market-channel frame (an event object or an array of them).

    Raises:
        FeedDecodeError: The frame is not JSON, or a known event lacks a documented field;
            ``events`` holds the frame's other events.
    """
    try:
        decoded = _market_frame.decode(frame)
    except msgspec.DecodeError:
        return _decode_slowly(frame, _MARKET_TYPES, "market")
    return decoded if isinstance(decoded, list) else [decoded]


def decode_market_raw(frame: bytes | str) -> list[RawMarketEvent]:
    """:func:`decode_market`, with each ``book`` event's sides left as raw JSON.

    The sides' shape is checked when a book applies them
    (:meth:`pmtrader.book.Book.apply_snapshot_wire`), not here.

    Raises:
        FeedDecodeError: As :func:`decode_market`.
    """
    try:
        decoded = _market_raw_frame.decode(frame)
    except msgspec.DecodeError:
        # Unknown event types or a malformed event: the checked path, then raw sides again.
        try:
            events = decode_market(frame)
        except FeedDecodeError as exc:
            exc.events = tuple(_raw_book(e) if isinstance(e, BookEvent) else e for e in exc.events)
            raise
        return [_raw_book(e) if isinstance(e, BookEvent) else e for e in events]
    return decoded if isinstance(decoded, list) else [decoded]


def _raw_book(event: BookEvent) -> RawBookEvent:
    return RawBookEvent(
        event.asset_id,
        event.market,
        msgspec.Raw(_encoder.encode(event.bids)),
        msgspec.Raw(_encoder.encode(event.asks)),
        event.timestamp,
        event.hash,
        event.min_order_size,
        event.tick_size,
        event.neg_risk,
        event.last_trade_price,
    )


def decode_user(frame: bytes | str) -> list[UserEvent]:
    """Decode one user-channel frame (an event object or an array of them).

    Raises:
        FeedDecodeError: As :func:`decode_market`.
    """
    try:
        decoded = _user_frame.decode(frame)
    except msgspec.DecodeError:
        return _decode_slowly(frame, _USER_TYPES, "user")
    return decoded if isinstance(decoded, list) else [decoded]


def _decode_slowly(frame: bytes | str, types: dict[str, type[Any]], channel: str) -> list[Any]:
    """Event by event: skip unknown types, report the first malformed known one."""
    try:
        raw = _any_frame.decode(frame)
    except msgspec.DecodeError as exc:
        preview = frame[:80] if isinstance(frame, str) else frame[:80].decode(errors="replace")
        raise FeedDecodeError(
            f"{channel} channel frame is not JSON ({exc}); starts with {preview!r}"
        ) from exc
    items = raw if isinstance(raw, list) else [raw]
    events: list[Any] = []
    failure: tuple[str, msgspec.ValidationError] | None = None
    for item in items:
        event_type = item.get("event_type") if isinstance(item, dict) else None
        kind = types.get(event_type) if isinstance(event_type, str) else None
        if kind is None:
            _log.debug("ws.event_ignored", channel=channel, event_type=event_type)
            continue
        try:
            events.append(msgspec.convert(item, kind))
        except msgspec.ValidationError as exc:
            if failure is None:
                failure = (str(event_type), exc)
    if failure is not None:
        failed_type, error = failure
        raise FeedDecodeError(
            f"{channel} channel {failed_type!r} event does not have the documented shape: {error}",
            event_type=failed_type,
            events=tuple(events),
        ) from error
    return events


_rest_book = msgspec.json.Decoder(BookEvent)


def decode_book(body: bytes | str) -> BookEvent:
    """Decode a REST ``/book`` body (the ``book`` event's shape without ``event_type``).

    Raises:
        FeedDecodeError: The body is not a book.
    """
    try:
        return _rest_book.decode(body)
    except msgspec.DecodeError as exc:
        raise FeedDecodeError(f"/book body is not a book: {exc}", event_type="book") from exc


def level_columns(levels: list[PriceLevel]) -> tuple[list[int], list[int]]:
    """Exact integer prices (1e-4) and sizes (1e-6) of a ``book`` side, as parallel lists.

    Raises:
        ValueError: A price or size is not a plain decimal, or is finer than its unit.
    """
    try:
        # The common case: every string seen before, so one memo lookup per value.
        return [_PRICES[lv.price] for lv in levels], [_SIZES[lv.size] for lv in levels]
    except KeyError:
        return (
            parse_prices([level.price for level in levels]),
            parse_sizes([level.size for level in levels]),
        )
