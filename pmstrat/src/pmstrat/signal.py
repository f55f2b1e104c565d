"""What a strategy asks for: ``Buy``, ``Sell``, ``Cancel`` and ``Hold``.

Signals are immutable ``msgspec`` structs holding integers (price in 1e-4 units, size in 1e-6
base units), so nothing a strategy emits can carry float rounding into an order, and creating
one is cheap: about 4x faster than a frozen, slotted dataclass with the same checks
(``benchmarks/bench_backtest.py`` prints both). Decimal constructors (``Buy.of``) and accessors
(``price_decimal``) exist for the edges where people type prices.

``Urgency`` tells the executor how hard to try: the engine may improve a ``HIGH`` quote by a tick
or cross the spread for ``IMMEDIATE``; the backtester treats ``IMMEDIATE`` like a marketable order.
"""

from __future__ import annotations

from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import ClassVar, Self, TypeAlias

import msgspec

from pmstrat.errors import SignalError
from pmstrat.units import (
    AMOUNT_SCALE,
    PRICE_SCALE,
    amount_decimal,
    amount_units,
    price_decimal,
    price_units,
)


class Side(StrEnum):
    """Which side of the book an order sits on (the venue's wire words)."""

    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    """The venue's order types: resting (GTC, GTD) and immediate (FOK, FAK)."""

    GTC = "GTC"
    GTD = "GTD"
    FOK = "FOK"
    FAK = "FAK"


class Urgency(IntEnum):
    """How aggressively the executor should work a signal (higher is more aggressive)."""

    LOW = 0
    NORMAL = 1
    HIGH = 2
    IMMEDIATE = 3


_RESTING = (OrderType.GTC, OrderType.GTD)


class _Order(msgspec.Struct, frozen=True, gc=False):
    """Fields shared by ``Buy`` and ``Sell``; not public, never instantiated itself."""

    token: str
    price: int
    size: int
    order_type: OrderType = OrderType.GTC
    post_only: bool = False
    expires_ms: int = 0
    urgency: Urgency = Urgency.NORMAL
    tag: str = ""

    side: ClassVar[Side]

    def __post_init__(self) -> None:
        # Cheap integer checks only: the market-specific ones (tick grid, minimum size) belong to
        # the executor, which knows the market.
        if not self.token:
            raise SignalError("token must be a non-empty token id")
        price = self.price
        if type(price) is not int or not 0 < price < PRICE_SCALE:
            raise SignalError(
                f"price must be an int in 1e-4 units between 1 and {PRICE_SCALE - 1}, "
                f"got {price!r} (use {type(self).__name__}.of() for decimals)"
            )
        if type(self.size) is not int or self.size <= 0:
            raise SignalError(f"size must be a positive int of 1e-6 base units, got {self.size!r}")
        if self.order_type == OrderType.GTD:
            if self.expires_ms <= 0:
                raise SignalError("a GTD order needs expires_ms (UTC milliseconds)")
        elif self.expires_ms:
            raise SignalError(f"expires_ms is only meaningful for GTD, not {self.order_type}")
        if self.post_only and self.order_type not in _RESTING:
            raise SignalError("post-only is only allowed with GTC and GTD orders")

    @property
    def price_decimal(self) -> Decimal:
        """The limit price as an exact decimal (5600 -> 0.56)."""
        return price_decimal(self.price)

    @property
    def size_decimal(self) -> Decimal:
        """The size in shares as an exact decimal."""
        return amount_decimal(self.size)

    @property
    def notional_decimal(self) -> Decimal:
        """Price times size in pUSD, exact."""
        return price_decimal(self.price) * amount_decimal(self.size)

    @classmethod
    def of(
        cls,
        token: str,
        price: Decimal | str | int,
        size: Decimal | str | int,
        *,
        order_type: OrderType = OrderType.GTC,
        post_only: bool = False,
        expires_ms: int = 0,
        urgency: Urgency = Urgency.NORMAL,
        tag: str = "",
    ) -> Self:
        """Build from decimal price and shares (``Buy.of("123", "0.56", "10")``), exactly.

        Prices are converted to 1e-4 units and sizes to base units without rounding; a value
        off those grids is refused.
        """
        return cls(
            token,
            price_units(price),
            amount_units(size),
            order_type=order_type,
            post_only=post_only,
            expires_ms=expires_ms,
            urgency=urgency,
            tag=tag,
        )

    @property
    def is_immediate(self) -> bool:
        """True for FOK/FAK orders and ``Urgency.IMMEDIATE``: they take liquidity now or never."""
        return self.order_type in (OrderType.FOK, OrderType.FAK) or (
            self.urgency == Urgency.IMMEDIATE
        )


class Buy(_Order, frozen=True, gc=False):
    """Buy ``size`` base units of ``token`` at ``price`` (1e-4 units) or better.

    Example:
        >>> Buy("123", 5600, 10_000_000).price_decimal
        Decimal('0.56')
    """

    side: ClassVar[Side] = Side.BUY


class Sell(_Order, frozen=True, gc=False):
    """Sell ``size`` base units of ``token`` at ``price`` (1e-4 units) or better."""

    side: ClassVar[Side] = Side.SELL


class Cancel(msgspec.Struct, frozen=True, gc=False):
    """Cancel one order (``order_id``) or every open order on a token (``token``).

    Exactly one of the two is given: ``Cancel(order_id="0xabc")`` or ``Cancel(token="123")``.
    An optional ``tag`` narrows a token-wide cancel to the orders a strategy tagged that way.
    """

    order_id: str = ""
    token: str = ""
    tag: str = ""

    def __post_init__(self) -> None:
        if bool(self.order_id) == bool(self.token):
            raise SignalError("Cancel needs exactly one of order_id= or token=")
        if self.tag and self.order_id:
            raise SignalError("tag= narrows a token-wide cancel; it cannot be used with order_id=")


class Hold(msgspec.Struct, frozen=True, gc=False):
    """Explicitly do nothing this time (the reason shows up in logs and reports)."""

    reason: str = ""


Signal: TypeAlias = Buy | Sell | Cancel | Hold
"""Anything a strategy may return (alone, in a list, or ``None`` for nothing)."""

SIGNAL_TYPES: tuple[type, ...] = (Buy, Sell, Cancel, Hold)
"""The concrete signal classes, for ``isinstance`` checks on the hot path."""

__all__ = [
    "AMOUNT_SCALE",
    "PRICE_SCALE",
    "SIGNAL_TYPES",
    "Buy",
    "Cancel",
    "Hold",
    "OrderType",
    "Sell",
    "Side",
    "Signal",
    "Urgency",
]
