"""Pre-trade risk: every order is checked, every denial has a reason code (mypyc-compiled).

The checks fail closed: no book, a stale book, an unknown tick or an unknown balance deny the
order. Trading states:

* ``ACTIVE``: every check applies.
* ``REDUCING``: only orders that reduce a position (SELLs of what is held) pass.
* ``HALTED``: nothing new passes; only cancels go out (they never come through here).
"""

from __future__ import annotations

from typing import Final, final

from pmengine.book import NO_PRICE, Book
from pmengine.order import OrderBookkeeper, OrderRequest
from pmengine.position import Portfolio
from pmengine.units import AMOUNT_SCALE, BUY, NOTIONAL_DIVISOR, PRICE_SCALE, SELL, notional_ceil

ACTIVE: Final = "ACTIVE"
REDUCING: Final = "REDUCING"
HALTED: Final = "HALTED"
TRADING_STATES: Final = (ACTIVE, REDUCING, HALTED)

OK: Final = ""
# How far the throttle's window may move along its list before the list is compacted.
_COMPACT_AT: Final = 1024
# Reason codes, stable strings (journalled and exported as a metrics label).
R_HALTED: Final = "HALTED"
R_REDUCE_ONLY: Final = "REDUCE_ONLY"
R_BAD_SIDE: Final = "BAD_SIDE"
R_NO_BOOK: Final = "NO_BOOK"
R_STALE_BOOK: Final = "STALE_BOOK"
R_NO_MID: Final = "NO_MID"
R_UNKNOWN_TICK: Final = "UNKNOWN_TICK"
R_OFF_TICK: Final = "OFF_TICK"
R_PRICE_RANGE: Final = "PRICE_RANGE"
R_PRICE_COLLAR: Final = "PRICE_COLLAR"
R_MIN_SIZE: Final = "MIN_SIZE"
R_MAX_ORDER_SIZE: Final = "MAX_ORDER_SIZE"
R_MAX_ORDER_NOTIONAL: Final = "MAX_ORDER_NOTIONAL"
R_MAX_POSITION: Final = "MAX_POSITION"
R_MAX_EXPOSURE: Final = "MAX_TOTAL_EXPOSURE"
R_MAX_OPEN_ORDERS: Final = "MAX_OPEN_ORDERS"
R_RATE_LIMIT: Final = "RATE_LIMIT"
R_DAILY_LOSS: Final = "DAILY_LOSS"
R_NO_BALANCE: Final = "NO_BALANCE"
R_INSUFFICIENT_BALANCE: Final = "INSUFFICIENT_BALANCE"
R_INSUFFICIENT_POSITION: Final = "INSUFFICIENT_POSITION"
R_DUPLICATE_INTENT: Final = "DUPLICATE_INTENT"
R_NOT_RECONCILED: Final = "NOT_RECONCILED"

REASONS: Final = (
    R_HALTED,
    R_REDUCE_ONLY,
    R_BAD_SIDE,
    R_NO_BOOK,
    R_STALE_BOOK,
    R_NO_MID,
    R_UNKNOWN_TICK,
    R_OFF_TICK,
    R_PRICE_RANGE,
    R_PRICE_COLLAR,
    R_MIN_SIZE,
    R_MAX_ORDER_SIZE,
    R_MAX_ORDER_NOTIONAL,
    R_MAX_POSITION,
    R_MAX_EXPOSURE,
    R_MAX_OPEN_ORDERS,
    R_RATE_LIMIT,
    R_DAILY_LOSS,
    R_NO_BALANCE,
    R_INSUFFICIENT_BALANCE,
    R_INSUFFICIENT_POSITION,
    R_DUPLICATE_INTENT,
    R_NOT_RECONCILED,
)


@final
class RiskLimits:
    """The limits, in integers: sizes and cash in base units, prices in 1e-4."""

    max_order_size: int
    max_order_notional: int
    max_position: int
    max_total_exposure: int
    collar: int
    min_size: int
    max_open_orders: int
    rate_count: int
    rate_window_ms: int
    daily_loss_limit: int
    stale_book_ms: int

    def __init__(
        self,
        *,
        max_order_size: int = 500 * AMOUNT_SCALE,
        max_order_notional: int = 500 * AMOUNT_SCALE,
        max_position: int = 1000 * AMOUNT_SCALE,
        max_total_exposure: int = 5000 * AMOUNT_SCALE,
        collar: int = 2000,
        min_size: int = 0,
        max_open_orders: int = 50,
        rate_count: int = 20,
        rate_window_ms: int = 1000,
        daily_loss_limit: int = 500 * AMOUNT_SCALE,
        stale_book_ms: int = 10_000,
    ) -> None:
        self.max_order_size = max_order_size
        self.max_order_notional = max_order_notional
        self.max_position = max_position
        self.max_total_exposure = max_total_exposure
        self.collar = collar
        self.min_size = min_size
        self.max_open_orders = max_open_orders
        self.rate_count = rate_count
        self.rate_window_ms = rate_window_ms
        self.daily_loss_limit = daily_loss_limit
        self.stale_book_ms = stale_book_ms


