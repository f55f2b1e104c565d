"""Exact order amounts: price and size to ``makerAmount``/``takerAmount`` in base units.

The rounding rules are py-clob-client-v2's (``OrderBuilder.get_order_amounts`` and
``get_market_order_amounts``, protocol.md §1.5), with the per-tick table kept as data. The
official builder evaluates them in binary floats; here they run on exact rationals, so no input
loses a cent to float error (the official ``round_down(4951.86, 2)`` gives 4951.85, because
``4951.86 * 100`` is ``495185.99999999994``). The property test in
``tests/sdk/test_sdk_amounts.py`` proves both agree on every tick size for the size the official
builder actually uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from pmtrader.errors import InvalidPriceError, OrderSizeError, ValidationError
from pmtrader.models.clob import TICK_SIZES, Side

__all__ = [
    "AMOUNT_SCALE",
    "MAX_AMOUNT",
    "PRICE_SCALE",
    "ROUNDING",
    "Amounts",
    "RoundConfig",
    "check_cents",
    "check_price",
    "limit_amounts",
    "market_amounts",
    "plain",
    "tick_key",
]

#: Prices inside hot paths are integers of 1e-4 (tick 0.01 = 100).
PRICE_SCALE = 10_000
#: Shares and pUSD are integers of 1e-6 (the tokens' 6 decimals).
AMOUNT_SCALE = 1_000_000
#: A bound far above any real order (1e12 shares or pUSD), so amounts stay inside uint256 and
#: inside Decimal's default precision.
MAX_AMOUNT = Decimal(10) ** 12


@dataclass(frozen=True, slots=True)
class RoundConfig:
    """Decimal places for one tick size: the price, the size, and the computed amount."""

    price: int
    size: int
    amount: int


#: The official builder's ``ROUNDING_CONFIG``, keyed by the exact tick string.
ROUNDING: dict[str, RoundConfig] = {
    "0.1": RoundConfig(1, 2, 3),
    "0.01": RoundConfig(2, 2, 4),
    "0.005": RoundConfig(3, 2, 5),
    "0.0025": RoundConfig(4, 2, 6),
    "0.001": RoundConfig(3, 2, 5),
    "0.0001": RoundConfig(4, 2, 6),
}


@dataclass(frozen=True, slots=True)
class Amounts:
    """What an order gives and wants, in 6-decimal base units."""

    side: Side
    maker_amount: int
    taker_amount: int

    @property
    def shares(self) -> int:
        """Shares bought (BUY) or sold (SELL), in base units."""
        return self.taker_amount if self.side is Side.BUY else self.maker_amount

    @property
    def pusd(self) -> int:
        """pUSD paid (BUY) or asked (SELL), in base units."""
        return self.maker_amount if self.side is Side.BUY else self.taker_amount


def tick_key(tick_size: Decimal) -> str:
    """The official builder's key for ``tick_size`` (``Decimal("0.010")`` -> ``"0.01"``).

    Raises:
        ValidationError: The venue does not use this tick size.
    """
    for key in TICK_SIZES:
        if Decimal(key) == tick_size:
            return key
    raise ValidationError(
        f"tick size {tick_size} is not one the venue uses ({', '.join(TICK_SIZES)})"
    )


def check_price(price: Decimal, tick_size: Decimal) -> Decimal:
    """Return ``price`` if it is on the tick grid and inside ``[tick, 1 - tick]``.

    Raises:
        InvalidPriceError: Off the grid or out of range; the message names the nearest valid
            prices.
    """
    tick_key(tick_size)
    low, high = tick_size, 1 - tick_size
    if not price.is_finite():
        raise InvalidPriceError(
            f"price {price} is not a number", price=price, tick_size=tick_size, nearest=(low,)
        )
    if price < low or price > high:
        nearest = (low,) if price < low else (high,)
        raise InvalidPriceError(
            f"price {price} is outside the market's range {low}..{high} "
            f"(tick {tick_size}); the nearest valid price is {nearest[0]}",
            price=price,
            tick_size=tick_size,
            nearest=nearest,
        )
    steps = Fraction(price) / Fraction(tick_size)  # exact: Decimal division rounds at 28 digits
    if steps.denominator != 1:
        below = (Decimal(math.floor(steps)) * tick_size).normalize()
        above = below + tick_size
        options = tuple(p for p in (below, above) if low <= p <= high)
        raise InvalidPriceError(
            f"price {price} is not on the market's tick grid ({tick_size}); the nearest valid "
            f"prices are {' and '.join(str(p) for p in options)}",
            price=price,
            tick_size=tick_size,
            nearest=options,
        )
    return price


def check_cents(value: Decimal, what: str, minimum: Decimal = Decimal(0)) -> Decimal:
    """Return ``value`` if it is a positive whole number of cents (2 decimals) >= ``minimum``.

    Raises:
        OrderSizeError: Too small, not positive, or finer than a cent.
    """
    if not value.is_finite() or value <= 0:
        raise OrderSizeError(f"{what} must be positive, got {value}", size=value, minimum=minimum)
    if value > MAX_AMOUNT:
        raise OrderSizeError(
            f"{what} {value} is larger than any order the venue can take (at most {MAX_AMOUNT})",
            size=value,
            minimum=minimum,
        )
    cents = Fraction(value) * 100  # exact: quantize() raises past 28 digits
    if cents.denominator != 1:
        down = Decimal(math.floor(cents)) / 100
        raise OrderSizeError(
            f"{what} {value} has more than 2 decimals; the venue trades whole cents: use {down}",
            size=value,
            minimum=minimum,
        )
    if value < minimum:
        raise OrderSizeError(
            f"{what} {value} is below the market's minimum order size of {plain(minimum)} shares",
            size=value,
            minimum=minimum,
        )
    return value


def plain(value: Decimal) -> str:
    """``Decimal("10.0")`` as ``"10"``, ``Decimal("0.50")`` as ``"0.5"`` (no exponent)."""
    return format(value.normalize(), "f")


def _decimals(x: Fraction) -> int:
    # Number of decimal places of x, or a large number if x is not a finite decimal.
    for places in range(0, 19):
        if (x * 10**places).denominator == 1:
            return places
    return 99


def _fix(x: Fraction, places: int) -> Fraction:
    # The builder's amount fix: round up at places+4 (kills float noise there), then down.
    if _decimals(x) > places:
        x = Fraction(math.ceil(x * 10 ** (places + 4)), 10 ** (places + 4))
        if _decimals(x) > places:
            x = Fraction(math.floor(x * 10**places), 10**places)
    return x


def _floor(x: Fraction, places: int) -> Fraction:
    return Fraction(math.floor(x * 10**places), 10**places)


def _units(x: Fraction) -> int:
    scaled = x * AMOUNT_SCALE
    # Every amount has at most 6 decimals by construction; round half-even like the builder.
    return round(scaled)


def limit_amounts(side: Side, price: Decimal, size: Decimal, tick_size: Decimal) -> Amounts:
    """Amounts of a limit order (GTC/GTD, or a FOK/FAK at a limit price).

    Args:
        side: BUY or SELL.
        price: On-grid price (see :func:`check_price`).
        size: Shares; truncated to the tick's size decimals, as the venue's builder does.
        tick_size: The market's tick size.
    """
    config = ROUNDING[tick_key(tick_size)]
    # The builder rounds the price half-even to the tick's decimals (a no-op on the grid).
    p = Fraction(round(Fraction(price) * 10**config.price), 10**config.price)
    shares = _floor(Fraction(size), config.size)
    pusd = _fix(shares * p, config.amount)
    if side is Side.BUY:
        return Amounts(side, _units(pusd), _units(shares))
    return Amounts(side, _units(shares), _units(pusd))


def market_amounts(side: Side, amount: Decimal, price: Decimal, tick_size: Decimal) -> Amounts:
    """Amounts of a market order: BUY spends ``amount`` pUSD, SELL sells ``amount`` shares.

    Args:
        side: BUY or SELL.
        amount: pUSD (BUY) or shares (SELL); truncated to cents.
        price: The worst acceptable price (rounded down to the tick's decimals).
        tick_size: The market's tick size.
    """
    config = ROUNDING[tick_key(tick_size)]
    p = _floor(Fraction(price), config.price)
    if p <= 0:
        raise InvalidPriceError(
            f"price {price} rounds to zero at tick {tick_size}",
            price=price,
            tick_size=tick_size,
            nearest=(tick_size,),
        )
    maker = _floor(Fraction(amount), config.size)
    taker = _fix(maker / p, config.amount) if side is Side.BUY else _fix(maker * p, config.amount)
    return Amounts(side, _units(maker), _units(taker))
