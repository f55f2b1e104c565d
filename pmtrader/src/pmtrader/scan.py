"""The market scanner: price cliffs and markets close to a near-certain resolution.

Pure functions over SDK data (Gamma markets, price histories, order books), so that the command
line (``pmtrader scan``) and the dashboard's Scanner page rank the same way from the same inputs.
Fetching is the caller's job; nothing here does I/O.

* :func:`find_cliffs` ranks outcomes whose price moved sharply within a window (the largest
  move from any point inside the window to the latest point), biggest move first.
* :func:`find_expiring` ranks outcomes of markets that end soon and trade near 1, by the return
  a buyer at the best ask earns at payout, per day left. Each row carries what makes such a
  trade a trap or not: the spread, the size at the touch, the depth just behind it and the gap
  to the next level (a thin touch with a gap behind it means the quoted return is not there).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from pmtrader.models.clob import OrderBook, PricePoint
from pmtrader.models.gamma import GammaMarket

__all__ = [
    "Cliff",
    "ExpiringOpportunity",
    "OutcomeHistory",
    "expiring_candidates",
    "find_cliffs",
    "find_expiring",
    "market_end",
    "rank_expiring",
]

_ONE = Decimal(1)
_SECONDS_PER_DAY = Decimal(86_400)
#: Days to end are floored here, so a market minutes from its end does not rank at infinity.
_MIN_DAYS = Decimal("0.01")
#: How far above the best ask "depth behind the touch" looks.
DEFAULT_DEPTH_BAND = Decimal("0.02")


@dataclass(frozen=True, slots=True)
class OutcomeHistory:
    """One outcome's price history, with what names it.

    Attributes:
        slug: The market's slug.
        question: The market's question.
        outcome: The outcome's name (``Yes``).
        token_id: The outcome token.
        history: Points oldest first (``t`` unix seconds, ``p`` price).
    """

    slug: str
    question: str
    outcome: str
    token_id: str
    history: Sequence[PricePoint]


@dataclass(frozen=True, slots=True)
class Cliff:
    """A sharp move of one outcome's price inside the window.

    Attributes:
        slug: The market's slug.
        question: The market's question.
        outcome: The outcome that moved.
        token_id: Its token.
        price_from: The price the move started from (inside the window).
        price_to: The latest price.
        from_ts: Unix seconds of ``price_from``.
        to_ts: Unix seconds of ``price_to``.
    """

    slug: str
    question: str
    outcome: str
    token_id: str
    price_from: Decimal
    price_to: Decimal
    from_ts: int
    to_ts: int

    @property
    def move(self) -> Decimal:
        """Signed change, ``price_to - price_from``."""
        return self.price_to - self.price_from


def _largest_move(history: Sequence[PricePoint], window_s: int) -> tuple[PricePoint, PricePoint]:
    last = history[-1]
    start = last.t - window_s
    best = last
    for point in history:
        if point.t >= start and abs(last.p - point.p) > abs(last.p - best.p):
            best = point
    return best, last


def find_cliffs(
    series: Iterable[OutcomeHistory], *, window_s: int, min_move: Decimal
) -> list[Cliff]:
    """Rank the outcomes whose price moved at least ``min_move`` within ``window_s`` seconds.

    The move is measured from the point inside the window furthest from the latest price to the
    latest price: a step counts wherever it happened in the window, a spike counts by how far
    the price has come back from it, and a move older than the window does not count.

    Args:
        series: Price histories (oldest point first); empty histories are skipped.
        window_s: How far back from each history's last point to look, in seconds.
        min_move: The smallest absolute move to report, e.g. ``Decimal("0.15")``.

    Returns:
        Cliffs, largest absolute move first (ties: slug, then outcome).
    """
    cliffs: list[Cliff] = []
    for item in series:
        if not item.history:
            continue
        first, last = _largest_move(sorted(item.history, key=lambda p: p.t), window_s)
        if abs(last.p - first.p) >= min_move and first is not last:
            cliffs.append(
                Cliff(
                    slug=item.slug,
                    question=item.question,
                    outcome=item.outcome,
                    token_id=item.token_id,
                    price_from=first.p,
                    price_to=last.p,
                    from_ts=first.t,
                    to_ts=last.t,
                )
            )
    cliffs.sort(key=lambda c: (-abs(c.move), c.slug, c.outcome))
    return cliffs


@dataclass(frozen=True, slots=True)
class ExpiringOpportunity:
    """Buying a near-certain outcome at the best ask and holding it to payout.

    Attributes:
        slug: The market's slug.
        question: The market's question.
        outcome: The near-certain outcome.
        token_id: Its token.
        end: When the market ends (UTC).
        days_to_end: Days from ``now`` to ``end``.
        ask: Best ask: the price a buyer pays now.
        ask_size: Shares offered at the best ask.
        bid: Best bid, or ``None``.
        spread: ``ask - bid``, or ``None`` without bids.
        depth_behind: Shares offered within the depth band above the best ask (the touch
            excluded): what a buyer larger than the touch can still get near the quoted return.
        gap: Distance from the best ask to the next ask level, or ``None`` when there is none.
        liquidity: Gamma's liquidity figure for the market (pUSD).
        return_to_payout: ``(1 - ask) / ask``: the gain per pUSD spent if the outcome wins.
        return_per_day: ``return_to_payout / days_to_end`` (days floored at 0.01).
    """

    slug: str
    question: str
    outcome: str
    token_id: str
    end: datetime
    days_to_end: Decimal
    ask: Decimal
    ask_size: Decimal
    bid: Decimal | None
    spread: Decimal | None
    depth_behind: Decimal
    gap: Decimal | None
    liquidity: Decimal
    return_to_payout: Decimal
    return_per_day: Decimal


def market_end(market: GammaMarket) -> datetime | None:
    """The market's end as an aware UTC datetime, or ``None`` when Gamma gives none."""
    if not market.end_date:
        return None
    try:
        end = datetime.fromisoformat(market.end_date.replace("Z", "+00:00"))
    except ValueError:
        return None
    return end if end.tzinfo is not None else end.replace(tzinfo=UTC)


