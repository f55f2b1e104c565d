"""Balance-capped BUYs: spend at most what the wallet holds, fees included.

A BUY of ``amount`` pUSD (a market order's amount, a limit order's size x price) also pays the
platform's taker fee and, when the order carries a builder code, the builder's taker fee; the
venue admits it only if the funder holds the notional *plus* those fees. py-clob-client-v2
shrinks the amount when the caller passes ``user_usdc_balance`` (for market and limit BUYs,
``fees.adjust_buy_amount_for_fees``); :func:`buy_amount_for_balance` is that rule on exact
rationals (the official one runs in binary floats), and :func:`op_builder_taker_rate` reads the
builder's fee rate the way the official client does.

The rule, with ``p`` the order's worst price and ``r``/``e`` the market's fee rate and exponent::

    base         = min(amount, balance)
    platform_fee = base / p * r * (p * (1 - p)) ** e * (1 + slippage / 100)
    builder_fee  = base * builder_taker_rate
    amount'      = max(balance - platform_fee - builder_fee, 0)   if balance <= amount + fees
                 = amount                                          otherwise

The fees are estimated on ``min(amount, balance)``, so a shrunk order's real fees are a little
lower than what was reserved: the order always fits.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from pmtrader._http import Op, Request, Service
from pmtrader.errors import NotFoundError, ValidationError
from pmtrader.models.clob import FeeDetails

__all__ = ["BUILDER_FEE_BPS", "buy_amount_for_balance", "op_builder_taker_rate"]

#: Builder fee rates are quoted in basis points.
BUILDER_FEE_BPS = 10_000


def buy_amount_for_balance(
    amount: Decimal,
    price: Decimal,
    balance: Decimal,
    fee: FeeDetails | None,
    *,
    builder_taker_rate: Decimal = Decimal(0),
    fee_slippage: Decimal = Decimal(0),
) -> Fraction:
    """The pUSD a market BUY may spend so that it and its fees fit in ``balance``, exactly.

    Args:
        amount: The pUSD the caller wants to spend.
        price: The order's worst price (from the book walk or the caller).
        balance: The funder's pUSD.
        fee: The market's platform fee (``/clob-markets`` ``fd``); ``None`` = no fee.
        builder_taker_rate: The builder's taker fee as a fraction (50 bps = ``0.005``).
        fee_slippage: Extra platform-fee headroom in percent (py-clob-client-v2's
            ``fee_slippage``): 0, or 1 to 100.

    Returns:
        ``amount`` when it fits with its fees, else the balance minus the fees (never below 0),
        unrounded: the order's amount rules truncate it to cents.

    Raises:
        ValidationError: Negative inputs, a price outside (0, 1) or a slippage out of range.
    """
    if amount <= 0 or balance < 0 or builder_taker_rate < 0:
        raise ValidationError(
            f"amount {amount} must be positive and balance {balance} and builder fee rate "
            f"{builder_taker_rate} not negative"
        )
    if not 0 < price < 1:
        raise ValidationError(f"price {price} must be inside (0, 1)")
    if fee_slippage != 0 and not 1 <= fee_slippage <= 100:
        raise ValidationError(f"fee_slippage must be 0 or a percentage 1..100, got {fee_slippage}")
    p = Fraction(price)
    rate = Fraction(fee.rate) if fee is not None else Fraction(0)
    exponent = fee.exponent if fee is not None else 0
    platform_rate = rate * (p * (1 - p)) ** exponent * (1 + Fraction(fee_slippage) / 100)
    want, have = Fraction(amount), Fraction(balance)
    base = min(want, have)
    platform_fee = base / p * platform_rate
    builder_fee = base * Fraction(builder_taker_rate)
    if have <= want + platform_fee + builder_fee:
        return max(have - platform_fee - builder_fee, Fraction(0))
    return want


def op_builder_taker_rate(builder_code: str) -> Op[Decimal]:
    """``GET /fees/builder-fees/{code}``: the builder's taker fee as a fraction (0 if unknown).

    A code the venue does not know (404) charges nothing. Other failures raise: the GET is
    already retried, and guessing 0 could size an order its fees no longer fit.
    """
    try:
        response = yield Request.get(Service.CLOB, f"/fees/builder-fees/{builder_code}")
    except NotFoundError:
        return Decimal(0)
    body = response.json()
    bps = body.get("builder_taker_fee_rate_bps", 0) if isinstance(body, dict) else 0
    return Decimal(int(bps)) / BUILDER_FEE_BPS
