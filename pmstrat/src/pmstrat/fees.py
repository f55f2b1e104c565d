"""Polymarket's V2 platform (taker) fee in integer base units.

``fee = shares * r * (p * (1 - p)) ** e`` in pUSD (protocol notes §4), with ``r`` in basis points
and ``p`` in 1e-4 units here. The venue is quoted as rounding fees to 5 decimals (10 base units);
this rounds half up to that grid (UNCONFIRMED upstream, so it is one function to change).
BUY takers pay the fee on top of the notional; SELL takers receive the notional minus the fee.
"""

from __future__ import annotations

from pmstrat.units import PRICE_SCALE

FEE_QUANTUM = 10
"""Fees are rounded to 5 decimals of pUSD: 10 base units."""


def taker_fee(size: int, price: int, rate_bps: int, exponent: int = 1) -> int:
    """Return the taker fee in pUSD base units for ``size`` base units of shares at ``price``.

    Args:
        size: shares traded, base units.
        price: execution price, 1e-4 units.
        rate_bps: fee rate ``r`` in basis points (0.07 -> 700).
        exponent: the curve exponent ``e``.

    Example:
        >>> taker_fee(10_000_000, 5000, 700)  # 10 shares at 0.50, r = 0.07: 0.175 pUSD
        175000
    """
    if rate_bps <= 0 or size <= 0:
        return 0
    curve = price * (PRICE_SCALE - price)
    scale = PRICE_SCALE * PRICE_SCALE
    numerator = size * rate_bps
    denominator = 10_000 * FEE_QUANTUM
    for _ in range(exponent):
        numerator *= curve
        denominator *= scale
    return (2 * numerator + denominator) // (2 * denominator) * FEE_QUANTUM
