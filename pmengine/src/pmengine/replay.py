"""Synchronous replay of market events through the engine core (mypyc-compiled).

The same path as the live engine, minus asyncio: book update → (on a top-of-book change) the
strategy's desired quotes → amend policy (keep, or cancel and replace) → pre-trade risk → order
lifecycle → gateway (dry-run matching) → positions. Used by the engine benchmark and for fast
what-if replays of a recorded feed. The strategy and the gateway are plain Python callables;
everything between them runs compiled.

Events are tuples ``(kind, token index, side, price, size)``: kind 0 is a level change, 1 a
trade print.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from pmengine.core import CHANGED_TOP, EngineCore
from pmengine.order import CANCELLED, OrderRequest
from pmengine.units import BUY

Quote = tuple[int, int, int]
"""A desired resting order: ``(side, price, size)``."""
FillTuple = tuple[str, int, int, int, int]
"""A fill from the gateway: ``(order hash, side, price, size, fee)``."""

LEVEL: Final = 0
TRADE: Final = 1


class ReplayDriver:
    """Drives one strategy's quotes on a set of tokens through the core and a gateway."""

    core: EngineCore
    tokens: list[str]
    strategy_name: str
    quotes: dict[str, dict[int, str]]
    latencies: list[int]
    clock_ms: int
    amends: int

    def __init__(
        self, core: EngineCore, tokens: list[str], strategy_name: str, start_ms: int
    ) -> None:
        self.core = core
        self.tokens = tokens
        self.strategy_name = strategy_name
        self.quotes = {t: {} for t in tokens}
        self.latencies = []
        self.clock_ms = start_ms
        self.amends = 0

    def run(
        self,
        events: list[tuple[int, int, int, int, int]],
        *,
        strategy: Callable[[str, int, int, int], list[Quote]],
        sign: Callable[[OrderRequest, int], str],
        submit: Callable[[str], list[FillTuple]],
        cancel: Callable[[str], bool],
        on_book: Callable[[str], list[FillTuple]],
        on_trade: Callable[[str, int, int], list[FillTuple]],
    ) -> None:
        """Replay ``events``; tick→decision latencies (ns) are appended to ``latencies``."""
        core = self.core
        for kind, ti, side, price, size in events:
            t0 = time.perf_counter_ns()
            self.clock_ms += 1
            now = self.clock_ms
            token = self.tokens[ti]
            if kind == LEVEL:
                flags = core.on_level(token, side, price, size, now)
                # Only our resting quotes can fill, so the gateway is asked only when we have some.
                if flags != 0 and self.quotes[token]:
                    self._book(token, on_book(token), now)
            else:
                core.on_trade(token, price, now)
                if self.quotes[token]:
                    self._book(token, on_trade(token, price, size), now)
                flags = 0
            if flags & CHANGED_TOP == 0:
                continue
            book = core.books[token]
            wanted = strategy(token, book.best_bid, book.best_ask, core.portfolio.qty(token))
            self._amend(token, wanted, sign=sign, submit=submit, cancel=cancel, now=now)
            self.latencies.append(time.perf_counter_ns() - t0)

    def run_core(self, events: list[tuple[int, int, int, int, int]], size: int) -> int:
        """Replay ``events`` through the books and pre-trade risk only (no strategy callback, no
        gateway): every top-of-book change checks a join-the-bid order. Returns the approvals.

        This isolates the compiled engine internals from the Python code around them.
        """
        core = self.core
        approved = 0
        for kind, ti, side, price, _size in events:
            self.clock_ms += 1
            now = self.clock_ms
            token = self.tokens[ti]
            if kind == LEVEL:
                flags = core.on_level(token, side, price, _size, now)
            else:
                flags = core.on_trade(token, price, now) & 0
            if flags & CHANGED_TOP == 0:
                continue
            book = core.books[token]
            if book.best_bid < 0:
                continue
            req = OrderRequest(
                self.strategy_name,
                f"{self.strategy_name}|{token}|{book.best_bid}",
                token_id=token,
                side=BUY,
                price=book.best_bid,
                size=size,
                created_ms=now,
            )
            if core.check(req, now) == "":
                approved += 1
            core.portfolio.position(token).unrealized(book.mid_x2())
        return approved

    def _book(self, token: str, fills: list[FillTuple], now: int) -> None:
        for order_hash, side, price, size, fee in fills:
            self.core.apply_fill(
                order_hash, token, side=side, price=price, size=size, fee=fee, now_ms=now
            )

    def _amend(
        self,
        token: str,
        wanted: list[Quote],
        *,
        sign: Callable[[OrderRequest, int], str],
        submit: Callable[[str], list[FillTuple]],
        cancel: Callable[[str], bool],
        now: int,
    ) -> None:
        core = self.core
        mine = self.quotes[token]
        want_by_side: dict[int, Quote] = {}
        for q in wanted:
            want_by_side[q[0]] = q
        for side in (BUY, 1):
            current = mine.get(side)
            if current is not None:
                order = core.orders.get(current)
                if order is None or not order.is_working:
                    del mine[side]
                    current = None
            want = want_by_side.get(side)
            if current is not None:
                order = core.orders.orders[current]
                if want is not None and order.price == want[1] and order.size == want[2]:
                    continue
                # Amend = cancel, then replace (the venue has no in-place amend).
                order.cancel_requested = True
                cancel(current)
                core.mark_done(current, CANCELLED, now, "amend")
                del mine[side]
                self.amends += 1
            if want is None:
                continue
            req = OrderRequest(
                self.strategy_name,
                f"{self.strategy_name}|{token}|{side}|{want[1]}|{want[2]}",
                token_id=token,
                side=side,
                price=want[1],
                size=want[2],
                created_ms=now,
            )
            if core.check(req, now) != "":
                continue
            order_hash = sign(req, now)
            core.accept(req, order_hash, "", now)
            core.mark_submitted(order_hash, now)
            fills = submit(order_hash)
            core.mark_live(order_hash, now)
            self._book(token, fills, now)
            if core.orders.orders[order_hash].is_working:
                mine[side] = order_hash
