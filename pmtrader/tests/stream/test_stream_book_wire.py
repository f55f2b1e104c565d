"""A book fed raw ``book`` sides (``Book.apply_snapshot_wire``) is exactly the book fed parsed
levels: the same levels, top of book and errors, whether it re-parses every level or only the
level texts that changed since the previous snapshot, and whatever else touched the book between.
"""

from __future__ import annotations

import json
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pmtrader.book import AMOUNT_SCALE, Book, format_price, format_size
from pmtrader.errors import BookIntegrityError, FeedDecodeError
from pmtrader.wire import RawBookEvent, decode_market_raw

Side = Literal["BUY", "SELL"]
Levels = list[tuple[int, int]]


def _side(levels: Levels, *, spelling: int = 0) -> bytes:
    """A compact wire side; ``spelling`` 1 pads prices ("0.480"), 2 adds spaces between levels."""
    items = [
        {
            "price": format_price(p) + ("0" if spelling == 1 and "." in format_price(p) else ""),
            "size": format_size(s),
        }
        for p, s in levels
    ]
    separators = (", ", ": ") if spelling == 2 else (",", ":")
    return json.dumps(items, separators=separators).encode()


def _reference(bids: Levels, asks: Levels) -> Book:
    book = Book("tok")
    book.apply_snapshot(bids, asks, timestamp=7, hash="h")
    return book


def _state(book: Book) -> tuple[object, ...]:
    return (
        book.levels("BUY"),
        book.levels("SELL"),
        book.bid,
        book.bid_size,
        book.ask,
        book.ask_size,
        book.timestamp,
        book.hash,
        book.stale,
    )


def test_a_wire_snapshot_gives_the_parsed_snapshots_book() -> None:
    bids = [(4800, 1_200_000_000), (4900, 310_500_000)]
    asks = [(5300, 5 * AMOUNT_SCALE), (5100, 1)]
    book = Book("tok")
    book.apply_snapshot_wire(_side(bids), _side(asks), timestamp=7, hash="h")
    assert _state(book) == _state(_reference(bids, asks))
    assert (book.bid, book.ask, book.ask_size) == (4900, 5100, 1)


def test_only_changed_levels_are_applied_and_the_result_is_exact() -> None:
    bids = [(4700, 50 * AMOUNT_SCALE), (4800, 7), (4900, 3 * AMOUNT_SCALE)]
    asks = [(5200, 9 * AMOUNT_SCALE), (5100, 2 * AMOUNT_SCALE)]
    book = Book("tok")
    book.apply_snapshot_wire(_side(bids), _side(asks), timestamp=1)
    # A trade at the best bid (size changes), the best ask traded away, a new bid behind.
    bids2 = [(4600, 11), (4700, 50 * AMOUNT_SCALE), (4800, 7), (4900, 1_500_000)]
    asks2 = [(5200, 9 * AMOUNT_SCALE)]
    book.apply_snapshot_wire(_side(bids2), _side(asks2), timestamp=7, hash="h")
    assert _state(book) == _state(_reference(bids2, asks2))


@pytest.mark.parametrize("spelling", [1, 2])
def test_other_spellings_and_whitespace_parse_the_same(spelling: int) -> None:
    bids = [(4800, 1_200_000_000), (4900, 310_500_000)]
    asks = [(5100, 1)]
    book = Book("tok")
    book.apply_snapshot_wire(_side(bids, spelling=spelling), _side(asks), timestamp=7, hash="h")
    book.apply_snapshot_wire(_side(bids[:1], spelling=spelling), _side(asks), timestamp=7, hash="h")
    assert _state(book) == _state(_reference(bids[:1], asks))


@pytest.mark.parametrize(
    ("bids", "asks", "error"),
    [
        ([(5000, 1)], [(5000, 1)], BookIntegrityError),  # crossed
        ([(4800, 1), (4800, 1)], [], BookIntegrityError),  # a level text repeats
        ([(4800, 1), (4800, 2)], [], BookIntegrityError),  # a price repeats
        ([(4800, 0)], [], BookIntegrityError),  # zero size in a snapshot
    ],
)
def test_invalid_wire_snapshots_are_refused_and_leave_the_book_as_it_was(
    bids: Levels, asks: Levels, error: type[Exception]
) -> None:
    good_bids, good_asks = [(4800, 5), (4700, 6)], [(5100, 1)]
    book = Book("tok")
    book.apply_snapshot_wire(_side(good_bids), _side(good_asks), timestamp=1)
    before = _state(book)
    with pytest.raises(error):
        book.apply_snapshot_wire(_side(bids), _side(asks), timestamp=2)
    assert _state(book) == before
    # And the book still takes the next valid snapshot exactly.
    book.apply_snapshot_wire(_side(good_bids[:1]), _side(good_asks), timestamp=7, hash="h")
    assert _state(book) == _state(_reference(good_bids[:1], good_asks))


