"""Liquidity-rewards scoring on hand-computed cases, including the protocol notes' §6.2 example."""

import pytest
from pmstrat.rewards import (
    COMPETITION_NOTE,
    Quote,
    RewardsSimulator,
    SymmetricPolicy,
    adjusted_mid_x2,
    order_score,
    payout_units,
    q_min,
    q_min_bounds,
    quotes_score,
    reward_share,
)

from pmstrat import MarketInfo, OrderBookSnapshot, PmstratError, Side

approx = pytest.approx


def test_order_score_is_quadratic_inside_the_band_and_zero_outside() -> None:
    assert order_score(3, 0) == 1.0
    assert order_score(3, 1) == approx(4 / 9)  # ((3 - 1) / 3)^2
    assert order_score(3, 2) == approx(1 / 9)
    assert order_score(3, 1.5) == approx(0.25)
    assert order_score(4.5, 1.5, multiplier=2) == approx(2 * (3 / 4.5) ** 2)
    assert order_score(3, 3) == 0.0  # at the edge: no score
    assert order_score(3, 3.5) == 0.0  # outside the band
    with pytest.raises(PmstratError, match="max spread"):
        order_score(0, 1)
    with pytest.raises(PmstratError, match="distance"):
        order_score(3, -1)


def test_worked_example_side_scores() -> None:
    # Protocol notes §6.2: v = 3c, mid 0.50. Side one: 100 @ s=1, 200 @ s=2, 100 @ s=1.
    q_one = 100 * order_score(3, 1) + 200 * order_score(3, 2) + 100 * order_score(3, 1)
    # Side two: 100 @ s=1.5, 100 @ s=2, 200 @ s=0.5.
    q_two = 100 * order_score(3, 1.5) + 100 * order_score(3, 2) + 200 * order_score(3, 0.5)
    assert q_one == approx(111.11, abs=0.01)
    assert q_two == approx(175.00, abs=0.01)
    # The same orders as quotes on the two tokens, mapped to sides by the documented rule.
    quotes = [
        Quote(True, Side.BUY, 4900, 100_000_000),  # YES bid 0.49: side one, s=1
        Quote(True, Side.BUY, 4800, 200_000_000),  # YES bid 0.48: side one, s=2
        Quote(False, Side.SELL, 5100, 100_000_000),  # NO ask 0.51 = YES bid 0.49: side one
        Quote(True, Side.SELL, 5150, 100_000_000),  # YES ask 0.515: side two, s=1.5
        Quote(False, Side.BUY, 4800, 100_000_000),  # NO bid 0.48 = YES ask 0.52: side two
        Quote(False, Side.BUY, 4950, 200_000_000),  # NO bid 0.495 = YES ask 0.505: side two
    ]
    scored = quotes_score(quotes, mid_x2=10_000, max_spread=300, min_size=0)
    assert scored[0] == approx(q_one)
    assert scored[1] == approx(q_two)


def test_worked_example_q_min_normalisation_and_payout() -> None:
    q_one, q_two = 100 / 0.9, 175.0  # 111.11..., 175
    assert q_min(q_one, q_two, 0.50) == approx(111.11, abs=0.01)  # two-sided: the smaller side
    assert q_min(q_one, 0.0, 0.50) == approx(37.04, abs=0.01)  # one-sided: a third
    assert q_min(q_one, 0.0, 0.95) == 0.0  # one-sided outside [0.10, 0.90]: nothing
    assert q_min(q_one, q_two, 0.95) == approx(111.11, abs=0.01)  # two-sided still scores
    assert q_min(30.0, 300.0, 0.5) == approx(100.0)  # max(min, max/c) picks the third
    assert q_min(q_one, 0.0, 0.10) == approx(37.04, abs=0.01)  # the band is inclusive
    assert q_min(q_one, 0.0, 0.90) == approx(37.04, abs=0.01)
    assert q_min(q_one, 0.0, 0.0999) == 0.0
    assert reward_share(111.11, 288.89) == approx(0.2778, abs=1e-4)
    assert reward_share(0.0, 0.0) == 0.0
    # A quarter of every sample of a $200/day pool is $50, in exact base units.
    assert payout_units(0.25, 200_000_000) == 50_000_000
    assert payout_units(1 / 3, 100) == 33  # rounded down to the base unit


