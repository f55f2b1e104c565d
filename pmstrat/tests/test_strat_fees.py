"""Taker fees: the documented formula, charged exactly as the local exchange charges them."""

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from pmstrat.fees import taker_fee
from pmtrader.sim.admission import fee_amount
from pmtrader.sim.catalogue import FeeParams


def test_documented_example() -> None:
    # Protocol notes §4: 10 shares at 0.50, r = 0.07, e = 1 -> 0.175 pUSD.
    assert taker_fee(10_000_000, 5_000, 700) == 175_000
    assert taker_fee(10_000_000, 5_000, 700, exponent=2) == 43_750  # 10 * 0.07 * 0.0625
    assert taker_fee(10_000_000, 5_000, 0) == 0
    assert taker_fee(0, 5_000, 700) == 0


@settings(max_examples=300, deadline=None)
@given(
    size=st.integers(1, 10**12),
    price=st.integers(1, 9_999),
    bps=st.sampled_from([0, 300, 400, 500, 700, 1_000]),
    exponent=st.sampled_from([1, 2]),
)
def test_same_fee_as_the_local_exchange(size: int, price: int, bps: int, exponent: int) -> None:
    params = FeeParams(Decimal(bps) / 10_000, exponent)
    assert taker_fee(size, price, bps, exponent) == fee_amount(params, size, price)
