"""Balance-capped market BUYs: ``balance=`` shrinks the amount so that it and its fees fit.

The rule is py-clob-client-v2's ``adjust_buy_amount_for_fees`` (``user_usdc_balance``), computed
on exact rationals; the official one runs on floats, so the two agree to float precision, and the
signed amounts agree exactly (``test_sdk_golden.py``). Against the local exchange: a wallet that
spends its whole balance on a market BUY is refused without the cap and filled with it.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pmtrader._fee_cap import buy_amount_for_balance
from pmtrader.models.clob import FeeDetails
from pmtrader.testing import SimServer, new_wallet
from py_clob_client_v2 import adjust_buy_amount_for_fees

from pmtrader import (
    Client,
    InsufficientBalanceError,
    OrderSizeError,
    SignatureType,
    ValidationError,
)

from .conftest import Catalogue, close_api, open_api, wallet_settings


def _fee(rate: str, exponent: int) -> FeeDetails:
    return FeeDetails.model_validate({"r": Decimal(rate), "e": exponent, "to": True})


def _official(  # noqa: PLR0917 - the official function's positional signature
    amount: str, price: str, balance: str, rate: str, exponent: int, bps: int, slip: int = 0
) -> float:
    result: float = adjust_buy_amount_for_fees(
        float(amount), float(price), float(balance), float(rate), exponent, bps / 10_000, slip
    )
    return result


def test_the_documented_example() -> None:
    # protocol.md §1.5: balance 5, price 0.5, r 0.07, e 1, builder 50 bps -> 4.8 pUSD.
    capped = buy_amount_for_balance(
        Decimal(5),
        Decimal("0.5"),
        Decimal(5),
        _fee("0.07", 1),
        builder_taker_rate=Decimal("0.005"),
    )
    assert capped == Fraction(24, 5)
    assert _official("5", "0.5", "5", "0.07", 1, 50) == pytest.approx(4.8)


@pytest.mark.parametrize(
    ("amount", "price", "balance", "rate", "exponent", "bps", "slip"),
    [
        ("10", "0.52", "5", "0.02", 1, 50, 0),
        ("10", "0.52", "100", "0.02", 1, 50, 0),  # fits: unchanged
        ("100", "0.01", "100", "0.07", 2, 0, 0),
        ("1000", "0.99", "999.99", "0.05", 1, 100, 10),
        ("3.33", "0.0625", "3.33", "0.04", 1, 1, 100),
        ("20", "0.5", "0.05", "0.07", 1, 100, 0),  # the fees eat more than the balance: 0
        ("20", "0.5", "20.1825", "0.07", 1, 50, 0),  # exactly amount + fees: capped (<=)
    ],
)
def test_agrees_with_the_official_function(  # noqa: PLR0917 - one parameter per column
    amount: str, price: str, balance: str, rate: str, exponent: int, bps: int, slip: int
) -> None:
    exact = buy_amount_for_balance(
        Decimal(amount),
        Decimal(price),
        Decimal(balance),
        _fee(rate, exponent),
        builder_taker_rate=Decimal(bps) / 10_000,
        fee_slippage=Decimal(slip),
    )
    official = _official(amount, price, balance, rate, exponent, bps, slip)
    assert float(exact) == pytest.approx(official, rel=1e-12, abs=1e-12)
    assert 0 <= exact <= Decimal(amount)


@settings(max_examples=300, deadline=None)
@given(
    amount=st.integers(1, 10**7).map(lambda c: Decimal(c) / 100),
    price=st.integers(1, 9999).map(lambda t: Decimal(t) / 10_000),
    balance=st.integers(0, 10**7).map(lambda c: Decimal(c) / 100),
    rate=st.integers(0, 1000).map(lambda r: Decimal(r) / 10_000),
    exponent=st.sampled_from([1, 2]),
    bps=st.integers(0, 100),
    slip=st.sampled_from([0, 1, 5, 100]),
)
def test_agrees_with_the_official_function_to_float_precision(  # noqa: PLR0917 - hypothesis
    amount: Decimal,
    price: Decimal,
    balance: Decimal,
    rate: Decimal,
    exponent: int,
    bps: int,
    slip: int,
) -> None:
    exact = buy_amount_for_balance(
        amount,
        price,
        balance,
        _fee(str(rate), exponent),
        builder_taker_rate=Decimal(bps) / 10_000,
        fee_slippage=Decimal(slip),
    )
    official = _official(str(amount), str(price), str(balance), str(rate), exponent, bps, slip)
    assert float(exact) == pytest.approx(official, rel=1e-9, abs=1e-9)
    # A shrunk order fits: its own fees (estimated on less than was reserved) fit beside it.
    if exact < amount:
        p = Fraction(price)
        platform = Fraction(rate) * (p * (1 - p)) ** exponent * (1 + Fraction(slip, 100))
        fees = exact / p * platform + exact * Fraction(bps, 10_000)
        assert exact + fees <= Fraction(balance)


def test_bad_inputs_are_refused() -> None:
    fee = _fee("0.02", 1)
    with pytest.raises(ValidationError, match="price"):
        buy_amount_for_balance(Decimal(1), Decimal(1), Decimal(1), fee)
    with pytest.raises(ValidationError, match="fee_slippage"):
        buy_amount_for_balance(
            Decimal(1), Decimal("0.5"), Decimal(1), fee, fee_slippage=Decimal("0.5")
        )
    with pytest.raises(ValidationError, match="positive"):
        buy_amount_for_balance(Decimal(0), Decimal("0.5"), Decimal(1), fee)


def test_balance_is_for_buys_and_must_leave_something(
    quiet_sim: SimServer, catalogue: Catalogue
) -> None:
    token = catalogue.first(skip=7).tokens[0].token_id
    with Client(wallet_settings(quiet_sim)) as client:
        with pytest.raises(ValidationError, match="a SELL spends shares"):
            client.orders.create_market_order(token, "SELL", amount=10, price="0.5", balance=10)
        with pytest.raises(ValidationError, match="positive"):
            client.orders.create_market_order(token, "BUY", amount=10, price="0.5", balance=0)
        with pytest.raises(ValidationError, match="not a float"):
            client.orders.create_market_order(
                token,
                "BUY",
                amount=10,
                price="0.5",
                balance=10.0,  # type: ignore[arg-type]  # the float an untyped caller sends
            )
        with pytest.raises(ValidationError, match="a SELL spends shares"):
            client.orders.create_order(token, "SELL", price="0.5", size=10, balance=10)
        minimum = client.books.get_order_book(token).min_order_size
        with pytest.raises(OrderSizeError, match=r"size capped to the balance .* is below"):
            client.orders.create_order(
                token, "BUY", price="0.5", size=minimum * 2, balance=minimum / 4
            )
        order = client.orders.create_order(
            token, "BUY", price="0.5", size=minimum * 4, balance=minimum
        )
        assert minimum * 1_000_000 * 2 > order.amounts.shares >= minimum * 1_000_000
        with pytest.raises(ValidationError, match="leaves nothing to spend"):
            client.orders.create_market_order(token, "BUY", amount=10, price="0.5", balance="0.001")


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_spending_the_whole_balance_fits_only_when_capped(
    quiet_sim: SimServer, catalogue: Catalogue, flavour: str
) -> None:
    with Client(wallet_settings(quiet_sim)) as reader:
        market = next(
            m
            for m in catalogue.markets[::-1]
            if m.accepting_orders
            and m.minimum_tick_size == Decimal("0.01")
            and not m.neg_risk
            and reader.markets.get_fee_details(m.tokens[0].token_id).rate > 0
        )
    yes, no = market.tokens[0].token_id, market.tokens[1].token_id
    # A proxy wallet holding exactly 50 pUSD; a counterparty offers YES at 0.50 (a NO bid).
    proxy = new_wallet().address
    settings_ = wallet_settings(quiet_sim, signature_type=SignatureType.POLY_PROXY, funder=proxy)
    api = open_api(settings_, flavour)
    with Client(wallet_settings(quiet_sim)) as maker:
        maker.account.create_or_derive_api_key()
        maker.orders.create_and_post_order(no, "BUY", price="0.5", size=300)
        try:
            httpx.post(
                quiet_sim.url + "/_sim/funder",
                json={"eoa": api(lambda c: c.address), "maker": proxy},
                timeout=10,
            ).raise_for_status()
            api(lambda c: c.account.create_or_derive_api_key())
            quiet_sim.fund(proxy, 50)
            fee = api(lambda c: c.markets.get_fee_details(yes))

            with pytest.raises(InsufficientBalanceError):
                api(lambda c: c.orders.create_and_post_market_order(yes, "BUY", amount=50))
            response = api(
                lambda c: c.orders.create_and_post_market_order(yes, "BUY", amount=50, balance=50)
            )
            assert response.status == "matched"

            expected = buy_amount_for_balance(Decimal(50), Decimal("0.5"), Decimal(50), fee)
            spent_notional = int(expected * 100) * 10_000  # whole cents, in base units
            left = api(lambda c: c.account.get_balance_allowance("COLLATERAL")).balance
            # Filled at 0.50: the capped notional, plus the venue's fee on those shares (floored
            # to a base unit), came out of the 50 pUSD; what stays is the fee the estimate
            # reserved on the part it cut (1.25 pUSD at 5 % here), not a shortfall.
            shares = spent_notional * 2
            venue_fee = int(shares * Fraction(fee.rate) * Fraction(1, 4) ** fee.exponent)
            assert left == 50_000_000 - spent_notional - venue_fee
            assert 0 <= left < 100_000
        finally:
            maker.orders.cancel_all()
            close_api(api)
