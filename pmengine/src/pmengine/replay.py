"""Synchronous replay of market events through the engine core (mypyc-compiled).

The same path as the live engine, minus asyncio: book update → (on a top-of-book change) the
strategy's desired quotes → amend policy (keep, or cancel and replace) → pre-trade risk → order
lifecycle → dry-run venue (:mod:`pmengine.dryrun`, fills through ``pmtrader.sim.matching``) →
positions. Used by the engine benchmark and for fast what-if replays of a recorded feed. The
strategy is a plain Python callable (user code); everything between it and the venue runs
compiled, and the venue is called directly, typed.

Events are tuples ``(kind, token index, side, price, size)``: kind 0 is a level change, 1 a
trade print.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final, final

from pmengine.book import Book
from pmengine.core import CHANGED_TOP, EngineCore
from pmengine.dryrun import DryFill, DryRunVenue, TokenOrders
from pmengine.order import CANCELLED, REJECTED, Order, OrderRequest
from pmengine.units import BUY, SELL

Quote = tuple[int, int, int]
"""A desired resting order: ``(side, price, size)``."""
Strategy = Callable[[str, int, int, int], list[Quote]]
"""``strategy(token, best bid, best ask, held) -> quotes`` (-1 for a missing side)."""

LEVEL: Final = 0
TRADE: Final = 1

# A module-level Final is a C static in the compiled build: no module attribute lookup per event.
_perf_counter_ns: Final = time.perf_counter_ns


@final
class Quotes:
    """Our working quote on each side of one token (``None`` for none)."""

    buy: Order | None
    sell: Order | None

    def __init__(self) -> None:
        self.buy = None
        self.sell = None


@final
class _Lane:
    """Everything the replay touches for one token, found by the event's token index."""

    token: str
    book: Book
    quotes: Quotes
    resting: TokenOrders

    def __init__(self, token: str, book: Book, quotes: Quotes, resting: TokenOrders) -> None:
        self.token = token
        self.book = book
        self.quotes = quotes
        self.resting = resting


@final
class ReplayDriver:
    """Drives one strategy's quotes on a set of tokens through the core and a dry-run venue.

    Attributes:
        venue: the dry-run venue the quotes rest on and fill against.
        quotes: our working quotes per token.
        latencies: tick→decision latency (ns) of every strategy decision.
        clock_ms: the replay's clock, one millisecond per event.
        amends: quotes cancelled to be replaced.
    """

    core: EngineCore
    tokens: list[str]
    strategy_name: str
    venue: DryRunVenue
    quotes: dict[str, Quotes]
    latencies: list[int]
    clock_ms: int
    amends: int

    def __init__(
        self,
        core: EngineCore,
        tokens: list[str],
        strategy_name: str,
        start_ms: int,
        *,
        venue: DryRunVenue | None = None,
    ) -> None:
        self.core = core
        self.tokens = tokens
        self.strategy_name = strategy_name
        self.venue = DryRunVenue() if venue is None else venue
        self.quotes = {t: Quotes() for t in tokens}
        self.latencies = []
        self.clock_ms = start_ms
        self.amends = 0

    def run(self, events: list[tuple[int, int, int, int, int]], *, strategy: Strategy) -> None:
        """Replay ``events``; tick→decision latencies (ns) are appended to ``latencies``.

        ``strategy`` is called on every top-of-book change of a token with its best bid, best
        ask and the quantity held, and answers with the quotes it wants resting.
        """
        core = self.core
        venue = self.venue
        lanes = [_Lane(t, core.book(t), self.quotes[t], venue.orders_on(t)) for t in self.tokens]
        latencies = self.latencies
        for kind, ti, side, price, size in events:
            t0 = _perf_counter_ns()
            self.clock_ms += 1
            now = self.clock_ms
            lane = lanes[ti]
            book = lane.book
            if kind == LEVEL:
                flags = core.apply_level(book, side, price, size, now)
                # Only resting quotes can fill, so the venue is asked only when we have some.
                if flags != 0 and lane.resting.crossed_by(book):
                    self._book_fills(venue.on_book(book, now), now)
            else:
                core.apply_trade(book, price, now)
                if len(lane.resting.orders) > 0:
                    self._book_fills(venue.on_trade(lane.token, price, size, now), now)
                flags = 0
            if flags & CHANGED_TOP == 0:
                continue
            token = lane.token
            wanted = strategy(token, book.best_bid, book.best_ask, core.portfolio.qty(token))
            self._amend(token, book, lane.quotes, wanted, now)
            latencies.append(_perf_counter_ns() - t0)

    def run_core(self, events: list[tuple[int, int, int, int, int]], size: int) -> int:
        """Replay ``events`` through the books and pre-trade risk only (no strategy callback, no
        venue): every top-of-book change checks a join-the-bid order. Returns the approvals.

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

    def _book_fills(self, fills: list[DryFill], now: int) -> None:
        for f in fills:
            self._book_fill(f, now)

    def _book_fill(self, f: DryFill, now: int) -> None:
        self.core.apply_fill(
            f.order_hash, f.token_id, side=f.side, price=f.price, size=f.size, fee=f.fee, now_ms=now
        )

    def _amend(self, token: str, book: Book, mine: Quotes, wanted: list[Quote], now: int) -> None:
        want_buy: Quote | None = None
        want_sell: Quote | None = None
        for q in wanted:
            if q[0] == BUY:
                want_buy = q
            elif q[0] == SELL:
                want_sell = q
        mine.buy = self._amend_side(token, book, BUY, current=mine.buy, want=want_buy, now=now)
        mine.sell = self._amend_side(token, book, SELL, current=mine.sell, want=want_sell, now=now)

    def _amend_side(
        self,
        token: str,
        book: Book,
        side: int,
        *,
        current: Order | None,
        want: Quote | None,
        now: int,
    ) -> Order | None:
        """Keep, or cancel and replace, our quote on one side; return the working quote."""
        core = self.core
        if current is not None and current.is_working:
            if want is not None and current.price == want[1] and current.size == want[2]:
                return current
            # Amend = cancel, then replace (the venue has no in-place amend).
            current.cancel_requested = True
            self.venue.cancel(current.order_hash)
            core.order_done(current, CANCELLED, now, "amend")
            self.amends += 1
        if want is None:
            return None
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
            return None
        # Replayed orders are not journalled, so the payload a live order would carry is not
        # written out (DryOrder.payload() gives it on demand).
        dry = self.venue.sign(req, now)
        order = core.accept(req, dry.order_hash, "", now)
        core.order_submitted(order, now)
        result = self.venue.submit(dry, book, now)
        if result.status == "rejected":
            core.order_done(order, REJECTED, now, result.error)
            return None
        core.order_live(order, now)
        for fill in result.fills:
            self._book_fill(fill, now)
        return order if order.is_working else None
