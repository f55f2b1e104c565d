"""Polymarket's liquidity-rewards scoring as pure functions, and a ``RewardsSimulator``.

The documented rule (protocol notes §6.1): an order ``s`` cents from the size-cutoff-adjusted
midpoint, in a market with max spread ``v`` cents, scores ``S = ((v - s) / v) ** 2 * b``, and 0
at or beyond the band. A maker's side one sums ``S * size`` over YES bids and NO asks (the same
economic side), side two over YES asks and NO bids. ``Q_min`` rewards two-sided quoting: with
the midpoint in [0.10, 0.90] it is ``max(min(Q1, Q2), max(Q1 / c, Q2 / c))`` (one-sided earns a
third at ``c = 3``); outside it is ``min(Q1, Q2)`` (one-sided earns nothing). Each per-minute
sample is normalised over all makers, and the pool is split by the summed shares.

Scores are floats by the formula; money (the payout) is converted to exact base units at the end.

What a public book cannot tell: who owns each resting order. The other makers' ``Q_min`` depends
on how their liquidity splits between two-sided and one-sided makers, so the simulator reports a
range: the lower bound assumes that liquidity belongs to the most efficiently two-sided makers
possible, the upper bound to the least.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from decimal import ROUND_FLOOR, Decimal

import msgspec

from pmstrat.context import MarketInfo, OrderBookSnapshot
from pmstrat.errors import PmstratError
from pmstrat.signal import Side
from pmstrat.units import AMOUNT_SCALE, PRICE_SCALE

MID_BAND_LOW = 0.10
MID_BAND_HIGH = 0.90
SAMPLE_MS = 60_000
SAMPLES_PER_DAY = 1_440
COMPETITION_NOTE = (
    "Public books show how much liquidity rests, not who owns it: other makers' two-sided "
    "allocation is unknown, so the reward is a range (lower bound: all other liquidity is "
    "two-sided; upper bound: it is split as cheaply as the rule allows)."
)


def order_score(max_spread_cents: float, distance_cents: float, multiplier: float = 1) -> float:
    """Score of one order per share: ``((v - s) / v) ** 2 * b``, 0 at or outside the band.

    Args:
        max_spread_cents: the market's max spread ``v`` in cents (e.g. 3 or 4.5).
        distance_cents: the order's distance ``s`` from the adjusted midpoint, in cents.
        multiplier: the in-game multiplier ``b`` (1 outside live sports).

    Raises:
        PmstratError: ``v`` is not positive or ``s`` is negative.
    """
    if max_spread_cents <= 0:
        raise PmstratError(f"max spread must be positive cents, got {max_spread_cents}")
    if distance_cents < 0:
        raise PmstratError(f"distance must be >= 0 cents, got {distance_cents}")
    if distance_cents >= max_spread_cents:
        return 0.0
    ratio = (max_spread_cents - distance_cents) / max_spread_cents
    return ratio * ratio * multiplier


def q_min(q_one: float, q_two: float, mid: float, c: float = 3.0) -> float:
    """Combine a maker's two sides: two-sided quoting scores fully, one-sided a ``1/c`` share.

    Args:
        q_one: the maker's side-one score (YES bids and NO asks).
        q_two: the maker's side-two score (YES asks and NO bids).
        mid: the adjusted midpoint as a price in [0, 1].
        c: the single-sided divisor (3.0 on Polymarket).

    Returns:
        ``max(min(q1, q2), max(q1 / c, q2 / c))`` with the midpoint in [0.10, 0.90], else
        ``min(q1, q2)``.
    """
    if MID_BAND_LOW <= mid <= MID_BAND_HIGH:
        return max(min(q_one, q_two), q_one / c, q_two / c)
    return min(q_one, q_two)


def q_min_bounds(q_one: float, q_two: float, mid: float, c: float = 3.0) -> tuple[float, float]:
    """Smallest and largest total ``Q_min`` that many makers holding ``q_one``/``q_two`` can score.

    The least is reached when liquidity is split between makers as cheaply as the rule allows
    (one-sided makers, or pairs at the ``1/c`` balance point): ``max(Q1, Q2) / c`` when the
    smaller side is within ``1/c`` of the larger, else ``(Q1 + Q2) / (c + 1)``; outside the
    midpoint band it is 0 (all one-sided). The most is a fully paired allocation:
    ``min(Q1, Q2) + |Q1 - Q2| / c`` (outside the band ``min(Q1, Q2)``).
    """
    low_side, high_side = min(q_one, q_two), max(q_one, q_two)
    if not MID_BAND_LOW <= mid <= MID_BAND_HIGH:
        return 0.0, low_side
    least = high_side / c if low_side <= high_side / c else (q_one + q_two) / (c + 1)
    return least, low_side + (high_side - low_side) / c


def reward_share(own: float, others: float) -> float:
    """A maker's share of one sample: ``own / (own + others)``, 0 when nobody scored."""
    total = own + others
    return own / total if total > 0 else 0.0


