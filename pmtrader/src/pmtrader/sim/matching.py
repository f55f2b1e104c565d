"""A price-time priority limit order book for one token, in integers only.

Pure and synchronous: no I/O, no clock, no floats. The local exchange (``pmtrader.sim``), the
backtester (``pmstrat``) and the engine's dry-run gateway (``pmengine``) all fill orders through
this one module, so a fill in a backtest is a fill in the simulator.

Units:
    * price: 1e-4 units (``PRICE_SCALE = 10_000``): tick 0.01 is 100, 0.001 is 10, 0.0025 is 25.
    * size: shares in 1e-6 base units (``AMOUNT_SCALE = 1_000_000``).
    * cost: collateral (pUSD) in 1e-6 base units, ``size * price / PRICE_SCALE``.

Rounding of ``cost``: with an on-grid price and a size in whole hundredths of a share (what every
limit order carries) ``size * price`` is a multiple of ``PRICE_SCALE`` and the cost is exact. Only
sizes with sub-cent digits (a market BUY that keeps price improvement as extra shares) round, and
then always in favour of the resting maker: a taker on the bid side (buying at the ask) pays the
ceiling, a taker on the ask side (selling into the bid) receives the floor. A fill moves that one
integer from one account to the other, so rounding can never create or destroy a base unit; it only
decides which side of the trade keeps the sub-unit remainder.

Invariants (checked by ``check()`` and by the property tests):
    * at rest the book is never crossed: ``best_bid() < best_ask()`` whenever both exist;
    * within a price level, orders are served first in, first out (time priority);
    * each level's aggregate size equals the sum of its live orders' remaining sizes, and a level
      with no live order does not exist;
    * every order id is in at most one level, and ``len(book)`` counts live orders.

Data structure: per side, a dict from price to a FIFO level and a sorted list of level keys with
the best level LAST (bids keyed by ``price``, asks by ``-price``), so the best level is ``keys[-1]``
and emptying it is an O(1) ``pop()``. New levels are inserted with ``bisect`` (books hold at most a
few hundred levels). Cancels are lazy: the order is marked dead and its size leaves the level total
at once; dead entries are dropped when they reach the front of the queue.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

__all__ = [
    "AMOUNT_SCALE",
    "PRICE_SCALE",
    "Fill",
    "OrderBook",
    "RestingOrder",
    "Side",
    "notional",
]

PRICE_SCALE = 10_000
"""Prices are integers in 1e-4 units: 0.52 is 5200."""

AMOUNT_SCALE = 1_000_000
"""Shares and pUSD are integers in 1e-6 base units: 1 share is 1_000_000."""


class Side(IntEnum):
    """Order side, with the values the signed V2 order uses (0 = BUY, 1 = SELL)."""

    BUY = 0
    SELL = 1

    @property
    def opposite(self) -> Side:
        """The side this side trades against."""
        return Side.SELL if self is Side.BUY else Side.BUY


def notional(size: int, price: int, *, round_up: bool) -> int:
    """Return the collateral value of ``size`` shares at ``price``, in base units.

    Args:
        size: shares in base units.
        price: price in 1e-4 units.
        round_up: round a fractional base unit up (True) or down (False).
    """
    product = size * price
    if round_up:
        return -(-product // PRICE_SCALE)
    return product // PRICE_SCALE


@dataclass(slots=True)
class RestingOrder:
    """An order resting in a book; ``size`` is what remains (0 once cancelled or filled)."""

    order_id: str
    owner: str
    side: Side
    price: int
    size: int
    seq: int


class Fill(NamedTuple):
    """One maker order (partly) filled by a taker.

    ``price`` is the maker's price (in the book's terms), ``size`` the shares traded, ``cost``
    the collateral paid for them at that price (rounded in the maker's favour, see module doc), and
    ``maker_remaining`` the maker's size still resting after the fill (0 = fully filled).
    """

    maker_order_id: str
    maker_owner: str
    price: int
    size: int
    cost: int
    maker_remaining: int


class _Level:
    """One price level: FIFO queue of orders (dead ones dropped lazily) and its live total."""

    __slots__ = ("live", "orders", "total")

    def __init__(self) -> None:
        self.orders: deque[RestingOrder] = deque()
        self.total = 0
        self.live = 0


class _BookSide:
    __slots__ = ("keys", "levels", "sign")

    def __init__(self, sign: int) -> None:
        # sign = +1 for bids (higher is better), -1 for asks (lower is better); key = sign*price,
        # so on both sides the best level has the largest key and sits at keys[-1].
        self.sign = sign
        self.levels: dict[int, _Level] = {}
        self.keys: list[int] = []

    def best(self) -> int | None:
        return self.keys[-1] * self.sign if self.keys else None

    def level_for(self, price: int) -> _Level:
        level = self.levels.get(price)
        if level is None:
            level = _Level()
            self.levels[price] = level
            insort(self.keys, price * self.sign)
        return level

    def drop(self, price: int) -> None:
        del self.levels[price]
        key = price * self.sign
        if self.keys[-1] == key:
            self.keys.pop()
        else:
            index = bisect_left(self.keys, key)
            del self.keys[index]


class OrderBook:
    """Price-time priority book for ONE token (see the module docstring for units and invariants).

    Example:
        >>> book = OrderBook()
        >>> book.add("a", "alice", Side.SELL, 5200, 10_000_000)
        >>> [f.size for f in book.match(Side.BUY, 5300, max_size=4_000_000)]
        [4000000]
        >>> book.best_ask(), book.levels(Side.SELL)
        (5200, [(5200, 6000000)])
    """

    __slots__ = ("_asks", "_bids", "_orders", "_seq")

    def __init__(self) -> None:
        self._bids = _BookSide(1)
        self._asks = _BookSide(-1)
        self._orders: dict[str, RestingOrder] = {}
        self._seq = 0

    def __len__(self) -> int:
        return len(self._orders)

    def _side(self, side: Side) -> _BookSide:
        return self._bids if side is Side.BUY else self._asks

    def add(self, order_id: str, owner: str, side: Side, price: int, size: int) -> None:
        """Rest an order at the back of its price level.

        The caller matches first: adding an order that would cross the book breaks the
        no-crossed-book invariant, so it is refused.

        Raises:
            ValueError: duplicate id, non-positive size, price outside (0, PRICE_SCALE), or a
                price that crosses the opposite side.
        """
        if order_id in self._orders:
            raise ValueError(f"order {order_id} is already in the book")
        if size <= 0 or not 0 < price < PRICE_SCALE:
            raise ValueError(f"cannot rest size {size} at price {price}")
        opposite = self._side(side.opposite).best()
        if opposite is not None and (price >= opposite if side is Side.BUY else price <= opposite):
            raise ValueError(f"order {order_id} at {price} would cross the book at {opposite}")
        self._seq += 1
        order = RestingOrder(order_id, owner, side, price, size, self._seq)
        level = self._side(side).level_for(price)
        level.orders.append(order)
        level.total += size
        level.live += 1
        self._orders[order_id] = order

    def cancel(self, order_id: str) -> int:
        """Remove an order; return the size it still had (0 if the id is unknown)."""
        order = self._orders.pop(order_id, None)
        if order is None:
            return 0
        remaining = order.size
        book_side = self._side(order.side)
        level = book_side.levels[order.price]
        level.total -= remaining
        level.live -= 1
        order.size = 0
        if level.live == 0:
            book_side.drop(order.price)
        return remaining

    def reduce(self, order_id: str, size: int) -> int:
        """Shrink a resting order by up to ``size`` keeping its queue place; return the new size.

        An order reduced to zero is removed. Unknown ids return 0.
        """
        order = self._orders.get(order_id)
        if order is None:
            return 0
        if size >= order.size:
            self.cancel(order_id)
            return 0
        order.size -= size
        self._side(order.side).levels[order.price].total -= size
        return order.size

    def _walk(  # noqa: PLR0917 - private hot loop; keywords would cost a dict per call
        self,
        side: Side,
        limit_price: int,
        max_size: int | None,
        max_cost: int | None,
        complement: bool,
        mutate: bool,
    ) -> tuple[list[Fill], int, int]:
        book_side = self._side(side.opposite)
        buying = side is Side.BUY
        fills: list[Fill] = []
        shares = 0
        cost = 0
        size_left = max_size
        budget = max_cost
        keys = book_side.keys
        sign = book_side.sign
        position = len(keys) - 1
        while position >= 0:
            if size_left is not None and size_left <= 0:
                break
            price = keys[position] * sign
            if (price > limit_price) if buying else (price < limit_price):
                break
            level = book_side.levels[price]
            # the taker's per-share price for budget purposes, in the taker's own terms
            unit = PRICE_SCALE - price if complement else price
            for order in level.orders:
                if order.size == 0:
                    continue
                take = order.size
                if size_left is not None and take > size_left:
                    take = size_left
                if budget is not None:
                    affordable = budget * PRICE_SCALE // unit if unit > 0 else take
                    take = min(take, affordable)
                if take <= 0:
                    size_left = 0
                    break
                fill_cost = notional(take, price, round_up=buying)
                taker_cost = take - fill_cost if complement else fill_cost
                if budget is not None:
                    budget -= taker_cost
                if size_left is not None:
                    size_left -= take
                shares += take
                cost += fill_cost
                remaining = order.size - take
                fills.append(Fill(order.order_id, order.owner, price, take, fill_cost, remaining))
                if size_left is not None and size_left <= 0:
                    break
            position -= 1
        if mutate:
            self._apply(book_side, fills)
        return fills, shares, cost

    def _apply(self, book_side: _BookSide, fills: list[Fill]) -> None:
        for fill in fills:
            order = self._orders[fill.maker_order_id]
            level = book_side.levels[order.price]
            order.size = fill.maker_remaining
            level.total -= fill.size
            if fill.maker_remaining == 0:
                del self._orders[fill.maker_order_id]
                level.live -= 1
                if level.live == 0:
                    book_side.drop(order.price)
                    continue
                while level.orders and level.orders[0].size == 0:
                    level.orders.popleft()

    def match(
        self,
        side: Side,
        limit_price: int,
        *,
        max_size: int | None = None,
        max_cost: int | None = None,
        complement: bool = False,
    ) -> list[Fill]:
        """Take liquidity for a taker on ``side``, best price first then time, at maker prices.

        Never trades beyond ``limit_price`` (a BUY takes asks <= limit, a SELL bids >= limit).
        Stops after ``max_size`` shares, or before the taker's collateral would exceed
        ``max_cost`` (a market BUY that spends up to its makerAmount: price improvement buys extra
        shares). With ``complement=True`` the budget is measured in the complementary token's
        price ``PRICE_SCALE - price`` (a NO buyer matched on a book kept in YES terms).

        Returns:
            The fills, in execution order; the book is updated.
        """
        fills, _, _ = self._walk(side, limit_price, max_size, max_cost, complement, mutate=True)
        return fills

    def fillable(
        self,
        side: Side,
        limit_price: int,
        *,
        max_size: int | None = None,
        max_cost: int | None = None,
        complement: bool = False,
    ) -> tuple[int, int]:
        """Return ``(shares, cost)`` that ``match`` would trade now, without changing the book.

        ``cost`` is in the book's price terms (as ``Fill.cost``). Used for fill-or-kill checks.
        """
        _, shares, cost = self._walk(
            side, limit_price, max_size, max_cost, complement, mutate=False
        )
        return shares, cost

    def best_bid(self) -> int | None:
        """Highest bid price, or None when there are no bids."""
        return self._bids.best()

    def best_ask(self) -> int | None:
        """Lowest ask price, or None when there are no asks."""
        return self._asks.best()

    def levels(self, side: Side) -> list[tuple[int, int]]:
        """Aggregated ``(price, size)`` levels of one side, best first."""
        book_side = self._side(side)
        sign = book_side.sign
        return [
            (key * sign, book_side.levels[key * sign].total) for key in reversed(book_side.keys)
        ]

    def level_size(self, side: Side, price: int) -> int:
        """Total resting size at one price on one side (0 when there is no such level)."""
        level = self._side(side).levels.get(price)
        return 0 if level is None else level.total

    def order(self, order_id: str) -> RestingOrder | None:
        """The live resting order with this id, or None."""
        return self._orders.get(order_id)

    def orders(self) -> list[RestingOrder]:
        """Every live order, in arrival order (for persistence and snapshots)."""
        return sorted(self._orders.values(), key=lambda order: order.seq)

    def queue_ahead(self, order_id: str) -> int:
        """Shares resting ahead of this order at its price (time priority), 0 if unknown."""
        order = self._orders.get(order_id)
        if order is None:
            return 0
        ahead = 0
        for other in self._side(order.side).levels[order.price].orders:
            if other is order:
                break
            ahead += other.size
        return ahead

    def check(self) -> None:
        """Assert every invariant in the module docstring (for tests; O(book size))."""
        best_bid, best_ask = self.best_bid(), self.best_ask()
        assert best_bid is None or best_ask is None or best_bid < best_ask, "crossed book"
        live = 0
        for book_side in (self._bids, self._asks):
            assert book_side.keys == sorted(book_side.keys), "level keys out of order"
            assert {k * book_side.sign for k in book_side.keys} == set(book_side.levels)
            for price, level in book_side.levels.items():
                alive = [o for o in level.orders if o.size > 0]
                assert alive, f"empty level {price}"
                assert level.live == len(alive)
                assert level.total == sum(o.size for o in alive)
                assert [o.seq for o in alive] == sorted(o.seq for o in alive)
                for order in alive:
                    assert order.price == price
                    assert self._orders.get(order.order_id) is order
                live += len(alive)
        assert live == len(self._orders)
