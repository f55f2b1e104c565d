"""Orders per second through ``pmtrader.sim.matching.OrderBook`` against a naive sorted-list book.

Both books replay the same seeded stream of realistic operations (resting limit orders around a
drifting mid, cancels of random live orders, marketable orders that walk a few levels), in the
same process, one after the other. The table shows operations per second and the ratio; then the
final books (every level on both sides, every live order in queue order) and the full list of
fills are compared, so a fast wrong answer fails instead of looking good.
"""

from __future__ import annotations

import bisect
import random
import sys
import time
from dataclasses import dataclass

from pmtrader.sim.matching import PRICE_SCALE, OrderBook, Side, notional

OPERATIONS = 100_000
SEED = 20260428


@dataclass(slots=True)
class _NaiveOrder:
    order_id: str
    owner: str
    side: Side
    price: int
    size: int
    seq: int


class NaiveBook:
    """The obvious book: one Python list per side, kept sorted by (priority, arrival)."""

    def __init__(self) -> None:
        self.bids: list[tuple[int, int, _NaiveOrder]] = []  # key (-price, seq): best first
        self.asks: list[tuple[int, int, _NaiveOrder]] = []  # key (price, seq): best first
        self.seq = 0

    def add(self, order_id: str, owner: str, side: Side, price: int, size: int) -> None:
        self.seq += 1
        order = _NaiveOrder(order_id, owner, side, price, size, self.seq)
        if side is Side.BUY:
            bisect.insort(self.bids, (-price, self.seq, order), key=lambda e: e[:2])
        else:
            bisect.insort(self.asks, (price, self.seq, order), key=lambda e: e[:2])

    def cancel(self, order_id: str) -> int:
        for book in (self.bids, self.asks):
            for index, (_, _, order) in enumerate(book):
                if order.order_id == order_id:
                    del book[index]
                    return order.size
        return 0

    def match(
        self, side: Side, limit_price: int, *, max_size: int
    ) -> list[tuple[str, int, int, int]]:
        book = self.asks if side is Side.BUY else self.bids
        fills: list[tuple[str, int, int, int]] = []
        left = max_size
        while book and left > 0:
            order = book[0][2]
            if (order.price > limit_price) if side is Side.BUY else (order.price < limit_price):
                break
            take = min(order.size, left)
            fills.append(
                (
                    order.order_id,
                    order.price,
                    take,
                    notional(take, order.price, round_up=side is Side.BUY),
                )
            )
            order.size -= take
            left -= take
            if order.size == 0:
                book.pop(0)
        return fills

    def best(self, side: Side) -> int | None:
        book = self.bids if side is Side.BUY else self.asks
        return book[0][2].price if book else None

    def levels(self, side: Side) -> list[tuple[int, int]]:
        book = self.bids if side is Side.BUY else self.asks
        out: list[tuple[int, int]] = []
        for _, _, order in book:
            if out and out[-1][0] == order.price:
                out[-1] = (order.price, out[-1][1] + order.size)
            else:
                out.append((order.price, order.size))
        return out

    def queue(self) -> list[tuple[str, int, int]]:
        return sorted((o.order_id, o.price, o.size) for _, _, o in (*self.bids, *self.asks))


def operations(count: int) -> list[tuple[str, Side, int, int, int]]:
    """(kind, side, price, size, pick) with kind add / cancel / take."""
    rng = random.Random(SEED)
    mid = 5_000
    ops: list[tuple[str, Side, int, int, int]] = []
    for _ in range(count):
        mid = max(1_000, min(9_000, mid + rng.choice((-100, 0, 0, 0, 100))))
        roll = rng.random()
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        size = rng.randrange(5, 500) * 1_000_000
        if roll < 0.45:
            offset = rng.randrange(1, 15) * 100
            price = mid - offset if side is Side.BUY else mid + offset
            ops.append(("add", side, max(100, min(9_900, price)), size, 0))
        elif roll < 0.87:  # cancels outnumber fills, as on a live venue's quote churn
            ops.append(("cancel", side, 0, 0, rng.randrange(1 << 30)))
        else:
            reach = rng.randrange(0, 4) * 100
            price = mid + reach if side is Side.BUY else mid - reach
            ops.append(("take", side, max(100, min(9_900, price)), size, 0))
    return ops


