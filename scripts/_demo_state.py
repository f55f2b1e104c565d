"""What ``make demo`` reads while it runs: the engine's journal and metrics, and the venue's books.

All money stays exact: the journal's integers (positions in micro-notional units of 1e-10 pUSD,
fees in pUSD base units) are turned into ``Decimal`` only for display and the summary.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from pmstrat.errors import PmstratError
from pmstrat.rewards import Quote, RewardsEstimate, RewardsSimulator
from pmstrat.signal import Side
from prometheus_client.parser import text_string_to_metric_families

from pmstrat import MarketInfo, OrderBookSnapshot

PRICE_SCALE = 10_000
AMOUNT_SCALE = 1_000_000
MICRO_PER_PUSD = Decimal(PRICE_SCALE * AMOUNT_SCALE)  # micro-notional units per pUSD
BUY = 0  # pmengine.units.BUY

TERMINAL = ("FILLED", "CANCELLED", "REJECTED", "EXPIRED")


def pusd(base_units: int) -> Decimal:
    """pUSD from base units (1e-6), exactly."""
    return Decimal(base_units) / AMOUNT_SCALE


def micro_pusd(micro: int) -> Decimal:
    """pUSD from micro-notional units (1e-10), exactly."""
    return (Decimal(micro) / MICRO_PER_PUSD).normalize()


@dataclass
class JournalView:
    """One read of the engine's journal."""

    orders_by_state: dict[str, int] = field(default_factory=dict)
    orders_by_strategy: dict[str, int] = field(default_factory=dict)
    orders: int = 0
    fills: int = 0
    fees: int = 0  # pUSD base units
    realized: int = 0  # micro-notional
    positions: dict[str, tuple[int, int]] = field(default_factory=dict)  # token -> (qty, cost)
    working: list[tuple[str, str, int, int, int, int]] = field(default_factory=list)
    recent_fills: list[tuple[int, str, int, int, int]] = field(default_factory=list)
    trading_state: str = "starting"
    strategies: dict[str, str] = field(default_factory=dict)
    denials: int = 0


def read_journal(path: Path) -> JournalView:
    """Read the journal read-only (WAL lets this run beside the writing engine)."""
    view = JournalView()
    if not path.exists():
        return view
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    try:
        for state, strategy, n in db.execute(
            "SELECT state, strategy, COUNT(*) FROM orders GROUP BY state, strategy"
        ):
            view.orders_by_state[state] = view.orders_by_state.get(state, 0) + int(n)
            view.orders_by_strategy[strategy] = view.orders_by_strategy.get(strategy, 0) + int(n)
            view.orders += int(n)
        row = db.execute("SELECT COUNT(*), COALESCE(SUM(fee), 0) FROM fills").fetchone()
        view.fills, view.fees = int(row[0]), int(row[1])
        for token, qty, cost, realized in db.execute(
            "SELECT token_id, qty, cost, realized FROM positions"
        ):
            view.realized += int(realized)
            if int(qty):
                view.positions[str(token)] = (int(qty), int(cost))
        view.working = [
            (str(r[0]), str(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5]))
            for r in db.execute(
                "SELECT strategy, token_id, side, price, size, filled FROM orders "
                "WHERE state NOT IN (?, ?, ?, ?) ORDER BY created_ms",
                TERMINAL,
            )
        ]
        view.recent_fills = [
            (int(r[0]), str(r[1]), int(r[2]), int(r[3]), int(r[4]))
            for r in db.execute(
                "SELECT ts_ms, token_id, side, price, size FROM fills ORDER BY rowid DESC LIMIT 8"
            )
        ]
        row = db.execute("SELECT value FROM meta WHERE key='trading_state'").fetchone()
        view.trading_state = "ACTIVE" if row is None else str(row[0])
        view.strategies = {
            str(n): str(s) for n, s in db.execute("SELECT name, status FROM strategies")
        }
        view.denials = int(db.execute("SELECT COUNT(*) FROM denials").fetchone()[0])
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        # The engine is still creating its schema: nothing to show yet.
    finally:
        db.close()
    return view


