"""The seeded catalogue: realistic, varied, deterministic, with history from the first second."""

from __future__ import annotations

import itertools
import re
from collections import Counter

import pmtrader.sim
from pmtrader.sim import Catalogue
from pmtrader.sim.testkit import START_MS, make_exchange

HOUR_MS = 3_600_000


def test_thirty_plus_markets_across_binary_and_neg_risk_events() -> None:
    catalogue = Catalogue.generate(7, START_MS)
    assert len(catalogue.markets) >= 30
    assert len(catalogue.events) >= 8
    neg_risk = [e for e in catalogue.events if e.neg_risk]
    assert any(len(e.markets) == 5 for e in neg_risk)
    assert any(not e.neg_risk for e in catalogue.events)
    assert {m.category for m in catalogue.markets} >= {
        "politics",
        "sports",
        "economics",
        "crypto",
        "weather",
        "culture",
    }
    assert {m.tick for m in catalogue.markets} >= {100, 10, 50, 25}
    assert {m.min_order_size for m in catalogue.markets} == {5_000_000, 10_000_000}
    ends = sorted(m.end_ms - START_MS for m in catalogue.markets)
    assert ends[0] <= 12 * HOUR_MS
    assert ends[-1] >= 90 * 24 * HOUR_MS


def test_ids_look_like_production_and_depend_only_on_seed_and_names() -> None:
    first = Catalogue.generate(7, START_MS)
    later = Catalogue.generate(7, START_MS + 10 * HOUR_MS)
    other = Catalogue.generate(8, START_MS)
    for market in first.markets:
        assert re.fullmatch(r"0x[0-9a-f]{64}", market.condition_id)
        for token in market.token_ids:
            assert token.isdecimal()
            assert int(token) < 2**256
    assert [m.token_ids for m in first.markets] == [m.token_ids for m in later.markets]
    assert [m.condition_id for m in first.markets] != [m.condition_id for m in other.markets]
    tokens = Counter(t for m in first.markets for t in m.token_ids)
    assert max(tokens.values()) == 1


def test_rewards_and_fee_parameters_are_in_production_ranges() -> None:
    for market in Catalogue.generate(7, START_MS).markets:
        assert market.rewards.min_size in (20, 50, 100)
        assert 0 < market.rewards.max_spread <= 5
        assert market.rewards.daily_rate > 0
        assert 0 <= market.fees.rate <= 0.1
        assert market.fees.exponent in (1, 2)
        assert market.fees.taker_only
        wire = market.fees.to_wire()
        assert set(wire) == {"r", "e", "to"}


def test_thirty_days_of_hourly_history_end_at_the_mid_and_include_a_cliff() -> None:
    exchange, _ = make_exchange()
    cliffs = 0
    for market in exchange.markets():
        points = exchange.price_history(
            market.yes_token, (START_MS - 31 * 24 * HOUR_MS) // 1000, START_MS // 1000, 60
        )
        assert len(points) == 30 * 24 + 1
        assert points[-1].price == market.initial_mid
        assert all(b.t - a.t == 3600 for a, b in itertools.pairwise(points))
        biggest = max(abs(b.price - a.price) for a, b in itertools.pairwise(points))
        cliffs += biggest >= 500  # five cents in an hour
        no = exchange.price_history(market.no_token, 0, START_MS // 1000, 60)
        assert [p.price for p in no] == [10_000 - p.price for p in points]
    assert cliffs >= len(exchange.markets()) * 3 // 4


def test_trades_extend_the_price_history_per_minute() -> None:
    from pmtrader.sim.testkit import Trader

    exchange, clock = make_exchange()
    market = next(m for m in exchange.markets() if m.tick == 100 and not m.neg_risk)
    a, b = Trader(exchange, 1), Trader(exchange, 2)
    clock.advance(120_000)
    a.buy(market.yes_token, 6100, 10 * 1_000_000)
    b.buy(market.no_token, 3900, 10 * 1_000_000)
    points = exchange.price_history(market.yes_token, START_MS // 1000, clock.now_ms() // 1000, 1)
    assert points[-1].price == 6100
    assert points[-1].to_wire() == {"t": points[-1].t, "p": 0.61}


def test_sim_exports_are_sorted_and_complete() -> None:
    exported = pmtrader.sim.__all__

    def ruff_order(name: str) -> tuple[int, str]:  # RUF022: CONSTANTS, then Classes, then rest
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert exported == sorted(set(exported), key=ruff_order)
    public = {
        name
        for name, value in vars(pmtrader.sim).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("pmtrader.sim")
    }
    assert public <= set(exported), sorted(public - set(exported))