def expiring_candidates(
    markets: Iterable[GammaMarket],
    *,
    now: datetime,
    within_s: int,
    min_price: Decimal,
    min_liquidity: Decimal,
) -> list[tuple[GammaMarket, int]]:
    """Pick ``(market, outcome index)`` pairs worth fetching a book for.

    A pair qualifies when the market is open, ends after ``now`` and within ``within_s``
    seconds, has at least ``min_liquidity``, and Gamma's price for the outcome is at least
    ``min_price``. The books decide the final ranking (:func:`rank_expiring`).
    """
    picked: list[tuple[GammaMarket, int]] = []
    for market in markets:
        end = market_end(market)
        if market.closed or not market.active or end is None:
            continue
        left = (end - now).total_seconds()
        if not 0 < left <= within_s:
            continue
        if (market.liquidity_num or Decimal(0)) < min_liquidity:
            continue
        for index, price in enumerate(market.outcome_prices):
            if price >= min_price and index < len(market.clob_token_ids):
                picked.append((market, index))
    return picked


def rank_expiring(
    market: GammaMarket,
    index: int,
    book: OrderBook,
    *,
    now: datetime,
    min_price: Decimal,
    depth_band: Decimal = DEFAULT_DEPTH_BAND,
) -> ExpiringOpportunity | None:
    """Score one candidate against its live book; ``None`` if the book has no ask >= min_price.

    Args:
        market: The Gamma market.
        index: The outcome's index in ``market.outcomes``.
        book: The outcome token's order book.
        now: The current time (UTC).
        min_price: The best ask must be at least this (the outcome is near certain).
        depth_band: How far above the best ask to count depth behind the touch.
    """
    end = market_end(market)
    ask = book.best_ask
    if end is None or ask is None or ask < min_price or ask >= _ONE:
        return None
    asks = sorted(book.asks, key=lambda level: level.price)
    ask_size = sum((lvl.size for lvl in asks if lvl.price == ask), Decimal(0))
    behind = [lvl for lvl in asks if ask < lvl.price <= ask + depth_band]
    depth_behind = sum((lvl.size for lvl in behind), Decimal(0))
    higher = [lvl.price for lvl in asks if lvl.price > ask]
    gap = (higher[0] - ask) if higher else None
    bid = book.best_bid
    seconds = Decimal(int((end - now).total_seconds()))
    days = seconds / _SECONDS_PER_DAY
    ret = (_ONE - ask) / ask
    return ExpiringOpportunity(
        slug=market.slug,
        question=market.question,
        outcome=market.outcomes[index] if index < len(market.outcomes) else str(index),
        token_id=market.clob_token_ids[index],
        end=end,
        days_to_end=days,
        ask=ask,
        ask_size=ask_size,
        bid=bid,
        spread=None if bid is None else ask - bid,
        depth_behind=depth_behind,
        gap=gap,
        liquidity=market.liquidity_num or Decimal(0),
        return_to_payout=ret,
        return_per_day=ret / max(days, _MIN_DAYS),
    )


def find_expiring(
    scored: Iterable[ExpiringOpportunity | None],
) -> list[ExpiringOpportunity]:
    """Rank scored candidates by return to payout per day, best first (ties: slug, outcome)."""
    rows = [row for row in scored if row is not None]
    rows.sort(key=lambda r: (-r.return_per_day, r.slug, r.outcome))
    return rows
