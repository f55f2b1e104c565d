"""A seeded generator of binary-market event streams with what breaks Polymarket strategies.

Each market's YES midpoint follows a random walk in logit space whose volatility grows as expiry
nears (so prices drift towards 0 or 1, as real markets do), plus rare news jumps. Around it the
generator lays a thin, gapped book whose spread widens and depth thins into expiry, switches the
tick from 0.01 to 0.001 when the price nears an extreme (as the venue does past 0.96 / below
0.04), prints trades at the touch, mirrors everything onto the NO token (a YES bid at p is a NO
ask at 1 - p), and finally resolves: the books clear and YES pays 1 or 0.

The output is an :class:`~pmstrat.recording.EventStream` (numpy columns), the same shape a
recording has, so the backtester treats synthetic and recorded data alike. Same seed, same
configuration: the same stream, bit for bit.
"""

from __future__ import annotations

import hashlib
import math

import msgspec
import numpy as np

from pmstrat.context import MarketInfo
from pmstrat.errors import DataError
from pmstrat.recording import BOOK, CLEAR, NO_SIDE, RESOLVE, TICK, TRADE, EventStream
from pmstrat.units import AMOUNT_SCALE, PRICE_SCALE

_BID = 0
_ASK = 1
_FINE_TICK = 10  # 0.001
_COARSE_TICK = 100  # 0.01
_EXTREME = 400  # switch to the fine tick beyond 0.04 / 0.96


class SyntheticConfig(msgspec.Struct, frozen=True):
    """How the synthetic markets behave (every rate is per tick).

    Attributes:
        markets: how many independent markets to generate.
        ticks: time steps per market (the market resolves after the last).
        step_ms: milliseconds between steps.
        start_ms: UTC ms of the first step.
        vol: logit-space volatility per step far from expiry.
        jump_rate: probability of a news jump per step.
        jump_scale: standard deviation of a jump in logit units.
        depth: price levels per side before gaps.
        gap_prob: probability that a level below the touch is missing.
        half_spread_ticks: half-spread in ticks far from expiry.
        widen_ticks: extra half-spread (ticks) reached at expiry.
        level_shares: median shares per level far from expiry.
        churn: probability that a level still on the book changes size in a step.
        trade_rate: probability of a trade per step.
        fee_rate_bps: taker fee rate of the markets, basis points.
        rewards: give the markets liquidity-rewards terms.
        resolve: end with the books clearing and YES paying 1 or 0.
    """

    markets: int = 1
    ticks: int = 500
    step_ms: int = 1_000
    start_ms: int = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    vol: float = 0.04
    jump_rate: float = 0.005
    jump_scale: float = 1.2
    depth: int = 8
    gap_prob: float = 0.25
    half_spread_ticks: int = 1
    widen_ticks: int = 4
    level_shares: float = 150.0
    churn: float = 0.35
    trade_rate: float = 0.3
    fee_rate_bps: int = 400
    rewards: bool = True
    resolve: bool = True

    def check(self) -> None:
        """Raise ``DataError`` on values that cannot generate a market."""
        if self.markets < 1 or self.ticks < 2:
            raise DataError("a synthetic stream needs at least 1 market and 2 ticks")
        if self.step_ms < 1 or self.depth < 1 or self.half_spread_ticks < 1:
            raise DataError("step_ms, depth and half_spread_ticks must be at least 1")
        if not 0 <= self.gap_prob < 1 or not 0 <= self.trade_rate <= 1:
            raise DataError("gap_prob must lie in [0, 1) and trade_rate in [0, 1]")


