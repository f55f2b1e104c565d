"""Websocket wire decoding: every documented payload parses into its struct, frames may be arrays,
unknown events are skipped, and malformed ones are reported without losing the rest."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import msgspec
import pytest
from pmtrader.book import Book, book_hash
from pmtrader.errors import FeedDecodeError
from pmtrader.wire import (
    BestBidAskEvent,
    BookEvent,
    LastTradePriceEvent,
    MarketResolvedEvent,
    NewMarketEvent,
    OrderEvent,
    PriceChangeEvent,
    TickSizeChangeEvent,
    TradeEvent,
    decode_market,
    decode_market_raw,
    decode_user,
    level_columns,
)

from pmtrader import wire

RESOURCES = Path(__file__).parent.parent / "resources" / "ws"


def _sample(name: str) -> bytes:
    return (RESOURCES / name).read_bytes()


def _all_samples() -> list[object]:
    """Every decoded object (and nested struct) from every sample file."""
    found: list[object] = []

    def walk(value: object) -> None:
        if isinstance(value, msgspec.Struct):
            found.append(value)
            for field in value.__struct_fields__:
                walk(getattr(value, field))
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for path in sorted(RESOURCES.glob("*.json")):
        if path.name.startswith("user_"):
            walk(decode_user(path.read_bytes()))
        else:
            walk(decode_market(path.read_bytes()))
            walk(decode_market_raw(path.read_bytes()))
    return found


def test_every_wire_struct_is_parsed_from_a_sample_at_least_once() -> None:
    structs = {
        value
        for name in wire.__all__
        if inspect.isclass(value := getattr(wire, name)) and issubclass(value, msgspec.Struct)
    }
    seen = {type(obj) for obj in _all_samples()}
    assert structs - seen == set()


def test_book_sample_keeps_venue_order_and_optional_fields() -> None:
    [event] = decode_market(_sample("market_book.json"))
    assert isinstance(event, BookEvent)
    assert [lv.price for lv in event.bids] == ["0.48", "0.49"]  # ascending, best last
    assert [lv.price for lv in event.asks] == ["0.53", "0.51"]  # descending, best last
    assert (event.tick_size, event.min_order_size, event.neg_risk) == ("0.01", "5", False)
    assert event.last_trade_price == "0.50"
    assert level_columns(event.bids) == ([4800, 4900], [1_200_000_000, 310_500_000])


def test_book_sample_hash_recipe_accepts_the_decoded_levels() -> None:
    [event] = decode_market(_sample("market_book.json"))
    assert isinstance(event, BookEvent)
    raw = json.loads(_sample("market_book.json"))
    expected = book_hash(
        raw["market"],
        raw["asset_id"],
        raw["timestamp"],
        raw["bids"],
        raw["asks"],
        raw["min_order_size"],
        raw["tick_size"],
        raw["neg_risk"],
        raw["last_trade_price"],
    )
    got = book_hash(
        event.market,
        event.asset_id,
        event.timestamp,
        [(lv.price, lv.size) for lv in event.bids],
        [(lv.price, lv.size) for lv in event.asks],
        event.min_order_size or "",
        event.tick_size or "",
        bool(event.neg_risk),
        event.last_trade_price or "",
    )
    assert got == expected


def test_initial_dump_arrives_as_an_array_of_books() -> None:
    events = decode_market(_sample("market_book_dump.json"))
    assert [type(e) for e in events] == [BookEvent, BookEvent]
    assert all(e.tick_size is None for e in events if isinstance(e, BookEvent))


def test_price_change_current_schema_carries_both_legs() -> None:
    [event] = decode_market(_sample("market_price_change.json"))
    assert isinstance(event, PriceChangeEvent)
    legs = event.entries()
    assert [(c.side, c.price, c.size) for c in legs] == [
        ("BUY", "0.5", "200"),
        ("SELL", "0.5", "200"),
    ]
    assert (legs[0].best_bid, legs[0].best_ask) == ("0.5", "1")
    assert len({c.asset_id for c in legs}) == 2


def test_price_change_legacy_schema_reads_as_the_current_entries() -> None:
    [event] = decode_market(_sample("market_price_change_legacy.json"))
    assert isinstance(event, PriceChangeEvent)
    entries = event.entries()
    assert [(c.asset_id[:6], c.side, c.price, c.size) for c in entries] == [
        ("713210", "SELL", "0.4", "3300"),
        ("713210", "SELL", "0.5", "0"),
    ]
    assert entries[0].hash == "3cd4d61e042c81560c9037ece0c61f3b1a8fbbdd"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("market_tick_size_change.json", TickSizeChangeEvent),
        ("market_last_trade_price.json", LastTradePriceEvent),
        ("market_best_bid_ask.json", BestBidAskEvent),
        ("market_new_market.json", NewMarketEvent),
        ("market_market_resolved.json", MarketResolvedEvent),
    ],
)
def test_single_market_events_decode_to_their_struct(name: str, kind: type) -> None:
    [event] = decode_market(_sample(name))
    assert isinstance(event, kind)


def test_last_trade_price_keeps_exact_strings() -> None:
    [event] = decode_market(_sample("market_last_trade_price.json"))
    assert isinstance(event, LastTradePriceEvent)
    assert (event.price, event.size, event.side) == ("0.456", "219.217767", "BUY")


def test_resolution_names_the_winner() -> None:
    [event] = decode_market(_sample("market_market_resolved.json"))
    assert isinstance(event, MarketResolvedEvent)
    assert event.winning_asset_id == event.assets_ids[0]
    assert event.winning_outcome == "Yes"
    assert event.event_message is not None
    assert event.event_message.slug == "nvda-above-in-january-2026"


def test_frames_may_be_text_or_bytes() -> None:
    text = _sample("market_best_bid_ask.json").decode()
    assert decode_market(text) == decode_market(text.encode())


def test_unknown_event_types_are_skipped_and_the_rest_kept() -> None:
    events = decode_market(_sample("market_mixed_with_unknown.json"))
    assert [type(e) for e in events] == [BestBidAskEvent]


def test_a_lone_unknown_event_decodes_to_nothing() -> None:
    assert decode_market(b'{"event_type":"heartbeat","ts":"1"}') == []
    assert decode_market(b'{"no_event_type":true}') == []
    assert decode_user(b'[{"event_type":"book","asset_id":"1"}]') == []


def test_a_malformed_known_event_is_reported_with_the_events_that_did_decode() -> None:
    good = json.loads(_sample("market_best_bid_ask.json"))
    frame = json.dumps([good, {"event_type": "book", "asset_id": "1"}])
    with pytest.raises(
        FeedDecodeError, match="'book' event does not have the documented shape"
    ) as info:
        decode_market(frame)
    assert info.value.event_type == "book"
    assert [type(e) for e in info.value.events] == [BestBidAskEvent]


def test_a_frame_that_is_not_json_says_so() -> None:
    with pytest.raises(FeedDecodeError, match="not JSON") as info:
        decode_market("INVALID OPERATION")
    assert info.value.event_type == ""


def test_user_order_events_cover_placement_update_and_cancellation() -> None:
    [placement] = decode_user(_sample("user_order_placement.json"))
    [update] = decode_user(_sample("user_order_update.json"))
    trade, cancellation = decode_user(_sample("user_trades_array.json"))
    assert isinstance(placement, OrderEvent)
    assert isinstance(update, OrderEvent)
    assert isinstance(cancellation, OrderEvent)
    assert isinstance(trade, TradeEvent)
    assert [e.type for e in (placement, update, cancellation)] == [
        "PLACEMENT",
        "UPDATE",
        "CANCELLATION",
    ]
    assert placement.associate_trades is None
    assert (update.original_size, update.size_matched, update.status) == ("100.0", "25.0", "LIVE")
    assert trade.status == "MINED"
    assert trade.match_time == "1672290701"


def test_user_trade_carries_its_maker_orders() -> None:
    [trade] = decode_user(_sample("user_trade.json"))
    assert isinstance(trade, TradeEvent)
    assert trade.matchtime == "1672290701"
    assert trade.bucket_index == 0
    [maker] = trade.maker_orders
    assert (maker.matched_amount, maker.price, maker.outcome) == ("10", "0.57", "YES")


def test_level_columns_refuse_prices_finer_than_the_grid() -> None:
    [event] = decode_market(
        b'{"event_type":"book","asset_id":"1","market":"m","timestamp":"1",'
        b'"bids":[{"price":"0.12345","size":"1"}],"asks":[]}'
    )
    assert isinstance(event, BookEvent)
    with pytest.raises(ValueError, match="more than 4 decimals"):
        level_columns(event.bids)


def test_a_decoded_book_fills_a_book() -> None:
    [event] = decode_market(_sample("market_book.json"))
    assert isinstance(event, BookEvent)
    book = Book(event.asset_id)
    bid_prices, bid_sizes = level_columns(event.bids)
    ask_prices, ask_sizes = level_columns(event.asks)
    book.apply_snapshot_columns(
        bid_prices, bid_sizes, ask_prices, ask_sizes, timestamp=int(event.timestamp)
    )
    assert book.wire_levels("BUY") == [{"price": lv.price, "size": lv.size} for lv in event.bids]
    assert (book.bid, book.ask) == (4900, 5100)
