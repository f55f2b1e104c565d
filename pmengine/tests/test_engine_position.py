"""Positions and P&L are exact to the base unit, whatever the sequence of fills."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from pmengine.position import MICRO_PER_BASE, Portfolio, Position
from pmengine.units import AMOUNT_SCALE, BUY, SELL

fills = st.lists(
    st.tuples(
        st.sampled_from([BUY, SELL]),
        st.integers(min_value=1, max_value=9_999),  # price, 1e-4
        st.integers(min_value=1, max_value=50 * AMOUNT_SCALE),  # size, base units
        st.integers(min_value=0, max_value=10_000),  # fee, base units
    ),
    max_size=60,
)


def test_round_trip_realizes_price_difference_minus_fees() -> None:
    pos = Position("t")
    pos.apply_fill(BUY, 4_000, 10 * AMOUNT_SCALE, 0)
    pos.apply_fill(BUY, 6_000, 10 * AMOUNT_SCALE, 0)
    assert pos.qty == 20 * AMOUNT_SCALE
    assert pos.cost == (4_000 + 6_000) * 10 * AMOUNT_SCALE  # average price 0.50
    realized = pos.apply_fill(SELL, 5_500, 5 * AMOUNT_SCALE, 1_000)
    # 5 shares closed at 0.55 against an average of 0.50: +0.25 pUSD, minus 0.001 fee.
    assert realized == 250_000 * MICRO_PER_BASE - 1_000 * MICRO_PER_BASE
    pos.apply_fill(SELL, 5_000, 15 * AMOUNT_SCALE, 0)
    assert pos.qty == 0
    assert pos.cost == 0
    assert pos.realized == 249_000 * MICRO_PER_BASE
    assert pos.fees == 1_000


def test_unrealized_is_marked_to_mid() -> None:
    pos = Position("t")
    pos.apply_fill(BUY, 4_000, 10 * AMOUNT_SCALE, 0)
    # mid 0.45 (bid 0.44, ask 0.46): 10 shares gained 0.05 each.
    assert pos.unrealized(4_400 + 4_600) == 500_000 * MICRO_PER_BASE
    assert pos.unrealized(-1) == 0


def test_resolution_pays_one_per_winning_share() -> None:
    book = Portfolio()
    book.set_cash(100 * AMOUNT_SCALE)
    book.apply_fill("yes", BUY, 3_000, 10 * AMOUNT_SCALE, 0)
    assert book.cash == 97 * AMOUNT_SCALE
    realized = book.resolve("yes", winner=True)
    assert realized == 7 * AMOUNT_SCALE * MICRO_PER_BASE
    assert book.cash == 107 * AMOUNT_SCALE
    assert book.qty("yes") == 0
    book.apply_fill("no", BUY, 7_000, AMOUNT_SCALE, 0)
    assert book.resolve("no", winner=False) == -7_000 * AMOUNT_SCALE


@settings(max_examples=300, deadline=None)
@given(fills)
def test_pnl_adds_up_to_cash_exactly(seq: list[tuple[int, int, int, int]]) -> None:
    """realized + cost basis of what is held == the net cash flow, to 1e-10 pUSD, always."""
    pos = Position("t")
    cash_micro = 0
    fees = 0
    for side, price, size, fee in seq:
        pos.apply_fill(side, price, size, fee)
        cash_micro += -price * size if side == BUY else price * size
        fees += fee
        assert pos.realized - pos.cost == cash_micro - fees * MICRO_PER_BASE
        if pos.qty == 0:
            assert pos.cost == 0
        else:
            # The cost basis has the sign of the position and an average price inside (0, 1].
            assert (pos.cost > 0) == (pos.qty > 0)
            assert abs(pos.cost) <= abs(pos.qty) * 10_000
    assert pos.fees == fees


@settings(max_examples=200, deadline=None)
@given(fills)
def test_portfolio_cash_moves_by_the_rounded_notional(seq: list[tuple[int, int, int, int]]) -> None:
    book = Portfolio()
    book.set_cash(0)
    expected = 0
    for side, price, size, fee in seq:
        book.apply_fill("t", side, price, size, fee)
        value = price * size
        # BUY pays the notional rounded up to a base unit; SELL receives it rounded down.
        expected += value // 10_000 - fee if side == SELL else -((value + 9_999) // 10_000) - fee
        assert book.cash == expected
    assert book.fees() == sum(f for *_, f in seq)