@dataclass
class Histogram:
    """Cumulative bucket counts of one Prometheus histogram."""

    buckets: list[tuple[float, float]]  # (upper bound, cumulative count), ascending
    count: float

    def quantile(self, q: float) -> float | None:
        """``histogram_quantile``: linear interpolation inside the bucket holding rank q."""
        if self.count <= 0:
            return None
        rank = q * self.count
        lower, below = 0.0, 0.0
        for bound, cumulative in self.buckets:
            if cumulative >= rank:
                if bound == float("inf"):
                    return lower
                width = cumulative - below
                frac = (rank - below) / width if width else 1.0
                return lower + (bound - lower) * frac
            lower, below = bound, cumulative
        return lower


def scrape(url: str, client: httpx.Client) -> dict[str, Any]:
    """Scrape a Prometheus endpoint into ``{sample name: value or [(labels, value)]}``."""
    text = client.get(url).text
    out: dict[str, Any] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def histogram(samples: dict[str, Any], name: str) -> Histogram:
    """The histogram ``name`` from a scrape (empty when absent)."""
    raw = samples.get(name + "_bucket", [])
    buckets = sorted((float(labels["le"]), value) for labels, value in raw)
    count = sum(v for _, v in samples.get(name + "_count", []))
    return Histogram(buckets, count)


def total(samples: dict[str, Any], name: str) -> float:
    """Sum of every labelled value of ``name``."""
    return float(sum(v for _, v in samples.get(name, [])))


def book_snapshot(
    client: httpx.Client, clob_url: str, token: str, ts_ms: int, tick: int
) -> OrderBookSnapshot:
    """The venue's book of ``token`` (REST), as exact integer levels, best first."""
    body = client.get(f"{clob_url}/book", params={"token_id": token}).json()

    def levels(rows: list[dict[str, str]]) -> list[tuple[int, int]]:
        return [
            (int(Decimal(r["price"]) * PRICE_SCALE), int(Decimal(r["size"]) * AMOUNT_SCALE))
            for r in rows
        ]

    bids = sorted(levels(body.get("bids", [])), reverse=True)
    asks = sorted(levels(body.get("asks", [])))
    return OrderBookSnapshot(token, ts_ms, tuple(bids), tuple(asks), tick)


def own_quotes(
    market: MarketInfo, working: list[tuple[str, str, int, int, int, int]]
) -> list[Quote]:
    """Our resting orders on one market as rewards quotes (remaining size)."""
    yes, no = market.tokens
    out: list[Quote] = []
    for _strategy, token, side, price, size, filled in working:
        if token not in (yes, no) or size - filled <= 0:
            continue
        out.append(
            Quote(token == yes, Side.BUY if side == BUY else Side.SELL, price, size - filled)
        )
    return out


def without_own(book: OrderBookSnapshot, quotes: list[Quote]) -> OrderBookSnapshot:
    """The YES book minus our own resting orders (the venue mirrors NO orders onto it)."""
    bids = dict(book.bids)
    asks = dict(book.asks)
    for q in quotes:
        yes_price = q.price if q.yes else PRICE_SCALE - q.price
        # A YES bid or a NO ask rests on the YES bid side; a YES ask or a NO bid on the ask side.
        side = bids if (q.side == Side.BUY) == q.yes else asks
        if yes_price in side:
            side[yes_price] = max(0, side[yes_price] - q.size)
    return OrderBookSnapshot(
        book.token,
        book.ts_ms,
        tuple((p, s) for p, s in sorted(bids.items(), reverse=True) if s),
        tuple((p, s) for p, s in sorted(asks.items()) if s),
        book.tick,
    )


@dataclass
class RewardsTape:
    """Per-market samples of (others' book, our quotes) for pmstrat's rewards simulator."""

    market: MarketInfo
    samples: list[tuple[OrderBookSnapshot, list[Quote]]] = field(default_factory=list)

    def add(self, yes_book: OrderBookSnapshot, quotes: list[Quote]) -> None:
        """Record one instant."""
        self.samples.append((without_own(yes_book, quotes), quotes))

    def estimate(self, sample_ms: int) -> RewardsEstimate | None:
        """What our actual quotes earned per day by the rewards formula (None: nothing sampled)."""
        if self.market.rewards_max_spread <= 0 or not self.samples:
            return None
        by_ts = {book.ts_ms: quotes for book, quotes in self.samples}

        def policy(book: OrderBookSnapshot, _mid_x2: int, _m: MarketInfo) -> list[Quote]:
            return by_ts.get(book.ts_ms, [])

        sim = RewardsSimulator(self.market, policy)
        try:
            return sim.run(((b, None) for b, _ in self.samples), sample_ms=sample_ms)
        except PmstratError:  # no instant had a two-sided book to score
            return None
