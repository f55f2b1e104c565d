"""Runs pmstrat strategies inside the engine: context in, signals out, failures contained.

Each strategy gets its markets and parameters, and is called with a ``Context`` only when
something it watches changed (a top-of-book move, any level, a trade, or its timer). A strategy
that raises is halted and reported; the others go on. Strategies stay plain Python objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import structlog
from pmstrat.errors import PmstratError

from pmengine.book import Book
from pmengine.errors import StrategyError
from pmengine.order import Order, OrderRequest
from pmengine.position import MICRO_PER_BASE, Portfolio
from pmengine.units import BUY, SELL
from pmstrat import (
    Buy,
    Cancel,
    Context,
    Fill,
    Hold,
    MarketInfo,
    OpenOrder,
    OrderBookSnapshot,
    Sell,
    Signal,
    StrategyInstance,
    Watch,
    get_strategy,
)
from pmstrat import Position as StratPosition
from pmstrat import Side as StratSide

log = structlog.get_logger("pmengine.strategy")

#: how many levels per side a strategy's snapshot carries
SNAPSHOT_DEPTH = 50


def load_strategy(
    ref: str, params: Mapping[str, str], markets: Iterable[MarketInfo]
) -> tuple[StrategyInstance, list[MarketInfo]]:
    """Load a strategy by registry name or ``module:attr`` and bind parameters and markets.

    Only the parameters the strategy declares are passed to it, so one ``--param`` list can
    serve several strategies.

    Raises:
        StrategyError: unknown strategy or a bad parameter value (the message says which).
    """
    try:
        definition = get_strategy(ref)
        mine = {k: v for k, v in params.items() if k in definition.params}
        instance = definition.create(mine)
    except PmstratError as exc:
        raise StrategyError(f"--strategy {ref}: {exc}") from exc
    return instance, definition.select(markets)


def snapshot(book: Book) -> OrderBookSnapshot:
    """The strategy-facing snapshot of an engine book (best level first on both sides)."""
    return OrderBookSnapshot(
        book.token_id,
        book.updated_ms,
        tuple(book.depth(BUY, SNAPSHOT_DEPTH)),
        tuple(book.depth(SELL, SNAPSHOT_DEPTH)),
        book.tick if book.tick > 0 else 100,
    )


def intent_id(strategy: str, signal: Buy | Sell) -> str:
    """The identity of what a signal asks for: the same ask twice is the same intent.

    A strategy that re-emits an identical order every tick while the first one works gets the
    second refused (``DUPLICATE_INTENT``) instead of doubling its exposure; one that really
    wants two identical orders gives them different tags.
    """
    side = "B" if isinstance(signal, Buy) else "S"
    return f"{strategy}|{signal.token}|{side}|{signal.price}|{signal.size}|{signal.tag}"


@dataclass
class Decisions:
    """What one strategy call asked for, translated to engine terms."""

    orders: list[OrderRequest] = field(default_factory=list)
    cancels: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    holds: int = 0


class StrategyRunner:
    """One strategy instance, its context and its health."""

    def __init__(self, instance: StrategyInstance, markets: list[MarketInfo]) -> None:
        self.instance = instance
        self.name = instance.name
        self.markets = markets
        self.tokens: set[str] = {t for m in markets for t in m.tokens}
        self.watch = instance.watch
        self.interval_ms = instance.interval_ms
        self.halted = False
        self.error = ""
        self.calls = 0
        self.last_timer_ms = 0
        self.books: dict[str, OrderBookSnapshot] = {}
        self.ctx = Context(now_ms=0, markets=markets, books=self.books)

    def is_halted(self) -> bool:
        """Whether an error halted this strategy."""
        return self.halted

    # ---- when to call -----------------------------------------------------------------------

    def interested(self, changes: Mapping[str, int], now_ms: int) -> list[str]:
        """The watched tokens whose changes this strategy cares about (empty: do not call)."""
        if self.halted:
            return []
        mask = int(self.watch)
        if mask & int(Watch.BOOK):
            mask |= int(Watch.TOP)
        changed = [t for t, flags in changes.items() if flags & mask and t in self.tokens]
        return changed

    def timer_due(self, now_ms: int) -> bool:
        """Whether the strategy's own timer has come round."""
        if self.halted or not (int(self.watch) & int(Watch.TIMER)) or self.interval_ms <= 0:
            return False
        return now_ms - self.last_timer_ms >= self.interval_ms

    # ---- calling ----------------------------------------------------------------------------

    def refresh(
        self,
        *,
        now_ms: int,
        books: Mapping[str, Book],
        changed: list[str],
        portfolio: Portfolio,
        orders: Iterable[Order],
        tags: Mapping[str, str],
    ) -> None:
        """Bring the context up to date before a call."""
        for token in changed or self.tokens:
            book = books.get(token)
            if book is not None and book.updated_ms > 0:
                self.books[token] = snapshot(book)
            elif book is not None:
                self.books.pop(token, None)
        positions: dict[str, StratPosition] = {}
        for token in self.tokens:
            pos = portfolio.positions.get(token)
            if pos is not None and (pos.qty or pos.realized):
                positions[token] = StratPosition(
                    token,
                    max(pos.qty, 0),
                    -(-(pos.cost + pos.fees * MICRO_PER_BASE) // MICRO_PER_BASE),
                    pos.realized // MICRO_PER_BASE,
                )
        open_orders: dict[str, OpenOrder] = {}
        for o in orders:
            if o.strategy == self.name and o.is_working:
                open_orders[o.order_hash] = OpenOrder(
                    o.order_hash,
                    o.token_id,
                    StratSide.BUY if o.side == BUY else StratSide.SELL,
                    o.price,
                    o.size,
                    filled=o.filled,
                    created_ms=o.created_ms,
                    tag=tags.get(o.order_hash, ""),
                )
        ctx = self.ctx
        ctx.now_ms = now_ms
        ctx.positions = positions
        ctx.orders = open_orders
        ctx.cash = max(portfolio.cash, 0)
        ctx.params = self.instance.params
        ctx.changed = changed

    def call_start(self) -> list[Signal]:
        """``on_start``; a raise halts the strategy."""
        return self._run("on_start", None)

    def call_tick(self, *, timer: bool = False) -> list[Signal]:
        """``on_tick``; a raise halts the strategy."""
        if timer:
            self.last_timer_ms = self.ctx.now_ms
        return self._run("on_tick", None)

    def call_fill(self, fill: Fill) -> list[Signal]:
        """``on_fill``; a raise halts the strategy."""
        return self._run("on_fill", fill)

    def call_stop(self) -> list[Signal]:
        """``on_stop`` (errors are reported, the strategy is stopping anyway)."""
        return self._run("on_stop", None)

    def _run(self, what: str, fill: Fill | None) -> list[Signal]:
        if self.halted:
            return []
        self.calls += 1
        try:
            if what == "on_tick":
                return self.instance.on_tick(self.ctx)
            if what == "on_fill" and fill is not None:
                return self.instance.on_fill(self.ctx, fill)
            if what == "on_start":
                return self.instance.on_start(self.ctx)
            return self.instance.on_stop(self.ctx)
        except Exception as exc:  # a strategy bug must not take the engine down
            self.halted = True
            self.error = f"{what} raised {type(exc).__name__}: {exc}"
            log.error("strategy.halted", strategy=self.name, error=self.error)
            return []

    # ---- translating ------------------------------------------------------------------------

    def translate(
        self, signals: list[Signal], orders: Iterable[Order], tags: Mapping[str, str], now_ms: int
    ) -> Decisions:
        """Turn signals into order requests and cancels (by order hash)."""
        out = Decisions()
        working = [o for o in orders if o.strategy == self.name and o.is_working]
        for sig in signals:
            if isinstance(sig, Buy | Sell):
                if sig.token not in self.tokens:
                    log.warning("strategy.foreign_token", strategy=self.name, token=sig.token)
                    continue
                iid = intent_id(self.name, sig)
                out.orders.append(
                    OrderRequest(
                        self.name,
                        iid,
                        token_id=sig.token,
                        side=BUY if isinstance(sig, Buy) else SELL,
                        price=sig.price,
                        size=sig.size,
                        post_only=sig.post_only,
                        created_ms=now_ms,
                        order_type=str(sig.order_type.value),
                    )
                )
                out.tags[iid] = sig.tag
            elif isinstance(sig, Cancel):
                if sig.order_id:
                    if any(o.order_hash == sig.order_id for o in working):
                        out.cancels.append(sig.order_id)
                else:
                    out.cancels.extend(
                        o.order_hash
                        for o in working
                        if o.token_id == sig.token
                        and (not sig.tag or tags.get(o.order_hash, "") == sig.tag)
                    )
            elif isinstance(sig, Hold):
                out.holds += 1
        return out
