"""The engine: one bounded queue of typed events and one dispatcher.

Market data, venue answers, the timer and control commands (kill, resume, shutdown) become
events on one ``asyncio.Queue``; one dispatcher applies them to the compiled core, calls the
strategies whose watched state changed, runs pre-trade risk, journals each signed order and only
then hands it to the gateway. Network calls run as tasks that post their answers back to the
queue, so the dispatcher never waits on the venue and engine state has one writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import structlog

from pmengine import risk
from pmengine.core import CHANGED_TRADES, EngineCore
from pmengine.errors import AmbiguousSubmitError, GatewayError, ReconciliationError
from pmengine.events import (
    Batch,
    BookSnapshot,
    CancelAck,
    Event,
    FeedStale,
    FillEvent,
    Kill,
    LevelChange,
    MarketResolved,
    OrderUpdate,
    Resume,
    Shutdown,
    SubmitAck,
    TickSizeChange,
    Timer,
    TradePrint,
)
from pmengine.gateway import DryRunGateway, Gateway, SignedOrder, VenueFill
from pmengine.journal import FillRecord, Journal, now_ms
from pmengine.metrics import EngineMetrics
from pmengine.order import CANCELLED, EXPIRED, REJECTED, SUBMITTED, UNKNOWN
from pmengine.position import MICRO_PER_BASE
from pmengine.strategy import Decisions, StrategyRunner
from pmengine.units import AMOUNT_SCALE, BUY
from pmstrat import Fill as StratFill
from pmstrat import MarketInfo
from pmstrat import Side as StratSide

log = structlog.get_logger("pmengine.engine")

KILL_FILE = "KILL"
QUEUE_SIZE = 10_000
DRAIN_LIMIT = 2_000


class Feed(Protocol):
    """A market-data source that posts events until cancelled."""

    async def run(self, post: Callable[[Event], Awaitable[None]], tokens: list[str]) -> None:
        """Stream events for ``tokens`` into ``post``."""


@dataclass
class EngineConfig:
    """What the engine needs to know beyond its parts."""

    state_dir: Path
    tick_interval_ms: int = 1000
    heartbeat_ms: int = 5_000
    control_poll_ms: int = 100
    shutdown_cancel_s: float = 3.0
    max_resubmits: int = 3
    resolve_delay_s: float = 0.2
    dry_run: bool = True
    markets: list[MarketInfo] = field(default_factory=list)


class Engine:
    """Runs strategies against the markets through risk and a gateway (see module docstring)."""

    def __init__(
        self,
        *,
        core: EngineCore,
        gateway: Gateway,
        journal: Journal,
        metrics: EngineMetrics,
        runners: list[StrategyRunner],
        config: EngineConfig,
        feed: Feed | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.core = core
        self.gateway = gateway
        self.journal = journal
        self.metrics = metrics
        self.runners = runners
        self.config = config
        self.feed = feed
        self.clock = clock
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=QUEUE_SIZE)
        # Control events that found the queue full (see post_nowait); read before every event.
        self.overflow: deque[Event] = deque()
        self.signed: dict[str, SignedOrder] = {}
        self.tags: dict[str, str] = {}
        self.resubmits: dict[str, int] = {}
        self.fill_ids: set[str] = set()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.stopping = False
        self.stale = False
        self.reconciled = False
        self.sent_before_reconcile = 0
        self.kill_ns = 0
        self.cancel_all_sent_ns = 0
        self.started_ms = 0
        self.stale_since_ms = 0
        self.stale_periods: list[tuple[int, int]] = []
        self.markets_by_token: dict[str, MarketInfo] = {
            t: m for m in config.markets for t in m.tokens
        }

    # ---- plumbing ---------------------------------------------------------------------------

    async def post(self, event: Event) -> None:
        """Put an event on the queue (waits when it is full: back-pressure on the feed)."""
        await self.queue.put(event)

    def post_nowait(self, event: Event) -> None:
        """Hand a control event (shutdown, kill) to the dispatcher from a signal handler.

        A kill or a shutdown must never be lost: when the bounded queue is full of market data,
        the event goes on an unbounded overflow list instead, which the dispatcher empties before
        every event it handles (a full queue means the dispatcher is busy, so it gets there next).
        """
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflow.append(event)

    async def _post_fill(self, fill: VenueFill) -> None:
        await self.post(FillEvent(fill))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _stopped(self) -> bool:
        return self.stopping

    @property
    def kill_path(self) -> Path:
        """The kill-switch file: its presence halts the engine."""
        return self.config.state_dir / KILL_FILE

    # ---- start: journal, then venue -------------------------------------------------------

    async def reconcile(self) -> None:
        """Load the journal, then agree with the venue before any order may go out.

        Raises:
            ReconciliationError: the venue holds an order or a fill the journal cannot explain,
                or positions disagree.
        """
        core = self.core
        core.portfolio = self.journal.load_portfolio()
        adopt = getattr(self.gateway, "adopt", None)
        for order in self.journal.load_orders():
            core.orders.restore(order)
            if adopt is not None:
                adopt(order.order_hash)
        self.fill_ids = {f.fill_id for f in self.journal.load_fills()}
        for market in self.config.markets:
            for token in market.tokens:
                book = core.book(token)
                book.tick = book.tick or market.tick
                book.min_size = book.min_size or market.min_size
        now = self.clock()
        if self.config.dry_run:
            for order in core.orders.working():
                core.orders.transition(order.order_hash, CANCELLED, now, "dry-run restart")
                self.journal.record_order(order)
            if not core.portfolio.cash_known:
                core.portfolio.set_cash(await self.gateway.balance())
        else:
            await self._reconcile_live(now)
        core.risk.reconciled = True
        self.reconciled = True
        state = self.journal.trading_state()
        if self.kill_path.exists():
            state = risk.HALTED
        core.risk.state = state if state in risk.TRADING_STATES else risk.HALTED
        self.metrics.set_state(core.risk.state)
        log.info("engine.reconciled", state=core.risk.state, orders=len(core.orders.working()))

    async def _reconcile_live(self, now: int) -> None:
        core = self.core
        gw = self.gateway
        venue_open = {v.order_hash: v for v in await gw.open_orders()}
        for order in core.orders.working():
            seen = venue_open.get(order.order_hash) or await gw.get_order(order.order_hash)
            if seen is None:
                # Signed (maybe sent) but the venue never took it: nothing rests, nothing filled.
                if order.filled == 0:
                    core.orders.transition(order.order_hash, CANCELLED, now, "not at venue")
                else:
                    core.orders.close_filled(order.order_hash, CANCELLED, now, "not at venue")
                self.journal.record_order(order)
                continue
            if order.state in ("SIGNED", SUBMITTED, UNKNOWN):
                core.mark_live(order.order_hash, now)
            if seen.status.upper() in ("CANCELED", "CANCELLED", "CANCELED_MARKET_RESOLVED"):
                core.mark_done(order.order_hash, CANCELLED, now, "venue cancelled")
            self.journal.record_order(order)
        unknown = [h for h in venue_open if core.orders.get(h) is None]
        if unknown:
            raise ReconciliationError(
                f"the venue has {len(unknown)} open order(s) the journal never signed "
                f"(first {unknown[0]}); refusing to trade next to them"
            )
        since = int(self.journal.get_meta("last_fill_ms", "0"))
        for fill in await gw.trades_since(max(since - 60_000, 0)):
            if fill.fill_id in self.fill_ids:
                continue
            if core.orders.get(fill.order_hash) is None:
                raise ReconciliationError(
                    f"the venue reports fill {fill.fill_id} of order {fill.order_hash}, "
                    "which the journal never signed"
                )
            self._book_fill(fill, notify=False)
        core.portfolio.set_cash(await gw.balance())
        tokens = sorted(t for t, p in core.portfolio.positions.items() if p.qty)
        tokens = sorted(set(tokens) | set(self.markets_by_token))
        venue_qty = await gw.token_balances(tokens)
        for token in tokens:
            mine = core.portfolio.qty(token)
            theirs = venue_qty.get(token, 0)
            if mine != theirs:
                raise ReconciliationError(
                    f"token {token}: the journal holds {mine} base units, the venue {theirs}"
                )
        self.journal.save_portfolio(core.portfolio, now)

    # ---- the loop ---------------------------------------------------------------------------

    async def run(self, *, install_signals: bool = True) -> int:
        """Start, reconcile, trade until shutdown; return the exit code (0)."""
        loop = asyncio.get_running_loop()
        if install_signals:
            loop.add_signal_handler(signal.SIGTERM, self.post_nowait, Shutdown("SIGTERM"))
            loop.add_signal_handler(signal.SIGINT, self.post_nowait, Shutdown("SIGINT"))
            loop.add_signal_handler(signal.SIGUSR1, self.post_nowait, Kill("SIGUSR1"))
        self.started_ms = self.clock()
        await self.gateway.start()
        await self.reconcile()
        self._spawn(self._timer())
        self._spawn(self._control())
        self._spawn(self._heartbeats())
        if self.feed is not None:
            tokens = sorted(self.markets_by_token)
            self._spawn(self.feed.run(self.post, tokens))
        run_fills = getattr(self.gateway, "run_fills", None)
        if run_fills is not None:
            since = int(self.journal.get_meta("last_fill_ms", "0"))
            self._spawn(run_fills(self._post_fill, since))
        for runner in self.runners:
            self.journal.set_strategy_status(runner.name, "running", "", self.clock())
            self._call(runner, "start", changed=[], t0_ns=time.perf_counter_ns())
        try:
            await self._dispatch()
        finally:
            await self._shutdown()
            if install_signals:
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
                    loop.remove_signal_handler(sig)
        return 0

    async def _dispatch(self) -> None:
        queue = self.queue
        while not self.stopping:
            event = await queue.get()
            batch = Batch()
            self._handle_overflow(batch)
            self._handle(event, batch)
            drained = 0
            while drained < DRAIN_LIMIT and not self._stopped() and not queue.empty():
                self._handle_overflow(batch)
                self._handle(queue.get_nowait(), batch)
                drained += 1
            if batch.changes and not self._stopped():
                self._run_strategies(batch)

    def _handle_overflow(self, batch: Batch) -> None:
        overflow = self.overflow
        while overflow:
            self._handle(overflow.popleft(), batch)

    def _handle(self, ev: Event, batch: Batch) -> None:
        core = self.core
        flags = 0
        token = ""
        if isinstance(ev, LevelChange):
            token = ev.token_id
            flags = core.on_level(token, ev.side, ev.price, ev.size, ev.ts_ms)
            recv = ev.recv_ns
        elif isinstance(ev, BookSnapshot):
            token = ev.token_id
            flags = core.on_snapshot(
                token, ev.bids, ev.asks, ev.ts_ms, tick=ev.tick, min_size=ev.min_size
            )
            recv = ev.recv_ns
            if self.stale:
                self.stale = False
                self.stale_periods.append((self.stale_since_ms, self.clock()))
                log.info("feed.rebuilt", token=token)
        elif isinstance(ev, TradePrint):
            token = ev.token_id
            flags = core.on_trade(token, ev.price, ev.ts_ms)
            recv = ev.recv_ns
            if isinstance(self.gateway, DryRunGateway):
                for fill in self.gateway.on_trade(token, ev.price, ev.size):
                    self._book_fill(fill)
        elif isinstance(ev, FillEvent):
            self._book_fill(ev.fill)
            return
        elif isinstance(ev, SubmitAck):
            self._on_ack(ev)
            return
        elif isinstance(ev, OrderUpdate):
            self._on_update(ev)
            return
        elif isinstance(ev, CancelAck):
            now = self.clock()
            for h in ev.order_hashes:
                order = core.orders.get(h)
                if order is not None and order.is_working:
                    core.mark_done(h, CANCELLED, now, "cancelled")
                    self.journal.record_order(order)
            return
        elif isinstance(ev, TickSizeChange):
            core.set_tick(ev.token_id, ev.tick)
            return
        elif isinstance(ev, MarketResolved):
            self._on_resolved(ev)
            return
        elif isinstance(ev, FeedStale):
            if not self.stale:
                self.stale_since_ms = self.clock()
            self.stale = True
            for t in ev.tokens:
                core.invalidate(t)
            log.warning("feed.stale", tokens=len(ev.tokens), reason=ev.reason)
            return
        elif isinstance(ev, Timer):
            self._on_timer(ev.now_ms)
            return
        elif isinstance(ev, Kill):
            self._kill(ev.source)
            return
        elif isinstance(ev, Resume):
            self._resume(ev.source)
            return
        elif isinstance(ev, Shutdown):
            log.info("engine.shutdown", reason=ev.reason)
            self.stopping = True
            return
        if flags and token:
            batch.changes[token] = batch.changes.get(token, 0) | flags
            if recv and (batch.first_recv_ns == 0 or recv < batch.first_recv_ns):
                batch.first_recv_ns = recv
            if isinstance(self.gateway, DryRunGateway) and flags != CHANGED_TRADES:
                for fill in self.gateway.on_book(token):
                    self._book_fill(fill)

    # ---- strategies -------------------------------------------------------------------------

    def _run_strategies(self, batch: Batch) -> None:
        t0 = batch.first_recv_ns or time.perf_counter_ns()
        now = self.clock()
        for runner in self.runners:
            changed = runner.interested(batch.changes, now)
            if changed:
                self._call(runner, "tick", changed=changed, t0_ns=t0)

    def _call(
        self,
        runner: StrategyRunner,
        what: str,
        *,
        changed: list[str],
        t0_ns: int,
        fill: StratFill | None = None,
    ) -> None:
        if runner.halted:
            return
        runner.refresh(
            now_ms=self.clock(),
            books=self.core.books,
            changed=changed,
            portfolio=self.core.portfolio,
            orders=self.core.orders.live.values(),
            tags=self.tags,
        )
        if what == "start":
            signals = runner.call_start()
        elif what == "fill" and fill is not None:
            signals = runner.call_fill(fill)
        elif what == "timer":
            signals = runner.call_tick(timer=True)
        else:
            signals = runner.call_tick()
        if runner.is_halted():
            self.metrics.strategy_halted.labels(runner.name).set(1)
            self.journal.set_strategy_status(runner.name, "halted", runner.error, self.clock())
            return
        if signals:
            decisions = runner.translate(
                signals, self.core.orders.live.values(), self.tags, self.clock()
            )
            self._decide(runner, decisions, t0_ns)

    def _decide(self, runner: StrategyRunner, decisions: Decisions, t0_ns: int) -> None:
        core = self.core
        todo = [h for h in decisions.cancels if self._cancel_wanted(h)]
        if todo:
            self._spawn(self._cancel(todo))
        for req in decisions.orders:
            now = self.clock()
            reason = core.check(req, now)
            self.metrics.tick_to_decision.observe((time.perf_counter_ns() - t0_ns) / 1e9)
            if reason:
                self.metrics.denials.labels(reason).inc()
                if reason != risk.R_DUPLICATE_INTENT:
                    self.journal.note_denial(now, req.strategy, req.intent_id, req.token_id, reason)
                continue
            market = self.markets_by_token.get(req.token_id)
            book = core.book(req.token_id)
            signed = self.gateway.sign(
                req, tick=book.tick, neg_risk=bool(market and market.neg_risk), now_ms=now
            )
            order = core.accept(req, signed.order_hash, signed.payload, now)
            self.tags[signed.order_hash] = decisions.tags.get(req.intent_id, "")
            self.signed[signed.order_hash] = signed
            self.journal.record_order(order)  # the signed payload is durable before it is sent
            core.mark_submitted(signed.order_hash, now)
            self.journal.record_order(order)
            self.metrics.orders.labels("submitted").inc()
            self._spawn(self._submit(signed))

    def _cancel_wanted(self, order_hash: str) -> bool:
        order = self.core.orders.get(order_hash)
        if order is None or not order.is_working or order.cancel_requested:
            return False
        order.cancel_requested = True
        return True

    # ---- venue I/O (tasks that post back) ---------------------------------------------------

    async def _submit(self, signed: SignedOrder) -> None:
        if not self.reconciled:
            self.sent_before_reconcile += 1
        sent = time.perf_counter_ns()
        try:
            result = await self.gateway.submit(signed)
        except AmbiguousSubmitError as exc:
            await self.post(SubmitAck(signed.order_hash, None, str(exc), True, sent))
            return
        except GatewayError as exc:
            await self.post(SubmitAck(signed.order_hash, None, str(exc), False, sent))
            return
        await self.post(SubmitAck(signed.order_hash, result, "", False, sent))

    async def _resolve(self, order_hash: str) -> None:
        await asyncio.sleep(self.config.resolve_delay_s)
        try:
            seen = await self.gateway.get_order(order_hash)
        except GatewayError as exc:
            log.warning("order.lookup_failed", order=order_hash, error=str(exc))
            self._spawn(self._resolve(order_hash))
            return
        await self.post(OrderUpdate(order_hash, seen, resubmit=seen is None))

    async def _cancel(self, order_hashes: list[str]) -> None:
        try:
            done = await self.gateway.cancel(order_hashes)
        except GatewayError as exc:
            log.warning("order.cancel_failed", orders=len(order_hashes), error=str(exc))
            for h in order_hashes:
                order = self.core.orders.get(h)
                if order is not None:
                    order.cancel_requested = False
            return
        await self.post(CancelAck(tuple(done)))

    async def _cancel_all(self) -> None:
        self.cancel_all_sent_ns = time.perf_counter_ns()
        try:
            done = await self.gateway.cancel_all()
        except GatewayError as exc:
            log.error("order.cancel_all_failed", error=str(exc))
            return
        known = [o.order_hash for o in self.core.orders.working()]
        after_ms = (time.perf_counter_ns() - self.kill_ns) / 1e6 if self.kill_ns else 0.0
        log.warning("engine.cancel_all", cancelled=len(done), after_kill_ms=round(after_ms, 1))
        await self.post(CancelAck(tuple(set(done) | set(known))))

    # ---- venue answers ----------------------------------------------------------------------

    def _on_ack(self, ack: SubmitAck) -> None:
        core = self.core
        now = self.clock()
        order = core.orders.get(ack.order_hash)
        if order is None:
            return
        if ack.sent_ns:
            self.metrics.decision_to_ack.observe((time.perf_counter_ns() - ack.sent_ns) / 1e9)
        if ack.ambiguous:
            if order.state == SUBMITTED:
                core.orders.transition(order.order_hash, UNKNOWN, now, f"ambiguous: {ack.error}")
                self.journal.record_order(order)
            self.journal.record_order_event(order.order_hash, now, "ambiguous", ack.error)
            self.metrics.orders.labels("ambiguous").inc()
            self._spawn(self._resolve(order.order_hash))
            return
        result = ack.result
        if result is None or result.status == "rejected":
            reason = ack.error or (result.error if result else "rejected")
            if order.is_working and order.filled == 0:
                core.mark_done(order.order_hash, REJECTED, now, reason)
                self.journal.record_order(order)
            self.metrics.orders.labels("rejected").inc()
            log.info("order.rejected", order=order.order_hash, reason=reason)
            return
        self.metrics.orders.labels(result.status).inc()
        core.mark_live(order.order_hash, now)
        self.journal.record_order(order)
        for fill in result.fills:
            self._book_fill(fill)
        if result.done and order.is_working:
            if result.fills or isinstance(self.gateway, DryRunGateway):
                # FAK/FOK with its fills in hand: what did not fill is gone.
                core.mark_done(order.order_hash, CANCELLED, now, "immediate order remainder")
                self.journal.record_order(order)
            else:
                # Live: the fills come through the trade feed; ask the venue how it ended.
                self._spawn(self._resolve(order.order_hash))

    def _on_update(self, upd: OrderUpdate) -> None:
        core = self.core
        now = self.clock()
        order = core.orders.get(upd.order_hash)
        if order is None or not order.is_working:
            return
        seen = upd.venue
        if seen is None:
            tries = self.resubmits.get(order.order_hash, 0)
            signed = self.signed.get(order.order_hash)
            if upd.resubmit and signed is not None and tries < self.config.max_resubmits:
                # Same signed bytes, same hash: the venue refuses a duplicate, so at most one
                # order can ever exist for this intent. Never sign again.
                self.resubmits[order.order_hash] = tries + 1
                core.orders.transition(order.order_hash, SUBMITTED, now)
                self.journal.record_order(order)
                self.journal.record_order_event(order.order_hash, now, "resent", "same bytes")
                self._spawn(self._submit(signed))
            elif upd.resubmit:
                core.mark_done(order.order_hash, REJECTED, now, "never reached the venue")
                self.journal.record_order(order)
            return
        status = seen.status.upper()
        self.journal.record_order_event(order.order_hash, now, "venue", status)
        if status == "MATCHED" and seen.filled < order.size:
            # An immediate order that matched part of its size: the rest was killed. Its fills
            # arrive through the trade feed and still count after this.
            core.mark_done(order.order_hash, CANCELLED, now, "immediate order remainder")
        elif status == "MATCHED":
            core.mark_live(order.order_hash, now)
        elif status in ("CANCELED", "CANCELLED", "CANCELED_MARKET_RESOLVED", "UNMATCHED"):
            core.mark_done(order.order_hash, CANCELLED, now, status.lower())
        elif status == "EXPIRED":
            core.mark_done(order.order_hash, EXPIRED, now, "expired")
        else:
            core.mark_live(order.order_hash, now)
        self.journal.record_order(order)

    def _book_fill(self, fill: VenueFill, *, notify: bool = True) -> None:
        if fill.fill_id in self.fill_ids:
            return
        self.fill_ids.add(fill.fill_id)
        core = self.core
        core.apply_fill(
            fill.order_hash,
            fill.token_id,
            side=fill.side,
            price=fill.price,
            size=fill.size,
            fee=fill.fee,
            now_ms=fill.ts_ms,
        )
        order = core.orders.get(fill.order_hash)
        record = FillRecord(
            fill.fill_id,
            fill.order_hash,
            fill.token_id,
            fill.side,
            fill.price,
            fill.size,
            fill.fee,
            fill.ts_ms,
        )
        self.journal.record_fill(record, order, core.portfolio)
        self.metrics.fills.inc()
        if not notify or order is None:
            return
        for runner in self.runners:
            if runner.name == order.strategy:
                event = StratFill(
                    fill.order_hash,
                    fill.token_id,
                    StratSide.BUY if fill.side == BUY else StratSide.SELL,
                    fill.price,
                    fill.size,
                    fill.fee,
                    fill.ts_ms,
                    maker=True,
                    tag=self.tags.get(fill.order_hash, ""),
                )
                self._call(runner, "fill", changed=[], t0_ns=time.perf_counter_ns(), fill=event)

    def _on_resolved(self, ev: MarketResolved) -> None:
        """Settle held positions: the winner pays 1 pUSD a share into cash, losers nothing."""
        core = self.core
        now = self.clock()
        for token in ev.tokens:
            if token not in self.markets_by_token:
                continue
            for order in core.orders.working():
                if order.token_id == token:
                    core.mark_done(order.order_hash, CANCELLED, now, "market resolved")
                    self.journal.record_order(order)
            if core.portfolio.qty(token):
                realized = core.portfolio.resolve(token, winner=token == ev.winner)
                log.info(
                    "position.resolved", token=token, winner=token == ev.winner, realized=realized
                )
        self.journal.save_portfolio(core.portfolio, now)

    # ---- timer, control, heartbeats ---------------------------------------------------------

    def _on_timer(self, now: int) -> None:
        self.journal.flush()
        core = self.core
        self.metrics.exposure.set(core.exposure() / AMOUNT_SCALE)
        self.metrics.realized.set(core.portfolio.realized() / MICRO_PER_BASE / AMOUNT_SCALE)
        self.metrics.unrealized.set(core.unrealized() / MICRO_PER_BASE / AMOUNT_SCALE)
        ages = [now - core.book(t).updated_ms for t in self.markets_by_token]
        if ages:
            self.metrics.staleness.set(max(ages) / 1000)
        core.orders.forget_terminal(keep=10_000)
        t0 = time.perf_counter_ns()
        for runner in self.runners:
            if runner.timer_due(now):
                self._call(runner, "timer", changed=[], t0_ns=t0)

    def _kill(self, source: str) -> None:
        core = self.core
        if core.risk.state != risk.HALTED:
            self.kill_ns = time.perf_counter_ns()
            core.risk.state = risk.HALTED
            self.journal.set_trading_state(risk.HALTED, f"kill switch: {source}")
            self.metrics.set_state(risk.HALTED)
            log.warning("engine.halted", source=source)
        for order in core.orders.working():
            order.cancel_requested = True
        self._spawn(self._cancel_all())

    def _resume(self, source: str) -> None:
        if self.core.risk.state == risk.HALTED:
            self.core.risk.state = risk.ACTIVE
            self.metrics.set_state(risk.ACTIVE)
            log.warning("engine.resumed", source=source)

    async def _timer(self) -> None:
        interval = self.config.tick_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            await self.post(Timer(self.clock()))

    async def _control(self) -> None:
        interval = self.config.control_poll_ms / 1000
        while True:
            await asyncio.sleep(interval)
            halted = self.core.risk.state == risk.HALTED
            if self.kill_path.exists():
                if not halted:
                    await self.post(Kill("file"))
            elif halted and self.journal.trading_state() == risk.ACTIVE:
                await self.post(Resume("journal"))

    def healthy(self) -> bool:
        """Whether resting orders should be kept alive at the venue."""
        return self.reconciled and not self.stale and self.core.risk.state != risk.HALTED

    async def _heartbeats(self) -> None:
        interval = self.config.heartbeat_ms / 1000
        while True:
            if self.healthy():
                try:
                    await self.gateway.heartbeat()
                    self.metrics.heartbeats.inc()
                except GatewayError as exc:
                    log.warning("heartbeat.failed", error=str(exc))
            await asyncio.sleep(interval)

    async def _sync_fills(self) -> None:
        since = int(self.journal.get_meta("last_fill_ms", "0"))
        start = min(since, self.started_ms) if since else self.started_ms
        for fill in await self.gateway.trades_since(max(start - 60_000, 0)):
            if fill.fill_id not in self.fill_ids and self.core.orders.get(fill.order_hash):
                self._book_fill(fill, notify=False)

    # ---- stop -------------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        self.stopping = True
        for runner in self.runners:
            if not runner.halted:
                runner.call_stop()
                self.journal.set_strategy_status(runner.name, "stopped", "", self.clock())
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.reconciled:
            try:
                async with asyncio.timeout(self.config.shutdown_cancel_s):
                    await self.gateway.cancel_all()
                    # Fills the trade feed has not delivered yet must not be lost on the way out.
                    await self._sync_fills()
                now = self.clock()
                for order in self.core.orders.working():
                    self.core.mark_done(order.order_hash, CANCELLED, now, "shutdown")
                    self.journal.record_order(order)
            except (TimeoutError, GatewayError) as exc:
                log.error("engine.shutdown_cancel_failed", error=str(exc))
        self.journal.save_portfolio(self.core.portfolio)
        self.journal.flush()
        with contextlib.suppress(GatewayError):
            await self.gateway.close()
        log.info("engine.stopped")