def synthetic_market(seed: int, index: int, config: SyntheticConfig) -> MarketInfo:
    """The ``MarketInfo`` of synthetic market ``index`` under ``seed`` (ids are stable)."""
    digest = hashlib.sha256(f"pmstrat-synthetic:{seed}:{index}".encode()).hexdigest()
    end_ms = config.start_ms + config.ticks * config.step_ms
    return MarketInfo(
        condition_id="0x" + digest,
        tokens=(str(int(digest[:15], 16)), str(int(digest[15:30], 16))),
        slug=f"synthetic-{seed}-{index}",
        question=f"Synthetic market {index} (seed {seed})?",
        tick=_COARSE_TICK,
        min_size=5 * AMOUNT_SCALE,
        end_ms=end_ms,
        rewards_max_spread=350 if config.rewards else 0,
        rewards_min_size=50 * AMOUNT_SCALE if config.rewards else 0,
        rewards_daily_rate=100 * AMOUNT_SCALE if config.rewards else 0,
        fee_rate_bps=config.fee_rate_bps,
        fee_exponent=1,
    )


class _Rows:
    """Column lists being filled for one market."""

    __slots__ = ("kind", "price", "side", "size", "token", "ts")

    def __init__(self) -> None:
        self.ts: list[int] = []
        self.kind: list[int] = []
        self.token: list[int] = []
        self.side: list[int] = []
        self.price: list[int] = []
        self.size: list[int] = []

    def add(self, ts: int, kind: int, token: int, side: int, price: int, size: int) -> None:  # noqa: PLR0917  # one row of six columns; called in the inner loop
        self.ts.append(ts)
        self.kind.append(kind)
        self.token.append(token)
        self.side.append(side)
        self.price.append(price)
        self.size.append(size)


def _diff(
    rows: _Rows,
    ts: int,
    token: int,
    old: list[dict[int, int]],
    new: list[dict[int, int]],
) -> None:
    # Removals and reductions first, then additions: the book never looks crossed between rows.
    for side in (_BID, _ASK):
        before, after = old[side], new[side]
        for price, size in before.items():
            target = after.get(price, 0)
            if target < size:
                rows.add(ts, BOOK, token, side, price, target)
    for side in (_BID, _ASK):
        before, after = old[side], new[side]
        for price, size in after.items():
            if size > before.get(price, 0):
                rows.add(ts, BOOK, token, side, price, size)


def _mirror(book: list[dict[int, int]]) -> list[dict[int, int]]:
    # NO bids are YES asks at 1 - p, NO asks are YES bids at 1 - p.
    return [
        {PRICE_SCALE - p: s for p, s in book[_ASK].items()},
        {PRICE_SCALE - p: s for p, s in book[_BID].items()},
    ]


