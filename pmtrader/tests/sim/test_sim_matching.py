"""The integer order book: price-time priority, limits, budgets, invariants under random flow."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pmtrader.sim.matching import PRICE_SCALE, OrderBook, Side, notional

SHARE = 1_000_000


def test_a_buy_takes_the_best_ask_first_and_then_the_oldest_order_at_that_price() -> None:
    book = OrderBook()
    book.add("late-52", "m1", Side.SELL, 5200, 5 * SHARE)
    book.add("only-51", "m2", Side.SELL, 5100, 3 * SHARE)
    book.add("later-52", "m3", Side.SELL, 5200, 5 * SHARE)
    fills = book.match(Side.BUY, 5200, max_size=10 * SHARE)
    assert [(f.maker_order_id, f.price, f.size) for f in fills] == [
        ("only-51", 5100, 3 * SHARE),
        ("late-52", 5200, 5 * SHARE),
        ("later-52", 5200, 2 * SHARE),
    ]
    assert book.levels(Side.SELL) == [(5200, 3 * SHARE)]
    book.check()


def test_matching_never_goes_past_the_limit_price() -> None:
    book = OrderBook()
    book.add("a", "m", Side.BUY, 4800, 10 * SHARE)
    book.add("b", "m", Side.BUY, 4700, 10 * SHARE)
    fills = book.match(Side.SELL, 4750, max_size=100 * SHARE)
    assert [(f.price, f.size) for f in fills] == [(4800, 10 * SHARE)]
    assert book.best_bid() == 4700


def test_a_budget_buy_keeps_price_improvement_as_extra_shares() -> None:
    book = OrderBook()
    book.add("cheap", "m", Side.SELL, 4000, 100 * SHARE)
    fills = book.match(Side.BUY, 5200, max_cost=10 * SHARE)
    assert sum(f.cost for f in fills) == 10 * SHARE
    assert sum(f.size for f in fills) == 25 * SHARE


def test_a_budget_that_buys_a_fraction_of_a_base_unit_rounds_in_the_makers_favour() -> None:
    book = OrderBook()
    book.add("m", "m", Side.SELL, 3300, 100 * SHARE)
    (fill,) = book.match(Side.BUY, 3300, max_cost=10 * SHARE)
    assert fill.size == 10 * SHARE * PRICE_SCALE // 3300
    assert fill.cost == notional(fill.size, 3300, round_up=True) <= 10 * SHARE


def test_fillable_reports_the_same_walk_without_touching_the_book() -> None:
    book = OrderBook()
    book.add("a", "m", Side.SELL, 5000, 4 * SHARE)
    book.add("b", "m", Side.SELL, 5100, 4 * SHARE)
    before = book.levels(Side.SELL)
    assert book.fillable(Side.BUY, 5100, max_size=6 * SHARE) == (
        6 * SHARE,
        2 * SHARE + 1_020_000,
    )
    assert book.levels(Side.SELL) == before


def test_cancel_returns_the_remaining_size_and_unknown_ids_return_zero() -> None:
    book = OrderBook()
    book.add("a", "m", Side.BUY, 5000, 4 * SHARE)
    book.match(Side.SELL, 5000, max_size=SHARE)
    assert book.cancel("a") == 3 * SHARE
    assert book.cancel("a") == 0
    assert len(book) == 0
    assert book.best_bid() is None


def test_queue_ahead_counts_shares_with_time_priority() -> None:
    book = OrderBook()
    book.add("a", "m", Side.BUY, 5000, 4 * SHARE)
    book.add("b", "m", Side.BUY, 5000, 6 * SHARE)
    book.add("c", "m", Side.BUY, 5000, 1 * SHARE)
    assert book.queue_ahead("c") == 10 * SHARE
    book.cancel("b")
    assert book.queue_ahead("c") == 4 * SHARE


def test_a_crossing_add_is_refused() -> None:
    book = OrderBook()
    book.add("a", "m", Side.SELL, 5000, SHARE)
    with pytest.raises(ValueError, match="cross"):
        book.add("b", "m", Side.BUY, 5000, SHARE)


def test_complement_budget_is_measured_in_the_other_tokens_price() -> None:
    # a NO buyer with 6 pUSD against a YES bid at 0.40: NO costs 0.60 a share
    book = OrderBook()
    book.add("yes-bid", "m", Side.BUY, 4000, 100 * SHARE)
    (fill,) = book.match(Side.SELL, 4000, max_cost=6 * SHARE, complement=True)
    assert fill.size == 10 * SHARE
    assert fill.size - fill.cost == 6 * SHARE


operations = st.lists(
    st.tuples(
        st.sampled_from(["add", "add", "take", "cancel"]),
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(40, 60).map(lambda p: p * 100),
        st.integers(1, 50).map(lambda s: s * 10_000 * 50),
    ),
    max_size=120,
)


@settings(max_examples=60, deadline=None)
@given(operations)
def test_random_flow_keeps_every_invariant_and_priority(
    ops: list[tuple[str, Side, int, int]],
) -> None:
    book = OrderBook()
    arrivals: dict[str, int] = {}
    for n, (op, side, price, size) in enumerate(ops):
        if op == "add":
            best = book.best_ask() if side is Side.BUY else book.best_bid()
            crosses = best is not None and (price >= best if side is Side.BUY else price <= best)
            if crosses:
                fills = book.match(side, price, max_size=size)
            else:
                book.add(f"o{n}", "m", side, price, size)
                arrivals[f"o{n}"] = n
                continue
        elif op == "take":
            fills = book.match(side, price, max_size=size)
        else:
            live = [o.order_id for o in book.orders()]
            if live:
                book.cancel(live[n % len(live)])
            fills = []
        # price priority: prices never get better for the taker along the walk; time within a level
        prices = [f.price for f in fills]
        assert prices == sorted(prices, reverse=side is Side.SELL)
        for a, b in itertools.pairwise(fills):
            if a.price == b.price:
                assert arrivals[a.maker_order_id] < arrivals[b.maker_order_id]
        assert all(f.price <= price if side is Side.BUY else f.price >= price for f in fills)
        assert sum(f.size for f in fills) <= size
        book.check()


@dataclass
class ModelOrder:
    order_id: str
    side: Side
    price: int
    size: int
    seq: int


class ReferenceBook:
    """The obvious model: every live order in one list, best price first, then arrival."""

    def __init__(self) -> None:
        self.orders: list[ModelOrder] = []
        self.arrivals = itertools.count()

    def add(self, order_id: str, side: Side, price: int, size: int) -> None:
        self.orders.append(ModelOrder(order_id, side, price, size, next(self.arrivals)))

    def cancel(self, order_id: str) -> None:
        self.orders = [o for o in self.orders if o.order_id != order_id]

    def match(self, side: Side, limit: int, max_size: int) -> list[tuple[str, int, int]]:
        buying = side is Side.BUY
        opposite = sorted(
            (o for o in self.orders if o.side is not side),
            key=lambda o: (o.price if buying else -o.price, o.seq),
        )
        fills = []
        for order in opposite:
            if max_size == 0 or (order.price > limit if buying else order.price < limit):
                break
            take = min(order.size, max_size)
            fills.append((order.order_id, order.price, take))
            order.size -= take
            max_size -= take
        self.orders = [o for o in self.orders if o.size != 0]
        return fills


@settings(max_examples=60, deadline=None)
@given(operations)
def test_the_book_fills_exactly_like_the_obvious_model(
    ops: list[tuple[str, Side, int, int]],
) -> None:
    book, model = OrderBook(), ReferenceBook()
    for n, (op, side, price, size) in enumerate(ops):
        if op == "add":
            best = book.best_ask() if side is Side.BUY else book.best_bid()
            if best is None or (price < best if side is Side.BUY else price > best):
                book.add(f"o{n}", "m", side, price, size)
                model.add(f"o{n}", side, price, size)
        elif op == "take":
            got = [
                (f.maker_order_id, f.price, f.size) for f in book.match(side, price, max_size=size)
            ]
            assert got == model.match(side, price, size)
        else:
            live = [o.order_id for o in book.orders()]
            if live:
                book.cancel(live[n % len(live)])
                model.cancel(live[n % len(live)])
    assert sorted((o.order_id, o.price, o.size) for o in book.orders()) == sorted(
        (o.order_id, o.price, o.size) for o in model.orders
    )