def payout_units(share: float, pool_units: int) -> int:
    """The payout in pUSD base units for a share of a pool, rounded down to a base unit."""
    if not 0 <= share <= 1 or math.isnan(share):
        raise PmstratError(f"a reward share lies in [0, 1], got {share}")
    exact = Decimal(repr(share)) * pool_units
    return int(exact.to_integral_value(rounding=ROUND_FLOOR))


class Quote(msgspec.Struct, frozen=True, gc=False):
    """One resting order for scoring: on the YES token (``yes=True``) or the NO token."""

    yes: bool
    side: Side
    price: int
    size: int


def adjusted_mid_x2(book: OrderBookSnapshot, min_size: int) -> int | None:
    """Twice the size-cutoff-adjusted midpoint (1e-4 units): ignore levels under ``min_size``.

    The venue does not publish the exact rule; this is the common public approximation.
    """
    bid = next((p for p, s in book.bids if s >= min_size), None)
    ask = next((p for p, s in book.asks if s >= min_size), None)
    if bid is None or ask is None:
        return None
    return bid + ask


def _distance_cents(yes_price_x2: int, mid_x2: int) -> float:
    # Both doubled, in 1e-4 units: one cent is 100 units, so 200 doubled units.
    return abs(yes_price_x2 - mid_x2) / 200


def quotes_score(
    quotes: Iterable[Quote], *, mid_x2: int, max_spread: int, min_size: int
) -> tuple[float, float]:
    """Return ``(Q_one, Q_two)`` of a set of orders around a midpoint.

    NO-token orders are mapped to their YES-equivalent price ``1 - p``; orders smaller than
    ``min_size`` do not count.

    Args:
        quotes: the maker's orders.
        mid_x2: twice the adjusted YES midpoint, in 1e-4 units.
        max_spread: the market's max spread ``v`` in 1e-4 units.
        min_size: the rewards minimum size in base units.
    """
    v_cents = max_spread / 100
    q_one = q_two = 0.0
    for quote in quotes:
        if quote.size < min_size:
            continue
        yes_price = quote.price if quote.yes else PRICE_SCALE - quote.price
        score = order_score(v_cents, _distance_cents(2 * yes_price, mid_x2))
        if not score:
            continue
        shares = quote.size / AMOUNT_SCALE
        # Side one: YES bids and NO asks. Side two: YES asks and NO bids.
        if (quote.side == Side.BUY) == quote.yes:
            q_one += score * shares
        else:
            q_two += score * shares
    return q_one, q_two


def book_quotes(yes: OrderBookSnapshot, no: OrderBookSnapshot | None = None) -> list[Quote]:
    """Every visible level as quotes (the liquidity of all makers together).

    Polymarket's YES and NO books are mirror images (a NO bid at p is shown as a YES ask at
    1 - p), so the YES book alone holds all the liquidity; pass ``no`` only for data whose two
    books are independent, or it is counted twice.
    """
    out = [Quote(True, Side.BUY, p, s) for p, s in yes.bids]
    out += [Quote(True, Side.SELL, p, s) for p, s in yes.asks]
    if no is not None:
        out += [Quote(False, Side.BUY, p, s) for p, s in no.bids]
        out += [Quote(False, Side.SELL, p, s) for p, s in no.asks]
    return out


QuotePolicy = Callable[[OrderBookSnapshot, int, MarketInfo], Sequence[Quote]]
"""``(yes_book, mid_x2, market) -> quotes``: where a maker would rest orders at this instant."""