def _one_market(seed: int, index: int, config: SyntheticConfig, rows: _Rows) -> None:
    rng = np.random.default_rng([seed, index])
    n = config.ticks
    yes_code, no_code = 2 * index, 2 * index + 1
    # Everything random is drawn up front, vectorised; the loop below only assembles rows.
    x0 = rng.uniform(-2.0, 2.0)
    normals = rng.standard_normal(n)
    jumps = (rng.random(n) < config.jump_rate) * rng.normal(0.0, config.jump_scale, n)
    spread_noise = rng.poisson(0.3, n)
    gaps = rng.random((n, 2, config.depth)) < config.gap_prob
    sizes = rng.lognormal(math.log(config.level_shares), 0.8, (n, 2, config.depth))
    keep = rng.random((n, 2, config.depth)) >= config.churn
    trade_draw = rng.random(n)
    trade_side = rng.random(n) < 0.5
    trade_frac = rng.uniform(0.05, 0.9, n)
    outcome_draw = rng.random()

    remaining = np.maximum(1.0 - np.arange(n) / n, 0.02)
    sigma = config.vol / np.sqrt(remaining)
    x = x0 + np.cumsum(sigma * normals + jumps)
    x = np.clip(x, -9.0, 9.0)
    probs = 1.0 / (1.0 + np.exp(-x))

    yes_book: list[dict[int, int]] = [{}, {}]
    no_book: list[dict[int, int]] = [{}, {}]
    tick = _COARSE_TICK
    for t in range(n):
        ts = config.start_ms + t * config.step_ms
        mid = float(probs[t]) * PRICE_SCALE
        new_tick = _FINE_TICK if mid < _EXTREME or mid > PRICE_SCALE - _EXTREME else _COARSE_TICK
        if new_tick != tick:
            tick = new_tick
            rows.add(ts, TICK, yes_code, NO_SIDE, tick, 0)
            rows.add(ts, TICK, no_code, NO_SIDE, tick, 0)
        # Trades print at the touch of the book as it stood, before this step's update.
        if yes_book[_BID] and yes_book[_ASK] and trade_draw[t] < config.trade_rate:
            buy = bool(trade_side[t])
            price = min(yes_book[_ASK]) if buy else max(yes_book[_BID])
            top = yes_book[_ASK if buy else _BID][price]
            size = max(int(top * float(trade_frac[t])) // 10_000 * 10_000, 10_000)
            rows.add(ts, TRADE, yes_code, _BID if buy else _ASK, price, size)
            rows.add(ts, TRADE, no_code, _ASK if buy else _BID, PRICE_SCALE - price, size)
        left = n - t
        half = config.half_spread_ticks + int(spread_noise[t])
        half += round(config.widen_ticks * (1.0 - left / n) ** 3)
        thin = 0.25 + 0.75 * left / n
        centre = round(mid / tick)
        bid0 = (centre - half) * tick
        ask0 = (centre + half) * tick
        new: list[dict[int, int]] = [{}, {}]
        for side, start, step in ((_BID, bid0, -tick), (_ASK, ask0, tick)):
            level_sizes = sizes[t, side]
            level_gaps = gaps[t, side]
            level_keep = keep[t, side]
            previous = yes_book[side]
            for k in range(config.depth):
                price = start + k * step
                if not tick <= price <= PRICE_SCALE - tick:
                    break
                if k and level_gaps[k] and price not in previous:
                    continue
                if price in previous and level_keep[k]:
                    new[side][price] = previous[price]  # most levels do not change every step
                    continue
                shares = float(level_sizes[k]) * thin
                new[side][price] = max(int(shares * 100), 500) * 10_000  # 2-decimal shares
        if new[_BID] and new[_ASK] and max(new[_BID]) >= min(new[_ASK]):
            raise DataError("generator produced a crossed book")  # cannot happen; guard
        _diff(rows, ts, yes_code, yes_book, new)
        mirrored = _mirror(new)
        _diff(rows, ts, no_code, no_book, mirrored)
        yes_book, no_book = new, mirrored
    if config.resolve:
        ts = config.start_ms + n * config.step_ms
        yes_wins = outcome_draw < float(probs[-1])
        for code in (yes_code, no_code):
            rows.add(ts, CLEAR, code, NO_SIDE, 0, 0)
        rows.add(ts, RESOLVE, yes_code, NO_SIDE, PRICE_SCALE if yes_wins else 0, 0)
        rows.add(ts, RESOLVE, no_code, NO_SIDE, 0 if yes_wins else PRICE_SCALE, 0)


def generate(config: SyntheticConfig | None = None, *, seed: int = 7) -> EventStream:
    """Generate the event stream of ``config.markets`` synthetic markets under ``seed``.

    Markets are generated independently (each from its own seeded stream) and merged in time
    order, rows of one market keeping their order within a timestamp.

    Raises:
        DataError: the configuration cannot generate a market.
    """
    config = config or SyntheticConfig()
    config.check()
    rows = _Rows()
    markets = []
    tokens: list[str] = []
    for index in range(config.markets):
        market = synthetic_market(seed, index, config)
        markets.append(market)
        tokens.extend(market.tokens)
        _one_market(seed, index, config, rows)
    ts = np.array(rows.ts, dtype=np.int64)
    order = np.argsort(ts, kind="stable")
    stream = EventStream(
        markets=markets,
        tokens=tokens,
        ts_ms=ts[order],
        kind=np.array(rows.kind, dtype=np.int8)[order],
        token=np.array(rows.token, dtype=np.int16)[order],
        side=np.array(rows.side, dtype=np.int8)[order],
        price=np.array(rows.price, dtype=np.int32)[order],
        size=np.array(rows.size, dtype=np.int64)[order],
    )
    stream.check()
    return stream
