"""``OrderPreview``: what an order would do against the current book, before it is signed.

A pure function of a book, the market's fee parameters and the order: it walks the opposite
side best-first, says how many shares would fill now, at what average and worst price, what it
would cost (or bring) in pUSD and what taker fee the market's ``fd`` implies, and whether the
rest of the order would rest on the book. Nothing is sent.

Fees follow protocol.md §4: ``fee = shares * r * (p * (1 - p)) ** e`` per fill price, paid by
takers only when ``to`` is true; shown rounded to 1e-6 pUSD. (The venue's own fee rounding is
unconfirmed, so treat the last digit as indicative.)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from pmtrader._amounts import Amounts
from pmtrader.models.clob import FeeDetails, OrderBook, OrderType, Side

__all__ = ["OrderPreview", "preview_limit", "preview_market"]

_MICRO = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class OrderPreview:
    """The expected outcome of an order against a book snapshot.

    Attributes:
        token_id: The token.
        side: BUY or SELL.
        order_type: GTC, GTD, FOK or FAK.
        limit_price: The order's limit (for a market order: its worst acceptable price).
        shares: Shares that would fill immediately.
        cost: pUSD paid (BUY) or received (SELL) for those shares, before fees.
        fee: Taker fee in pUSD for the immediate fills.
        average_price: ``cost / shares``, or ``None`` when nothing fills.
        worst_price: The furthest level the fill reaches, or ``None``.
        crosses: Whether any part would trade immediately (taker).
        rests: Whether some part would stay on the book (GTC/GTD only).
        resting_shares: Shares that would rest.
        fills_completely: Whether the whole order fills now.
        amounts: The signed ``makerAmount``/``takerAmount`` in base units, when known.
        book_timestamp: The timestamp (ms) of the book the preview used.
    """

    token_id: str
    side: Side
    order_type: OrderType
    limit_price: Decimal
    shares: Decimal
    cost: Decimal
    fee: Decimal
    average_price: Decimal | None
    worst_price: Decimal | None
    crosses: bool
    rests: bool
    resting_shares: Decimal
    fills_completely: bool
    amounts: Amounts | None
    book_timestamp: int

    @property
    def total(self) -> Decimal:
        """pUSD out of pocket for a BUY (cost + fee), or in pocket for a SELL (cost - fee)."""
        return self.cost + self.fee if self.side is Side.BUY else self.cost - self.fee


def _fee(fee: FeeDetails | None, shares: Decimal, price: Decimal) -> Decimal:
    if fee is None or fee.rate == 0:
        return Decimal(0)
    return fee.fee(shares, price)


def _levels(book: OrderBook, side: Side) -> list[tuple[Decimal, Decimal]]:
    # A BUY takes asks from the lowest up; a SELL hits bids from the highest down.
    levels = book.asks_best_first() if side is Side.BUY else book.bids_best_first()
    return [(level.price, level.size) for level in levels]


def _crosses(side: Side, level_price: Decimal, limit: Decimal) -> bool:
    return level_price <= limit if side is Side.BUY else level_price >= limit


def preview_limit(
    book: OrderBook,
    side: Side,
    price: Decimal,
    size: Decimal,
    *,
    order_type: OrderType = OrderType.GTC,
    fee: FeeDetails | None = None,
    amounts: Amounts | None = None,
) -> OrderPreview:
    """Preview a limit order of ``size`` shares at ``price``.

    Args:
        book: The token's current book.
        side: BUY or SELL.
        price: The limit price.
        size: Shares.
        order_type: GTC/GTD rest what does not fill; FOK/FAK do not.
        fee: The market's fee parameters (``None``: no fee).
        amounts: The signed amounts, to carry along.
    """
    remaining = size
    shares = cost = fee_total = Decimal(0)
    worst: Decimal | None = None
    for level_price, level_size in _levels(book, side):
        if remaining <= 0 or not _crosses(side, level_price, price):
            break
        take = min(remaining, level_size)
        shares += take
        cost += take * level_price
        fee_total += _fee(fee, take, level_price)
        worst = level_price
        remaining -= take
    can_rest = order_type in (OrderType.GTC, OrderType.GTD)
    if order_type is OrderType.FOK and remaining > 0:
        shares = cost = fee_total = Decimal(0)
        worst = None
    return OrderPreview(
        token_id=book.asset_id,
        side=side,
        order_type=order_type,
        limit_price=price,
        shares=shares,
        cost=cost.quantize(_MICRO),
        fee=fee_total.quantize(_MICRO, rounding=ROUND_HALF_UP),
        average_price=(cost / shares) if shares else None,
        worst_price=worst,
        crosses=shares > 0,
        rests=can_rest and remaining > 0,
        resting_shares=remaining if can_rest else Decimal(0),
        fills_completely=remaining == 0,
        amounts=amounts,
        book_timestamp=book.timestamp_ms,
    )


def preview_market(
    book: OrderBook,
    side: Side,
    amount: Decimal,
    *,
    worst_price: Decimal | None = None,
    order_type: OrderType = OrderType.FOK,
    fee: FeeDetails | None = None,
    amounts: Amounts | None = None,
) -> OrderPreview:
    """Preview a market order: a BUY spends ``amount`` pUSD, a SELL sells ``amount`` shares.

    Args:
        book: The token's current book.
        side: BUY or SELL.
        amount: pUSD for a BUY, shares for a SELL.
        worst_price: Stop at this price (default: walk the whole book).
        order_type: FOK (all or nothing) or FAK (what is there).
        fee: The market's fee parameters.
        amounts: The signed amounts, to carry along.
    """
    left = amount
    shares = cost = fee_total = Decimal(0)
    worst: Decimal | None = None
    for level_price, level_size in _levels(book, side):
        if left <= 0 or (worst_price is not None and not _crosses(side, level_price, worst_price)):
            break
        if side is Side.BUY:
            # Compare costs, not quotients: left / price is inexact, and a remainder of 1e-30
            # must not turn a filled FOK into a killed one.
            level_cost = level_size * level_price
            if level_cost >= left:
                take, left = left / level_price, Decimal(0)
            else:
                take, left = level_size, left - level_cost
        else:
            take = min(level_size, left)
            left -= take
        shares += take
        cost += take * level_price
        fee_total += _fee(fee, take, level_price)
        worst = level_price
    complete = left <= 0
    if order_type is OrderType.FOK and not complete:
        shares = cost = fee_total = Decimal(0)
        worst = None
    limit = worst_price if worst_price is not None else (worst or Decimal(0))
    return OrderPreview(
        token_id=book.asset_id,
        side=side,
        order_type=order_type,
        limit_price=limit,
        shares=shares.quantize(_MICRO),
        cost=cost.quantize(_MICRO),
        fee=fee_total.quantize(_MICRO, rounding=ROUND_HALF_UP),
        average_price=(cost / shares) if shares else None,
        worst_price=worst,
        crosses=shares > 0,
        rests=False,
        resting_shares=Decimal(0),
        fills_completely=complete,
        amounts=amounts,
        book_timestamp=book.timestamp_ms,
    )
