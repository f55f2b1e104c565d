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
from pmengine.errors import GatewayError
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
from pmengine.gateway import DryRunGateway, Gateway, SignedOrder
from pmengine.journal import Journal, now_ms
from pmengine.metrics import EngineMetrics
from pmengine.order import CANCELLED
from pmengine.position import MICRO_PER_BASE
from pmengine.strategy import Decisions, StrategyRunner
from pmengine.units import AMOUNT_SCALE, BUY
from pmengine.venue import Venue
from pmstrat import Fill as StratFill
from pmstrat import MarketInfo

log = structlog.get_logger("pmengine.engine")

KILL_FILE = "KILL"
QUEUE_SIZE = 10_000
DRAIN_LIMIT = 2_000


class Feed(Protocol):
    """A market-data source that posts events until cancelled."""

    async def run(self, post: Callable[[Event], Awaitable[None]], tokens: list[str]) -> None:
        """Stream events for ``tokens`` into ``post``."""


class FillSource(Protocol):
    """Where live fills and order updates come from (the user stream, :mod:`pmengine.fills`)."""

    async def run(self, post: Callable[[Event], Awaitable[None]], since_ms: int) -> None:
        """Post fills and order updates after ``since_ms`` into ``post`` until cancelled."""


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
        fills: FillSource | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.core = core
        self.gateway = gateway
        self.journal = journal
        self.metrics = metrics
        self.runners = runners
        self.config = config
        self.feed = feed
        self.fills = fills
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
        # Tokens whose book the feed said it can no longer vouch for, until their next snapshot.
        self.stale_tokens: set[str] = set()
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
        self.venue = Venue(self)

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

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a task the engine cancels on shutdown; a failure is logged."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # A feed that dies must not look like a quiet market.
            log.error(
                "engine.task_failed",
                task=repr(task.get_coro()),
                error=repr(task.exception()),
            )

    def _stopped(self) -> bool:
        return self.stopping

    @property
    def kill_path(self) -> Path:
        """The kill-switch file: its presence halts the engine."""
        return self.config.state_dir / KILL_FILE

    async def reconcile(self) -> None:
        """Load the journal, then agree with the venue before any order may go out.

        Raises:
            ReconciliationError: the venue holds an order or a fill the journal cannot explain,
                or positions disagree.
        """
        await self.venue.reconcile()

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
        self.spawn(self._timer())
        self.spawn(self._control())
        self.spawn(self._heartbeats())
        if self.feed is not None:
            tokens = sorted(self.markets_by_token)
            self.spawn(self.feed.run(self.post, tokens))
        if self.fills is not None:
            # Reconciliation booked every fill up to now; the source covers the rest.
            self.spawn(self.fills.run(self.post, self.started_ms))
        for runner in self.runners:
            self.journal.set_strategy_status(runner.name, "running", "", self.clock())
            self.call_runner(runner, "start", changed=[], t0_ns=time.perf_counter_ns())
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
            self.stale_tokens.discard(token)
            if self.stale and not self.stale_tokens:
                self.stale = False
                self.stale_periods.append((self.stale_since_ms, self.clock()))
                log.info("feed.rebuilt", token=token)
        elif isinstance(ev, TradePrint):
            token = ev.token_id
            flags = core.on_trade(token, ev.price, ev.ts_ms)
            recv = ev.recv_ns
            if isinstance(self.gateway, DryRunGateway):
                for fill in self.gateway.on_trade(token, ev.price, ev.size):
                    self.venue.book_fill(fill)
        elif isinstance(ev, FillEvent):
            self.venue.book_fill(ev.fill)
            return
        elif isinstance(ev, SubmitAck):
            self.venue.on_ack(ev)
            return
        elif isinstance(ev, OrderUpdate):
            self.venue.on_update(ev)
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
            self.venue.on_resolved(ev)
            return
        elif isinstance(ev, FeedStale):
            if not self.stale:
                self.stale_since_ms = self.clock()
            self.stale = True
            self.stale_tokens.update(ev.tokens)
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
                    self.venue.book_fill(fill)

    # ---- strategies -------------------------------------------------------------------------

    def _run_strategies(self, batch: Batch) -> None:
        t0 = batch.first_recv_ns or time.perf_counter_ns()
        now = self.clock()
        for runner in self.runners:
            changed = runner.interested(batch.changes, now)
            if changed:
                self.call_runner(runner, "tick", changed=changed, t0_ns=t0)

    def call_runner(
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
            self.spawn(self.venue.cancel(todo))
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
            # What was signed, never the signed payload (its signature) or any header.
            log.debug(
                "order.signed",
                order=signed.order_hash,
                strategy=req.strategy,
                intent=req.intent_id,
                token=req.token_id,
                side="BUY" if req.side == BUY else "SELL",
                price=req.price,
                size=req.size,
                post_only=req.post_only,
                order_type=req.order_type,
            )
            order = core.accept(req, signed.order_hash, signed.payload, now)
            self.tags[signed.order_hash] = decisions.tags.get(req.intent_id, "")
            self.signed[signed.order_hash] = signed
            self.journal.record_order(order)  # the signed payload is durable before it is sent
            core.mark_submitted(signed.order_hash, now)
            self.journal.record_order(order)
            self.metrics.orders.labels("submitted").inc()
            self.spawn(self.venue.submit(signed))

    def _cancel_wanted(self, order_hash: str) -> bool:
        order = self.core.orders.get(order_hash)
        if order is None or not order.is_working or order.cancel_requested:
            return False
        order.cancel_requested = True
        return True

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
                self.call_runner(runner, "timer", changed=[], t0_ns=t0)

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
        self.spawn(self.venue.cancel_all())

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
                    log.debug("heartbeat.sent")
                except GatewayError as exc:
                    log.warning("heartbeat.failed", error=str(exc))
            await asyncio.sleep(interval)

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
                    await self.venue.sync_fills()
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