@final
class RiskEngine:
    """Checks orders against the limits and holds the trading state."""

    limits: RiskLimits
    state: str
    reconciled: bool
    sent_ms: list[int]
    sent_from: int
    denials: dict[str, int]

    def __init__(self, limits: RiskLimits, *, state: str = ACTIVE) -> None:
        self.limits = limits
        self.state = state
        self.reconciled = False
        # Submission times, oldest first; those before ``sent_from`` have left the window (the
        # list is compacted now and then instead of popping from its front every time).
        self.sent_ms = []
        self.sent_from = 0
        self.denials = {}

    def check(
        self,
        req: OrderRequest,
        book: Book | None,
        *,
        portfolio: Portfolio,
        orders: OrderBookkeeper,
        now_ms: int,
        unrealized: int = 0,
    ) -> str:
        """Return ``OK`` (empty) when the order may go out, else the reason code."""
        reason = self._check(
            req, book, portfolio=portfolio, orders=orders, now_ms=now_ms, unrealized=unrealized
        )
        if reason:
            self.denials[reason] = self.denials.get(reason, 0) + 1
        return reason

    def record_sent(self, now_ms: int) -> None:
        """Count a submission toward the order-rate throttle."""
        self.sent_ms.append(now_ms)

    def _rate_ok(self, now_ms: int) -> bool:
        window_start = now_ms - self.limits.rate_window_ms
        sent = self.sent_ms
        first = self.sent_from
        end = len(sent)
        while first < end and sent[first] <= window_start:
            first += 1
        if first >= _COMPACT_AT and 2 * first >= end:
            del sent[:first]
            end -= first
            first = 0
        self.sent_from = first
        return end - first < self.limits.rate_count

    def _check(
        self,
        req: OrderRequest,
        book: Book | None,
        *,
        portfolio: Portfolio,
        orders: OrderBookkeeper,
        now_ms: int,
        unrealized: int,
    ) -> str:
        lim = self.limits
        if self.state == HALTED:
            return R_HALTED
        if not self.reconciled:
            return R_NOT_RECONCILED
        if req.side not in (BUY, SELL):
            return R_BAD_SIDE
        if orders.working_for_intent(req.intent_id) is not None:
            return R_DUPLICATE_INTENT

        # Quantities on this token: held, and what working orders could still add or take away.
        held = portfolio.qty(req.token_id)
        open_buy_token = 0
        open_sell_token = 0
        reserved_cash = 0
        working = 0
        for o in orders.live.values():
            # Live orders are working ones, so what can still fill is size - filled.
            working += 1
            left = o.size - o.filled
            if o.side == BUY:
                reserved_cash += notional_ceil(o.price, left)
                if o.token_id == req.token_id:
                    open_buy_token += left
            elif o.token_id == req.token_id:
                open_sell_token += left

        reducing = req.side != BUY and req.size <= held - open_sell_token
        if self.state == REDUCING and not reducing:
            return R_REDUCE_ONLY
        if req.side != BUY and req.size > held - open_sell_token:
            return R_INSUFFICIENT_POSITION

        if book is None:
            return R_NO_BOOK
        if book.updated_ms <= 0 or now_ms - book.updated_ms > lim.stale_book_ms:
            return R_STALE_BOOK
        tick = book.tick
        if tick <= 0:
            return R_UNKNOWN_TICK
        if req.price < tick or req.price > PRICE_SCALE - tick:
            return R_PRICE_RANGE
        if req.price % tick != 0:
            return R_OFF_TICK
        mid_x2 = book.mid_x2()
        if mid_x2 == NO_PRICE:
            return R_NO_MID
        off_mid_x2 = 2 * req.price - mid_x2
        if off_mid_x2 > 2 * lim.collar or -off_mid_x2 > 2 * lim.collar:
            return R_PRICE_COLLAR
        min_size = lim.min_size if lim.min_size > book.min_size else book.min_size
        if req.size <= 0 or req.size < min_size:
            return R_MIN_SIZE
        if req.size > lim.max_order_size:
            return R_MAX_ORDER_SIZE
        notional = notional_ceil(req.price, req.size)
        if notional > lim.max_order_notional:
            return R_MAX_ORDER_NOTIONAL
        if working >= lim.max_open_orders:
            return R_MAX_OPEN_ORDERS
        if not self._rate_ok(now_ms):
            return R_RATE_LIMIT

        if req.side == BUY:
            if held + open_buy_token + req.size > lim.max_position:
                return R_MAX_POSITION
            exposure = portfolio.cost_exposure() + reserved_cash + notional
            if exposure > lim.max_total_exposure:
                return R_MAX_EXPOSURE
            if portfolio.daily_pnl(unrealized) < -(lim.daily_loss_limit * NOTIONAL_DIVISOR):
                return R_DAILY_LOSS
            if not portfolio.cash_known:
                return R_NO_BALANCE
            if notional > portfolio.cash - reserved_cash:
                return R_INSUFFICIENT_BALANCE
        return OK
