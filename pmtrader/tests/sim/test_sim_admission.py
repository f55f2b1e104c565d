"""Admission rules on the exact integers py-clob-client-v2 signs (protocol.md §1.5 goldens)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pmtrader.sim import FeeParams, OrderRejected, Side, SignedOrder
from pmtrader.sim.admission import fee_amount, limit_price


def order(side: Side, maker: int, taker: int) -> SignedOrder:
    return SignedOrder(1, "0x1", "0x1", "1", maker, taker, side)


@pytest.mark.parametrize(
    ("side", "maker", "taker", "tick", "price"),
    [
        (Side.BUY, 11_967_200, 21_370_000, 100, 5_600),  # limit BUY 21.37 @ 0.56
        (Side.SELL, 13_330_000, 7_598_100, 100, 5_700),  # limit SELL 13.33 @ 0.57
        (Side.BUY, 208_125, 3_330_000, 25, 625),  # tick 0.0025: 3.33 @ 0.0625
        (Side.BUY, 1_009_899, 1_010_000, 1, 9_999),  # tick 0.0001: 1.01 @ 0.9999
        (Side.BUY, 955_710, 7_770_000, 10, 1_230),  # tick 0.001: 7.77 @ 0.123
    ],
)
def test_client_built_limit_orders_sit_exactly_on_the_grid(
    side: Side, maker: int, taker: int, tick: int, price: int
) -> None:
    assert (
        limit_price(order(side, maker, taker), order_type="GTC", tick=tick, order_id="x") == price
    )


@pytest.mark.parametrize(
    ("side", "maker", "taker", "worst"),
    [
        (Side.BUY, 10_000_000, 19_230_700, 5_200),  # market BUY $10 at 0.52: 0.520001...
        (Side.BUY, 100_000_000, 178_571_400, 5_600),  # market BUY $100 at 0.56
        (Side.SELL, 12_340_000, 7_527_400, 6_100),  # market SELL 12.34 @ 0.61
    ],
)
def test_market_orders_off_the_grid_become_worst_price_limits(
    side: Side, maker: int, taker: int, worst: int
) -> None:
    assert limit_price(order(side, maker, taker), order_type="FOK", tick=100, order_id="x") == worst
    off_grid = order(side, maker, taker) if side is Side.BUY else order(side, maker, taker + 1)
    with pytest.raises(OrderRejected, match=r"breaks minimum tick size rule: 0\.01"):
        limit_price(off_grid, order_type="GTC", tick=100, order_id="x")


def test_the_tick_message_names_the_order_price_and_tick() -> None:
    with pytest.raises(OrderRejected) as rejected:
        limit_price(
            order(Side.BUY, 5_550_000, 10_000_000), order_type="GTD", tick=100, order_id="0xab"
        )
    assert str(rejected.value) == (
        "order 0xab is invalid. Price (0.555) breaks minimum tick size rule: 0.01"
    )


def test_fees_match_the_documented_example_and_round_down() -> None:
    fees = FeeParams(Decimal("0.07"), 1)
    assert fee_amount(fees, 10_000_000, 5_000) == 175_000  # 10 x 0.07 x 0.25 = 0.175
    # 3 x 0.02 x (0.33 x 0.67)^2 = 0.0029331126 pUSD: floored to 2933 base units
    assert fee_amount(FeeParams(Decimal("0.02"), 2), 3_000_000, 3_300) == 2_933
    assert fee_amount(FeeParams(Decimal("0"), 1), 10_000_000, 5_000) == 0
