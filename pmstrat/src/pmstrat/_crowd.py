"""The backtester's per-token book: the crowd's levels and their mirror in the matching book.

The market's liquidity ("the crowd") is kept per level as the data states it (``target``), and
mirrored into :class:`pmtrader.sim.matching.OrderBook` as crowd orders only where the
strategy's orders can meet it (``mat``: the levels holding a strategy order, plus levels a
marketable order or a trade reaches while it executes). So a resting order queues behind the
crowd already at its price, growth queues behind it, shrinkage comes off the back of the queue,
and everything else stays plain integers, which keeps a replay fast. See
:mod:`pmstrat.backtest` for the fill rules this implements.

Invariants (checked after every timestamp by the property tests): ``keys[side]`` is the sorted
list of ``target[side]``'s prices; at a mirrored level the matching book holds exactly the crowd's
``target`` plus the strategy's ``own_level``; between events only levels holding a strategy
order are mirrored; and the crowd never rests across a strategy order.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeAlias

from pmtrader.sim.matching import Fill as BookFill
from pmtrader.sim.matching import OrderBook
from pmtrader.sim.matching import Side as BookSide

from pmstrat.context import MarketInfo, OrderBookSnapshot

CROWD = "crowd"
_BUY = BookSide.BUY
_SELL = BookSide.SELL

OwnFill: TypeAlias = Callable[["TokenBook", str, int, int, int], None]
"""``(book, order_id, price, size, cost)``: a strategy order resting in ``book`` filled."""


class TokenBook:
    """One token: the crowd's levels, the strategy's orders, and the matching book.

    ``on_own_fill(book, order_id, price, size, cost)`` is called for each fill of a strategy
    order resting here (the backtester does the accounting); everything else is bookkeeping
    of the crowd, which is what this class owns.
    """

    __slots__ = (
        "book",
        "code",
        "crowd",
        "crowd_seq",
        "is_yes",
        "keys",
        "mark_x2",
        "market",
        "mat",
        "on_own_fill",
        "own_level",
        "own_orders",
        "resolved",
        "snapshot",
        "target",
        "tick",
        "token",
        "watched",
    )

    def __init__(
        self, token: str, code: int, market: MarketInfo, watched: bool, on_own_fill: OwnFill
    ) -> None:
        self.token = token
        self.code = code
        self.market = market
        self.is_yes = token == market.tokens[0]
        self.book = OrderBook()
        # Index 0 is the bid side, 1 the ask side (BookSide values).
        # target[side][price]: the crowd's size at that level (the data, less what traded).
        self.target: tuple[dict[int, int], dict[int, int]] = ({}, {})
        # keys[side]: the target prices, ascending (best bid last, best ask first).
        self.keys: tuple[list[int], list[int]] = ([], [])
        # mat[side]: prices whose crowd is mirrored into the matching book.
        self.mat: tuple[set[int], set[int]] = (set(), set())
        # crowd[side][price]: the mirrored crowd order ids at that level, oldest first.
        self.crowd: tuple[dict[int, deque[str]], dict[int, deque[str]]] = ({}, {})
        # own_level[side][price]: the strategy's resting size at that level.
        self.own_level: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self.own_orders = 0
        self.tick = market.tick
        self.resolved = False
        self.mark_x2 = 0  # last two-sided bid + ask, for marks and spread capture
        self.snapshot: OrderBookSnapshot | None = None
        self.watched = watched
        self.crowd_seq = 0
        self.on_own_fill = on_own_fill

    def best(self, side: int) -> int | None:
        """Best price on a side, the strategy's orders included."""
        keys = self.keys[side]
        own = self.own_level[side]
        if side == 0:
            crowd = keys[-1] if keys else None
            mine = max(own) if own else None
            if mine is None or (crowd is not None and crowd >= mine):
                return crowd
            return mine
        crowd = keys[0] if keys else None
        mine = min(own) if own else None
        if mine is None or (crowd is not None and crowd <= mine):
            return crowd
        return mine

    def levels(self, side: int) -> tuple[tuple[int, int], ...]:
        """``(price, size)`` best first, crowd and strategy together."""
        target = self.target[side]
        own = self.own_level[side]
        if own:
            prices = sorted(target.keys() | own.keys(), reverse=side == 0)
            return tuple((p, target.get(p, 0) + own.get(p, 0)) for p in prices)
        keys = self.keys[side]
        ordered = keys[::-1] if side == 0 else keys
        return tuple(zip(ordered, map(target.__getitem__, ordered), strict=True))

    def set_level(self, side: int, price: int, size: int) -> None:
        """Set the crowd's size at one level (a BOOK row), trading with crossed own orders."""
        target = self.target[side]
        keys = self.keys[side]
        old = target.get(price, 0)
        if size > old and self.own_orders and self.crosses_own(side, price):
            # New liquidity crossing a resting strategy order trades with what it crosses.
            size -= self.take(side, price, size - old)
            old = target.get(price, 0)
        if price in self.mat[side]:
            self.mirror(side, price, old, size)
        if size:
            if not old:
                insort(keys, price)
            target[price] = size
        elif old:
            del target[price]
            del keys[bisect_left(keys, price)]

    def mirror(self, side: int, price: int, old: int, new: int) -> None:
        """Move the mirrored crowd at a materialised level from ``old`` to ``new``."""
        book = self.book
        crowd = self.crowd[side]
        if new > old:
            self.crowd_seq += 1
            cid = f"c{self.crowd_seq}"
            book.add(cid, CROWD, _BUY if side == 0 else _SELL, price, new - old)
            queue = crowd.get(price)
            if queue is None:
                crowd[price] = deque((cid,))
            else:
                queue.append(cid)
            return
        queue = crowd.get(price)
        need = old - new
        while need > 0 and queue:
            cid = queue[-1]  # cancels come from the back of the queue
            order = book.order(cid)
            held = order.size if order is not None else 0
            if held <= need:
                book.cancel(cid)
                queue.pop()
                need -= held
            else:
                book.reduce(cid, need)
                need = 0
        if queue is not None and not queue:
            del crowd[price]

    def materialize(self, side: int, price: int) -> None:
        """Put the crowd at one level into the matching book (before the strategy joins it)."""
        mat = self.mat[side]
        if price in mat:
            return
        mat.add(price)
        target = self.target[side]
        size = target.get(price, 0)
        if not size:
            return
        book = self.book
        book_side = _BUY if side == 0 else _SELL
        opposite = book.best_ask() if side == 0 else book.best_bid()
        if opposite is not None and (price >= opposite if side == 0 else price <= opposite):
            # Data that crossed a strategy order (rows of one update in an unlucky order):
            # the crowd's liquidity trades with it, as it would have on the venue.
            fills = book.match(book_side, price, max_size=size)
            size -= sum(fill.size for fill in fills)
            self.book_fills(1 - side, fills, ours_are_makers=True)
            if size:
                target[price] = size
            else:
                del target[price]
                keys = self.keys[side]
                del keys[bisect_left(keys, price)]
                return
        self.crowd_seq += 1
        cid = f"c{self.crowd_seq}"
        book.add(cid, CROWD, book_side, price, size)
        self.crowd[side][price] = deque((cid,))

    def dematerialize(self, side: int, price: int) -> None:
        """Take a level's crowd out of the matching book once no strategy order is there."""
        if price not in self.mat[side] or self.own_level[side].get(price):
            return
        self.mat[side].discard(price)
        book = self.book
        for cid in self.crowd[side].pop(price, ()):
            book.cancel(cid)

    def crossing(self, side: int, limit: int) -> list[int]:
        """Crowd prices on ``side`` that a taker on the other side reaches with ``limit``."""
        keys = self.keys[side]
        if side == 0:  # bids >= limit
            return keys[bisect_left(keys, limit) :]
        return keys[: bisect_left(keys, limit + 1)]  # asks <= limit

    def crosses_own(self, side: int, price: int) -> bool:
        own = self.own_level[1 - side]
        if not own:
            return False
        return price >= min(own) if side == 0 else price <= max(own)

    def take(self, taker: int, limit: int, size: int) -> int:
        """Match crowd liquidity through the book (the strategy is the maker); return shares traded.

        The opposite side's crowd within ``limit`` is mirrored in first, so the fills follow
        price-time priority over crowd and strategy alike.
        """
        maker = 1 - taker
        reached = self.crossing(maker, limit)
        for price in reached:
            self.materialize(maker, price)
        book_side = _BUY if taker == 0 else _SELL
        fills = self.book.match(book_side, limit, max_size=size)
        self.book_fills(maker, fills, ours_are_makers=True)
        for price in reached:
            self.dematerialize(maker, price)
        return sum(fill.size for fill in fills)

    def tape(self, aggressor: int, price: int, size: int) -> None:
        """A trade printed on the tape: it fills strategy orders it reaches, behind the crowd."""
        maker = 1 - aggressor
        own = self.own_level[maker]
        if not own:
            return
        reached = max(own) >= price if maker == 0 else min(own) <= price
        if reached:
            self.take(aggressor, price, size)

    def clear(self) -> None:
        book = self.book
        for side in (0, 1):
            for queue in self.crowd[side].values():
                for cid in queue:
                    book.cancel(cid)
            self.crowd[side].clear()
            self.target[side].clear()
            self.keys[side].clear()
            self.mat[side].intersection_update(self.own_level[side])

    def book_fills(self, maker: int, fills: list[BookFill], *, ours_are_makers: bool) -> int:
        """Account book fills (crowd and strategy makers); return the strategy's maker shares."""
        ours = 0
        touched: list[int] = []
        crowd = self.crowd[maker]
        target = self.target[maker]
        keys = self.keys[maker]
        for fill in fills:
            if fill.maker_owner == CROWD:
                price = fill.price
                left = target[price] - fill.size
                if left:
                    target[price] = left
                else:
                    del target[price]
                    del keys[bisect_left(keys, price)]
                if fill.maker_remaining == 0:
                    queue = crowd[price]
                    if queue[0] == fill.maker_order_id:
                        queue.popleft()
                    else:
                        queue.remove(fill.maker_order_id)
                    if not queue:
                        del crowd[price]
                continue
            if ours_are_makers:
                ours += fill.size
                self.on_own_fill(self, fill.maker_order_id, fill.price, fill.size, fill.cost)
                touched.append(fill.price)
        # Only after every fill: crowd behind a filled strategy order may be in this batch too.
        for price in touched:
            if not self.own_level[maker].get(price):
                self.dematerialize(maker, price)
        return ours


class LazyBooks(Mapping[str, OrderBookSnapshot]):
    """``ctx.books`` for a backtest: snapshots built on first access after a change, then cached."""

    def __init__(self, tokens: dict[str, TokenBook], now: Callable[[], int]) -> None:
        self._tokens = tokens
        self._now = now

    def __getitem__(self, token: str) -> OrderBookSnapshot:
        state = self._tokens[token]
        snap = state.snapshot
        if snap is None:
            snap = OrderBookSnapshot(
                token, self._now(), state.levels(0), state.levels(1), state.tick
            )
            state.snapshot = snap
        return snap

    def get(self, token: str, default: Any = None) -> Any:
        if token not in self._tokens:
            return default
        return self[token]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tokens)

    def __len__(self) -> int:
        return len(self._tokens)
