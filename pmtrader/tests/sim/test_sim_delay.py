"""Matching delay (production's in-play sports markets): ``delayed`` now, matched when due."""

from __future__ import annotations

from pathlib import Path

from pmtrader.sim import Exchange, ManualClock, Market, Side
from pmtrader.sim.events import SimEvent, UserOrderEvent
from pmtrader.sim.testkit import START_MS, Trader, limit_order, make_exchange, market_buy

ONE = 1_000_000


def delayed_market(exchange: Exchange) -> Market:
    market = next(m for m in exchange.markets() if m.tick == 100 and not m.neg_risk)
    exchange.set_match_delay(market.condition_id, 3_000)
    return market


def test_a_marketable_order_is_delayed_then_matched_when_due() -> None:
    exchange, clock = make_exchange()
    market = delayed_market(exchange)
    maker, taker = Trader(exchange, 1), Trader(exchange, 2)
    assert maker.buy(market.yes_token, 5000, 10 * ONE).status == "live"  # rests: not delayed
    result = taker.buy(market.no_token, 5000, 10 * ONE)
    assert result.to_wire()["status"] == "delayed"
    assert result.to_wire()["makingAmount"] == ""
    assert exchange.trades() == []
    assert exchange.available_pusd(taker.address) == 1_000 * ONE - 5_175_000
    exchange.advance(clock.advance(2_999))
    assert exchange.trades() == []
    exchange.advance(clock.advance(1))
    (trade,) = exchange.trades()
    assert trade.taker_order_id == result.order_id
    assert taker.shares(market.no_token) == 10 * ONE
    record = exchange.order(result.order_id)
    assert record is not None
    assert record.status == "MATCHED"
    exchange.check()


def test_a_delayed_fok_that_can_no_longer_fill_ends_unmatched_with_funds_released() -> None:
    exchange, clock = make_exchange()
    market = delayed_market(exchange)
    maker, taker = Trader(exchange, 1), Trader(exchange, 2)
    resting = maker.buy(market.yes_token, 5000, 10 * ONE).order_id
    events: list[SimEvent] = []
    exchange.subscribe(events.append)
    result = taker.place(market_buy(market.no_token, 5 * ONE, 5000, taker.address), "FOK")
    assert result.status == "delayed"
    exchange.cancel(maker.key, [resting])
    exchange.advance(clock.advance(3_000))
    record = exchange.order(result.order_id)
    assert record is not None
    assert record.status == "UNMATCHED"
    assert exchange.available_pusd(taker.address) == taker.pusd == 1_000 * ONE
    kinds = [e.kind for e in events if isinstance(e, UserOrderEvent) and e.owner == taker.key]
    assert kinds == ["PLACEMENT", "CANCELLATION"]
    exchange.check()


def test_a_delayed_order_can_be_cancelled_and_is_listed_as_open() -> None:
    exchange, clock = make_exchange()
    market = delayed_market(exchange)
    maker, taker = Trader(exchange, 1), Trader(exchange, 2)
    maker.buy(market.yes_token, 5000, 10 * ONE)
    order_id = taker.place(
        limit_order(market.no_token, Side.BUY, 5000, 10 * ONE, taker.address)
    ).order_id
    (listed,) = exchange.open_orders(taker.key)
    assert listed.to_wire()["status"] == "DELAYED"
    assert exchange.cancel(taker.key, [order_id]).canceled == (order_id,)
    exchange.advance(clock.advance(5_000))
    assert exchange.trades() == []
    assert exchange.available_pusd(taker.address) == 1_000 * ONE
    exchange.check()


def test_delayed_orders_survive_a_restart(tmp_path: Path) -> None:
    clock = ManualClock(START_MS)
    exchange = Exchange.open(tmp_path, seed=7, clock=clock, initial_balance=1_000 * ONE)
    market = delayed_market(exchange)
    maker, taker = Trader(exchange, 1), Trader(exchange, 2)
    maker.buy(market.yes_token, 5000, 10 * ONE)
    order_id = taker.buy(market.no_token, 5000, 10 * ONE).order_id
    exchange.close()
    again = Exchange.open(tmp_path, seed=7, clock=clock, initial_balance=1_000 * ONE)
    again.check()
    assert again.market(market.condition_id) is not None
    again.advance(clock.advance(3_000))
    (trade,) = again.trades()
    assert trade.taker_order_id == order_id
    again.check()
    again.close()


def test_resolution_cancels_delayed_orders_and_releases_their_shares() -> None:
    exchange, _ = make_exchange()
    market = next(m for m in exchange.markets() if m.tick == 100 and not m.neg_risk)
    a, b, seller = Trader(exchange, 1), Trader(exchange, 2), Trader(exchange, 3)
    a.buy(market.yes_token, 5000, 10 * ONE)
    seller.buy(market.no_token, 5000, 10 * ONE)  # seller now holds 10 NO
    b.buy(market.no_token, 4000, 10 * ONE)  # a resting YES ask at 0.60
    exchange.set_match_delay(market.condition_id, 3_000)
    # selling NO at 0.30 is a YES bid at 0.70: it meets b's NO bid at 0.40, so it is delayed
    delayed = seller.sell(market.no_token, 3000, 10 * ONE)
    assert delayed.status == "delayed"
    assert exchange.available_tokens(seller.address, market.no_token) == 0
    exchange.resolve(market.condition_id, market.yes_token)
    record = exchange.order(delayed.order_id)
    assert record is not None
    assert record.status == "CANCELED_MARKET_RESOLVED"
    assert exchange.open_orders(seller.key) == []
    exchange.check()
