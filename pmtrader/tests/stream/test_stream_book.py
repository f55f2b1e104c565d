"""The L2 book: snapshot, deltas, top of book, depth and walks, checked against a dict model."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pmtrader.book import (
    AMOUNT_SCALE,
    PRICE_SCALE,
    Book,
    Walk,
    format_price,
    format_size,
    parse_price,
    parse_size,
)
from pmtrader.errors import BookIntegrityError

Side = Literal["BUY", "SELL"]


class DictBook:
    """The obvious reference: one dict per side, sorted on every read."""

    def __init__(self) -> None:
        self.sides: dict[Side, dict[int, int]] = {"BUY": {}, "SELL": {}}

    def snapshot(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        self.sides = {"BUY": dict(bids), "SELL": dict(asks)}

    def apply(self, side: Side, price: int, size: int) -> None:
        if size:
            self.sides[side][price] = size
        else:
            self.sides[side].pop(price, None)

    def best_first(self, side: Side) -> list[tuple[int, int]]:
        return sorted(self.sides[side].items(), reverse=side == "BUY")

    def walk_shares(self, side: Side, amount: int) -> tuple[int, int, int, bool]:
        shares = notional = worst = 0
        for price, size in self.best_first(side):
            if shares == amount:
                break
            take = min(size, amount - shares)
            shares += take
            notional += take * price
            worst = price
        return worst, shares, notional, shares == amount


# -- parsing and formatting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "units"),
    [("0.48", 4800), ("0.5", 5000), ("0.0001", 1), ("1", 10_000), ("0.4800", 4800), (".5", 5000)],
)
def test_prices_parse_exactly_into_1e4_units(text: str, units: int) -> None:
    assert parse_price(text) == units


@pytest.mark.parametrize(
    ("text", "base"),
    [("1200", 1_200_000_000), ("310.5", 310_500_000), ("219.217767", 219_217_767), ("0", 0)],
)
def test_sizes_parse_exactly_into_base_units(text: str, base: int) -> None:
    assert parse_size(text) == base


@pytest.mark.parametrize("text", ["", "-0.5", "1e-04", "0.12345", "abc", "0.5.1", "\uff10.5"])
def test_malformed_or_too_fine_prices_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ValueError, match="price"):
        parse_price(text)


def test_sizes_finer_than_a_base_unit_are_refused() -> None:
    with pytest.raises(ValueError, match="more than 6 decimals"):
        parse_size("1.0000001")
    assert parse_size("1.0000000") == AMOUNT_SCALE


@given(st.integers(0, 10**12))
def test_format_and_parse_round_trip(base: int) -> None:
    assert parse_size(format_size(base)) == base
    price = base % (PRICE_SCALE + 1)
    assert parse_price(format_price(price)) == price
    assert Decimal(format_size(base)) == Decimal(base) / AMOUNT_SCALE


def test_formatting_is_the_shortest_exact_string() -> None:
    assert format_price(4800) == "0.48"
    assert format_price(10_000) == "1"
    assert format_size(310_500_000) == "310.5"
    assert format_size(5) == "0.000005"


# -- snapshot and top of book --------------------------------------------------------------------


def _sample_book() -> Book:
    book = Book("tok", market="0xcond", tick_size=100)
    # Venue order: bids ascending, asks descending (best last).
    book.apply_snapshot(
        bids=[(4800, 1_200_000_000), (4900, 310_500_000)],
        asks=[(5300, 800_000_000), (5100, 95_250_000)],
        timestamp=1757908892351,
        hash="9d6d9e8831a150ac4cd878f99f7b2c6d419b875f",
    )
    return book


def test_a_new_book_is_empty_and_stale_until_its_first_snapshot() -> None:
    book = Book("tok")
    assert book.stale
    assert book.best_bid() is None
    assert book.best_ask() is None
    assert book.mid() is None
    assert book.spread() is None
    assert book.levels("BUY") == []


def test_snapshot_sets_top_of_book_mid_and_spread() -> None:
    book = _sample_book()
    assert not book.stale
    assert book.best_bid() == (4900, 310_500_000)
    assert book.best_ask() == (5100, 95_250_000)
    assert book.spread() == 200
    assert book.mid() == Decimal("0.50")
    assert book.best_bid_price == Decimal("0.49")
    assert book.best_ask_price == Decimal("0.51")
    assert book.best_bid_size == Decimal("310.5")
    assert book.best_ask_size == Decimal("95.25")
    assert book.spread_price == Decimal("0.02")
    assert book.tick_size_price == Decimal("0.01")
    assert book.timestamp == 1757908892351
    assert book.hash == "9d6d9e8831a150ac4cd878f99f7b2c6d419b875f"


def test_mid_keeps_the_fifth_decimal() -> None:
    book = Book("tok", tick_size=1)
    book.apply_snapshot([(1, 1)], [(2, 1)], timestamp=1)
    assert book.mid() == Decimal("0.00015")


def test_levels_come_in_venue_order_or_best_first() -> None:
    book = _sample_book()
    assert book.levels("BUY") == [(4800, 1_200_000_000), (4900, 310_500_000)]
    assert book.levels("SELL") == [(5300, 800_000_000), (5100, 95_250_000)]
    assert book.levels("BUY", best_first=True) == [(4900, 310_500_000), (4800, 1_200_000_000)]
    assert book.levels("SELL", best_first=True) == [(5100, 95_250_000), (5300, 800_000_000)]
    assert book.depth("SELL", 1) == [(5100, 95_250_000)]
    assert book.wire_levels("BUY") == [
        {"price": "0.48", "size": "1200"},
        {"price": "0.49", "size": "310.5"},
    ]


def test_a_crossed_snapshot_is_refused_whole() -> None:
    book = _sample_book()
    with pytest.raises(BookIntegrityError, match="crossed"):
        book.apply_snapshot([(5200, 1)], [(5100, 1)], timestamp=2)
    assert book.best_bid() == (4900, 310_500_000)
    assert book.timestamp == 1757908892351


@pytest.mark.parametrize(
    ("bids", "asks", "match"),
    [
        ([(0, 1)], [], "outside"),
        ([], [(10_000, 1)], "outside"),
        ([(100, 0)], [], "size 0"),
        ([(100, 1), (100, 2)], [], "repeats"),
    ],
)
def test_invalid_snapshots_are_refused_without_touching_the_book(
    bids: list[tuple[int, int]], asks: list[tuple[int, int]], match: str
) -> None:
    book = _sample_book()
    with pytest.raises(BookIntegrityError, match=match):
        book.apply_snapshot(bids, asks, timestamp=2)
    assert book.levels("BUY") == [(4800, 1_200_000_000), (4900, 310_500_000)]


# -- deltas --------------------------------------------------------------------------------------


def test_a_delta_sets_the_total_size_and_zero_removes_the_level() -> None:
    book = _sample_book()
    book.apply_level("BUY", 4950, 5_000_000)
    assert book.best_bid() == (4950, 5_000_000)
    book.apply_level("BUY", 4950, 0)
    assert book.best_bid() == (4900, 310_500_000)
    book.apply_level("SELL", 5100, 0)
    assert book.best_ask() == (5300, 800_000_000)
    book.apply_level("SELL", 5300, 0)
    assert book.best_ask() is None
    assert book.size_at("SELL", 5300) == 0
    assert book.size_at("BUY", 4800) == 1_200_000_000


def test_removing_an_absent_level_is_harmless() -> None:
    book = _sample_book()
    book.apply_level("BUY", 100, 0)
    assert book.level_count("BUY") == 2


@pytest.mark.parametrize(
    ("side", "price", "size"),
    [("BUY", 0, 1), ("SELL", 10_000, 1), ("BUY", 100, -1), ("bid", 100, 1)],
)
def test_invalid_deltas_raise_book_integrity_errors(side: Side, price: int, size: int) -> None:
    book = _sample_book()
    with pytest.raises(BookIntegrityError):
        book.apply_level(side, price, size)
    assert book.levels("BUY") == [(4800, 1_200_000_000), (4900, 310_500_000)]


def test_a_delta_that_crosses_is_applied_as_sent_and_reported() -> None:
    book = _sample_book()
    book.apply_level("BUY", 5200, 1_000_000)
    assert book.crossed
    assert book.best_bid() == (5200, 1_000_000)
    book.apply_level("SELL", 5100, 0)
    book.apply_level("SELL", 5300, 0)
    assert not book.crossed


def test_clear_empties_the_book_and_marks_it_stale() -> None:
    book = _sample_book()
    book.clear()
    assert book.stale
    assert book.best_bid() is None
    assert book.best_ask() is None


# -- walks ---------------------------------------------------------------------------------------


def test_walking_shares_touches_levels_best_first() -> None:
    book = _sample_book()
    walk = book.walk("SELL", 100 * AMOUNT_SCALE)
    assert walk == Walk(
        worst_price=5300,
        shares=100 * AMOUNT_SCALE,
        notional=95_250_000 * 5100 + 4_750_000 * 5300,
        levels=2,
        complete=True,
    )
    assert walk.cost == Decimal("51.095")
    assert walk.average_price == Decimal("0.51095")


def test_walking_more_than_the_book_holds_is_incomplete() -> None:
    book = _sample_book()
    walk = book.walk("BUY", 10_000 * AMOUNT_SCALE)
    assert not walk.complete
    assert walk.shares == 1_510_500_000
    assert walk.worst_price == 4800


def test_walking_by_cost_never_spends_more_than_the_amount() -> None:
    book = _sample_book()
    # 95.25 shares at 0.51 cost 48.5775; 10 pUSD more buys 10/0.53 = 18.867924 shares.
    walk = book.walk("SELL", 58_577_500, by="cost")
    assert walk.shares == 95_250_000 + 18_867_924
    assert walk.notional <= 58_577_500 * PRICE_SCALE
    assert walk.worst_price == 5300
    assert walk.complete
    assert book.walk("SELL", 0, by="cost") == Walk(0, 0, 0, 0, complete=True)
    assert book.walk("SELL", 10**15, by="cost").complete is False


def test_walking_an_empty_side_takes_nothing() -> None:
    walk = Book("tok").walk("SELL", AMOUNT_SCALE)
    assert walk == Walk(0, 0, 0, 0, complete=False)
    assert walk.average_price is None


# -- property test against the reference model ----------------------------------------------------

_price = st.integers(1, PRICE_SCALE - 1)
_size = st.integers(1, 10**12)
_delta = st.tuples(st.sampled_from(["BUY", "SELL"]), _price, st.one_of(st.just(0), _size))


@st.composite
def _uncrossed_snapshot(draw: st.DrawFn) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    split = draw(st.integers(2, PRICE_SCALE - 2))
    bid_prices = draw(st.sets(st.integers(1, split - 1), max_size=30))
    ask_prices = draw(st.sets(st.integers(split, PRICE_SCALE - 1), max_size=30))
    bids = [(p, draw(_size)) for p in sorted(bid_prices)]
    asks = [(p, draw(_size)) for p in sorted(ask_prices, reverse=True)]
    return bids, asks


@settings(max_examples=120, deadline=None)
@given(
    snapshot=_uncrossed_snapshot(),
    deltas=st.lists(_delta, max_size=120),
    n=st.integers(0, 12),
    amount=st.integers(0, 10**13),
)
def test_book_matches_a_dict_model_after_any_deltas(
    snapshot: tuple[list[tuple[int, int]], list[tuple[int, int]]],
    deltas: list[tuple[Side, int, int]],
    n: int,
    amount: int,
) -> None:
    book, model = Book("tok"), DictBook()
    book.apply_snapshot(*snapshot, timestamp=1)
    model.snapshot(*snapshot)
    for side, price, size in deltas:
        book.apply_level(side, price, size)
        model.apply(side, price, size)
        bids, asks = model.best_first("BUY"), model.best_first("SELL")
        assert book.best_bid() == (bids[0] if bids else None)
        assert book.best_ask() == (asks[0] if asks else None)
    for side in ("BUY", "SELL"):
        best_first = model.best_first(side)
        assert book.levels(side, best_first=True) == best_first
        assert book.levels(side) == best_first[::-1]
        assert book.depth(side, n) == best_first[:n]
        assert book.level_count(side) == len(best_first)
        worst, shares, notional, complete = model.walk_shares(side, amount)
        walk = book.walk(side, amount)
        assert (walk.worst_price, walk.shares, walk.notional, walk.complete) == (
            worst,
            shares,
            notional,
            complete,
        )
    bids, asks = model.best_first("BUY"), model.best_first("SELL")
    if bids and asks:
        assert book.spread() == asks[0][0] - bids[0][0]
        assert book.mid() == Decimal(asks[0][0] + bids[0][0]) / 2 / PRICE_SCALE
        assert book.crossed == (bids[0][0] >= asks[0][0])
    else:
        assert book.spread() is None
        assert book.mid() is None
        assert not book.crossed


@settings(max_examples=80, deadline=None)
@given(snapshot=_uncrossed_snapshot(), budget=st.integers(0, 10**10))
def test_cost_walks_buy_the_most_shares_the_budget_allows(
    snapshot: tuple[list[tuple[int, int]], list[tuple[int, int]]], budget: int
) -> None:
    book = Book("tok")
    book.apply_snapshot(*snapshot, timestamp=1)
    walk = book.walk("SELL", budget, by="cost")
    assert walk.notional <= budget * PRICE_SCALE
    remaining = budget * PRICE_SCALE - walk.notional
    # One more base unit at the next price would not have fit.
    taken = walk.shares
    for price, size in book.levels("SELL", best_first=True):
        if taken >= size:
            taken -= size
            continue
        assert remaining < price
        break
