"""Order amounts: exact Decimal rounding that agrees with py-clob-client-v2's builder.

The official builder runs its rounding in binary floats. Its products and quotients are
protected by a round-up at ``amount + 4`` decimals, but its first step, ``round_down(size, 2)``,
is not: ``4951.86 * 100 == 495185.99999999994``, so it signs 4951.85 shares. pmt's amounts are
exact; the properties below show that they equal the official builder's for the size the builder
actually uses, on every tick size, for limit and market orders, buys and sells (market orders
also float-floor the price: 0.5025 at tick 0.0025 signs as 0.5024). The second float
limit: the round-up trick needs ``value * 10**(amount_dp + 4)`` below 2**52 to be exact, which a
market BUY of thousands of pUSD at a 0.0001-0.0025 price exceeds (1.6 million shares); there the
official builder signs one base unit less and pmt the exact amount (pinned by an example).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pmtrader._amounts import ROUNDING, check_cents, check_price, limit_amounts, market_amounts
from pmtrader.models.clob import TICK_SIZES
from py_clob_client_v2.order_builder.builder import ROUNDING_CONFIG, OrderBuilder
from py_clob_client_v2.order_builder.helpers import round_down

from pmtrader import InvalidPriceError, OrderSizeError, Side

OFFICIAL = OrderBuilder(None, funder="0x0000000000000000000000000000000000000000")


@st.composite
def orders(draw: st.DrawFn) -> tuple[str, Decimal, Decimal, Side]:
    tick = draw(st.sampled_from(TICK_SIZES))
    steps = int(1 / Decimal(tick))
    price = Decimal(draw(st.integers(1, steps - 1))) * Decimal(tick)
    size = Decimal(draw(st.integers(1, 5_000_000))) / 100
    side = draw(st.sampled_from([Side.BUY, Side.SELL]))
    return tick, price, size, side


def _official_size(size: Decimal, places: int = 2) -> Decimal:
    # The value the official builder really uses: its float round_down, read back exactly.
    return Decimal(repr(round_down(float(size), places)))


def test_the_rounding_table_is_the_official_one() -> None:
    assert set(ROUNDING) == set(ROUNDING_CONFIG) == set(TICK_SIZES)
    for tick, config in ROUNDING.items():
        official = ROUNDING_CONFIG[tick]
        assert (config.price, config.size, config.amount) == (
            official.price,
            official.size,
            official.amount,
        )


@settings(max_examples=600, deadline=None)
@given(orders())
def test_limit_amounts_equal_the_official_builder(
    order: tuple[str, Decimal, Decimal, Side],
) -> None:
    tick, price, size, side = order
    _, maker, taker = OFFICIAL.get_order_amounts(
        side.value, float(size), float(price), ROUNDING_CONFIG[tick]
    )
    ours = limit_amounts(side, price, _official_size(size), Decimal(tick))
    assert (ours.maker_amount, ours.taker_amount) == (maker, taker)
    # And the exact amounts imply exactly the limit price (the venue checks the tick grid).
    exact = limit_amounts(side, price, size, Decimal(tick))
    assert Decimal(exact.pusd) / Decimal(exact.shares) == price
    assert exact.shares == int(size * 1_000_000)


@settings(max_examples=600, deadline=None)
@given(orders())
def test_market_amounts_equal_the_official_builder(
    order: tuple[str, Decimal, Decimal, Side],
) -> None:
    tick, price, amount, side = order
    # Stay where the builder's binary floats still hold the digits its round-up trick needs.
    value = amount / price if side is Side.BUY else amount * price
    assume(value * 10 ** (ROUNDING[tick].amount + 4) < 2**52)
    _, maker, taker = OFFICIAL.get_market_order_amounts(
        side.value, float(amount), float(price), ROUNDING_CONFIG[tick]
    )
    # Market orders also float-floor the price (0.5025 becomes 0.5024 at tick 0.0025).
    used_price = _official_size(price, ROUNDING[tick].price)
    ours = market_amounts(side, _official_size(amount), used_price, Decimal(tick))
    assert (ours.maker_amount, ours.taker_amount) == (maker, taker)


def test_where_the_official_float_floor_loses_a_cent_pmt_does_not() -> None:
    _, maker, taker = OFFICIAL.get_order_amounts("SELL", 4951.86, 0.8, ROUNDING_CONFIG["0.1"])
    assert (maker, taker) == (4_951_850_000, 3_961_480_000)
    ours = limit_amounts(Side.SELL, Decimal("0.8"), Decimal("4951.86"), Decimal("0.1"))
    assert (ours.maker_amount, ours.taker_amount) == (4_951_860_000, 3_961_488_000)


def test_huge_market_buys_stay_exact_where_the_official_floats_run_out_of_digits() -> None:
    _, maker, taker = OFFICIAL.get_market_order_amounts(
        "BUY", 4088.49, 0.0025, ROUNDING_CONFIG["0.0025"]
    )
    assert (maker, taker) == (4_088_490_000, 1_635_395_999_999)
    ours = market_amounts(Side.BUY, Decimal("4088.49"), Decimal("0.0025"), Decimal("0.0025"))
    assert (ours.maker_amount, ours.taker_amount) == (4_088_490_000, 1_635_396_000_000)


@pytest.mark.parametrize(
    "case",
    [
        # protocol.md §1.5 worked examples, produced by the official wheel.
        (Side.BUY, "10", "0.52", "0.01", 10_000_000, 19_230_700),
        (Side.BUY, "100", "0.567", "0.01", 100_000_000, 178_571_400),
        (Side.SELL, "12.345", "0.61", "0.01", 12_340_000, 7_527_400),
        (Side.SELL, "10", "0.49", "0.01", 10_000_000, 4_900_000),
    ],
)
def test_market_examples(case: tuple[Side, str, str, str, int, int]) -> None:
    side, amount, price, tick, maker, taker = case
    got = market_amounts(side, Decimal(amount), Decimal(price), Decimal(tick))
    assert (got.maker_amount, got.taker_amount) == (maker, taker)


def test_an_off_grid_price_names_the_two_nearest_valid_prices() -> None:
    with pytest.raises(InvalidPriceError, match=r"0\.52 and 0\.53") as info:
        check_price(Decimal("0.525"), Decimal("0.01"))
    assert info.value.nearest == (Decimal("0.52"), Decimal("0.53"))
    with pytest.raises(InvalidPriceError, match=r"0\.0025 and 0\.005"):
        check_price(Decimal("0.003"), Decimal("0.0025"))


@pytest.mark.parametrize(("price", "nearest"), [("0", "0.01"), ("1", "0.99"), ("1.2", "0.99")])
def test_prices_outside_the_range_name_the_nearest_bound(price: str, nearest: str) -> None:
    with pytest.raises(InvalidPriceError, match=nearest) as info:
        check_price(Decimal(price), Decimal("0.01"))
    assert info.value.nearest == (Decimal(nearest),)


def test_a_price_a_hair_off_the_grid_is_caught_beyond_decimal_precision() -> None:
    hair = Decimal("0.30000000000000000000000000001")  # 29 significant digits
    with pytest.raises(InvalidPriceError, match=r"0\.3 and 0\.31"):
        check_price(hair, Decimal("0.01"))


def test_on_grid_prices_pass() -> None:
    assert check_price(Decimal("0.995"), Decimal("0.005")) == Decimal("0.995")
    assert check_price(Decimal("0.0001"), Decimal("0.0001")) == Decimal("0.0001")


def test_sizes_must_be_whole_cents_and_at_least_the_minimum() -> None:
    with pytest.raises(OrderSizeError, match="minimum order size of 5") as info:
        check_cents(Decimal("4.99"), "size", Decimal(5))
    assert info.value.minimum == Decimal(5)
    with pytest.raises(OrderSizeError, match=r"use 13\.33"):
        check_cents(Decimal("13.337"), "size", Decimal(5))
    with pytest.raises(OrderSizeError, match="positive"):
        check_cents(Decimal("-1"), "size")
    with pytest.raises(OrderSizeError, match="larger than any order"):
        check_cents(Decimal("123456789012345678901234567.891"), "size")
    with pytest.raises(OrderSizeError, match=r"use 10\.01"):
        check_cents(Decimal("10.0100000000000000000000000000001"), "size")
    assert check_cents(Decimal("5"), "size", Decimal(5)) == Decimal(5)
