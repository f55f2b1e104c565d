"""One strategy object, unchanged, in the backtester and in pmengine's runner: same signals.

The same synthetic stream drives both: the backtester replays it; here the engine's own
``Book`` and ``StrategyRunner`` receive the same rows, batched by timestamp as its feed does.
The probe's orders are below the market's minimum size, so the backtester refuses them and
neither side's books ever hold the strategy's orders: the two must see identical worlds and
answer identically, call for call.
"""

from __future__ import annotations

from pmengine.book import Book
from pmengine.position import Portfolio
from pmengine.strategy import StrategyRunner
from pmstrat.backtest import BacktestConfig, backtest
from pmstrat.recording import BOOK, CLEAR, TICK
from pmstrat.synthetic import SyntheticConfig, generate

from pmstrat import Buy, Context, Signal, Watch, strategy

CALLS: list[tuple[int, tuple[Signal, ...]]] = []


@strategy(name="test_engine_probe", watch=Watch.BOOK)
def probe(ctx: Context) -> list[Signal]:
    """Bid one tick inside every spread of two ticks or more (1 share: below the minimum)."""
    out: list[Signal] = []
    for token in sorted(ctx.changed):
        book = ctx.book(token)
        if book is None or book.spread is None or book.best_bid is None:
            continue
        if book.spread >= 2 * book.tick:
            out.append(Buy(token, book.best_bid + book.tick, 1_000_000, tag=str(book.best_ask)))
    CALLS.append((ctx.now_ms, tuple(out)))
    return out


def test_backtester_and_engine_runner_emit_the_same_signals() -> None:
    stream = generate(SyntheticConfig(markets=2, ticks=300), seed=5)
    CALLS.clear()
    result = backtest(stream, probe.create(), BacktestConfig())
    in_backtest = list(CALLS)
    assert result.fills == []
    assert len(result.rejections) == sum(len(s) for _, s in in_backtest)

    CALLS.clear()
    runner = StrategyRunner(probe.create(), list(stream.markets))
    books = {
        token: Book(token, tick=market.tick, min_size=market.min_size)
        for market in stream.markets
        for token in market.tokens
    }
    rows = zip(
        stream.ts_ms.tolist(),
        stream.kind.tolist(),
        stream.token.tolist(),
        stream.side.tolist(),
        stream.price.tolist(),
        stream.size.tolist(),
        strict=True,
    )
    batch_ts: int | None = None
    changed: list[str] = []

    def flush(ts: int) -> None:
        if changed:
            runner.refresh(
                now_ms=ts,
                books=books,
                changed=list(changed),
                portfolio=Portfolio(),
                orders=[],
                tags={},
            )
            runner.call_tick()
            changed.clear()

    for ts, kind, code, side, price, size in rows:
        if batch_ts is not None and ts != batch_ts:
            flush(batch_ts)
        batch_ts = ts
        token = stream.tokens[code]
        book = books[token]
        if kind == BOOK:
            book.set_level(side, price, size, ts)
        elif kind == CLEAR:
            book.clear()
        elif kind == TICK:
            book.tick = price
        else:
            continue  # trades and resolution do not wake a BOOK watcher's tick
        if token not in changed:
            changed.append(token)
    assert batch_ts is not None
    flush(batch_ts)
    in_engine = list(CALLS)

    assert not runner.is_halted()
    assert len(in_backtest) > 200
    assert sum(1 for _, s in in_backtest if s) > 50
    assert in_engine == in_backtest
