"""Backtest replay speed: pmstrat's backtester against a naive event loop, on one stream.

Subjects, all on the same seeded synthetic stream (several binary markets, books, trades,
tick switches, resolution):

* ``pmstrat quote+cancel``: a trivial strategy that quotes the touch and cancels on every top
  change (the worst case for the order path: orders, cancels and queue bookkeeping each call);
* ``pmstrat sure_bets``: the built-in strategy;
* ``naive loop (baseline)``: the usual first backtester: one pydantic event object per row, a
  dict book per token, best prices by ``max``/``min`` over the levels, a dict context, and the
  same quote-and-cancel logic, its bids filled by sellers trading through them (no queue, no
  fees, no resolution: it does less than the subject and is still the slower one).

Target (issue 8): >= 300k events/s with a Python strategy (NautilusTrader manages ~80-117k
here). Events/s use process CPU time (the machine is shared by several builds; wall time is
printed too). After timing, the final state is checked: every base unit of cash reconciles
with the fills and payouts, the P&L split sums to the total, and a second run is identical.
"""

from __future__ import annotations

import sys
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pmstrat.backtest import BacktestConfig, backtest
from pmstrat.recording import EventStream
from pmstrat.results import BacktestResult
from pmstrat.synthetic import SyntheticConfig, generate
from pmstrat.units import PRICE_SCALE
from pydantic import BaseModel

from pmstrat import Buy, Cancel, Context, Signal, Watch, get_strategy, strategy

TARGET = 300_000
SIZE = 10_000_000  # 10 shares


@strategy(name="bench_quote_cancel", watch=Watch.TOP)
def quote_cancel(ctx: Context) -> list[Signal]:
    """Quote the best bid on every YES token; cancel and re-quote on every top change."""
    out: list[Signal] = []
    for token in ctx.changed:
        market = ctx.market(token)
        if token != market.yes:
            continue
        book = ctx.book(token)
        if book is None or book.best_bid is None:
            continue
        if ctx.orders:
            out.append(Cancel(token=token))
        out.append(Buy(token, book.best_bid, SIZE))
    return out


class Event(BaseModel):
    """The baseline's event: a validated pydantic model per row (what many backtesters do)."""

    ts_ms: int
    kind: int
    token: str
    side: int
    price: int
    size: int


def _naive_strategy(ctx: dict[str, Any]) -> list[tuple[str, str, int, int]]:
    book = ctx["book"]
    if not book["bids"]:
        return []
    best_bid = max(book["bids"])
    out = [("cancel", ctx["token"], 0, 0)] if ctx["token"] in ctx["orders"] else []
    out.append(("buy", ctx["token"], best_bid, SIZE))
    return out


def naive_backtest(stream: EventStream) -> dict[str, Any]:
    """A straightforward pure-Python loop with the same quote-and-cancel logic.

    Events arrive as validated pydantic objects (built inside the timed loop, as a feed would
    deliver them), books are dicts, the strategy gets a dict context on every top change, and
    resting bids fill when a seller trades through them.
    """
    rows = list(
        zip(
            stream.ts_ms.tolist(),
            stream.kind.tolist(),
            [stream.tokens[c] for c in stream.token.tolist()],
            stream.side.tolist(),
            stream.price.tolist(),
            stream.size.tolist(),
            strict=True,
        )
    )
    yes = {m.yes for m in stream.markets}
    books: dict[str, dict[str, dict[int, int]]] = {}
    orders: dict[str, dict[str, int]] = {}
    cash = 1_000_000_000
    position: dict[str, int] = {}
    fills = 0
    started = time.process_time()
    for t, k, token, s, p, z in rows:
        ev = Event(ts_ms=t, kind=k, token=token, side=s, price=p, size=z)
        book = books.setdefault(ev.token, {"bids": {}, "asks": {}})
        top_before = (max(book["bids"], default=None), min(book["asks"], default=None))
        if ev.kind == 0:
            side = book["bids"] if ev.side == 0 else book["asks"]
            if ev.size:
                side[ev.price] = ev.size
            else:
                side.pop(ev.price, None)
        elif ev.kind == 2:
            book["bids"].clear()
            book["asks"].clear()
        elif ev.kind == 1 and ev.token in orders and ev.side == 1:
            mine = orders[ev.token]
            if ev.price <= mine["price"]:
                take = min(ev.size, mine["size"])
                cash -= take * mine["price"] // PRICE_SCALE
                position[ev.token] = position.get(ev.token, 0) + take
                fills += 1
                mine["size"] -= take
                if not mine["size"]:
                    del orders[ev.token]
        top_after = (max(book["bids"], default=None), min(book["asks"], default=None))
        if ev.token in yes and top_after != top_before:
            ctx = {"now": ev.ts_ms, "token": ev.token, "book": book, "orders": orders, "cash": cash}
            for action, tok, price, size in _naive_strategy(ctx):
                if action == "cancel":
                    orders.pop(tok, None)
                else:
                    orders[tok] = {"price": price, "size": size}
    elapsed = time.process_time() - started
    return {"events": len(rows), "cpu_s": elapsed, "fills": fills, "cash": cash}


