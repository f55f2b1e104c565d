"""Property test: whatever a strategy sends, the books stay consistent and money is exact.

A seeded random strategy sends buys, sells and cancels around the touch (marketable or not,
GTC, FAK, FOK, post-only) with random latency on random synthetic streams, some with the rows
of each timestamp shuffled so the data looks crossed between rows. After each run the
matching books hold their invariants, the mirrored crowd equals the data wherever it is
mirrored, cash rebuilds from the fills to the base unit, and positions never go negative.
"""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from pmstrat.backtest import BacktestConfig, Backtester
from pmstrat.recording import BOOK, EventStream
from pmstrat.synthetic import SyntheticConfig, generate
from pmstrat.units import PRICE_SCALE
from pmtrader.sim.matching import Side as BookSide

from pmstrat import Buy, Cancel, Context, OrderType, Sell, Side, Signal, Watch, strategy

RNG = random.Random(0)
TYPES = [OrderType.GTC, OrderType.GTC, OrderType.FAK, OrderType.FOK]


@strategy(name="test_prop_random", watch=Watch.TOP | Watch.TRADES)
def chaos(ctx: Context) -> list[Signal]:
    """Random orders near the touch; random cancels."""
    out: list[Signal] = []
    for token in ctx.changed:
        book = ctx.book(token)
        if book is None or book.best_bid is None or book.best_ask is None:
            continue
        roll = RNG.random()
        tick = book.tick
        if roll < 0.2 and ctx.open_orders(token):
            out.append(Cancel(token=token))
            continue
        kind = RNG.choice(TYPES)
        size = RNG.choice([5, 7, 12, 30]) * 1_000_000 + RNG.choice([0, 10_000])
        if roll < 0.6:
            price = book.best_bid + tick * RNG.randint(-2, 3)
            if 0 < price < PRICE_SCALE:
                out.append(
                    Buy(
                        token,
                        price,
                        size,
                        order_type=kind,
                        post_only=roll < 0.3 and kind == OrderType.GTC,
                    )
                )
        else:
            held = ctx.position(token).size
            price = book.best_ask - tick * RNG.randint(-2, 3)
            if held >= 5_000_000 and 0 < price < PRICE_SCALE:
                out.append(Sell(token, price, min(size, held), order_type=kind))
    return out


def _shuffle_within_timestamps(stream: EventStream, seed: int) -> EventStream:
    """Reorder runs of BOOK rows inside each timestamp, as a careless recorder might write them
    (additions before removals): the book may look crossed between rows."""
    rng = random.Random(seed)
    ts, kind = stream.ts_ms.tolist(), stream.kind.tolist()
    order: list[int] = []
    run: list[int] = []
    for i in range(len(ts)):
        if run and (kind[i] != BOOK or ts[i] != ts[run[0]]):
            rng.shuffle(run)
            order += run
            run = []
        if kind[i] == BOOK:
            run.append(i)
        else:
            order.append(i)
    rng.shuffle(run)
    order += run
    index = np.array(order)
    return EventStream(
        markets=stream.markets,
        tokens=stream.tokens,
        ts_ms=stream.ts_ms[index],
        kind=stream.kind[index],
        token=stream.token[index],
        side=stream.side[index],
        price=stream.price[index],
        size=stream.size[index],
    )


@settings(max_examples=16, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    latency=st.sampled_from([0, 0, 300, 2_500]),
    shuffled=st.booleans(),
)
def test_random_strategies_keep_books_consistent_and_money_exact(
    seed: int, latency: int, shuffled: bool
) -> None:
    RNG.seed(seed)
    stream = generate(SyntheticConfig(markets=1, ticks=250, trade_rate=0.6, vol=0.1), seed=seed)
    if shuffled:
        stream = _shuffle_within_timestamps(stream, seed)
    config = BacktestConfig(latency_ms=latency, cash=500_000_000)
    tester = Backtester(stream, chaos.create(), config)
    end_batch = tester._end_batch
    checked = {"batches": 0, "mirrored": 0}

    def end_batch_then_check(ts: int, changed: list[str], dirty: set[int]) -> None:
        end_batch(ts, changed, dirty)
        checked["batches"] += 1
        for state in tester.tokens.values():
            state.book.check()
            for side, book_side in ((0, BookSide.BUY), (1, BookSide.SELL)):
                for price in state.mat[side]:
                    crowd = state.target[side].get(price, 0)
                    own = state.own_level[side].get(price, 0)
                    assert state.book.level_size(book_side, price) == crowd + own
                    checked["mirrored"] += 1
                assert state.keys[side] == sorted(state.target[side])
                assert all(v > 0 for v in state.target[side].values())
                # Only levels holding a strategy order stay mirrored between events.
                assert state.mat[side] == set(state.own_level[side])

    tester._end_batch = end_batch_then_check  # type: ignore[method-assign]  # check each step
    result = tester.run()
    assert checked["batches"] > 100
    assert checked["mirrored"] > 0
    for state in tester.tokens.values():
        assert state.own_orders == 0  # everything was cancelled at the end
    cash = result.start_cash
    shares: dict[str, int] = {}
    for fill in result.fills:
        amount = fill.price * fill.size
        if fill.side == Side.BUY:
            cash -= (amount // PRICE_SCALE if fill.maker else -(-amount // PRICE_SCALE)) + fill.fee
            shares[fill.token] = shares.get(fill.token, 0) + fill.size
        else:
            cash += (-(-amount // PRICE_SCALE) if fill.maker else amount // PRICE_SCALE) - fill.fee
            shares[fill.token] = shares.get(fill.token, 0) - fill.size
        assert shares[fill.token] >= 0
    for trade in result.trades:
        if trade.resolution:
            cash += trade.proceeds
            shares[trade.token] -= trade.size
    assert cash + result.pnl.rewards == result.cash
    assert tester.reserved_cash == 0
    assert all(v == 0 for v in tester.reserved_shares.values())
