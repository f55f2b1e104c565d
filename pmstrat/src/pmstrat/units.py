"""Exact conversions between venue decimals and the integers used inside pmstrat.

Prices are integers in 1e-4 units (``PRICE_SCALE``): tick 0.01 is 100, 0.001 is 10. Shares and
pUSD are integers in 1e-6 base units (``AMOUNT_SCALE``). A value that does not fit the grid is an
error, never silently rounded: rounding belongs to the caller who knows which way is safe.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from pmstrat.errors import SignalError

PRICE_SCALE = 10_000
AMOUNT_SCALE = 1_000_000

_PRICE_Q = Decimal(1) / PRICE_SCALE
_AMOUNT_Q = Decimal(1) / AMOUNT_SCALE


def _as_decimal(value: Decimal | str | int, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int):
        raise SignalError(f"{what} must be a Decimal, a decimal string or an int, not {value!r}")
    try:
        dec = Decimal(value)
    except InvalidOperation as exc:
        raise SignalError(f"{what} {value!r} is not a number") from exc
    if not dec.is_finite():
        raise SignalError(f"{what} {value!r} is not a finite number")
    return dec


def price_units(value: Decimal | str | int) -> int:
    """Convert a price such as ``Decimal("0.56")`` to 1e-4 units (5600), exactly.

    Raises:
        SignalError: the price has more than four decimals or is not a number.
    """
    dec = _as_decimal(value, "price")
    scaled = dec * PRICE_SCALE
    if scaled != scaled.to_integral_value():
        raise SignalError(f"price {value} has more than 4 decimals; round it to the market's tick")
    return int(scaled)


def amount_units(value: Decimal | str | int) -> int:
    """Convert shares or pUSD such as ``Decimal("21.37")`` to 1e-6 base units, exactly.

    Raises:
        SignalError: the amount has more than six decimals or is not a number.
    """
    dec = _as_decimal(value, "amount")
    scaled = dec * AMOUNT_SCALE
    if scaled != scaled.to_integral_value():
        raise SignalError(f"amount {value} has more than 6 decimals (the token's precision)")
    return int(scaled)


def price_decimal(units: int) -> Decimal:
    """Return the exact decimal price of ``units`` 1e-4 price units (5600 -> 0.56)."""
    return (Decimal(units) * _PRICE_Q).normalize() if units else Decimal(0)


def amount_decimal(units: int) -> Decimal:
    """Return the exact decimal amount of ``units`` 1e-6 base units (21_370_000 -> 21.37)."""
    return (Decimal(units) * _AMOUNT_Q).normalize() if units else Decimal(0)


def notional_units(price: int, size: int) -> int:
    """Return pUSD base units paid for ``size`` base units of shares at ``price``, rounded down.

    ``price * size / PRICE_SCALE`` is exact whenever the size is a multiple of 100 base units
    (every 2-decimal venue size is); otherwise the sub-unit remainder is dropped in the payer's
    favour, which is what the venue's amount rounding does too.
    """
    return price * size // PRICE_SCALE


def notional_units_up(price: int, size: int) -> int:
    """Like :func:`notional_units` but rounded up (what a buyer must hold to be safe)."""
    return -(-price * size // PRICE_SCALE)