def timed(run: Callable[[], BacktestResult]) -> tuple[BacktestResult, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def check(result: BacktestResult) -> list[str]:
    """Every base unit of cash reconciles with the fills, payouts and rewards."""
    problems = []
    cash = result.start_cash
    for fill in result.fills:
        amount = fill.price * fill.size
        paid = -(-amount // PRICE_SCALE) if not fill.maker else amount // PRICE_SCALE
        got = amount // PRICE_SCALE if not fill.maker else -(-amount // PRICE_SCALE)
        cash += (-paid if fill.side == "BUY" else got) - fill.fee
    cash += sum(t.proceeds for t in result.trades if t.resolution) + result.pnl.rewards
    if cash != result.cash:
        problems.append(f"cash {result.cash} != rebuilt {cash}")
    p = result.pnl
    if p.spread_capture + p.inventory + p.fees + p.rewards + p.resolution != p.total:
        problems.append("P&L split does not sum to the total")
    return problems


@dataclass(frozen=True, slots=True)
class FrozenBuy:
    """Baseline signal: the frozen, slotted dataclass most code would write."""

    token: str
    price: int
    size: int
    order_type: str = "GTC"
    post_only: bool = False
    expires_ms: int = 0
    urgency: int = 1
    tag: str = ""

    def __post_init__(self) -> None:
        if not 0 < self.price < PRICE_SCALE or self.size <= 0:
            raise ValueError("bad order")


def signal_cost() -> None:
    """Nanoseconds to build one validated signal, pmstrat's ``Buy`` against a frozen dataclass."""
    n = 200_000
    clock = time.process_time
    ours = min(timeit.repeat(lambda: Buy("1", 5000, SIZE), number=n, repeat=5, timer=clock))
    base = min(timeit.repeat(lambda: FrozenBuy("1", 5000, SIZE), number=n, repeat=5, timer=clock))
    ours_ns, base_ns = ours / n * 1e9, base / n * 1e9
    print(
        f"signal creation (CPU): Buy {ours_ns:.0f} ns, frozen dataclass {base_ns:.0f} ns "
        f"({base_ns / ours_ns:.1f}x)"
    )


def main() -> int:
    signal_cost()
    stream = generate(SyntheticConfig(markets=4, ticks=8_000), seed=42)
    n = len(stream)
    print(f"stream: {n:,} events, {len(stream.markets)} markets (seed 42)")
    config = BacktestConfig(latency_ms=0, cash=10**12)
    rows: list[tuple[str, float, float, int]] = []
    problems: list[str] = []
    results: dict[str, BacktestResult] = {}
    for name in ("bench_quote_cancel", "sure_bets"):
        defined = get_strategy(name)
        backtest(stream.head(20_000), defined.create(), config)  # warm caches
        result, cpu, wall = timed(lambda d=defined: backtest(stream, d.create(), config))
        again, _, _ = timed(lambda d=defined: backtest(stream, d.create(), config))
        if again.fills != result.fills or again.cash != result.cash:
            problems.append(f"{name}: a second run differs")
        if result.metrics.events != n:
            problems.append(f"{name}: replayed {result.metrics.events} of {n} events")
        problems += [f"{name}: {p}" for p in check(result)]
        results[name] = result
        label = "pmstrat quote+cancel" if name == "bench_quote_cancel" else "pmstrat sure_bets"
        rows.append((label, cpu, wall, result.metrics.fills))
    wall = time.perf_counter()
    naive = naive_backtest(stream)
    rows.append(
        ("naive loop (baseline)", naive["cpu_s"], time.perf_counter() - wall, naive["fills"])
    )
    base_rate = n / naive["cpu_s"]
    print(f"{'subject':<24}{'cpu s':>8}{'wall s':>8}{'events/s':>12}{'vs naive':>10}{'fills':>8}")
    for label, cpu, wall_s, fills in rows:
        rate = n / cpu
        print(
            f"{label:<24}{cpu:>8.2f}{wall_s:>8.2f}{rate:>12,.0f}{rate / base_rate:>9.1f}x{fills:>8}"
        )
    for label, cpu, _, _ in rows[:2]:
        rate = n / cpu
        verdict = "meets" if rate >= TARGET else "MISSES"
        print(f"{label}: {rate:,.0f} events/s {verdict} the {TARGET:,} events/s target")
    if results["bench_quote_cancel"].metrics.fills == 0:
        problems.append("the quote+cancel strategy never filled: the order path was not exercised")
    if problems:
        print("FINAL STATE WRONG:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print("final state checked: cash reconciles to the base unit, P&L split sums, runs repeat")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
