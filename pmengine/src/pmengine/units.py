"""Integer units of the hot path: prices in 1e-4, amounts (shares and pUSD) in 1e-6 base units.

Compiled with mypyc. Conversions to and from ``Decimal`` are exact or they raise, so no float
rounding can ever reach an order.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

PRICE_SCALE: Final = 10_000
AMOUNT_SCALE: Final = 1_000_000
#: ``price * amount`` is in 1e-10 pUSD; dividing by this gives pUSD base units.
NOTIONAL_DIVISOR: Final = PRICE_SCALE

BUY: Final = 0
SELL: Final = 1


def side_name(side: int) -> str:
    """Return ``"BUY"`` or ``"SELL"`` for a side code."""
    return "BUY" if side == BUY else "SELL"


def parse_side(text: str) -> int:
    """Parse ``BUY``/``SELL`` (any case) into a side code.

    Raises:
        ValueError: the text is neither side.
    """
    upper = text.strip().upper()
    if upper == "BUY":
        return BUY
    if upper == "SELL":
        return SELL
    raise ValueError(f"side must be BUY or SELL, not {text!r}")


def _exact(value: Decimal | str | int, scale: int, what: str) -> int:
    dec = value if isinstance(value, Decimal) else Decimal(value)
    if not dec.is_finite():
        raise ValueError(f"{what} must be a finite number, not {value!r}")
    scaled = dec * scale
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{what} {value!r} has more precision than 1/{scale}")
    return int(scaled)


def price_to_int(value: Decimal | str | int) -> int:
    """Convert a decimal price to 1e-4 units, refusing anything finer."""
    return _exact(value, PRICE_SCALE, "price")


def amount_to_int(value: Decimal | str | int) -> int:
    """Convert a decimal amount (shares or pUSD) to 1e-6 base units, refusing anything finer."""
    return _exact(value, AMOUNT_SCALE, "amount")


def price_to_decimal(price: int) -> Decimal:
    """Convert 1e-4 price units back to a ``Decimal``."""
    return Decimal(price) / PRICE_SCALE


def amount_to_decimal(amount: int) -> Decimal:
    """Convert base units back to a ``Decimal``."""
    return Decimal(amount) / AMOUNT_SCALE


def notional_ceil(price: int, size: int) -> int:
    """Cash (base units) a BUY of ``size`` at ``price`` can spend, rounded up (reserve side)."""
    # Ceiling division without negating an operand first: compiled, a product of two small
    # non-negative ints stays on mypyc's native fast path (a negative one goes through PyLong).
    return (price * size + NOTIONAL_DIVISOR - 1) // NOTIONAL_DIVISOR


def notional_floor(price: int, size: int) -> int:
    """Cash (base units) a SELL of ``size`` at ``price`` yields at least, rounded down."""
    return price * size // NOTIONAL_DIVISOR
