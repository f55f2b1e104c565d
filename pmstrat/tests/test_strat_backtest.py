"""The backtester: queue position, partial fills, latency, fees and payouts, exact to the base unit.

Small hand-built streams pin each rule down; a synthetic run checks the books balance for every
built-in strategy.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import pytest
from pmstrat.backtest import BacktestConfig, Backtester, backtest
from pmstrat.errors import BacktestError
from pmstrat.fees import taker_fee
from pmstrat.recording import EventBuilder, EventStream
from pmstrat.results import BacktestResult
from pmstrat.synthetic import SyntheticConfig, generate
from pmstrat.units import AMOUNT_SCALE, PRICE_SCALE

from pmstrat import (
    Buy,
    Cancel,
    Context,
    Fill,
    MarketInfo,
    OrderType,
    Sell,
    Side,
    Signal,
    Strategy,
    Watch,
    get_strategy,
    strategy,
)

YES, NO = "111", "222"
SH = AMOUNT_SCALE  # one share
MARKET = MarketInfo("0xc1", (YES, NO), slug="m", tick=100, min_size=5 * SH, fee_rate_bps=0)
FEE_MARKET = MarketInfo("0xc2", (YES, NO), slug="f", tick=100, min_size=5 * SH, fee_rate_bps=700)


class Script:
    """Emit planned signals at planned times; remember every fill (the test's strategy)."""

    plan: ClassVar[list[tuple[int, Signal]]] = []

    def __init__(self) -> None:
        self.todo = list(self.plan)
        self.fills: list[Fill] = []
        self.seen_orders: list[dict[str, int]] = []

    def on_tick(self, ctx: Context) -> list[Signal]:
        due = [s for t, s in self.todo if t <= ctx.now_ms]
        self.todo = [(t, s) for t, s in self.todo if t > ctx.now_ms]
        self.seen_orders.append({oid: o.filled for oid, o in ctx.orders.items()})
        return due

    def on_fill(self, ctx: Context, fill: Fill) -> None:
        self.fills.append(fill)


def scripted(name: str, plan: Iterable[tuple[int, Signal]]) -> Strategy:
    cls = type(f"Script_{name}", (Script,), {"plan": list(plan)})
    return strategy(name=f"test_bt_{name}", watch=Watch.BOOK | Watch.TRADES)(cls)


def run(
    builder: EventBuilder, plan: Iterable[tuple[int, Signal]], name: str, **config: object
) -> tuple[BacktestResult, Script]:
    defined = scripted(name, plan)
    instance = defined.create()
    result = backtest(builder.build(), instance, BacktestConfig(**config))  # type: ignore[arg-type]  # test kwargs
    assert isinstance(instance.obj, Script)
    return result, instance.obj


def book(market: MarketInfo = MARKET) -> EventBuilder:
    b = EventBuilder([market])
    b.snapshot(0, YES, bids=[(4900, 100 * SH)], asks=[(5200, 10 * SH), (5300, 20 * SH)])
    return b


def test_resting_order_queues_behind_the_crowd_already_there() -> None:
    b = book()
    b.book(1000, YES, 0, 4900, 100 * SH)  # nothing changes: just wakes the strategy
    b.trade(2000, YES, 1, 4900, 60 * SH)  # a seller takes 60 of the 100 ahead of us
    b.book(2000, YES, 0, 4900, 50 * SH)  # the data agrees: 40 crowd + our 10
    b.trade(3000, YES, 1, 4900, 45 * SH)  # 40 crowd, then 5 of ours
    result, script = run(b, [(0, Buy(YES, 4900, 10 * SH))], "queue")
    assert [(f.price, f.size, f.maker, f.ts_ms) for f in script.fills] == [
        (4900, 5 * SH, True, 3000)
    ]
    assert result.positions[YES].size == 5 * SH


def test_cancels_are_assumed_behind_us_so_the_queue_ahead_does_not_shrink() -> None:
    b = book()
    b.book(1000, YES, 0, 4900, 150 * SH)  # 50 join behind us
    b.book(2000, YES, 0, 4900, 120 * SH)  # 30 leave: from the back, so 100 still ahead
    b.trade(3000, YES, 1, 4900, 105 * SH)  # the 100 ahead, then 5 of ours
    _, script = run(b, [(0, Buy(YES, 4900, 10 * SH))], "cancel_back")
    assert [f.size for f in script.fills] == [5 * SH]


def test_marketable_buy_walks_the_asks_at_their_prices_and_pays_the_fee() -> None:
    b = EventBuilder([FEE_MARKET])
    b.snapshot(0, YES, bids=[(4900, 100 * SH)], asks=[(5200, 10 * SH), (5300, 20 * SH)])
    b.book(1000, YES, 0, 4900, 90 * SH)
    result, script = run(b, [(0, Buy(YES, 5300, 25 * SH))], "walk", cash=100 * SH)
    assert [(f.price, f.size, f.maker) for f in script.fills] == [
        (5200, 10 * SH, False),
        (5300, 15 * SH, False),
    ]
    fee_1 = taker_fee(10 * SH, 5200, 700)
    fee_2 = taker_fee(15 * SH, 5300, 700)
    assert fee_1 == 174_720  # 10 * 0.07 * 0.52 * 0.48 = 0.17472 pUSD
    cost = 5_200_000 + 7_950_000 + fee_1 + fee_2
    assert result.cash == 100 * SH - cost
    pos = result.positions[YES]
    assert (pos.size, pos.cost) == (25 * SH, cost)
    assert result.pnl.fees == -(fee_1 + fee_2)


def test_fok_is_all_or_nothing_and_fak_keeps_what_it_got() -> None:
    b = book()
    b.book(1000, YES, 0, 4900, 90 * SH)
    plan: list[tuple[int, Signal]] = [
        (0, Buy(YES, 5300, 40 * SH, order_type=OrderType.FOK)),  # only 30 available
        (1000, Buy(YES, 5200, 15 * SH, order_type=OrderType.FAK)),  # 10 at 0.52, rest killed
    ]
    result, script = run(b, plan, "fok_fak")
    assert [(f.price, f.size) for f in script.fills] == [(5200, 10 * SH)]
    reasons = [r.reason for r in result.rejections]
    assert reasons == ["FOK order could not be fully filled"]
    assert script.seen_orders[-1] == {}  # the FAK remainder did not rest


def test_post_only_that_would_cross_is_rejected_and_bad_orders_are_refused() -> None:
    b = book()
    b.book(1000, YES, 0, 4900, 90 * SH)
    plan: list[tuple[int, Signal]] = [
        (0, Buy(YES, 5200, 10 * SH, post_only=True)),
        (0, Buy(YES, 4950, 10 * SH)),  # off the 0.01 tick
        (0, Buy(YES, 4800, 1 * SH)),  # below the 5-share minimum
        (0, Sell(YES, 5500, 10 * SH)),  # holds nothing to sell
        (0, Buy(YES, 4800, 10**6 * SH)),  # far more than the cash
    ]
    result, script = run(b, plan, "refused")
    assert script.fills == []
    assert [r.reason for r in result.rejections] == [
        "post-only order crosses the book",
        "price 4950 breaks tick 100",
        "size 1000000 below minimum 5000000",
        "insufficient shares (no shorting: buy the other token)",
        "insufficient cash",
    ]


def test_latency_delays_orders_and_cancels() -> None:
    b = book()
    b.book(1000, YES, 1, 5200, 0)  # the 0.52 ask leaves before our order lands
    b.book(1500, YES, 0, 4900, 90 * SH)
    b.trade(2000, YES, 1, 4900, 95 * SH)  # would fill our bid if the cancel had not landed
    plan: list[tuple[int, Signal]] = [(0, Buy(YES, 5200, 5 * SH)), (1500, Cancel(token=YES))]
    _, script = run(b, plan, "latency", latency_ms=1200)
    # The order arrived at 1200, found no ask at 0.52 and rested as a bid at 0.52 -- the best
    # bid -- and the cancel sent at 1500 lands at 2700, after the seller at 2000 hit it.
    assert [(f.price, f.size, f.maker, f.ts_ms) for f in script.fills] == [
        (5200, 5 * SH, True, 2000)
    ]


def test_crowd_liquidity_crossing_a_resting_order_trades_with_it() -> None:
    b = book()
    b.book(1000, YES, 1, 5000, 30 * SH)  # someone offers at 0.50, through our 0.51 bid
    _, script = run(b, [(0, Buy(YES, 5100, 20 * SH))], "crossing")
    assert [(f.price, f.size, f.maker) for f in script.fills] == [(5100, 20 * SH, True)]


def test_resolution_pays_one_per_winning_share_and_splits_the_pnl() -> None:
    b = book()
    b.book(1000, YES, 0, 4900, 90 * SH)
    b.snapshot(2000, YES, bids=[(9800, 50 * SH)], asks=[(9900, 50 * SH)])
    b.add(3000, 2, YES, side=-1, price=0, size=0)  # CLEAR
    b.resolve(3000, YES, PRICE_SCALE)
    result, _ = run(b, [(0, Buy(YES, 5200, 10 * SH))], "resolve")
    r = result
    assert r.cash == 1_000 * SH - 5_200_000 + 10 * SH
    assert r.positions == {}
    trade = r.trades[-1]
    assert (trade.resolution, trade.proceeds, trade.cost, trade.pnl) == (
        True,
        10 * SH,
        5_200_000,
        4_800_000,
    )
    pnl = r.pnl
    assert pnl.total == 4_800_000
    # Bought at 0.52 with the mid at 0.505: -0.15; marked up to 0.985: +4.80; paid 1: +0.15.
    assert pnl.spread_capture == -150_000
    assert pnl.resolution == 150_000
    assert pnl.inventory == 4_800_000
    assert pnl.spread_capture + pnl.inventory + pnl.fees + pnl.rewards + pnl.resolution == 4_800_000


def _replay_l2(stream: EventStream) -> dict[int, tuple[int | None, int | None]]:
    """Best (crowd) bid and ask of the YES token after each timestamp, recomputed naively."""
    books: dict[int, dict[int, int]] = {0: {}, 1: {}}
    out: dict[int, tuple[int | None, int | None]] = {}
    yes = stream.tokens.index(stream.markets[0].yes)
    for ts, kind, code, side, price, size in zip(
        stream.ts_ms.tolist(),
        stream.kind.tolist(),
        stream.token.tolist(),
        stream.side.tolist(),
        stream.price.tolist(),
        stream.size.tolist(),
        strict=True,
    ):
        if code == yes and kind == 0:
            if size:
                books[side][price] = size
            else:
                books[side].pop(price, None)
        elif code == yes and kind == 2:
            books = {0: {}, 1: {}}
        out[ts] = (max(books[0], default=None), min(books[1], default=None))
    return out


@pytest.mark.parametrize("name", ["sure_bets", "rewards_maker", "spread_watcher"])
def test_every_base_unit_is_accounted_for(name: str) -> None:
    stream = generate(SyntheticConfig(markets=2, ticks=800), seed=11)
    instance = get_strategy(name).create()
    result = backtest(stream, instance, BacktestConfig(latency_ms=50))
    # Rebuild cash and positions from the fills and payouts alone. Sub-unit remainders go to
    # the maker: a taker pays the ceiling and receives the floor.
    cash = result.start_cash
    shares: dict[str, int] = {}
    for fill in result.fills:
        amount = fill.price * fill.size
        if fill.side == Side.BUY:
            cash -= -(-amount // PRICE_SCALE) if not fill.maker else amount // PRICE_SCALE
            cash -= fill.fee
            shares[fill.token] = shares.get(fill.token, 0) + fill.size
        else:
            cash += amount // PRICE_SCALE if not fill.maker else -(-amount // PRICE_SCALE)
            cash -= fill.fee
            shares[fill.token] = shares.get(fill.token, 0) - fill.size
    for trade in result.trades:
        if trade.resolution:
            cash += trade.proceeds
            shares[trade.token] -= trade.size
    cash += result.pnl.rewards
    assert cash == result.cash
    assert {t: s for t, s in shares.items() if s} == {
        t: p.size for t, p in result.positions.items()
    }
    assert all(s >= 0 for s in shares.values())  # never sold what it did not hold
    split = result.pnl
    assert (
        split.spread_capture + split.inventory + split.fees + split.rewards + split.resolution
        == split.total
        == result.equity[-1] - result.start_cash
    )
    assert result.metrics.events == len(stream)


def test_fills_are_never_better_than_the_book_allowed() -> None:
    stream = generate(SyntheticConfig(markets=1, ticks=1500, trade_rate=0.6), seed=5)
    market = stream.markets[0]
    limits: dict[str, int] = {}

    @strategy(name="test_bt_aggressive", watch=Watch.TOP)
    def aggressive(ctx: Context) -> list[Signal]:
        snap = ctx.book(market.yes)
        if snap is None or snap.best_ask is None or snap.best_bid is None:
            return []
        out: list[Signal] = [Cancel(token=market.yes)]
        if ctx.position(market.yes).size < 50 * SH:
            out.append(Buy(market.yes, min(snap.best_ask + snap.tick, 9900), 7 * SH))
        out.append(Buy(market.yes, max(snap.best_bid - snap.tick, snap.tick), 6 * SH))
        return out

    instance = aggressive.create()
    tester = Backtester(stream, instance, BacktestConfig(latency_ms=0, cash=10**5 * SH))
    original = tester._handle

    def record(signals: list[Signal]) -> None:
        before = tester._order_seq
        original(signals)
        orders = [s for s in signals if isinstance(s, Buy | Sell)]
        for k, sig in enumerate(orders):
            limits[f"bt-{before + k + 1}"] = sig.price

    tester._handle = record  # type: ignore[method-assign]  # observe the orders sent
    result = tester.run()
    best = _replay_l2(stream)
    takers = [f for f in result.fills if not f.maker and f.token == market.yes]
    makers = [f for f in result.fills if f.maker and f.token == market.yes]
    assert takers
    assert makers
    for fill in takers:
        assert fill.price <= limits[fill.order_id]
        ask = best[fill.ts_ms][1]
        assert ask is not None
        assert fill.price >= ask  # no ask better than the book's best
    for fill in makers:
        assert fill.price == limits[fill.order_id]  # a maker fills at its own price


def test_same_seed_same_result_and_a_backtester_runs_once() -> None:
    def go() -> BacktestResult:
        stream = generate(SyntheticConfig(markets=2, ticks=600), seed=3)
        return backtest(stream, get_strategy("rewards_maker").create(), BacktestConfig())

    first, second = go(), go()
    assert first.fills == second.fills
    assert first.pnl == second.pnl
    assert first.equity == second.equity
    stream = generate(SyntheticConfig(markets=1, ticks=50), seed=3)
    tester = Backtester(stream, get_strategy("sure_bets").create())
    tester.run()
    with pytest.raises(BacktestError, match="runs once"):
        tester.run()


def test_a_strategy_selecting_no_market_is_a_clear_error() -> None:
    stream = generate(SyntheticConfig(markets=1, ticks=50, rewards=False), seed=3)
    with pytest.raises(BacktestError, match="selects none"):
        Backtester(stream, get_strategy("rewards_maker").create())
    with pytest.raises(BacktestError, match="latency_ms"):
        BacktestConfig(latency_ms=-1).check()


def test_gtd_orders_expire_at_their_time() -> None:
    b = book()
    b.book(1000, YES, 0, 4900, 90 * SH)
    b.book(3000, YES, 0, 4900, 80 * SH)
    b.trade(4000, YES, 1, 4800, 200 * SH)  # would fill our 0.48 bid had it not expired
    plan: list[tuple[int, Signal]] = [
        (0, Buy(YES, 4800, 10 * SH, order_type=OrderType.GTD, expires_ms=2500)),
        (3000, Buy(YES, 4800, 10 * SH, order_type=OrderType.GTD, expires_ms=2000)),
    ]
    result, script = run(b, plan, "gtd")
    assert script.fills == []
    assert [sorted(seen) for seen in script.seen_orders] == [[], ["bt-1"], [], []]
    assert [r.reason for r in result.rejections] == ["GTD order expired before it reached the book"]


def test_resting_two_sided_quotes_earn_their_share_of_the_pool() -> None:
    rewarded = MarketInfo(
        "0xc3",
        (YES, NO),
        slug="r",
        tick=100,
        min_size=5 * SH,
        rewards_max_spread=300,  # 3c band
        rewards_min_size=50 * SH,
        rewards_daily_rate=144 * SH,  # 0.1 pUSD a minute
    )
    b = EventBuilder([rewarded])
    # The crowd sits 3c from the mid: at the edge of the band, so it scores nothing.
    b.snapshot(0, YES, bids=[(4700, 100 * SH)], asks=[(5300, 100 * SH)])
    b.snapshot(0, NO, bids=[(4700, 100 * SH)], asks=[(5300, 100 * SH)])
    for minute in range(1, 11):
        b.book(minute * 60_000, YES, 0, 4700, 100 * SH)
    plan: list[tuple[int, Signal]] = [
        (0, Buy(YES, 4900, 100 * SH)),  # YES bid 0.49: side one, 1c from the 0.50 mid
        (0, Buy(NO, 4900, 100 * SH)),  # NO bid 0.49 = YES ask 0.51: side two, 1c away
    ]
    result, script = run(b, plan, "rewards")
    assert script.fills == []
    # Ten minute-samples with the whole pool's share: 10 * 144 / 1440 = 1 pUSD, exactly.
    assert result.pnl.rewards == 1_000_000
    assert result.cash == 1_000 * SH + 1_000_000
    assert "two-sided allocation is unknown" in result.rewards_note


def test_a_timer_strategy_is_called_each_period_at_the_next_event() -> None:
    calls: list[int] = []

    @strategy(name="test_bt_timer", watch=Watch.TIMER, interval_ms=2_000)
    def timer(ctx: Context) -> None:
        calls.append(ctx.now_ms)

    b = book()
    for ts in range(1_000, 9_000, 700):
        b.book(ts, YES, 0, 4900, (90 + ts // 700) * SH)
    backtest(b.build(), timer.create(), BacktestConfig())
    # Periods end at 2000, 4000, 6000, 8000; each fires at the first event at or after it.
    assert calls == [2_400, 4_500, 6_600, 8_000]
