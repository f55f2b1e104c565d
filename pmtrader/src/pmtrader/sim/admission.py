"""Pure order-admission rules: implied prices, tick and size checks, fees, with production errors.

Kept apart from the exchange so that each rule is a small function a test can call directly.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from pmtrader.sim.catalogue import FeeParams
from pmtrader.sim.errors import OrderRejected
from pmtrader.sim.matching import PRICE_SCALE, Side
from pmtrader.sim.records import SignedOrder, fmt_amount, fmt_price

__all__ = [
    "GTD_MIN_LEAD_MS",
    "ORDER_TYPES",
    "fee_amount",
    "fee_rate_bps",
    "limit_price",
]

ORDER_TYPES = ("GTC", "GTD", "FOK", "FAK")

GTD_MIN_LEAD_MS = 60_000
"""A GTD order must expire at least this long after it arrives.

Production documents a one-minute "security threshold" (to expire in 90 s, set now + 60 + 30); bots
have measured 60-90 s and the unified SDK refuses less than 180 s client-side. The sim takes the
documented 60 s: anything the official docs tell a user to send is accepted.
"""


def _implied(order: SignedOrder) -> Fraction:
    if order.side is Side.BUY:
        return Fraction(order.maker_amount * PRICE_SCALE, order.taker_amount)
    return Fraction(order.taker_amount * PRICE_SCALE, order.maker_amount)


def limit_price(order: SignedOrder, *, order_type: str, tick: int, order_id: str) -> int:
    """The order's limit in 1e-4 units, or ``OrderRejected`` with production's tick message.

    GTC/GTD orders must sit exactly on the tick grid within ``[tick, 1 - tick]`` (the official
    client always produces such amounts). FOK/FAK orders are market orders whose amounts imply an
    off-grid price (a $10 BUY at 0.52 signs 10 / 19.2307 = 0.520001…), so their implied price is a
    worst-price limit: rounded down for a BUY (never pay more), up for a SELL (never take less).
    """
    implied = _implied(order)
    shown = Decimal(implied.numerator) / Decimal(implied.denominator) / PRICE_SCALE
    error = (
        f"order {order_id} is invalid. Price ({shown.normalize():f}) breaks minimum tick size "
        f"rule: {fmt_price(tick)}"
    )
    if order_type in ("GTC", "GTD"):
        if implied.denominator != 1 or implied.numerator % tick:
            raise OrderRejected(error, order_id=order_id)
        price = implied.numerator
        if not tick <= price <= PRICE_SCALE - tick:
            raise OrderRejected(error, order_id=order_id)
        return price
    if order.side is Side.BUY:
        price = implied.numerator // implied.denominator
        price = min(price, PRICE_SCALE - 1)
    else:
        price = -(-implied.numerator // implied.denominator)
    if not 0 < price < PRICE_SCALE:
        raise OrderRejected(error, order_id=order_id)
    return price


def check_size(order: SignedOrder, *, min_size: int, order_id: str) -> None:
    """Refuse a resting order smaller than the market minimum (production message)."""
    if order.size < min_size:
        raise OrderRejected(
            f"order {order_id} is invalid. Size ({fmt_amount(order.size)}) lower than the "
            f"minimum: {fmt_amount(min_size)}",
            order_id=order_id,
        )


def fee_amount(fees: FeeParams, shares: int, price: int) -> int:
    """Platform fee in pUSD base units: ``shares x r x (p·(1-p))^e``, rounded DOWN to a base unit.

    Exact rational arithmetic, so the only rounding is the final floor (in the payer's favour;
    production rounds to 5 decimals, the sim to 6). The fee is one integer moved from the payer
    to the fee collector, so it can never create or destroy a base unit.
    """
    if fees.rate == 0 or shares <= 0:
        return 0
    rate = Fraction(fees.rate)
    p = Fraction(price, PRICE_SCALE)
    value = shares * rate * (p * (1 - p)) ** fees.exponent
    return int(value)


def fee_rate_bps(fees: FeeParams) -> int:
    """The market's fee rate in basis points, as trades' ``fee_rate_bps`` reports it."""
    return int(fees.rate * 10_000)