def run_fast(ops: list[tuple[str, Side, int, int, int]]) -> tuple[float, OrderBook, list[object]]:
    book = OrderBook()
    live: list[str] = []
    fills: list[object] = []
    start = time.perf_counter()
    for n, (kind, side, wanted, size, pick) in enumerate(ops):
        price = wanted
        if kind == "add":
            opposite = book.best_ask() if side is Side.BUY else book.best_bid()
            if opposite is not None and (
                price >= opposite if side is Side.BUY else price <= opposite
            ):
                price = opposite - 100 if side is Side.BUY else opposite + 100
                if not 0 < price < PRICE_SCALE:
                    continue
            order_id = f"o{n}"
            book.add(order_id, "m", side, price, size)
            live.append(order_id)
        elif kind == "cancel":
            if live:
                index = pick % len(live)
                live[index], live[-1] = live[-1], live[index]
                book.cancel(live.pop())
        else:
            fills.extend(
                (f.maker_order_id, f.price, f.size, f.cost)
                for f in book.match(side, price, max_size=size)
            )
    return time.perf_counter() - start, book, fills


def run_naive(ops: list[tuple[str, Side, int, int, int]]) -> tuple[float, NaiveBook, list[object]]:
    book = NaiveBook()
    live: list[str] = []
    fills: list[object] = []
    start = time.perf_counter()
    for n, (kind, side, wanted, size, pick) in enumerate(ops):
        price = wanted
        if kind == "add":
            opposite = book.best(side.opposite)
            if opposite is not None and (
                price >= opposite if side is Side.BUY else price <= opposite
            ):
                price = opposite - 100 if side is Side.BUY else opposite + 100
                if not 0 < price < PRICE_SCALE:
                    continue
            order_id = f"o{n}"
            book.add(order_id, "m", side, price, size)
            live.append(order_id)
        elif kind == "cancel":
            if live:
                index = pick % len(live)
                live[index], live[-1] = live[-1], live[index]
                book.cancel(live.pop())
        else:
            fills.extend(book.match(side, price, max_size=size))
    return time.perf_counter() - start, book, fills


def main() -> int:
    ops = operations(OPERATIONS)
    naive_s, naive, naive_fills = run_naive(ops)
    fast_s, fast, fast_fills = run_fast(ops)
    # the "live" list of each runner holds ids of orders that may since have filled; both
    # runners make identical choices, so their books must agree exactly
    print(f"{'book':<28}{'ops':>10}{'seconds':>10}{'ops/s':>12}")
    print(f"{'naive sorted list':<28}{len(ops):>10}{naive_s:>10.3f}{len(ops) / naive_s:>12,.0f}")
    print(f"{'OrderBook (dict+deque)':<28}{len(ops):>10}{fast_s:>10.3f}{len(ops) / fast_s:>12,.0f}")
    print(f"ratio: OrderBook is {naive_s / fast_s:.1f}x the naive book's throughput")
    print(f"final book: {len(fast)} live orders, {len(fast_fills)} fills")
    ok = True
    for side in (Side.BUY, Side.SELL):
        if fast.levels(side) != naive.levels(side):
            print(f"MISMATCH in {side.name} levels", file=sys.stderr)
            ok = False
    fast_queue = sorted((o.order_id, o.price, o.size) for o in fast.orders())
    if fast_queue != naive.queue():
        print("MISMATCH in live orders", file=sys.stderr)
        ok = False
    if fast_fills != naive_fills:
        print("MISMATCH in fills", file=sys.stderr)
        ok = False
    fast.check()
    print("final state: identical" if ok else "final state: DIFFERENT")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
