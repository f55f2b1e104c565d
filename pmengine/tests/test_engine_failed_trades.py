"""A trade the venue marks FAILED after it matched is reversed in the engine, once.

On Polymarket a trade goes MATCHED → MINED → CONFIRMED, or → RETRYING → FAILED when its on-chain
settlement fails: the shares and pUSD never move, and the local exchange unwinds its ledger
(``pmtrader.sim.lifecycle.fail_trade``). The engine books a fill when it first sees the trade, so
when the trade turns FAILED (user stream, REST catch-up or reconciliation) it must take that fill
back out of position, cost, realized P&L, fees and cash exactly once, journal the reversal, and
keep it across a restart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pmengine.core import EngineCore
from pmengine.engine import Engine, EngineConfig
from pmengine.events import Kill
from pmengine.gateway import DryRunGateway, VenueFill
from pmengine.journal import Journal
from pmengine.live import LiveGateway
from pmengine.metrics import EngineMetrics
from pmengine.position import Position
from pmengine.testing import EngineRun, new_key, seeded_market, until, wallet_client
from pmengine.units import BUY, SELL
from pmtrader.testing import SimServer

from pmengine import risk
from pmstrat import Buy, Context, MarketInfo, strategy
from pmtrader import AsyncClient, Client, Secret, Settings

U = 1_000_000
SIZE = 5 * U
TRADES = "/data/trades"
PMENGINE = [sys.executable, "-c", "from pmengine.cli import main; main()"]


def _state(pos: Position) -> tuple[int, int, int, int, int, int]:
    return (pos.qty, pos.cost, pos.realized, pos.fees, pos.bought, pos.sold)


# ---- the reversal itself, exact to the unit (no venue needed) ----------------------------------


def _engine(state_dir: Path) -> Engine:
    core = EngineCore(risk.RiskLimits())
    return Engine(
        core=core,
        gateway=DryRunGateway(core.books.get, cash=1_000 * U, clock=lambda: 0),
        journal=Journal.in_dir(state_dir).open(),
        metrics=EngineMetrics(),
        runners=[],
        config=EngineConfig(state_dir=state_dir),
        clock=lambda: 1_764_400_000_000,
    )


HISTORY = [
    VenueFill("t1:o1", "o1", "tok", BUY, 4_000, 10 * U, 120_000, 1),
    VenueFill("t2:o2", "o2", "tok", BUY, 6_000, 5 * U, 90_000, 2),  # fails later
    VenueFill("t3:o3", "o3", "tok", SELL, 7_000, 8 * U, 50_000, 3),
    VenueFill("t4:o4", "o4", "tok", BUY, 5_500, 3_330_000, 0, 4),
    VenueFill("t5:o5", "o5", "other", BUY, 2_500, 7 * U, 10_000, 5),
]


@pytest.mark.asyncio
async def test_a_failed_fill_in_the_middle_of_a_history_is_reversed_exactly_once(
    tmp_path: Path,
) -> None:
    engine = _engine(tmp_path / "failed")
    twin = _engine(tmp_path / "never")  # the same history without the failed trade
    engine.core.portfolio.set_cash(1_000 * U)
    twin.core.portfolio.set_cash(1_000 * U)
    for fill in HISTORY:
        engine.venue.book_fill(fill, notify=False)
        if fill.fill_id != "t2:o2":
            twin.venue.book_fill(fill, notify=False)
    booked = _state(engine.core.portfolio.position("tok"))
    assert booked != _state(twin.core.portfolio.position("tok"))

    failed = VenueFill("t2:o2", "o2", "tok", BUY, 6_000, 5 * U, 0, 2, failed=True)
    engine.venue.book_fill(failed)
    # The sale realized P&L against an average cost that included the failed buy: replaying the
    # token's fills without it gives cost and realized P&L as if it had never happened.
    portfolio, expected = engine.core.portfolio, twin.core.portfolio
    assert _state(portfolio.position("tok")) == _state(expected.position("tok"))
    assert _state(portfolio.position("other")) == _state(expected.position("other"))
    assert portfolio.cash == expected.cash
    assert (portfolio.realized(), portfolio.fees()) == (expected.realized(), expected.fees())

    # Seen again (stream and REST), and a late MATCHED of the same fill: nothing moves.
    engine.venue.book_fill(failed)
    engine.venue.book_fill(HISTORY[1])
    assert _state(portfolio.position("tok")) == _state(expected.position("tok"))
    assert portfolio.cash == expected.cash
    assert engine.journal.failed_fills() == {"t2:o2": True}

    # A failure seen before its fill was ever booked: remembered, and the fill never booked.
    engine.venue.book_fill(VenueFill("t6:o6", "o6", "tok", BUY, 3_000, U, 0, 6, failed=True))
    engine.venue.book_fill(VenueFill("t6:o6", "o6", "tok", BUY, 3_000, U, 0, 6))
    assert _state(portfolio.position("tok")) == _state(expected.position("tok"))
    assert engine.journal.failed_fills() == {"t2:o2": True, "t6:o6": False}

    # The journal holds the reversed position and cash: a restart loads them.
    engine.journal.close()
    twin.journal.close()
    with Journal.in_dir(tmp_path / "failed") as journal:
        reloaded = journal.load_portfolio()
        assert _state(reloaded.position("tok")) == _state(expected.position("tok"))
        assert reloaded.cash == expected.cash
        assert journal.failed_fills() == {"t2:o2": True, "t6:o6": False}


# ---- against the local exchange ---------------------------------------------------------------


@strategy(name="engine_failed_trades_taker")
def take_once(ctx: Context) -> list[Buy]:
    """Buy SIZE YES at the best ask (a taker), when flat and with nothing open."""
    out = []
    for token in ctx.changed:
        market = ctx.market(token)
        book = ctx.book(token)
        if token != market.yes or book is None or book.best_ask is None:
            continue
        if ctx.open_orders(token) or ctx.position(token).size:
            continue
        out.append(Buy(token, book.best_ask, SIZE))
    return out


def _run(sim: SimServer, state: Path, market: MarketInfo, key: str) -> EngineRun:
    """A live engine for ``key``'s wallet, taking once (restartable on the same ``state``)."""
    gateway = LiveGateway(AsyncClient(Settings.for_sim(sim.url, private_key=Secret(key))))
    return EngineRun(sim, state, market, gateway=gateway, strategy="engine_failed_trades_taker")


