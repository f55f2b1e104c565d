"""The dispatch core: books, orders, positions and risk in one place (mypyc-compiled).

The asyncio engine (``pmengine.engine``) feeds typed events to this object and performs the I/O
its answers call for; the benchmark drives it directly. Everything here is synchronous integer
code: no I/O, no clock (times come in as arguments), no ``Any``.
"""

from __future__ import annotations

from typing import Final, final

from pmengine.book import LEVEL_DEEP, LEVEL_TOP, Book
from pmengine.order import (
    CANCELLED,
    LIVE,
    PARTIALLY_FILLED,
    REJECTED,
    SIGNED,
    SUBMITTED,
    UNKNOWN,
    Order,
    OrderBookkeeper,
    OrderRequest,
)
from pmengine.position import Portfolio
from pmengine.risk import OK, RiskEngine, RiskLimits
from pmengine.units import BUY

# Change flags returned by the book handlers (match pmstrat's Watch bits).
CHANGED_TOP: Final = 1
CHANGED_BOOK: Final = 2
CHANGED_TRADES: Final = 4


@final
class EngineCore:
    """Single-writer engine state; every mutation goes through one of these methods."""

    books: dict[str, Book]
    orders: OrderBookkeeper
    portfolio: Portfolio
    risk: RiskEngine
    fills_booked: int
    decisions: int

    def __init__(self, limits: RiskLimits, *, state: str = "ACTIVE") -> None:
        self.books = {}
        self.orders = OrderBookkeeper()
        self.portfolio = Portfolio()
        self.risk = RiskEngine(limits, state=state)
        self.fills_booked = 0
        self.decisions = 0

    # ---- market data ------------------------------------------------------------------------

    def book(self, token_id: str) -> Book:
        """The book of a token (created empty, with unknown tick, on first use)."""
        book = self.books.get(token_id)
        if book is None:
            book = Book(token_id)
            self.books[token_id] = book
        return book

    def on_snapshot(
        self,
        token_id: str,
        bids: list[tuple[int, int]],
        asks: list[tuple[int, int]],
        ts_ms: int,
        *,
        tick: int = 0,
        min_size: int = 0,
    ) -> int:
        """Replace a token's book; return the change flags (TOP and/or BOOK)."""
        book = self.book(token_id)
        old_bid, old_ask = book.best_bid, book.best_ask
        old_bid_size = book.bids.get(old_bid, 0)
        old_ask_size = book.asks.get(old_ask, 0)
        book.replace(bids, asks, ts_ms)
        if tick > 0:
            book.tick = tick
        if min_size > 0:
            book.min_size = min_size
        flags = CHANGED_BOOK
        if (
            book.best_bid != old_bid
            or book.best_ask != old_ask
            or book.bids.get(book.best_bid, 0) != old_bid_size
            or book.asks.get(book.best_ask, 0) != old_ask_size
        ):
            flags |= CHANGED_TOP
        return flags

    def on_level(self, token_id: str, side: int, price: int, size: int, ts_ms: int) -> int:
        """Apply one price-level change; return the change flags (TOP and/or BOOK, or 0)."""
        return self.apply_level(self.book(token_id), side, price, size, ts_ms)

    def apply_level(self, book: Book, side: int, price: int, size: int, ts_ms: int) -> int:
        """:meth:`on_level` on a book already in hand (one of :meth:`book`'s)."""
        changed = book.update_level(side, price, size, ts_ms)
        if changed == LEVEL_TOP:
            return CHANGED_BOOK | CHANGED_TOP
        if changed == LEVEL_DEEP:
            return CHANGED_BOOK
        return 0

    def on_trade(self, token_id: str, price: int, ts_ms: int) -> int:
        """A trade printed on a token: remember the price; return ``CHANGED_TRADES``."""
        return self.apply_trade(self.book(token_id), price, ts_ms)

    def apply_trade(self, book: Book, price: int, ts_ms: int) -> int:
        """:meth:`on_trade` on a book already in hand (one of :meth:`book`'s)."""
        book.last_trade_price = price
        book.touch(ts_ms)
        return CHANGED_TRADES

    def set_tick(self, token_id: str, tick: int) -> None:
        """The venue changed a token's tick size."""
        self.book(token_id).tick = tick

    def invalidate(self, token_id: str) -> None:
        """Forget a book (the feed went stale): risk denies orders on it until a snapshot."""
        self.book(token_id).clear()

    # ---- decisions --------------------------------------------------------------------------

    def unrealized(self) -> int:
        """Unrealized P&L of every position, marked to mid (micro-notional)."""
        total = 0
        for token_id, pos in self.portfolio.positions.items():
            book = self.books.get(token_id)
            if book is not None and pos.qty != 0:
                total += pos.unrealized(book.mid_x2())
        return total

    def check(self, req: OrderRequest, now_ms: int) -> str:
        """Run pre-trade risk on a request; ``OK`` (empty) or a reason code."""
        self.decisions += 1
        unrealized = self.unrealized() if req.side == BUY else 0
        return self.risk.check(
            req,
            self.books.get(req.token_id),
            portfolio=self.portfolio,
            orders=self.orders,
            now_ms=now_ms,
            unrealized=unrealized,
        )

    def accept(self, req: OrderRequest, order_hash: str, payload: str, now_ms: int) -> Order:
        """Track an approved, signed order (state ``SIGNED``) and count it for the throttle."""
        order = Order(
            order_hash,
            req.intent_id,
            strategy=req.strategy,
            token_id=req.token_id,
            side=req.side,
            price=req.price,
            size=req.size,
            created_ms=now_ms,
            payload=payload,
        )
        self.orders.add(order)
        self.orders.move(order, SIGNED, now_ms)
        self.risk.record_sent(now_ms)
        return order

    def try_order(self, req: OrderRequest, order_hash: str, payload: str, now_ms: int) -> str:
        """Check then accept in one step (used by the replay benchmark and dry-run)."""
        reason = self.check(req, now_ms)
        if reason != OK:
            return reason
        self.accept(req, order_hash, payload, now_ms)
        return OK

    # ---- venue answers ----------------------------------------------------------------------

    def mark_submitted(self, order_hash: str, now_ms: int) -> None:
        """The order is on its way to the venue."""
        self.orders.transition(order_hash, SUBMITTED, now_ms)

    def mark_live(self, order_hash: str, now_ms: int) -> None:
        """The venue acknowledged the order resting (no-op if fills already moved it on)."""
        order = self.orders.get(order_hash)
        if order is not None:
            self.order_live(order, now_ms)

    def mark_done(self, order_hash: str, state: str, now_ms: int, reason: str) -> None:
        """The order was cancelled, rejected or expired (no-op if already terminal)."""
        order = self.orders.get(order_hash)
        if order is not None:
            self.order_done(order, state, now_ms, reason)

    # The same three for an order already in hand (one that :meth:`accept` returned).

    def order_submitted(self, order: Order, now_ms: int) -> None:
        """:meth:`mark_submitted` of an order in hand."""
        self.orders.move(order, SUBMITTED, now_ms)

    def order_live(self, order: Order, now_ms: int) -> None:
        """:meth:`mark_live` of an order in hand."""
        if order.state == SIGNED:
            self.orders.move(order, SUBMITTED, now_ms)
        if order.state in (SUBMITTED, UNKNOWN):
            self.orders.move(order, LIVE, now_ms)

    def order_done(self, order: Order, state: str, now_ms: int, reason: str) -> None:
        """:meth:`mark_done` of an order in hand."""
        if not order.is_working:
            return
        if state == REJECTED and order.state in (LIVE, PARTIALLY_FILLED):
            state = CANCELLED
        self.orders.move(order, state, now_ms, reason)

    def apply_fill(
        self,
        order_hash: str,
        token_id: str,
        *,
        side: int,
        price: int,
        size: int,
        fee: int,
        now_ms: int,
    ) -> int:
        """Book a fill of one of our orders into the order and the position; returns realized."""
        order = self.orders.get(order_hash)
        if order is not None:
            self.orders.fill(order, size, now_ms)
        self.fills_booked += 1
        return self.portfolio.apply_fill(token_id, side, price, size, fee)

    def exposure(self) -> int:
        """Cost of what is held plus cash reserved by working BUYs (pUSD base units)."""
        reserved = 0
        for order in self.orders.live.values():
            reserved += order.reserved_cash()
        return self.portfolio.cost_exposure() + reserved
