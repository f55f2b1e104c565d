"""The engine end to end in dry-run: events in, strategies, risk, fills, kill switch, shutdown.

Market data comes from a scripted in-process feed (the engine's Feed interface); everything else
is the real engine: the compiled-or-not core, the dry-run gateway filling through
``pmtrader.sim.matching``, a real SQLite journal in WAL mode.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from pmengine.core import EngineCore
from pmengine.engine import Engine, EngineConfig
from pmengine.events import BookSnapshot, Event, Kill, Resume, Shutdown
from pmengine.gateway import DryRunGateway
from pmengine.journal import Journal, now_ms
from pmengine.metrics import EngineMetrics
from pmengine.order import FILLED
from pmengine.strategy import StrategyRunner, load_strategy
from pmengine.units import AMOUNT_SCALE

from pmengine import risk
from pmstrat import Buy, Context, MarketInfo, strategy

U = AMOUNT_SCALE
MARKET = MarketInfo("0xc1", ("Y1", "N1"), slug="m1", tick=100, min_size=5 * U)


@strategy(name="engine_test_taker", params={"target": (int, 20, (0, 1000))})
def taker(ctx: Context) -> list[Buy]:
    """Buy 10 shares at the ask while holding less than ``target`` shares and the ask is cheap."""
    out = []
    for token in ctx.changed:
        book = ctx.book(token)
        held = ctx.position(token).size
        cheap = book is not None and book.best_ask is not None and book.best_ask <= 5_000
        if cheap and held < ctx.params["target"] * U and not ctx.open_orders(token):
            assert book is not None
            assert book.best_ask is not None
            out.append(Buy(token, book.best_ask, 10 * U))
    return out


@strategy(name="engine_test_boom")
def boom(ctx: Context) -> None:
    """Always raises: the engine must halt it and go on with the others."""
    raise RuntimeError("strategy bug")


class ScriptFeed:
    """Posts scripted events, then waits (the engine cancels it at shutdown)."""

    def __init__(self, events: list[Event]) -> None:
        self.events = events

    async def run(self, post: Callable[[Event], Awaitable[None]], tokens: list[str]) -> None:
        for ev in self.events:
            await post(ev)
        await asyncio.Event().wait()


def snapshot(ask: int, ask_size: int = 20 * U) -> BookSnapshot:
    return BookSnapshot(
        "Y1",
        [(ask - 200, 100 * U)],
        [(ask, ask_size)],
        now_ms(),
        tick=100,
        min_size=5 * U,
        recv_ns=time.perf_counter_ns(),
    )


def make_engine(tmp: Path, feed: ScriptFeed) -> tuple[Engine, Journal]:
    core = EngineCore(risk.RiskLimits(max_order_notional=100 * U, rate_count=100))
    journal = Journal.in_dir(tmp).open()
    runners = []
    for ref in ("engine_test_taker", "engine_test_boom"):
        instance, markets = load_strategy(ref, {"target": "20"}, [MARKET])
        runners.append(StrategyRunner(instance, markets))
    gateway = DryRunGateway(core.books.get, cash=1_000 * U, clock=now_ms)
    engine = Engine(
        core=core,
        gateway=gateway,
        journal=journal,
        metrics=EngineMetrics(),
        runners=runners,
        config=EngineConfig(state_dir=tmp, tick_interval_ms=50, markets=[MARKET]),
        feed=feed,
    )
    return engine, journal


async def until(cond: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_dry_run_trades_halts_a_broken_strategy_and_stops_on_kill(tmp_path: Path) -> None:
    engine, journal = make_engine(tmp_path, ScriptFeed([snapshot(5_000)]))
    task = asyncio.create_task(engine.run(install_signals=False))
    core = engine.core
    # A buy of 10 at 0.50 fills against the 20 offered; the next top-of-book change brings a
    # second one, and then the target is reached.
    await until(lambda: core.portfolio.qty("Y1") == 10 * U)
    await engine.post(snapshot(5_000, ask_size=15 * U))
    await until(lambda: core.portfolio.qty("Y1") == 20 * U)
    assert core.portfolio.cash == 1_000 * U - 10 * U
    assert [o.state for o in journal.load_orders()] == [FILLED, FILLED]
    assert len(journal.load_fills()) == 2
    statuses = {name: status for name, status, _, _ in journal.strategies()}
    assert statuses == {"engine_test_taker": "running", "engine_test_boom": "halted"}
    assert engine.sent_before_reconcile == 0

    # Kill switch: HALTED at once, journalled, and nothing new gets through.
    await engine.post(Kill("test"))
    await until(lambda: core.risk.state == risk.HALTED, within=1.0)
    assert journal.trading_state() == risk.HALTED
    core.portfolio.positions["Y1"].qty = 0  # make the strategy want to buy again
    await engine.post(snapshot(4_900))
    await until(lambda: core.risk.denials.get(risk.R_HALTED, 0) >= 1)
    assert len(journal.load_orders()) == 2

    await engine.post(Resume("test"))
    await until(lambda: core.risk.state == risk.ACTIVE, within=1.0)

    started = time.monotonic()
    await engine.post(Shutdown("test"))
    assert await asyncio.wait_for(task, 5) == 0
    assert time.monotonic() - started < 5
    journal.close()


@pytest.mark.asyncio
async def test_kill_file_halts_and_cancels_resting_orders_within_a_second(tmp_path: Path) -> None:
    # The ask (0.51) is too dear for the taker, so place a resting order by hand via a cheap
    # book that then moves away before it can fill.
    engine, journal = make_engine(tmp_path, ScriptFeed([snapshot(5_100)]))
    engine.config.control_poll_ms = 20
    task = asyncio.create_task(engine.run(install_signals=False))
    core = engine.core
    await until(
        lambda: core.risk.reconciled and "Y1" in core.books and core.books["Y1"].updated_ms > 0
    )
    from pmengine.order import OrderRequest

    req = OrderRequest(
        "engine_test_taker", "manual", token_id="Y1", side=0, price=4_900, size=5 * U
    )
    assert core.check(req, now_ms()) == ""
    signed = engine.gateway.sign(req, tick=100, neg_risk=False, now_ms=now_ms())
    core.accept(req, signed.order_hash, signed.payload, now_ms())
    core.mark_submitted(signed.order_hash, now_ms())
    engine.signed[signed.order_hash] = signed
    await engine.gateway.submit(signed)
    core.mark_live(signed.order_hash, now_ms())
    assert len(core.orders.working()) == 1

    t0 = time.monotonic()
    (tmp_path / "KILL").write_text("stop")
    await until(lambda: not core.orders.working(), within=1.0)
    assert time.monotonic() - t0 < 1.0
    assert core.risk.state == risk.HALTED
    assert await engine.gateway.open_orders() == []

    await engine.post(Shutdown("test"))
    assert await asyncio.wait_for(task, 5) == 0
    # HALTED survives a restart until resume.
    again, journal2 = make_engine(tmp_path, ScriptFeed([]))
    await again.reconcile()
    assert again.core.risk.state == risk.HALTED
    journal.close()
    journal2.close()


@pytest.mark.asyncio
async def test_resolution_pays_the_winner_into_cash_and_realizes_pnl(tmp_path: Path) -> None:
    from pmengine.events import MarketResolved

    engine, journal = make_engine(tmp_path, ScriptFeed([snapshot(5_000)]))
    task = asyncio.create_task(engine.run(install_signals=False))
    core = engine.core
    await until(lambda: core.portfolio.qty("Y1") == 10 * U)
    cash_before = core.portfolio.cash
    await engine.post(MarketResolved(("Y1", "N1"), "Y1"))
    await until(lambda: core.portfolio.qty("Y1") == 0)
    # 10 shares bought at 0.50 pay 1.00 each: +10 pUSD cash, +5 pUSD realized, exactly.
    assert core.portfolio.cash == cash_before + 10 * U
    assert core.portfolio.realized() == 5 * U * 10_000
    assert journal.load_portfolio().realized() == 5 * U * 10_000
    await engine.post(Shutdown("test"))
    assert await asyncio.wait_for(task, 5) == 0
    journal.close()


@pytest.mark.asyncio
async def test_a_kill_signal_is_not_lost_when_the_event_queue_is_full(tmp_path: Path) -> None:
    # A burst of market data fills the bounded queue; SIGUSR1 must still halt the engine.
    engine, journal = make_engine(tmp_path, ScriptFeed([]))
    while not engine.queue.full():
        engine.queue.put_nowait(snapshot(5_000))
    engine.post_nowait(Kill("SIGUSR1"))  # what the signal handler does
    task = asyncio.create_task(engine.run(install_signals=False))
    await until(lambda: engine.core.risk.state == risk.HALTED, within=2.0)
    assert journal.trading_state() == risk.HALTED
    engine.post_nowait(Shutdown("SIGTERM"))
    assert await asyncio.wait_for(task, 10) == 0
    journal.close()