def test_orders_below_the_rewards_min_size_or_outside_the_band_do_not_count() -> None:
    quotes = [
        Quote(True, Side.BUY, 4900, 10_000_000),  # 10 shares: under the 50-share minimum
        Quote(True, Side.BUY, 4600, 100_000_000),  # 4c away with v = 3c: outside
        Quote(True, Side.SELL, 5300, 100_000_000),  # exactly at the edge: outside
    ]
    assert quotes_score(quotes, mid_x2=10_000, max_spread=300, min_size=50_000_000) == (0.0, 0.0)


def test_competition_bounds_bracket_every_allocation() -> None:
    least, most = q_min_bounds(1.0, 0.4, 0.5)
    assert least == approx(1.4 / 4)  # split at the 1/c balance point: (Q1 + Q2) / (c + 1)
    assert most == approx(0.4 + 0.6 / 3)  # fully paired plus the rest one-sided
    # Any concrete split of the same liquidity between two makers lies inside.
    for a1, b1 in [(1.0, 0.4), (0.5, 0.2), (1.0, 0.0), (0.6, 0.4), (0.975, 0.325)]:
        total = q_min(a1, b1, 0.5) + q_min(1.0 - a1, 0.4 - b1, 0.5)
        assert least - 1e-9 <= total <= most + 1e-9
    assert q_min_bounds(1.0, 0.2, 0.5)[0] == approx(1 / 3)
    assert q_min_bounds(1.0, 0.2, 0.5)[1] == approx(0.2 + 0.8 / 3)
    assert q_min_bounds(1.0, 0.4, 0.95) == (0.0, 0.4)


MARKET = MarketInfo(
    "0xc1",
    ("111", "222"),
    slug="rewarded",
    rewards_max_spread=300,
    rewards_min_size=50_000_000,
    rewards_daily_rate=200_000_000,
)


def test_adjusted_mid_ignores_levels_under_the_min_size() -> None:
    book = OrderBookSnapshot(
        "111", 0, bids=((4950, 1_000_000), (4900, 100_000_000)), asks=((5100, 100_000_000),)
    )
    assert adjusted_mid_x2(book, 50_000_000) == 10_000
    assert adjusted_mid_x2(book, 0) == 10_050


def test_simulator_scores_a_two_sided_policy_against_the_visible_book() -> None:
    def book(ts: int) -> OrderBookSnapshot:
        return OrderBookSnapshot(
            "111", ts, bids=((4900, 100_000_000),), asks=((5100, 100_000_000),)
        )

    sim = RewardsSimulator(MARKET, SymmetricPolicy(distance=100, size=100_000_000))
    # One sample by hand: our YES bid 0.49 and NO bid 0.49 (= YES ask 0.51) score 44.44 per
    # side, so Q_min 44.44; the crowd's bid and ask score the same: a half share.
    share, low, high = sim.sample(book(0), None) or (0, 0, 0)
    assert share == approx(0.5)
    assert low == approx(0.5)  # the crowd fully paired: 44.44
    assert high == approx(44.44 / (44.44 + 88.89 / 4), rel=1e-3)  # crowd split: 22.22
    estimate = sim.run([(book(0), None), (book(150_000), None)])
    assert estimate.samples == 3  # minutes 0, 1 and 2 before the second book
    assert estimate.per_day == 100_000_000  # half of $200
    assert estimate.per_day_low <= estimate.per_day <= estimate.per_day_high
    assert estimate.note == COMPETITION_NOTE
    assert "two-sided allocation is unknown" in estimate.note


def test_one_sided_policy_earns_a_third_inside_the_band_and_nothing_outside() -> None:
    inside = OrderBookSnapshot("111", 0, bids=((4900, 100_000_000),), asks=((5100, 100_000_000),))
    outside = OrderBookSnapshot("111", 0, bids=((9400, 100_000_000),), asks=((9600, 100_000_000),))
    sim = RewardsSimulator(MARKET, SymmetricPolicy(distance=100, size=100_000_000, two_sided=False))
    share, _, _ = sim.sample(inside, None) or (0, 0, 0)
    assert share == approx((44.44 / 3) / (44.44 / 3 + 44.44), rel=1e-3)
    assert sim.sample(outside, None) == (0.0, 0.0, 0.0)


def test_simulator_refuses_markets_without_rewards_and_empty_replays() -> None:
    with pytest.raises(PmstratError, match="pays no liquidity rewards"):
        RewardsSimulator(MarketInfo("0x", ("1", "2")), SymmetricPolicy(distance=1, size=1))
    sim = RewardsSimulator(MARKET, SymmetricPolicy(distance=100, size=100_000_000))
    with pytest.raises(PmstratError, match="no book with both sides"):
        sim.run([(OrderBookSnapshot("111", 0), None)])
