"""The event-driven backtester: events -> books -> context -> strategy -> signals -> fills.

Every fill goes through :mod:`pmtrader.sim.matching`, the same price-time book the local
exchange uses. The market's own liquidity ("the crowd") is kept per level as the data states it,
and mirrored into that matching book as crowd orders wherever the strategy's orders can meet it:

* at a price where the strategy rests an order, the crowd already there is put in the book
  first, so the order queues behind it; growth of that level afterwards queues behind the order;
* a level that shrinks without a trade loses crowd from the back of its queue (cancels are
  assumed to come from behind the strategy's order: the conservative choice);
* a trade on the tape that reaches the strategy's price is matched through the book at its
  price and size, so it fills the strategy's order only once the crowd ahead of it is gone;
* liquidity arriving at a price that crosses a resting strategy order trades with it (the
  strategy is the maker, at its own price);
* a marketable strategy order takes the crowd's levels in price order at the crowd's prices;
  the recorded book learns of that impact when the data next sets the level.

Levels nobody of the strategy's can reach are plain integers per price, which keeps a replay
fast. A fill is never at a price better than the book allowed. Orders and cancels reach the book
``latency_ms`` after the strategy emitted them. Taker fills pay the market's fee; positions held
at resolution are paid 1 or 0; liquidity rewards are sampled each minute from the resting orders
and the visible book (:mod:`pmstrat.rewards`).

Rows sharing a timestamp are one atomic update: the strategy is called once after all of them,
and only if something it watches changed. Time exists only at events: a ``Watch.TIMER`` strategy
is called at the first event at or after each period, GTD orders expire at the first event at
or after their expiry, and the latency clock advances the same way.

Known simplifications: the YES and NO books are replayed separately (the venue matches a YES
bid against a NO bid by minting; here each token's orders meet only that token's book), and
liquidity the strategy takes is not seen by the recorded data.
"""

from __future__ import annotations

import heapq
import time
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable

import msgspec
from pmtrader.sim.matching import Side as BookSide

from pmstrat._crowd import LazyBooks, TokenBook
from pmstrat.context import Context, Fill, OpenOrder, OrderBookSnapshot, Position
from pmstrat.dsl import StrategyInstance, Watch, normalize_signals
from pmstrat.errors import BacktestError
from pmstrat.fees import taker_fee
from pmstrat.recording import BOOK, CLEAR, RESOLVE, TICK, TRADE, EventStream
from pmstrat.results import (
    BacktestResult,
    Metrics,
    PnlSplit,
    Rejection,
    Trade,
    hit_rate,
    max_drawdown,
    sharpe_ratio,
)
from pmstrat.rewards import (
    COMPETITION_NOTE,
    SAMPLE_MS,
    SAMPLES_PER_DAY,
    Quote,
    adjusted_mid_x2,
    q_min,
    quotes_score,
)
from pmstrat.signal import Buy, Cancel, Hold, OrderType, Sell, Side, Signal, Urgency
from pmstrat.units import AMOUNT_SCALE, PRICE_SCALE

ME = "strategy"
_CHUNK = 1 << 16
_BUY = BookSide.BUY
_SELL = BookSide.SELL
_TO_BOOK = {Side.BUY: BookSide.BUY, Side.SELL: BookSide.SELL}
_FROM_BOOK = {BookSide.BUY: Side.BUY, BookSide.SELL: Side.SELL}


class BacktestConfig(msgspec.Struct, frozen=True):
    """How the simulated venue behaves.

    Attributes:
        cash: starting pUSD, base units.
        latency_ms: delay between a signal and its effect on the book (orders and cancels).
        fees: charge the markets' taker fees.
        rewards: accrue liquidity rewards for resting orders (sampled each minute).
        equity_every_ms: spacing of equity-curve samples.
        cancel_on_stop: cancel resting orders when the stream ends.
    """

    cash: int = 1_000 * AMOUNT_SCALE
    latency_ms: int = 0
    fees: bool = True
    rewards: bool = True
    equity_every_ms: int = 60_000
    cancel_on_stop: bool = True

    def check(self) -> None:
        """Raise ``BacktestError`` on impossible settings."""
        if self.cash < 0 or self.latency_ms < 0 or self.equity_every_ms <= 0:
            raise BacktestError(
                "cash and latency_ms must be >= 0 and equity_every_ms > 0 "
                f"(got cash={self.cash}, latency_ms={self.latency_ms}, "
                f"equity_every_ms={self.equity_every_ms})"
            )