@pytest.mark.parametrize(
    ("side", "error"),
    [
        (b'[{"price":"0.48","size":"1.0000001"}]', ValueError),  # finer than a base unit
        (b'[{"price":"0.48","size":"-1"}]', ValueError),
        (b'[{"price":"0.48"}]', FeedDecodeError),  # no size
        (b'[{"price":"0.48","size":"1"}', FeedDecodeError),  # not JSON
        (b'[{"price":"0.48},{","size":"1"}]', ValueError),  # "},{" inside a string
    ],
)
def test_malformed_sides_say_what_is_wrong(side: bytes, error: type[Exception]) -> None:
    book = Book("tok")
    book.apply_snapshot_wire(b'[{"price":"0.4","size":"1"}]', b"[]", timestamp=1)
    before = _state(book)
    with pytest.raises(error):
        book.apply_snapshot_wire(side, b"[]", timestamp=2)
    assert _state(book) == before


def test_a_crossed_change_is_rolled_back_whole() -> None:
    book = Book("tok")
    bids, asks = [(4800, 5), (4700, 6)], [(5200, 2), (5100, 1)]
    book.apply_snapshot_wire(_side(bids), _side(asks), timestamp=1)
    before = _state(book)
    with pytest.raises(BookIntegrityError, match="crossed"):
        # Both sides change by one level and the new best bid crosses the ask.
        book.apply_snapshot_wire(
            _side([(4700, 6), (5150, 5)]), _side([(5200, 2), (5100, 9)]), timestamp=2
        )
    assert _state(book) == before


def test_unknown_events_in_a_frame_still_give_raw_books() -> None:
    frame = json.dumps(
        [
            {"event_type": "something_new", "x": 1},
            {
                "event_type": "book",
                "asset_id": "tok",
                "market": "0xm",
                "bids": [{"price": "0.48", "size": "10"}],
                "asks": [],
                "timestamp": "7",
            },
        ]
    ).encode()
    [event] = decode_market_raw(frame)
    assert isinstance(event, RawBookEvent)
    book = Book("tok")
    book.apply_snapshot_wire(bytes(event.bids), bytes(event.asks), timestamp=7)
    assert book.levels("BUY") == [(4800, 10 * AMOUNT_SCALE)]


# -- property: any sequence of snapshots and deltas matches the parsed path ---------------------

_size = st.one_of(st.sampled_from([AMOUNT_SCALE, 5 * AMOUNT_SCALE, 10_000]), st.integers(1, 10**9))


@st.composite
def _snapshot(draw: st.DrawFn) -> tuple[Levels, Levels]:
    split = draw(st.integers(2, 60)) * 100
    bid_prices = draw(st.sets(st.integers(1, split // 100 - 1).map(lambda k: k * 100), max_size=14))
    ask_prices = draw(st.sets(st.integers(split // 100, 99).map(lambda k: k * 100), max_size=14))
    bids = [(p, draw(_size)) for p in sorted(bid_prices)]
    asks = [(p, draw(_size)) for p in sorted(ask_prices, reverse=True)]
    return bids, asks


Snapshot = tuple[Levels, Levels]
Delta = tuple[Side, int, int]
_delta: st.SearchStrategy[Delta] = st.tuples(
    st.sampled_from(["BUY", "SELL"]),
    st.integers(1, 99).map(lambda k: k * 100),
    st.one_of(st.just(0), _size),
)


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(st.one_of(_snapshot(), _delta), min_size=1, max_size=25))
def test_wire_snapshots_and_deltas_match_the_parsed_path(steps: list[Snapshot | Delta]) -> None:
    wire, parsed = Book("tok"), Book("tok")
    for n, step in enumerate(steps):
        if len(step) == 2:
            bids, asks = step
            try:
                parsed.apply_snapshot(bids, asks, timestamp=n, hash=str(n))
            except BookIntegrityError:
                with pytest.raises(BookIntegrityError):
                    wire.apply_snapshot_wire(_side(bids), _side(asks), timestamp=n, hash=str(n))
            else:
                wire.apply_snapshot_wire(_side(bids), _side(asks), timestamp=n, hash=str(n))
        else:
            side, price, size = step
            parsed.apply_level(side, price, size)
            wire.apply_level(side, price, size)
        assert _state(wire) == _state(parsed)