class SymmetricPolicy:
    """Quote ``distance`` (1e-4 units) either side of the midpoint with ``size`` base units.

    Two-sided by default: a YES bid below the mid and a NO bid at the complement of the YES ask
    price (a NO bid needs no YES inventory). Prices snap away from the mid to the tick.
    """

    def __init__(self, *, distance: int, size: int, two_sided: bool = True) -> None:
        self.distance = distance
        self.size = size
        self.two_sided = two_sided

    def __call__(self, book: OrderBookSnapshot, mid_x2: int, market: MarketInfo) -> list[Quote]:
        tick = book.tick
        bid = (mid_x2 - 2 * self.distance) // (2 * tick) * tick
        ask = -(-(mid_x2 + 2 * self.distance) // (2 * tick)) * tick
        quotes: list[Quote] = []
        if 0 < bid < PRICE_SCALE:
            quotes.append(Quote(True, Side.BUY, bid, self.size))
        if self.two_sided and 0 < ask < PRICE_SCALE:
            quotes.append(Quote(False, Side.BUY, PRICE_SCALE - ask, self.size))
        return quotes


class RewardsEstimate(msgspec.Struct, frozen=True):
    """What a quoting policy would have earned over the replayed books.

    Attributes:
        samples: per-minute samples taken.
        scored_samples: samples in which the policy's orders scored above zero.
        mean_share: the average share of the pool per sample (point estimate).
        share_low: the average share if other makers are as two-sided as possible.
        share_high: the average share if other makers are as one-sided as possible.
        per_day: expected reward per day in pUSD base units (point estimate).
        per_day_low: lower bound in pUSD base units.
        per_day_high: upper bound in pUSD base units.
        note: why the answer is a range.
    """

    samples: int
    scored_samples: int
    mean_share: float
    share_low: float
    share_high: float
    per_day: int
    per_day_low: int
    per_day_high: int
    note: str = COMPETITION_NOTE


class RewardsSimulator:
    """Replay YES/NO book snapshots, sample each minute, and score a quoting policy.

    The policy's orders are scored around the adjusted midpoint of the visible book and
    normalised against everyone else's visible liquidity (the policy's orders are hypothetical,
    so nothing in the recorded book is theirs). With ``mirrored_books`` (the venue's behaviour)
    the NO book is the YES book mirrored and is not counted again. See the module docstring for
    why the result is a range.
    """

    def __init__(
        self,
        market: MarketInfo,
        policy: QuotePolicy,
        *,
        c: float = 3.0,
        mirrored_books: bool = True,
    ) -> None:
        if market.rewards_max_spread <= 0:
            raise PmstratError(
                f"market {market.slug or market.condition_id} pays no liquidity rewards "
                "(no max spread); pick a market with rewards"
            )
        self.market = market
        self.policy = policy
        self.c = c
        self.mirrored_books = mirrored_books

    def sample(
        self, yes: OrderBookSnapshot, no: OrderBookSnapshot | None
    ) -> tuple[float, float, float] | None:
        """Score one instant: ``(share, share_low, share_high)``, or None without a midpoint."""
        market = self.market
        mid_x2 = adjusted_mid_x2(yes, market.rewards_min_size)
        if mid_x2 is None:
            return None
        mid = mid_x2 / (2 * PRICE_SCALE)
        kw = {"mid_x2": mid_x2, "max_spread": market.rewards_max_spread}
        own_q = quotes_score(
            self.policy(yes, mid_x2, market), min_size=market.rewards_min_size, **kw
        )
        visible = book_quotes(yes, None if self.mirrored_books else no)
        others_q = quotes_score(visible, min_size=market.rewards_min_size, **kw)
        own = q_min(*own_q, mid, self.c)
        point = q_min(*others_q, mid, self.c)
        least, most = q_min_bounds(*others_q, mid, self.c)
        return reward_share(own, point), reward_share(own, most), reward_share(own, least)

    def run(
        self,
        snapshots: Iterable[tuple[OrderBookSnapshot, OrderBookSnapshot | None]],
        *,
        sample_ms: int = SAMPLE_MS,
    ) -> RewardsEstimate:
        """Sample the policy once per ``sample_ms`` on the latest books, and estimate per day.

        Args:
            snapshots: ``(yes_book, no_book)`` pairs in time order (``no_book`` may be None).
            sample_ms: sampling period (the venue samples every minute).

        Raises:
            PmstratError: there was not a single sample to score.
        """
        shares: list[tuple[float, float, float]] = []
        next_sample: int | None = None
        last: tuple[OrderBookSnapshot, OrderBookSnapshot | None] | None = None
        for pair in snapshots:
            ts = pair[0].ts_ms
            if next_sample is None:
                next_sample = ts
            # Every sample instant before this snapshot sees the previous book.
            while last is not None and next_sample < ts:
                self._take(last, shares)
                next_sample += sample_ms
            last = pair
        if last is not None and next_sample is not None:
            while next_sample <= last[0].ts_ms:
                self._take(last, shares)
                next_sample += sample_ms
        if not shares:
            raise PmstratError("no book with both sides to sample; record a longer window")
        n = len(shares)
        mean = sum(s[0] for s in shares) / n
        low = sum(s[1] for s in shares) / n
        high = sum(s[2] for s in shares) / n
        pool = self.market.rewards_daily_rate
        return RewardsEstimate(
            samples=n,
            scored_samples=sum(1 for s in shares if s[0] > 0),
            mean_share=mean,
            share_low=low,
            share_high=high,
            per_day=payout_units(mean, pool),
            per_day_low=payout_units(low, pool),
            per_day_high=payout_units(high, pool),
        )

    def _take(
        self,
        pair: tuple[OrderBookSnapshot, OrderBookSnapshot | None],
        out: list[tuple[float, float, float]],
    ) -> None:
        scored = self.sample(*pair)
        if scored is not None:
            out.append(scored)
