"""Polymarket's V2 platform (taker) fee in integer base units.

``fee = shares * r * (p * (1 - p)) ** e`` in pUSD (protocol notes §4), with ``r`` in basis points
and ``p`` in 1e-4 units here. Rounded down to a base unit, exactly as the local exchange does
(``pmtrader.sim.admission.fee_amount``; a test holds the two equal), so a backtest charges what
the simulator charges. Production is quoted as rounding to 5 decimals (UNCONFIRMED upstream).
BUY takers pay the fee on top of the notional; SELL takers receive the notional minus the fee.
"""

from __future__ import annotations

from pmstrat.units import PRICE_SCALE


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
    denominator = 10_000
    for _ in range(exponent):
        numerator *= curve
        denominator *= scale
    return numerator // denominator