class _Order:
    """The backtester's mutable record of one strategy order."""

    __slots__ = (
        "created_ms",
        "expires_ms",
        "filled",
        "live",
        "order_id",
        "order_type",
        "post_only",
        "price",
        "reserved",
        "seq",
        "side",
        "size",
        "tag",
        "token",
        "urgency",
    )

    def __init__(self, order_id: str, seq: int, signal: Buy | Sell, ts: int) -> None:
        self.order_id = order_id
        self.seq = seq
        self.token = signal.token
        self.side = _BUY if type(signal) is Buy else _SELL
        self.price = signal.price
        self.size = signal.size
        self.filled = 0
        self.order_type = signal.order_type
        self.post_only = signal.post_only
        self.expires_ms = signal.expires_ms
        self.urgency = signal.urgency
        self.tag = signal.tag
        self.created_ms = ts
        self.live = False  # resting in the book
        self.reserved = 0  # cash (BUY) or shares (SELL) set aside while it rests

    def view(self) -> OpenOrder:
        return OpenOrder(
            self.order_id,
            self.token,
            _FROM_BOOK[self.side],
            self.price,
            self.size,
            self.filled,
            OrderType(self.order_type),
            self.created_ms,
            self.expires_ms,
            self.post_only,
            self.tag,
        )


