"""The engine's side of the conversation with the venue: reconcile, send, apply answers.

:class:`Venue` holds what the engine does with the venue, apart from the dispatch loop
(:mod:`pmengine.engine`): reconciliation at start (the journal, then the venue's open orders,
trades and balances), the network calls that run as tasks and post their answers back to the
engine's queue (submit, lookup by hash, cancel, cancel-all), and the handlers that apply those
answers, fills and resolutions to the compiled core and the journal. Each fill is booked once,
by its id, whichever way it came (user stream, REST catch-up, submit answer, dry-run match).

A fill whose trade the venue later marks ``FAILED`` (its on-chain settlement failed: no share and
no pUSD moved) is reversed once, whichever way the failure came (:meth:`Venue.reverse_fill`):
cash by exactly what booking it moved, and the token's position (quantity, cost, realized P&L,
fees) replayed from its journalled fills without it, since average-cost P&L depends on every
fill after it too. The reversal is journalled (``failed_fills``) with the position and cash in
one transaction, so a restart keeps it and ``pmengine status`` shows it. The order keeps its
filled size, as the venue's order does.

The handlers run on the dispatcher (one writer of engine state); the tasks only post events.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import structlog

from pmengine import risk
from pmengine.errors import AmbiguousSubmitError, GatewayError, ReconciliationError
from pmengine.events import CancelAck, MarketResolved, OrderUpdate, SubmitAck
from pmengine.gateway import DryRunGateway, SignedOrder, VenueFill
from pmengine.journal import FillRecord
from pmengine.order import CANCELLED, EXPIRED, REJECTED, SUBMITTED, UNKNOWN
from pmengine.position import MICRO_PER_BASE, Portfolio, Position
from pmengine.units import BUY
from pmstrat import Fill as StratFill
from pmstrat import Side as StratSide

if TYPE_CHECKING:
    from pmengine.engine import Engine

log = structlog.get_logger("pmengine.engine")


class Venue:
    """Reconciliation, venue calls and venue answers for one :class:`~pmengine.engine.Engine`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        #: Fills whose trade FAILED (reversed, or never to be booked), from the journal.
        self.failed: set[str] = set()

    # ---- start: journal, then venue -------------------------------------------------------

    async def reconcile(self) -> None:
        """Load the journal, then agree with the venue before any order may go out.

        Raises:
            ReconciliationError: the venue holds an order or a fill the journal cannot explain,
                or positions disagree.
        """
        e = self.engine
        core = e.core
        core.portfolio = e.journal.load_portfolio()
        adopt = getattr(e.gateway, "adopt", None)
        for order in e.journal.load_orders():
            core.orders.restore(order)
            if adopt is not None:
                adopt(order.order_hash)
        e.fill_ids = {f.fill_id for f in e.journal.load_fills()}
        self.failed = set(e.journal.failed_fills())
        for market in e.config.markets:
            for token in market.tokens:
                book = core.book(token)
                book.tick = book.tick or market.tick
                book.min_size = book.min_size or market.min_size
        now = e.clock()
        if e.config.dry_run:
            for order in core.orders.working():
                core.orders.transition(order.order_hash, CANCELLED, now, "dry-run restart")
                e.journal.record_order(order)
            if not core.portfolio.cash_known:
                core.portfolio.set_cash(await e.gateway.balance())
        else:
            await self._reconcile_live(now)
            check_version = getattr(e.gateway, "check_version", None)
            if check_version is not None:
                # The venue must take the orders pmtrader signs before the first one is signed;
                # reconciliation (read-only) has brought the journal up to date meanwhile.
                await check_version()
        core.risk.reconciled = True
        e.reconciled = True
        state = e.journal.trading_state()
        if e.kill_path.exists():
            state = risk.HALTED
        core.risk.state = state if state in risk.TRADING_STATES else risk.HALTED
        e.metrics.set_state(core.risk.state)
        log.info("engine.reconciled", state=core.risk.state, orders=len(core.orders.working()))

    async def _reconcile_live(self, now: int) -> None:
        e = self.engine
        core = e.core
        gw = e.gateway
        venue_open = {v.order_hash: v for v in await gw.open_orders()}
        log.debug(
            "reconcile.open_orders", venue=len(venue_open), journal=len(core.orders.working())
        )
        ended: list[str] = []
        for order in core.orders.working():
            seen = venue_open.get(order.order_hash) or await gw.get_order(order.order_hash)
            if seen is None:
                # Signed (maybe sent) but the venue never took it: nothing rests, nothing filled.
                if order.filled == 0:
                    core.orders.transition(order.order_hash, CANCELLED, now, "not at venue")
                else:
                    core.orders.close_filled(order.order_hash, CANCELLED, now, "not at venue")
                e.journal.record_order(order)
                continue
            if order.state in ("SIGNED", SUBMITTED, UNKNOWN):
                core.mark_live(order.order_hash, now)
            status = seen.status.upper()
            if status in ("CANCELED", "CANCELLED", "CANCELED_MARKET_RESOLVED"):
                core.mark_done(order.order_hash, CANCELLED, now, "venue cancelled")
            elif status not in ("LIVE", "DELAYED") and order.order_hash not in venue_open:
                # MATCHED (a FAK filled in part, the rest killed, if a kill -9 came before its
                # answer was booked) or UNMATCHED: nothing rests. Its fills are caught up below,
                # then whatever is still unfilled is closed.
                ended.append(order.order_hash)
            e.journal.record_order(order)
        unknown = [h for h in venue_open if core.orders.get(h) is None]
        if unknown:
            raise ReconciliationError(
                f"the venue has {len(unknown)} open order(s) the journal never signed "
                f"(first {unknown[0]}); refusing to trade next to them"
            )
        since = int(e.journal.get_meta("last_fill_ms", "0"))
        caught = await gw.trades_since(max(since - 60_000, 0))
        log.debug("reconcile.trades_since", since_ms=since, fills=len(caught))
        for fill in caught:
            if fill.failed:  # ours (the gateway knows our orders); reversed only if booked
                self.reverse_fill(fill.fill_id)
                continue
            if fill.fill_id in e.fill_ids or fill.fill_id in self.failed:
                continue
            if core.orders.get(fill.order_hash) is None:
                raise ReconciliationError(
                    f"the venue reports fill {fill.fill_id} of order {fill.order_hash}, "
                    "which the journal never signed"
                )
            self.book_fill(fill, notify=False)
        for order_hash in ended:
            rest = core.orders.get(order_hash)
            if rest is not None and rest.is_working:  # its fills did not complete it
                core.mark_done(order_hash, CANCELLED, now, "venue: nothing rests")
                e.journal.record_order(rest)
        tokens = sorted(t for t, p in core.portfolio.positions.items() if p.qty)
        tokens = sorted(set(tokens) | set(e.markets_by_token))
        venue_qty = await gw.token_balances(tokens)
        find_failed = getattr(gw, "failed_fills", None)
        if find_failed is not None:
            # A settlement can fail long after the match, outside the catch-up window above:
            # before calling a disagreement unexplained, look for FAILED trades of that token.
            for token in tokens:
                if core.portfolio.qty(token) != venue_qty.get(token, 0):
                    for fill in await find_failed(token):
                        self.reverse_fill(fill.fill_id)
        # After any reversal: the venue's pUSD already excludes what failed trades never moved.
        core.portfolio.set_cash(await gw.balance())
        log.debug("reconcile.balances", tokens=len(tokens), cash=core.portfolio.cash)
        for token in tokens:
            mine = core.portfolio.qty(token)
            theirs = venue_qty.get(token, 0)
            if mine != theirs:
                raise ReconciliationError(
                    f"token {token}: the journal holds {mine} base units, the venue {theirs}"
                )
        e.journal.save_portfolio(core.portfolio, now)

    # ---- venue I/O (tasks that post back) ---------------------------------------------------

    async def submit(self, signed: SignedOrder) -> None:
        e = self.engine
        if not e.reconciled:
            e.sent_before_reconcile += 1
        sent = time.perf_counter_ns()
        try:
            result = await e.gateway.submit(signed)
        except AmbiguousSubmitError as exc:
            log.debug("order.submit_ambiguous", order=signed.order_hash, error=str(exc))
            await e.post(SubmitAck(signed.order_hash, None, str(exc), True, sent))
            return
        except GatewayError as exc:
            log.debug("order.submit_failed", order=signed.order_hash, error=str(exc))
            await e.post(SubmitAck(signed.order_hash, None, str(exc), False, sent))
            return
        log.debug(
            "order.submit_answer",
            order=signed.order_hash,
            status=result.status,
            done=result.done,
            fills=len(result.fills),
            error=result.error,
            ms=round((time.perf_counter_ns() - sent) / 1e6, 1),
        )
        await e.post(SubmitAck(signed.order_hash, result, "", False, sent))

    async def resolve(self, order_hash: str) -> None:
        e = self.engine
        await asyncio.sleep(e.config.resolve_delay_s)
        try:
            seen = await e.gateway.get_order(order_hash)
        except GatewayError as exc:
            log.warning("order.lookup_failed", order=order_hash, error=str(exc))
            e.spawn(self.resolve(order_hash))
            return
        await e.post(OrderUpdate(order_hash, seen, resubmit=seen is None))

    async def cancel(self, order_hashes: list[str]) -> None:
        e = self.engine
        try:
            done = await e.gateway.cancel(order_hashes)
        except GatewayError as exc:
            log.warning("order.cancel_failed", orders=len(order_hashes), error=str(exc))
            for h in order_hashes:
                order = e.core.orders.get(h)
                if order is not None:
                    order.cancel_requested = False
            return
        await e.post(CancelAck(tuple(done)))

    async def cancel_all(self) -> None:
        e = self.engine
        e.cancel_all_sent_ns = time.perf_counter_ns()
        try:
            done = await e.gateway.cancel_all()
        except GatewayError as exc:
            log.error("order.cancel_all_failed", error=str(exc))
            return
        known = [o.order_hash for o in e.core.orders.working()]
        after_ms = (time.perf_counter_ns() - e.kill_ns) / 1e6 if e.kill_ns else 0.0
        log.warning("engine.cancel_all", cancelled=len(done), after_kill_ms=round(after_ms, 1))
        await e.post(CancelAck(tuple(set(done) | set(known))))

    # ---- venue answers ----------------------------------------------------------------------

    def on_ack(self, ack: SubmitAck) -> None:
        e = self.engine
        core = e.core
        now = e.clock()
        order = core.orders.get(ack.order_hash)
        if order is None:
            return
        if ack.sent_ns:
            e.metrics.decision_to_ack.observe((time.perf_counter_ns() - ack.sent_ns) / 1e9)
        if ack.ambiguous:
            if order.state == SUBMITTED:
                core.orders.transition(order.order_hash, UNKNOWN, now, f"ambiguous: {ack.error}")
                e.journal.record_order(order)
            e.journal.record_order_event(order.order_hash, now, "ambiguous", ack.error)
            e.metrics.orders.labels("ambiguous").inc()
            e.spawn(self.resolve(order.order_hash))
            return
        result = ack.result
        if result is None or result.status == "rejected":
            reason = ack.error or (result.error if result else "rejected")
            if order.is_working and order.filled == 0:
                core.mark_done(order.order_hash, REJECTED, now, reason)
                e.journal.record_order(order)
            e.metrics.orders.labels("rejected").inc()
            log.info("order.rejected", order=order.order_hash, reason=reason)
            return
        e.metrics.orders.labels(result.status).inc()
        core.mark_live(order.order_hash, now)
        e.journal.record_order(order)
        for fill in result.fills:
            self.book_fill(fill)
        if result.done and order.is_working:
            if result.fills or isinstance(e.gateway, DryRunGateway):
                # FAK/FOK with its fills in hand: what did not fill is gone.
                core.mark_done(order.order_hash, CANCELLED, now, "immediate order remainder")
                e.journal.record_order(order)
            else:
                # Live: the fills come through the trade feed; ask the venue how it ended.
                e.spawn(self.resolve(order.order_hash))

    def on_update(self, upd: OrderUpdate) -> None:
        e = self.engine
        core = e.core
        now = e.clock()
        order = core.orders.get(upd.order_hash)
        if order is None or not order.is_working:
            return
        seen = upd.venue
        if seen is None:
            tries = e.resubmits.get(order.order_hash, 0)
            signed = e.signed.get(order.order_hash)
            if upd.resubmit and signed is not None and tries < e.config.max_resubmits:
                # Same signed bytes, same hash: the venue refuses a duplicate, so at most one
                # order can ever exist for this intent. Never sign again.
                e.resubmits[order.order_hash] = tries + 1
                core.orders.transition(order.order_hash, SUBMITTED, now)
                e.journal.record_order(order)
                e.journal.record_order_event(order.order_hash, now, "resent", "same bytes")
                e.spawn(self.submit(signed))
            elif upd.resubmit:
                core.mark_done(order.order_hash, REJECTED, now, "never reached the venue")
                e.journal.record_order(order)
            return
        status = seen.status.upper()
        e.journal.record_order_event(order.order_hash, now, "venue", status)
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
        e.journal.record_order(order)

    def book_fill(self, fill: VenueFill, *, notify: bool = True) -> None:
        e = self.engine
        if fill.failed:
            self.reverse_fill(fill.fill_id)
            return
        if fill.fill_id in e.fill_ids or fill.fill_id in self.failed:
            return
        e.fill_ids.add(fill.fill_id)
        core = e.core
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
        e.journal.record_fill(record, order, core.portfolio)
        e.metrics.fills.inc()
        log.debug(
            "fill.booked",
            fill=fill.fill_id,
            order=fill.order_hash,
            token=fill.token_id,
            side="BUY" if fill.side == BUY else "SELL",
            price=fill.price,
            size=fill.size,
            fee=fill.fee,
            qty=core.portfolio.qty(fill.token_id),
        )
        if not notify or order is None:
            return
        for runner in e.runners:
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
                    tag=e.tags.get(fill.order_hash, ""),
                )
                e.call_runner(runner, "fill", changed=[], t0_ns=time.perf_counter_ns(), fill=event)

    def reverse_fill(self, fill_id: str) -> bool:
        """Undo a fill whose trade the venue marked ``FAILED``; once per fill, ever.

        A fill never booked is only remembered, so that a late ``MATCHED`` cannot book it.

        Returns:
            Whether a booked fill was reversed now.
        """
        e = self.engine
        if fill_id in self.failed:
            return False
        booked = e.journal.fill(fill_id) if fill_id in e.fill_ids else None
        now = e.clock()
        portfolio = e.core.portfolio
        if booked is None:
            self.failed.add(fill_id)
            e.journal.record_fill_failed(fill_id, now, portfolio, None)
            log.info("fill.failed_before_booked", fill=fill_id)
            return False
        # Cash: exactly what booking the fill moved (the same code computes it).
        moved = Portfolio()
        moved.apply_fill(booked.token_id, booked.side, booked.price, booked.size, booked.fee)
        portfolio.cash -= moved.cash
        self._replay_without(booked.fill_id, booked.token_id)
        self.failed.add(fill_id)
        e.journal.record_fill_failed(fill_id, now, portfolio, booked.token_id)
        pos = portfolio.position(booked.token_id)
        log.warning(
            "fill.reversed",
            fill=fill_id,
            order=booked.order_hash,
            token=booked.token_id,
            qty=pos.qty,
            cash=portfolio.cash,
        )
        return True

    def _replay_without(self, fill_id: str, token_id: str) -> None:
        """Set the token's position to what its journalled fills give without ``fill_id``.

        Replaying every fill of the token (earlier reversals left out) must give the position
        held now; then the same replay without this fill is exactly the position as if it had
        never happened. If it does not (a resolution settled the token meanwhile), the fill is
        taken out at its own price instead and the inexact reversal is logged.
        """
        e = self.engine
        history = [
            f
            for f in e.journal.load_fills()
            if f.token_id == token_id and (f.fill_id == fill_id or f.fill_id not in self.failed)
        ]
        pos = e.core.portfolio.position(token_id)
        with_it = _replay(token_id, history)
        if _state(with_it) == _state(pos):
            _set_state(pos, _state(_replay(token_id, [f for f in history if f.fill_id != fill_id])))
            return
        (booked,) = [f for f in history if f.fill_id == fill_id]
        log.error(
            "fill.reversal_inexact",
            fill=fill_id,
            token=token_id,
            reason="the position is not the replay of its fills (settled at resolution?)",
        )
        value = booked.price * booked.size
        if booked.side == BUY:
            pos.qty -= booked.size
            pos.cost -= value
            pos.bought -= booked.size
        else:
            pos.qty += booked.size
            pos.cost += value
            pos.sold -= booked.size
        pos.fees -= booked.fee
        pos.realized += booked.fee * MICRO_PER_BASE

    def on_resolved(self, ev: MarketResolved) -> None:
        """Settle held positions: the winner pays 1 pUSD a share into cash, losers nothing."""
        e = self.engine
        core = e.core
        now = e.clock()
        for token in ev.tokens:
            if token not in e.markets_by_token:
                continue
            for order in core.orders.working():
                if order.token_id == token:
                    core.mark_done(order.order_hash, CANCELLED, now, "market resolved")
                    e.journal.record_order(order)
            if core.portfolio.qty(token):
                realized = core.portfolio.resolve(token, winner=token == ev.winner)
                log.info(
                    "position.resolved", token=token, winner=token == ev.winner, realized=realized
                )
        e.journal.save_portfolio(core.portfolio, now)

    async def sync_fills(self) -> None:
        e = self.engine
        since = int(e.journal.get_meta("last_fill_ms", "0"))
        start = min(since, e.started_ms) if since else e.started_ms
        for fill in await e.gateway.trades_since(max(start - 60_000, 0)):
            # Booked or reversed once, by id; a reversal needs no order in memory (old terminal
            # orders are forgotten), only the journalled fill.
            if fill.failed or e.core.orders.get(fill.order_hash):
                self.book_fill(fill, notify=False)


_PositionState = tuple[int, int, int, int, int, int]


def _replay(token_id: str, fills: list[FillRecord]) -> Position:
    pos = Position(token_id)
    for f in fills:
        pos.apply_fill(f.side, f.price, f.size, f.fee)
    return pos


def _state(pos: Position) -> _PositionState:
    return (pos.qty, pos.cost, pos.realized, pos.fees, pos.bought, pos.sold)


def _set_state(pos: Position, state: _PositionState) -> None:
    pos.qty, pos.cost, pos.realized, pos.fees, pos.bought, pos.sold = state
