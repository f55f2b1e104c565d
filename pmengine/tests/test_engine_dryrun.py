"""Dry-run: the venue that fills orders locally, and the engine end to end on it.

The venue (``pmengine.dryrun``, compiled in the wheel) must fill exactly as
``pmtrader.sim.matching`` fills the same order against the same book, rest what does not fill,
fill resting orders when the book or a trade goes through them, and never reuse an order hash.

The engine tests take market data from a scripted in-process feed (the engine's Feed interface);
everything else is the real engine: the compiled-or-not core, the dry-run gateway, a real SQLite
journal in WAL mode.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pmengine._mypyc import mypyc_attr
from pmengine.book import Book
from pmengine.core import EngineCore
from pmengine.dryrun import DryOrder, DryRunVenue, json_string
from pmengine.engine import Engine, EngineConfig
from pmengine.events import BookSnapshot, Event, Kill, Resume, Shutdown
from pmengine.gateway import DryRunGateway
from pmengine.journal import Journal, now_ms
from pmengine.metrics import EngineMetrics
from pmengine.order import FILLED, OrderRequest
from pmengine.replay import ReplayDriver
from pmengine.strategy import StrategyRunner, load_strategy
from pmengine.units import AMOUNT_SCALE, BUY, SELL
from pmtrader.sim.matching import OrderBook, Side

from pmengine import risk
from pmstrat import Buy, Context, MarketInfo, strategy

U = AMOUNT_SCALE
MARKET = MarketInfo("0xc1", ("Y1", "N1"), slug="m1", tick=100, min_size=5 * U)


EXAMPLES = int(os.environ.get("PMENGINE_DRYRUN_EXAMPLES", "150"))
RUN = "ab" * 23

# ---- the venue ------------------------------------------------------------------------------

levels = st.dictionaries(
    st.integers(min_value=1, max_value=99).map(lambda p: p * 100),
    st.integers(min_value=1, max_value=50).map(lambda n: n * U),
    max_size=12,
)


def two_sided(bids: dict[int, int], asks: dict[int, int], ts: int = 1) -> Book:
    book = Book("T", tick=100)
    book.replace(sorted(bids.items()), sorted(asks.items()), ts)
    return book


def reference_fills(side: int, price: int, size: int, book: Book) -> list[tuple[int, int]]:
    """What pmtrader.sim.matching fills against the whole opposite side of the book."""
    ref = OrderBook()
    rest = book.asks if side == BUY else book.bids
    for level, level_size in rest.items():
        ref.add(f"L{level}", "mkt", Side.SELL if side == BUY else Side.BUY, level, level_size)
    taker = Side.BUY if side == BUY else Side.SELL
    return [(f.price, f.size) for f in ref.match(taker, price, max_size=size)]


def order(
    side: int, price: int, size: int, *, post_only: bool = False, order_type: str = "GTC"
) -> DryOrder:
    return DryOrder(
        f"0x{side}{price}{size}{order_type}",
        "T",
        side,
        price,
        size,
        post_only=post_only,
        order_type=order_type,
    )


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    levels,
    st.sampled_from([BUY, SELL]),
    st.integers(min_value=1, max_value=99).map(lambda p: p * 100),
    st.integers(min_value=1, max_value=200).map(lambda n: n * U),
)
def test_a_crossing_order_fills_exactly_as_pmtrader_matching_fills_it(
    rest: dict[int, int], side: int, price: int, size: int
) -> None:
    # The side the order trades against is the generated one; the other side stays empty so
    # the book is never crossed before the order arrives.
    book = two_sided({}, rest) if side == BUY else two_sided(rest, {})
    venue = DryRunVenue(run_id=RUN)
    mine = order(side, price, size)
    result = venue.submit(mine, book, 7)
    got = [(f.price, f.size) for f in result.fills]
    assert got == reference_fills(side, price, size, book)
    assert (venue.matched_fills, venue.print_fills) == (len(got), 0)
    assert all(f.ts_ms == 7 and f.fee == 0 and f.side == side for f in result.fills)
    filled = sum(f.size for f in result.fills)
    assert result.status == ("matched" if filled else "live")
    resting = venue.get(mine.order_hash)
    if filled < size:
        assert resting is mine
        assert mine.remaining == size - filled
    else:
        assert resting is None
    # The engine's book is the venue's view of the market: matching never changes it.
    assert dict(book.asks if side == BUY else book.bids) == rest


@settings(max_examples=EXAMPLES, deadline=None)
@given(levels, st.integers(min_value=1, max_value=99).map(lambda p: p * 100))
def test_a_resting_bid_fills_through_matching_when_the_offers_come_down_to_it(
    asks: dict[int, int], price: int
) -> None:
    venue = DryRunVenue(run_id=RUN)
    book = two_sided({}, {})
    bid = order(BUY, price, 30 * U)
    assert venue.submit(bid, book, 1).status == "live"
    book.replace([], sorted(asks.items()), 2)
    assert venue.crossed_by(book) == bid.crosses(book)
    fills = venue.on_book(book, 3)
    assert [(f.price, f.size) for f in fills] == reference_fills(BUY, price, 30 * U, book)
    assert bid.remaining == 30 * U - sum(f.size for f in fills)
    assert (venue.get(bid.order_hash) is None) == (bid.remaining == 0)


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([BUY, SELL]), st.integers(min_value=1, max_value=99)),
        max_size=8,
    ),
    st.integers(min_value=-1, max_value=99),
    st.integers(min_value=-1, max_value=99),
    st.data(),
)
def test_the_quick_crossing_check_agrees_with_every_resting_order(
    quotes: list[tuple[int, int]], bid: int, ask: int, data: st.DataObject
) -> None:
    venue = DryRunVenue(run_id=RUN)
    empty = two_sided({}, {})
    resting = []
    for i, (side, tick) in enumerate(quotes):
        o = DryOrder(f"0x{i}", "T", side, tick * 100, U)
        venue.submit(o, empty, 1)
        resting.append(o)
    for o in data.draw(st.lists(st.sampled_from(resting), unique=True)) if resting else []:
        assert venue.cancel(o.order_hash)
        resting.remove(o)
    book = Book("T")
    book.best_bid = bid * 100 if bid >= 0 else -1
    book.best_ask = ask * 100 if ask >= 0 else -1
    assert venue.crossed_by(book) == any(o.crosses(book) for o in resting)


def test_a_trade_through_resting_orders_fills_them_oldest_first_at_their_own_prices() -> None:
    venue = DryRunVenue(run_id=RUN)
    book = two_sided({4_800: 10 * U}, {5_200: 10 * U})
    first, second, above = (
        order(BUY, 5_000, 10 * U),
        order(BUY, 4_900, 10 * U),
        order(SELL, 5_100, U),
    )
    for o in (first, second, above):
        assert venue.submit(o, book, 1).status == "live"
    # A print at 0.49 is through the 0.50 bid only; at 0.48 through both, up to its size.
    assert [(f.order_hash, f.price, f.size) for f in venue.on_trade("T", 4_900, 4 * U, 2)] == [
        (first.order_hash, 5_000, 4 * U)
    ]
    fills = venue.on_trade("T", 4_800, 12 * U, 3)
    assert [(f.order_hash, f.price, f.size) for f in fills] == [
        (first.order_hash, 5_000, 6 * U),
        (second.order_hash, 4_900, 6 * U),
    ]
    assert venue.get(first.order_hash) is None
    assert second.remaining == 4 * U
    assert venue.on_trade("T", 5_100, 50 * U, 4) == []  # at the offer, not through it
    assert [f.fill_id for f in fills] == ["dry-2", "dry-3"]
    assert (venue.matched_fills, venue.print_fills) == (0, 3)


def test_post_only_fok_and_fak_orders_follow_the_venue_rules() -> None:
    venue = DryRunVenue(run_id=RUN)
    book = two_sided({4_800: 10 * U}, {5_000: 10 * U, 5_100: 10 * U})
    crossing = order(BUY, 5_000, U, post_only=True)
    assert venue.submit(crossing, book, 1).error == "invalid post-only order: crosses"
    assert venue.get(crossing.order_hash) is None
    too_big = order(BUY, 5_100, 25 * U, order_type="FOK")
    assert venue.submit(too_big, book, 1).error == "FOK order not fully fillable"
    whole = venue.submit(order(BUY, 5_100, 15 * U, order_type="FOK"), book, 1)
    assert (whole.status, whole.done, [(f.price, f.size) for f in whole.fills]) == (
        "matched",
        True,
        [(5_000, 10 * U), (5_100, 5 * U)],
    )
    part = order(SELL, 4_800, 30 * U, order_type="FAK")
    result = venue.submit(part, book, 1)
    assert [(f.price, f.size) for f in result.fills] == [(4_800, 10 * U)]
    assert result.done
    assert venue.get(part.order_hash) is None
    nothing = venue.submit(order(SELL, 4_900, U, order_type="FAK"), book, 1)
    assert nothing.error == "no match for immediate order"
    assert not venue.resting


def test_order_hashes_never_repeat_and_the_payload_says_what_was_asked() -> None:
    venue = DryRunVenue()
    other = DryRunVenue()
    req = OrderRequest("s", 'intent "quoted" é', token_id="123", side=SELL, price=4_200, size=5 * U)
    hashes = {venue.sign(req, 1_700_000_000_000).order_hash for _ in range(1000)}
    hashes.add(other.sign(req, 1_700_000_000_000).order_hash)
    assert len(hashes) == 1001
    assert all(len(h) == 66 and h.startswith("0x") and int(h, 16) >= 0 for h in hashes)
    signed = DryRunVenue(run_id=RUN).sign(req, 1_700_000_000_000)
    assert signed.order_hash == "0x" + RUN + "100000000000000001"
    assert json.loads(signed.payload()) == {
        "dryRun": True,
        "salt": 1,
        "tokenId": "123",
        "side": "SELL",
        "price": 4_200,
        "size": 5 * U,
        "timestamp": "1700000000000",
        "intent": 'intent "quoted" é',
    }
    with pytest.raises(ValueError, match="46 lowercase hex digits"):
        DryRunVenue(run_id="xyz")


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.text())
def test_json_string_is_json_dumps(text: str) -> None:
    assert json_string(text) == json.dumps(text)


def test_the_plain_python_stand_in_for_mypyc_attr_leaves_a_class_as_it_is() -> None:
    class Plain:
        pass

    assert mypyc_attr(acyclic=True, free_list_len=1)(Plain) is Plain


@pytest.mark.asyncio
async def test_the_gateway_answers_the_engine_from_the_venue() -> None:
    core = EngineCore(risk.RiskLimits())
    book = core.book("T")
    book.replace([(4_800, 10 * U)], [(5_200, 10 * U)], 1)
    gateway = DryRunGateway(core.books.get, cash=100 * U, clock=lambda: 9)
    req = OrderRequest("s", "i", token_id="T", side=BUY, price=5_000, size=4 * U)
    signed = gateway.sign(req, tick=100, neg_risk=False, now_ms=5)
    assert json.loads(signed.payload)["intent"] == "i"
    result = await gateway.submit(signed)
    assert (result.status, result.fills, gateway.submitted) == ("live", [], 1)
    (seen,) = await gateway.open_orders()
    assert (seen.order_hash, seen.size, seen.filled, seen.status) == (
        signed.order_hash,
        4 * U,
        0,
        "LIVE",
    )
    core.on_level("T", SELL, 4_900, 3 * U, 6)
    (fill,) = gateway.on_book("T")
    assert (fill.fill_id, fill.price, fill.size, fill.ts_ms) == ("dry-1", 4_900, 3 * U, 9)
    assert (await gateway.get_order(signed.order_hash)).filled == 3 * U  # type: ignore[union-attr]
    assert gateway.on_trade("T", 4_000, 50 * U)[0].size == U
    assert await gateway.get_order(signed.order_hash) is None
    second = gateway.sign(req, tick=100, neg_risk=False, now_ms=7)
    await gateway.submit(gateway.sign(req, tick=100, neg_risk=False, now_ms=6))
    await gateway.submit(second)
    assert await gateway.cancel([second.order_hash, "0xunknown"]) == [second.order_hash]
    assert len(await gateway.cancel_all()) == 1
    assert await gateway.open_orders() == []
    assert (await gateway.balance(), await gateway.trades_since(0)) == (100 * U, [])


def test_a_replay_that_crosses_the_book_fills_through_matching_and_books_the_fills() -> None:
    core = EngineCore(risk.RiskLimits(rate_count=1_000, stale_book_ms=60_000))
    core.risk.reconciled = True
    core.portfolio.set_cash(1_000 * U)
    core.book("T").tick = 100
    driver = ReplayDriver(core, ["T"], "s", 1_000, venue=DryRunVenue(run_id=RUN))
    calls: list[tuple[int, int, int]] = []

    def bid_at_best(token: str, bid: int, ask: int, held: int) -> list[tuple[int, int, int]]:
        calls.append((bid, ask, held))
        return [(BUY, bid, 10 * U)] if bid > 0 and ask > 0 and held < 10 * U else []

    driver.run(
        [
            (0, 0, BUY, 4_900, 50 * U),
            (0, 0, SELL, 5_100, 50 * U),  # two-sided: the strategy bids 10 at 0.49
            (0, 0, SELL, 4_900, 4 * U),  # an offer at our bid: 4 fill at 0.49, the quote stays
            (0, 0, SELL, 4_800, 3 * U),  # a better one: 3 at 0.48, then 3 more at 0.49
            (1, 0, SELL, 4_700, 1 * U),  # a print through the (now filled) bid changes nothing
        ],
        strategy=bid_at_best,
    )
    assert calls[:2] == [(4_900, -1, 0), (4_900, 5_100, 0)]
    pos = core.portfolio.positions["T"]
    assert (pos.qty, pos.cost) == (10 * U, 4 * U * 4_900 + 3 * U * 4_800 + 3 * U * 4_900)
    assert core.fills_booked == 3
    assert [o.state for o in core.orders.orders.values()] == [FILLED]
    assert len(driver.latencies) == len(calls)


# ---- the engine on the dry-run gateway ------------------------------------------------------


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
