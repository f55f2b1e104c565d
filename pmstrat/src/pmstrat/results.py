"""What a backtest returns: fills, trades, the equity curve, the P&L split and the metrics.

Money is integer base units throughout; the statistics (Sharpe, hit rate, drawdown fraction) are
floats because they are ratios, never amounts.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import msgspec

from pmstrat.context import Fill, Position
from pmstrat.units import amount_decimal

YEAR_MS = 365 * 24 * 3_600_000


class Trade(msgspec.Struct, frozen=True, gc=False):
    """A position reduced or closed (a sale or a resolution payout) and what it realised.

    Attributes:
        token: the token id.
        ts_ms: when.
        size: shares closed, base units.
        proceeds: pUSD base units received (net of fees; the payout at resolution).
        cost: the cost basis released, pUSD base units.
        pnl: ``proceeds - cost``.
        resolution: True when the market's resolution closed it.
    """

    token: str
    ts_ms: int
    size: int
    proceeds: int
    cost: int
    pnl: int
    resolution: bool = False


class Rejection(msgspec.Struct, frozen=True, gc=False):
    """A signal the simulated venue refused, and why (off tick, too small, no funds...)."""

    ts_ms: int
    token: str
    reason: str


class PnlSplit(msgspec.Struct, frozen=True):
    """Where the P&L came from, in pUSD base units; the parts sum exactly to ``total``.

    Attributes:
        spread_capture: edge of every fill against the midpoint at that moment (buys below the
            mid and sells above it count positive).
        inventory: what holding positions made or lost as the midpoint moved (the remainder).
        fees: fees paid (negative or zero).
        rewards: liquidity rewards earned.
        resolution: payout at resolution minus the positions' mid value just before it.
        total: final equity minus starting cash.
    """

    spread_capture: int
    inventory: int
    fees: int
    rewards: int
    resolution: int
    total: int

    def as_decimals(self) -> dict[str, Decimal]:
        """The split in pUSD as exact decimals, for reports."""
        return {name: amount_decimal(getattr(self, name)) for name in self.__struct_fields__}


class Metrics(msgspec.Struct, frozen=True):
    """Summary statistics of one run.

    Attributes:
        sharpe: annualised Sharpe ratio of the equity curve's per-sample returns (0 if flat).
        max_drawdown: the largest peak-to-trough fall of equity, pUSD base units.
        max_drawdown_pct: the same as a fraction of the peak.
        hit_rate: the fraction of closing trades with positive P&L (0 when none closed).
        fills: number of fills.
        volume: pUSD base units traded.
        events: market events replayed.
        calls: strategy calls.
    """

    sharpe: float
    max_drawdown: int
    max_drawdown_pct: float
    hit_rate: float
    fills: int
    volume: int
    events: int
    calls: int


def sharpe_ratio(equity: Sequence[int], period_ms: int) -> float:
    """Annualised Sharpe of simple returns between equity samples ``period_ms`` apart."""
    if len(equity) < 3 or period_ms <= 0:
        return 0.0
    returns = [(b - a) / a for a, b in itertools.pairwise(equity) if a > 0]
    if len(returns) < 2:
        return 0.0
    mean = sum(returns) / len(returns)
    var = sum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
    if var <= 0:
        return 0.0
    return mean / math.sqrt(var) * math.sqrt(YEAR_MS / period_ms)


def max_drawdown(equity: Sequence[int]) -> tuple[int, float]:
    """Return the largest peak-to-trough drop (base units) and that drop over its peak."""
    peak = None
    worst = 0
    worst_pct = 0.0
    for value in equity:
        if peak is None or value > peak:
            peak = value
        drop = peak - value
        if drop > worst:
            worst = drop
            worst_pct = drop / peak if peak > 0 else 0.0
    return worst, worst_pct


def hit_rate(trades: Sequence[Trade]) -> float:
    """The fraction of trades that made money."""
    if not trades:
        return 0.0
    return sum(1 for t in trades if t.pnl > 0) / len(trades)


class BacktestResult(msgspec.Struct):
    """Everything a backtest produced.

    Attributes:
        strategy: the strategy's name.
        params: the parameters it ran with.
        start_cash: pUSD base units at the start.
        cash: pUSD base units at the end (rewards included).
        positions: positions still held at the end, by token.
        fills: every fill of the strategy's orders, in order.
        trades: every position reduction (sales and resolutions).
        rejections: every refused signal.
        equity_ts: timestamps of the equity samples.
        equity: equity (cash plus positions at the midpoint), pUSD base units.
        pnl: the P&L split.
        metrics: the summary statistics.
        orders: orders the strategy sent.
        elapsed_s: wall time of the replay, seconds.
        rewards_note: how the rewards were estimated and what they cannot know.
    """

    strategy: str
    params: dict[str, Any]
    start_cash: int
    cash: int
    positions: dict[str, Position]
    fills: list[Fill]
    trades: list[Trade]
    rejections: list[Rejection]
    equity_ts: list[int]
    equity: list[int]
    pnl: PnlSplit
    metrics: Metrics
    orders: int
    elapsed_s: float
    rewards_note: str = ""

    @property
    def events_per_second(self) -> float:
        """Replay speed: market events per wall-clock second."""
        return self.metrics.events / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> Mapping[str, object]:
        """The headline numbers (decimals for money), for tables and sweep rows."""
        return {
            "strategy": self.strategy,
            "pnl": amount_decimal(self.pnl.total),
            "spread_capture": amount_decimal(self.pnl.spread_capture),
            "inventory": amount_decimal(self.pnl.inventory),
            "fees": amount_decimal(self.pnl.fees),
            "rewards": amount_decimal(self.pnl.rewards),
            "resolution": amount_decimal(self.pnl.resolution),
            "sharpe": round(self.metrics.sharpe, 4),
            "max_drawdown": amount_decimal(self.metrics.max_drawdown),
            "hit_rate": round(self.metrics.hit_rate, 4),
            "fills": self.metrics.fills,
            "orders": self.orders,
            "volume": amount_decimal(self.metrics.volume),
            "events": self.metrics.events,
        }