def _venue(client: Client, token: str) -> tuple[int, int]:
    """The wallet's (shares of ``token``, pUSD) at the exchange, in base units."""
    shares = client.account.get_balance_allowance("CONDITIONAL", token).balance
    return int(shares), int(client.account.get_balance_allowance("COLLATERAL").balance)


def _status(state: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMENGINE_", "PM_"))}
    out = subprocess.run(
        [*PMENGINE, "status", "--state-dir", str(state), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    report: dict[str, object] = json.loads(out.stdout)
    return report


@pytest.mark.slow
@pytest.mark.asyncio
@pytest.mark.parametrize("neg_risk", [False, True], ids=["binary", "neg-risk"])
async def test_a_fill_whose_trade_fails_on_the_stream_is_reversed_once_and_stays_reversed(
    sim_factory: Callable[..., SimServer], tmp_path: Path, neg_risk: bool
) -> None:
    # Half speed: the trade stays unconfirmed (failable) for 12 s of wall time after the match.
    sim = sim_factory(seed=31, flow=False, speed=0.5)
    market = seeded_market(sim, size=SIZE, neg_risk=neg_risk)
    address, key = new_key()
    sim.fund(address, "100")
    wallet = wallet_client(sim, key)
    run = _run(sim, tmp_path, market, key)
    run.start()
    try:
        before = (0, 100 * U)  # what the wallet holds before the engine trades
        await until(lambda: run.qty() == SIZE, 30, "the taker fill")
        await run.engine.post(Kill("test"))  # no new order after this one
        await until(lambda: run.engine.core.risk.state == risk.HALTED, 5, "halted")
        (fill,) = run.journal.load_fills()
        assert fill.fee > 0  # a taker fee was booked and must come back too
        assert (run.qty(), run.cash()) == _venue(wallet, market.yes)
        # From here REST trades cannot answer: the failure comes through the user stream.
        sim.fault(rest_fail_rate=1.0, rest_fail_status=503, paths=[TRADES])
        trade_id = fill.fill_id.split(":")[0]
        failed = sim.http.post("/_sim/fail-trade", json={"trade_id": trade_id})
        assert failed.status_code == 200, failed.text
        await until(lambda: run.qty() == 0, 15, "the reversal")
        sim.fault(reset=True)
        assert (run.qty(), run.cash()) == _venue(wallet, market.yes) == before
        pos = run.engine.core.portfolio.position(market.yes)
        assert (pos.cost, pos.realized, pos.fees) == (0, 0, 0)
        assert run.journal.failed_fills() == {fill.fill_id: True}
        order = run.engine.core.orders.get(fill.order_hash)
        assert order is not None
        assert order.filled == SIZE  # the order matched; its trade's settlement failed

        # The REST catch-up sees the same FAILED trade: nothing is reversed twice.
        await run.engine.venue.sync_fills()
        assert (run.qty(), run.cash()) == before
        assert run.journal.failed_fills() == {fill.fill_id: True}
    finally:
        sim.fault(reset=True)
        await run.stop()  # its own REST catch-up on the way out sees the FAILED trade again

    report = _status(tmp_path)
    assert report["positions"] == []
    assert report["cash"] == str(100 * U)
    assert report["fees"] == 0

    # A restart reconciles against the exchange (position, cash, the FAILED trade) and agrees.
    again = _run(sim, tmp_path, market, key)
    again.start()
    try:
        await until(lambda: again.engine.reconciled, 30, "reconciliation after the restart")
        assert (again.qty(), again.cash()) == _venue(wallet, market.yes) == before
        assert again.journal.failed_fills() == {fill.fill_id: True}
        assert again.engine.core.risk.state == risk.HALTED  # the kill survived, as it must
    finally:
        await again.stop()
        wallet.close()


@pytest.mark.slow
@pytest.mark.asyncio
@pytest.mark.parametrize("window", ["inside", "outside"])
async def test_a_trade_that_failed_while_the_engine_was_down_is_reversed_at_reconciliation(
    sim_factory: Callable[..., SimServer], tmp_path: Path, window: str
) -> None:
    """``outside``: later fills moved the catch-up window past the failed trade's match time."""
    sim = sim_factory(seed=37, flow=False, speed=0.5)
    market = seeded_market(sim, size=SIZE, neg_risk=False)
    address, key = new_key()
    sim.fund(address, "100")
    wallet = wallet_client(sim, key)
    run = _run(sim, tmp_path, market, key)
    run.start()
    try:
        await until(lambda: run.engine.reconciled, 30, "reconciliation")
        await until(lambda: run.qty() == SIZE, 30, "the taker fill")
        await run.engine.post(Kill("test"))
        await until(lambda: run.engine.core.risk.state == risk.HALTED, 5, "halted")
    finally:
        await run.stop()
    with Journal.in_dir(tmp_path) as journal:
        (fill,) = journal.load_fills()
        if window == "outside":
            journal.set_meta("last_fill_ms", str(fill.ts_ms + 10 * 60_000))
    failed = sim.http.post("/_sim/fail-trade", json={"trade_id": fill.fill_id.split(":")[0]})
    assert failed.status_code == 200, failed.text

    # Without the reversal the journal (5 shares) and the exchange (none) would disagree and the
    # engine would refuse to start; with it, reconciliation takes the fill back out and agrees.
    again = _run(sim, tmp_path, market, key)
    again.start()
    try:
        await until(lambda: again.engine.reconciled, 30, "reconciliation after the failure")
        assert (again.qty(), again.cash()) == _venue(wallet, market.yes) == (0, 100 * U)
        assert again.journal.failed_fills() == {fill.fill_id: True}
    finally:
        await again.stop()
        wallet.close()
