"""The background flow: depth on both sides at once, moving prices, printed trades, determinism."""

from __future__ import annotations

from pmtrader.sim import Exchange, Flow, ManualClock
from pmtrader.sim.testkit import make_exchange


def run(seed: int, seconds: int) -> tuple[Exchange, ManualClock]:
    exchange, clock = make_exchange(seed=seed)
    flow = Flow(exchange, seed=seed)
    flow.step(clock.now_ms())
    for _ in range(seconds):
        now = clock.advance(1_000)
        exchange.advance(now)
        flow.step(now)
    return exchange, clock


def test_every_active_market_is_two_sided_within_five_seconds() -> None:
    exchange, _ = run(seed=11, seconds=5)
    for market in exchange.markets():
        bid, ask = exchange.best_bid_ask(market.yes_token)
        assert bid is not None, market.question
        assert ask is not None, market.question
        assert bid < ask
        no_bid, no_ask = exchange.best_bid_ask(market.no_token)
        assert (no_bid, no_ask) == (10_000 - ask, 10_000 - bid)
    exchange.check()


def test_prices_move_and_trades_print_through_the_normal_order_path() -> None:
    exchange, _ = run(seed=11, seconds=240)
    trades = exchange.trades()
    assert len(trades) > 50
    assert len({t.market for t in trades}) > 10
    moved = sum(
        1
        for m in exchange.markets()
        if (last := exchange.last_trade(m.yes_token)) is not None
        and abs(last[0] - m.initial_mid) >= m.base_tick
    )
    assert moved > 5
    # flow accounts are ordinary API-key owners: their orders are in the normal records
    owners = {t.owner for t in trades}
    assert all(exchange.api_key(owner) is not None for owner in owners)
    exchange.check()


def test_extreme_prices_switch_markets_to_a_finer_tick_and_others_keep_cents() -> None:
    exchange, _ = run(seed=11, seconds=300)
    fine = 0
    for market in exchange.markets():
        last = exchange.last_trade(market.yes_token)
        if market.base_tick != 100 or last is None:
            continue
        extreme = last[0] > 9_600 or last[0] < 400
        assert market.tick == (10 if extreme else 100), market.question
        fine += extreme
    assert fine >= 1


def test_the_same_seed_replays_the_same_market() -> None:
    first, _ = run(seed=5, seconds=60)
    second, _ = run(seed=5, seconds=60)
    other, _ = run(seed=6, seconds=60)

    def fingerprint(exchange: Exchange) -> list[object]:
        return [
            (t.id, t.price, t.size, t.transaction_hash)
            for t in sorted(exchange.trades(), key=lambda t: (t.match_ms, t.id))
        ] + [exchange.book(m.yes_token).to_wire()["hash"] for m in exchange.markets()]

    assert fingerprint(first) == fingerprint(second)
    assert fingerprint(first) != fingerprint(other)


def test_the_flow_catches_up_at_most_a_few_intervals_per_call() -> None:
    exchange, clock = make_exchange(seed=3)
    flow = Flow(exchange, seed=3)
    flow.step(clock.now_ms())
    assert exchange.trades() == []
    flow.step(clock.advance(3_600_000))  # an hour at once: bounded work, no backlog
    takers = {t.taker_order_id for t in exchange.trades()}
    assert len(takers) <= 5 * len(exchange.markets())  # at most one noise order per market-tick
    flow.step(clock.advance(1_000))
    exchange.check()
