"""The live gateway books each fill with the fee the exchange charges for it.

A venue trade reports the fee *rate* only, so the gateway recomputes the fee from the market's
``/clob-markets`` parameters. These cases pin the rule against the local exchange's own fee code
(``pmtrader.sim.admission.fee_amount``), including the maker fee of a market that is not
taker-only, which none of the local exchange's generated markets has (the live tests in
``test_engine_sim.py`` cover the taker-only path end to end).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pmengine.live import LiveGateway, _FeeRule
from pmengine.units import BUY, SELL, amount_to_decimal, price_to_decimal
from pmtrader.client import AsyncClient
from pmtrader.config import Settings
from pmtrader.models.clob import Trade
from pmtrader.sim.admission import fee_amount
from pmtrader.sim.catalogue import FeeParams

TAKER = "0x" + "aa" * 32
MAKER = "0x" + "bb" * 32
OTHER_MAKER = "0x" + "cc" * 32


def _trade(size: int, price: int, taker_side: str) -> Trade:
    """One trade: our taker order against our maker order and someone else's."""
    maker_side = "SELL" if taker_side == "BUY" else "BUY"
    return Trade.model_validate(
        {
            "id": "trade-1",
            "taker_order_id": TAKER,
            "market": "0xcondition",
            "asset_id": "yes-token",
            "side": taker_side,
            "size": str(amount_to_decimal(2 * size)),
            "price": str(price_to_decimal(price)),
            "status": "MATCHED",
            "match_time": "1764400000",
            "maker_orders": [
                {
                    "order_id": oid,
                    "matched_amount": str(amount_to_decimal(size)),
                    "price": str(price_to_decimal(price)),
                    "asset_id": "yes-token",
                    "side": maker_side,
                }
                for oid in (MAKER, OTHER_MAKER)
            ],
        }
    )


@pytest.mark.asyncio
@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=10_000 * 1_000_000),
    price=st.integers(min_value=1, max_value=9_999),
    rate_bps=st.sampled_from([0, 1, 400, 500, 700, 1_000, 10_000]),
    exponent=st.sampled_from([1, 2]),
    taker_only=st.booleans(),
    taker_side=st.sampled_from(["BUY", "SELL"]),
)
async def test_fill_fees_equal_the_exchanges_to_the_base_unit(
    *, size: int, price: int, rate_bps: int, exponent: int, taker_only: bool, taker_side: str
) -> None:
    gateway = LiveGateway(AsyncClient(Settings.for_sim("http://127.0.0.1:9")))
    try:
        gateway.adopt(TAKER)
        gateway.adopt(MAKER)
        rule = _FeeRule(rate_bps, exponent, taker_only)
        fills = {f.order_hash: f for f in gateway._fills_of(_trade(size, price, taker_side), rule)}
    finally:
        await gateway.close()
    params = FeeParams(Decimal(rate_bps) / 10_000, exponent, taker_only)
    # Only our two orders: someone else's maker fill is not ours to book.
    assert set(fills) == {TAKER, MAKER}
    taker, maker = fills[TAKER], fills[MAKER]
    assert taker.side == (BUY if taker_side == "BUY" else SELL)
    assert maker.side == (SELL if taker_side == "BUY" else BUY)
    assert (taker.size, maker.size) == (2 * size, size)
    assert taker.fee == fee_amount(params, 2 * size, price)
    assert maker.fee == (0 if taker_only else fee_amount(params, size, price))


@pytest.mark.asyncio
async def test_a_worked_example_of_the_fee_booked_on_each_side() -> None:
    gateway = LiveGateway(AsyncClient(Settings.for_sim("http://127.0.0.1:9")))
    try:
        gateway.adopt(TAKER)
        gateway.adopt(MAKER)
        trade = _trade(5_000_000, 5_000, "BUY")  # the taker buys 10 shares at 0.50
        fills = {f.order_hash: f.fee for f in gateway._fills_of(trade, _FeeRule(700, 1, False))}
    finally:
        await gateway.close()
    # 10 x 0.07 x 0.25 = 0.175 pUSD for the taker; 5 x 0.07 x 0.25 = 0.0875 for our maker.
    assert fills == {TAKER: 175_000, MAKER: 87_500}