class Backtester:
    """Replay one event stream through one strategy instance (see the module docstring).

    A ``Backtester`` is single-use: build it, call :meth:`run` once.
    """

    def __init__(
        self,
        stream: EventStream,
        strategy: StrategyInstance,
        config: BacktestConfig | None = None,
    ) -> None:
        self.config = config or BacktestConfig()
        self.config.check()
        self.stream = stream
        self.strategy = strategy
        markets = strategy.strategy.select(stream.markets)
        if not markets:
            raise BacktestError(
                f"strategy {strategy.name!r} selects none of the stream's "
                f"{len(stream.markets)} markets"
            )
        self.markets = markets
        watched = {t for m in markets for t in m.tokens}
        by_token = {t: m for m in stream.markets for t in m.tokens}
        self.tokens: dict[str, TokenBook] = {}
        self.by_code: list[TokenBook] = []
        for code, token in enumerate(stream.tokens):
            state = TokenBook(token, code, by_token[token], token in watched, self._own_fill)
            self.tokens[token] = state
            self.by_code.append(state)
        self.now = stream.start_ms
        self.cash = self.config.cash
        self.reserved_cash = 0
        self.positions: dict[str, Position] = {}
        self.reserved_shares: dict[str, int] = {}
        self.orders: dict[str, _Order] = {}
        self.views: dict[str, OpenOrder] = {}
        self.fills: list[Fill] = []
        self.trades: list[Trade] = []
        self.rejections: list[Rejection] = []
        # (due ms, signal, order id or '', orders sent before it): applied in order.
        self.pending: deque[tuple[int, Signal, str, int]] = deque()
        self.expiries: list[tuple[int, str]] = []  # (GTD expiry ms, order id), a heap
        self.new_fills: list[Fill] = []
        self.equity_ts: list[int] = []
        self.equity: list[int] = []
        self.fees_paid = 0
        self.spread_capture = 0
        self.resolution_pnl = 0
        self.reward_share_sum: dict[str, float] = {}
        self.volume = 0
        self.calls = 0
        self.sent = 0
        self._crowd_seq = 0
        self._order_seq = 0
        self._ran = False
        self._tick = strategy.raw_tick
        self._timer_ms = 0
        self._next_timer = 0
        self._next_equity = 0
        self._next_reward = 0
        self._rewards_on = False
        self.ctx = Context(
            now_ms=self.now,
            markets=markets,
            books=LazyBooks(self.tokens, lambda: self.now),
            positions=self.positions,
            orders=self.views,
            cash=self.cash,
            params=strategy.params,
        )

    # ------------------------------------------------------------------ the loop

    def run(self, progress: Callable[[int], None] | None = None) -> BacktestResult:
        """Replay every event and return the result.

        Args:
            progress: called now and then with the number of events processed so far.

        Raises:
            BacktestError: the backtester was already run.
        """
        if self._ran:
            raise BacktestError("a Backtester runs once; build a new one")
        self._ran = True
        stream = self.stream
        ts_l = stream.ts_ms.tolist()
        kind_l = stream.kind.tolist()
        code_l = stream.token.tolist()
        side_l = stream.side.tolist()
        price_l = stream.price.tolist()
        size_l = stream.size.tolist()
        n = len(ts_l)
        by_code = self.by_code
        watch = self.strategy.watch
        wake_book = bool(watch & Watch.BOOK)
        wake_top = wake_book or bool(watch & Watch.TOP)
        wake_trades = bool(watch & Watch.TRADES)
        first = ts_l[0] if n else 0
        self._timer_ms = self.strategy.interval_ms if watch & Watch.TIMER else 0
        self._next_timer = first + self._timer_ms
        self._next_equity = first
        self._next_reward = first + SAMPLE_MS
        self._rewards_on = self.config.rewards and any(m.pays_rewards for m in self.markets)
        pending = self.pending
        ctx = self.ctx
        changed: list[str] = []
        dirty: set[int] = set()
        started = time.perf_counter()
        current = first
        self.now = first
        if n:
            ctx.now_ms = first
            self._handle(self.strategy.on_start(ctx))
        for chunk in range(0, n, _CHUNK):
            rows = zip(
                ts_l[chunk : chunk + _CHUNK],
                kind_l[chunk : chunk + _CHUNK],
                code_l[chunk : chunk + _CHUNK],
                side_l[chunk : chunk + _CHUNK],
                price_l[chunk : chunk + _CHUNK],
                size_l[chunk : chunk + _CHUNK],
                strict=True,
            )
            for ts, kind, code, side, price, size in rows:
                if ts != current:
                    # Rows of one timestamp are one update: finish the previous one first.
                    self._end_batch(current, changed, dirty)
                    if changed:
                        changed = []
                    current = ts
                    self.now = ts
                    if pending and pending[0][0] <= ts:
                        self._due(ts)
                    if self.expiries and self.expiries[0][0] <= ts:
                        self._expire(ts)
                state = by_code[code]
                state.snapshot = None
                if kind == BOOK:
                    target = state.target[side]
                    keys = state.keys[side]
                    old = target.get(price, 0)
                    if price in state.mat[side] or (
                        size > old and state.own_orders and state.crosses_own(side, price)
                    ):
                        state.set_level(side, price, size)
                    elif size:
                        # A level nobody of the strategy's can reach: plain integers.
                        if not old:
                            insort(keys, price)
                        target[price] = size
                    elif old:
                        del target[price]
                        del keys[bisect_left(keys, price)]
                    dirty.add(code)
                    if not state.watched:
                        continue
                    # After the update, a change at or beyond the best is a top change.
                    if not wake_book and (
                        not wake_top
                        or (keys and (price < keys[-1] if side == 0 else price > keys[0]))
                    ):
                        continue
                elif kind == TRADE:
                    if state.own_orders:
                        state.tape(side, price, size)
                    if not (wake_trades and state.watched):
                        continue
                else:
                    if kind == CLEAR:
                        state.clear()
                    elif kind == TICK:
                        state.tick = price
                    elif kind == RESOLVE:
                        self._resolve(state, price)
                    # A cleared book or a new tick is a book change; resolution wakes everyone.
                    if not state.watched or (kind != RESOLVE and not wake_top):
                        continue
                if state.token not in changed:
                    changed.append(state.token)
            if progress is not None:
                progress(min(chunk + _CHUNK, n))
        if n:
            self._end_batch(current, changed, dirty)
        self._finish()
        elapsed = time.perf_counter() - started
        return self._result(n, elapsed)

    def _end_batch(self, ts: int, changed: list[str], dirty: set[int]) -> None:
        """After the last row of a timestamp: marks, the strategy, immediate orders, samples."""
        if self.new_fills:
            self._dispatch_fills()
        by_code = self.by_code
        for code in dirty:
            state = by_code[code]
            bid = state.best(0)
            ask = state.best(1)
            if bid is not None and ask is not None:
                state.mark_x2 = bid + ask
        dirty.clear()
        timer_ms = self._timer_ms
        timer_due = timer_ms and ts >= self._next_timer
        if changed or timer_due:
            if timer_due:
                self._next_timer = ts - (ts - self._next_timer) % timer_ms + timer_ms
            ctx = self.ctx
            ctx.now_ms = ts
            ctx.cash = self.cash - self.reserved_cash
            ctx.changed = changed
            self.calls += 1
            out = self._tick(ctx)
            if out is not None:
                self._handle(normalize_signals(out))
        if self.config.latency_ms == 0 and self.pending:
            self._due(ts)
        if self._rewards_on and ts >= self._next_reward:
            self._sample_rewards()
            self._next_reward += SAMPLE_MS * (1 + (ts - self._next_reward) // SAMPLE_MS)
        if ts >= self._next_equity:
            every = self.config.equity_every_ms
            self.equity_ts.append(ts)
            self.equity.append(self._equity())
            self._next_equity += every * (1 + (ts - self._next_equity) // every)

    # ------------------------------------------------------------------ market data

    def _own_fill(self, state: TokenBook, order_id: str, price: int, size: int, cost: int) -> None:
        """A strategy order resting in ``state``'s book traded (it was the maker)."""
        self._apply_fill(state, self.orders[order_id], price, size, cost, maker=True)

    def _resolve(self, state: TokenBook, payout: int) -> None:
        state.resolved = True
        for order in [o for o in self.orders.values() if o.token == state.token]:
            self._cancel_order(order)
        pos = self.positions.get(state.token)
        if pos is None or pos.size == 0:
            return
        amount = pos.size * payout // PRICE_SCALE
        mark = pos.size * state.mark_x2 // (2 * PRICE_SCALE)
        self.resolution_pnl += amount - mark
        self.cash += amount
        pnl = amount - pos.cost
        self.trades.append(
            Trade(state.token, self.now, pos.size, amount, pos.cost, pnl, resolution=True)
        )
        self.positions[state.token] = Position(state.token, 0, 0, pos.realized + pnl)

    # ------------------------------------------------------------------ signals

    def _handle(self, signals: list[Signal]) -> None:
        if self.new_fills:
            self._dispatch_fills()
        latency = self.config.latency_ms
        for signal in signals:
            if type(signal) is Hold:
                continue
            if type(signal) is Cancel:
                self.pending.append((self.now + latency, signal, "", self._order_seq))
                continue
            assert isinstance(signal, Buy | Sell)
            self._order_seq += 1
            oid = f"bt-{self._order_seq}"
            self.sent += 1
            order = _Order(oid, self._order_seq, signal, self.now)
            self.orders[oid] = order
            self.views[oid] = order.view()
            self.pending.append((self.now + latency, signal, oid, self._order_seq))

    def _due(self, ts: int) -> None:
        pending = self.pending
        while pending and pending[0][0] <= ts:
            _, signal, oid, sent_before = pending.popleft()
            if type(signal) is Cancel:
                self._apply_cancel(signal, sent_before)
            else:
                order = self.orders.get(oid)
                if order is not None:
                    self._place(order)
            if self.new_fills:
                self._dispatch_fills()

    def _apply_cancel(self, signal: Cancel, sent_before: int) -> None:
        if signal.order_id:
            order = self.orders.get(signal.order_id)
            if order is not None:
                self._cancel_order(order)
            return
        # A token-wide cancel reaches the orders sent before it, not those sent after it.
        for order in [o for o in self.orders.values() if o.token == signal.token]:
            if order.seq <= sent_before and (not signal.tag or order.tag == signal.tag):
                self._cancel_order(order)

    def _reject(self, order: _Order, reason: str) -> None:
        self.rejections.append(Rejection(self.now, order.token, reason))
        self._forget(order)

    def _forget(self, order: _Order) -> None:
        self.orders.pop(order.order_id, None)
        self.views.pop(order.order_id, None)

    def _expire(self, ts: int) -> None:
        """Cancel GTD orders whose expiry has passed."""
        while self.expiries and self.expiries[0][0] <= ts:
            _, oid = heapq.heappop(self.expiries)
            order = self.orders.get(oid)
            if order is not None:
                self._cancel_order(order)

    def _place(self, order: _Order) -> None:
        state = self.tokens.get(order.token)
        if state is None:
            self._reject(order, f"unknown token {order.token}")
            return
        market = state.market
        if state.resolved:
            self._reject(order, "market resolved")
            return
        if order.expires_ms and order.expires_ms <= self.now:
            self._reject(order, "GTD order expired before it reached the book")
            return
        if order.price % state.tick:
            self._reject(order, f"price {order.price} breaks tick {state.tick}")
            return
        if order.size < market.min_size:
            self._reject(order, f"size {order.size} below minimum {market.min_size}")
            return
        side = order.side
        price = order.price
        size = order.size
        immediate = order.order_type in (OrderType.FOK, OrderType.FAK) or (
            order.urgency == Urgency.IMMEDIATE
        )
        fee_bps = market.fee_rate_bps if self.config.fees else 0
        if side is _BUY:
            worst_fee = taker_fee(size, price, fee_bps, market.fee_exponent)
            need = -(-price * size // PRICE_SCALE) + worst_fee
            if need > self.cash - self.reserved_cash:
                self._reject(order, "insufficient cash")
                return
        else:
            held = self.positions.get(order.token)
            free = (held.size if held else 0) - self.reserved_shares.get(order.token, 0)
            if size > free:
                self._reject(order, "insufficient shares (no shorting: buy the other token)")
                return
        side_i = 0 if side is _BUY else 1
        opposite = state.best(1 - side_i)
        crosses = opposite is not None and (
            price >= opposite if side is _BUY else price <= opposite
        )
        if crosses:
            if order.post_only:
                self._reject(order, "post-only order crosses the book")
                return
            if self._would_self_trade(state, order):
                self._reject(order, "order would trade with the strategy's own order")
                return
            if order.order_type == OrderType.FOK:
                target = state.target[1 - side_i]
                available = sum(target[p] for p in state.crossing(1 - side_i, price))
                if available < size:
                    self._reject(order, "FOK order could not be fully filled")
                    return
            self._taker(state, order)
        elif order.order_type == OrderType.FOK:
            self._reject(order, "FOK order could not be fully filled")
            return
        remaining = order.size - order.filled
        if remaining == 0:
            return
        if immediate:
            if order.filled == 0:
                self._reject(order, "no match for an immediate order")
            else:
                self._forget(order)
            return
        state.materialize(side_i, price)
        state.book.add(order.order_id, ME, side, price, remaining)
        order.live = True
        if order.expires_ms:
            heapq.heappush(self.expiries, (order.expires_ms, order.order_id))
        levels = state.own_level[side_i]
        levels[price] = levels.get(price, 0) + remaining
        state.own_orders += 1
        state.snapshot = None
        self._reserve(order)

    def _taker(self, state: TokenBook, order: _Order) -> None:
        """Fill a marketable strategy order against the crowd, level by level."""
        taker = 0 if order.side is _BUY else 1
        maker = 1 - taker
        reached = state.crossing(maker, order.price)
        for price in reached:
            state.materialize(maker, price)
        fills = state.book.match(order.side, order.price, max_size=order.size)
        state.book_fills(maker, fills, ours_are_makers=False)
        for fill in fills:
            self._apply_fill(state, order, fill.price, fill.size, fill.cost, maker=False)
        for price in reached:
            state.dematerialize(maker, price)

    def _would_self_trade(self, state: TokenBook, order: _Order) -> bool:
        if not state.own_orders:
            return False
        opposite = state.own_level[1 if order.side is _BUY else 0]
        if order.side is _BUY:
            return any(p <= order.price for p in opposite)
        return any(p >= order.price for p in opposite)

    def _reserve(self, order: _Order) -> None:
        remaining = order.size - order.filled
        if order.side is _BUY:
            new = -(-order.price * remaining // PRICE_SCALE)
            self.reserved_cash += new - order.reserved
        else:
            new = remaining
            self.reserved_shares[order.token] = (
                self.reserved_shares.get(order.token, 0) + new - order.reserved
            )
        order.reserved = new

    def _cancel_order(self, order: _Order) -> None:
        if order.live:
            state = self.tokens[order.token]
            left = state.book.cancel(order.order_id)
            levels = state.own_level[order.side]
            levels[order.price] -= left
            if not levels[order.price]:
                del levels[order.price]
                state.dematerialize(int(order.side), order.price)
            state.own_orders -= 1
            state.snapshot = None
            order.filled = order.size  # nothing left to reserve
            self._reserve(order)
            order.live = False
        self._forget(order)

    # ------------------------------------------------------------------ accounting

    def _apply_fill(
        self, state: TokenBook, order: _Order, price: int, size: int, cost: int, *, maker: bool
    ) -> None:
        market = state.market
        fee = 0
        if self.config.fees and market.fee_rate_bps and not (maker and market.fee_taker_only):
            fee = taker_fee(size, price, market.fee_rate_bps, market.fee_exponent)
        token = order.token
        pos = self.positions.get(token) or Position(token)
        mark_x2 = state.mark_x2
        if order.side is _BUY:
            self.cash -= cost + fee
            self.positions[token] = Position(
                token, pos.size + size, pos.cost + cost + fee, pos.realized
            )
            if mark_x2:
                self.spread_capture += (mark_x2 - 2 * price) * size // (2 * PRICE_SCALE)
        else:
            proceeds = cost - fee
            released = pos.cost * size // pos.size
            self.cash += proceeds
            pnl = proceeds - released
            self.positions[token] = Position(
                token, pos.size - size, pos.cost - released, pos.realized + pnl
            )
            self.trades.append(Trade(token, self.now, size, proceeds, released, pnl))
            if mark_x2:
                self.spread_capture += (2 * price - mark_x2) * size // (2 * PRICE_SCALE)
        self.fees_paid += fee
        self.volume += cost
        order.filled += size
        if maker:
            levels = state.own_level[order.side]
            levels[price] -= size
            if not levels[price]:
                del levels[price]
            if order.filled == order.size:
                state.own_orders -= 1
                order.live = False
        if order.live or maker:
            self._reserve(order)
        if order.filled == order.size:
            self._forget(order)
        elif order.order_id in self.views:
            self.views[order.order_id] = order.view()
        state.snapshot = None
        fill = Fill(
            order.order_id,
            token,
            _FROM_BOOK[order.side],
            price,
            size,
            fee,
            self.now,
            maker,
            order.tag,
        )
        self.fills.append(fill)
        self.new_fills.append(fill)

    def _dispatch_fills(self) -> None:
        batch = self.new_fills
        self.new_fills = []
        ctx = self.ctx
        ctx.now_ms = self.now
        ctx.cash = self.cash - self.reserved_cash
        for fill in batch:
            self._handle(self.strategy.on_fill(ctx, fill))

    def _sample_rewards(self) -> None:
        for market in self.markets:
            if not market.pays_rewards:
                continue
            yes = self.tokens[market.tokens[0]]
            no = self.tokens[market.tokens[1]]
            if not (yes.own_orders or no.own_orders):
                continue
            own: list[Quote] = []
            others: list[Quote] = []
            for state in (yes, no):
                for side, index in ((Side.BUY, 0), (Side.SELL, 1)):
                    own += [
                        Quote(state.is_yes, side, p, q) for p, q in state.own_level[index].items()
                    ]
            # The venue's NO book mirrors the YES book: the YES crowd is everyone else.
            for side, index in ((Side.BUY, 0), (Side.SELL, 1)):
                others += [Quote(True, side, p, q) for p, q in yes.target[index].items()]
            mid_x2 = adjusted_mid_x2(self._visible_yes(yes, no), market.rewards_min_size)
            if mid_x2 is None:
                continue
            mid = mid_x2 / (2 * PRICE_SCALE)
            kw: dict[str, int] = {
                "mid_x2": mid_x2,
                "max_spread": market.rewards_max_spread,
                "min_size": market.rewards_min_size,
            }
            ours = q_min(*quotes_score(own, **kw), mid)
            if ours <= 0:
                continue
            theirs = q_min(*quotes_score(others, **kw), mid)
            share = ours / (ours + theirs)
            self.reward_share_sum[market.condition_id] = (
                self.reward_share_sum.get(market.condition_id, 0.0) + share
            )

    def _visible_yes(self, yes: TokenBook, no: TokenBook) -> OrderBookSnapshot:
        """The YES book as the venue shows it: crowd, our YES orders, our NO orders mirrored."""
        bids = dict(yes.levels(0))
        asks = dict(yes.levels(1))
        for price, size in no.own_level[1].items():  # a NO ask at p is a YES bid at 1 - p
            bids[PRICE_SCALE - price] = bids.get(PRICE_SCALE - price, 0) + size
        for price, size in no.own_level[0].items():  # a NO bid at p is a YES ask at 1 - p
            asks[PRICE_SCALE - price] = asks.get(PRICE_SCALE - price, 0) + size
        return OrderBookSnapshot(
            yes.token,
            self.now,
            tuple(sorted(bids.items(), reverse=True)),
            tuple(sorted(asks.items())),
            yes.tick,
        )

    def _rewards_units(self) -> int:
        total = 0
        for market in self.markets:
            shares = self.reward_share_sum.get(market.condition_id, 0.0)
            # Each sample is one minute's slice of the daily pool.
            total += int(shares * market.rewards_daily_rate / SAMPLES_PER_DAY)
        return total

    def _equity(self) -> int:
        value = self.cash
        for token, pos in self.positions.items():
            if pos.size:
                value += pos.size * self.tokens[token].mark_x2 // (2 * PRICE_SCALE)
        return value

    def _finish(self) -> None:
        if self.config.cancel_on_stop:
            self.ctx.now_ms = self.now
            self._handle(self.strategy.on_stop(self.ctx))
            self._due(self.now + self.config.latency_ms)
            for order in list(self.orders.values()):
                self._cancel_order(order)
        self.pending.clear()

    def _result(self, events: int, elapsed: float) -> BacktestResult:
        rewards = self._rewards_units() if self.config.rewards else 0
        self.cash += rewards
        final = self._equity()
        if not self.equity_ts or self.equity_ts[-1] != self.now:
            self.equity_ts.append(self.now)
            self.equity.append(final)
        else:
            self.equity[-1] = final
        total = final - self.config.cash
        fees = -self.fees_paid
        inventory = total - self.spread_capture - fees - rewards - self.resolution_pnl
        pnl = PnlSplit(
            spread_capture=self.spread_capture,
            inventory=inventory,
            fees=fees,
            rewards=rewards,
            resolution=self.resolution_pnl,
            total=total,
        )
        drawdown, drawdown_pct = max_drawdown(self.equity)
        metrics = Metrics(
            sharpe=sharpe_ratio(self.equity, self.config.equity_every_ms),
            max_drawdown=drawdown,
            max_drawdown_pct=drawdown_pct,
            hit_rate=hit_rate(self.trades),
            fills=len(self.fills),
            volume=self.volume,
            events=events,
            calls=self.calls,
        )
        return BacktestResult(
            strategy=self.strategy.name,
            params=dict(self.strategy.params),
            start_cash=self.config.cash,
            cash=self.cash,
            positions={t: p for t, p in self.positions.items() if p.size},
            fills=self.fills,
            trades=self.trades,
            rejections=self.rejections,
            equity_ts=self.equity_ts,
            equity=self.equity,
            pnl=pnl,
            metrics=metrics,
            orders=self.sent,
            elapsed_s=elapsed,
            rewards_note=COMPETITION_NOTE if rewards else "",
        )


def backtest(
    stream: EventStream,
    strategy: StrategyInstance,
    config: BacktestConfig | None = None,
    *,
    progress: Callable[[int], None] | None = None,
) -> BacktestResult:
    """Replay ``stream`` through ``strategy`` and return the result (see :class:`Backtester`)."""
    return Backtester(stream, strategy, config).run(progress)
