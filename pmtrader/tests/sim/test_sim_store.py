"""Persistence: with a state directory the exchange survives a restart with identical books."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from pmtrader.sim import Catalogue, Exchange, Flow, ManualClock, StateError, Store
from pmtrader.sim.testkit import START_MS, Trader

ONE = 1_000_000


def fingerprint(exchange: Exchange) -> dict[str, object]:
    return {
        "books": [
            (exchange.book(m.yes_token).bids, exchange.book(m.yes_token).asks)
            for m in exchange.markets()
        ],
        "queues": [
            [(o.order_id, o.owner, o.side, o.price, o.size) for o in book.orders()]
            for book in exchange._books.values()
        ],
        "pusd": dict(exchange.ledger.collateral),
        "tokens": {a: dict(t) for a, t in exchange.ledger.tokens.items() if t},
        "pools": {k: v for k, v in exchange.ledger.pools.items() if v},
        "trades": sorted((t.id, t.status, t.size, t.price) for t in exchange.trades()),
        "orders": sorted((o.id, o.status, o.size_matched) for o in exchange._orders.values()),
        "ticks": [m.tick for m in exchange.markets()],
        "keys": sorted(exchange._keys),
        "heartbeats": dict(exchange._heartbeats),
    }


def open_exchange(path: Path, clock: ManualClock, seed: int = 7) -> Exchange:
    return Exchange.open(path, seed=seed, clock=clock, initial_balance=1_000 * ONE)


def test_a_restart_brings_back_accounts_orders_trades_and_identical_books(tmp_path: Path) -> None:
    clock = ManualClock(START_MS)
    exchange = open_exchange(tmp_path, clock)
    flow = Flow(exchange, seed=7)
    flow.step(clock.now_ms())
    for _ in range(30):
        now = clock.advance(1_000)
        exchange.advance(now)
        flow.step(now)
    user = Trader(exchange, 42)
    market = exchange.markets()[0]
    user.buy(market.yes_token, 100, 50 * ONE)
    exchange.heartbeat(user.key, "")
    before = fingerprint(exchange)
    exchange.close()

    again = open_exchange(tmp_path, clock)
    assert fingerprint(again) == before
    again.check()
    # the restored exchange keeps working and keeps queue priority across a second restart
    Trader(again, 43).buy(market.yes_token, 100, 50 * ONE)
    middle = fingerprint(again)
    again.close()
    third = open_exchange(tmp_path, clock)
    assert fingerprint(third) == middle
    third.check()
    third.close()


def test_pending_trades_resume_their_status_clock_after_a_restart(tmp_path: Path) -> None:
    clock = ManualClock(START_MS)
    exchange = open_exchange(tmp_path, clock)
    market = next(m for m in exchange.markets() if m.tick == 100)
    a, b = Trader(exchange, 1), Trader(exchange, 2)
    a.buy(market.yes_token, 5000, 10 * ONE)
    b.buy(market.no_token, 5000, 10 * ONE)
    exchange.close()
    again = open_exchange(tmp_path, clock)
    (trade,) = again.trades()
    assert trade.status == "MATCHED"
    again.advance(clock.advance(6_000))
    assert trade.status == "CONFIRMED"
    again.close()
    assert open_exchange(tmp_path, clock).trades()[0].status == "CONFIRMED"


def test_a_state_dir_from_another_seed_is_refused_with_advice(tmp_path: Path) -> None:
    clock = ManualClock(START_MS)
    open_exchange(tmp_path, clock, seed=1).close()
    with pytest.raises(StateError, match="created with seed 1, not 2"):
        open_exchange(tmp_path, clock, seed=2)


def test_each_operation_is_one_transaction_in_a_wal_database(tmp_path: Path) -> None:
    clock = ManualClock(START_MS)
    exchange = open_exchange(tmp_path, clock)
    trader = Trader(exchange, 1)
    trader.buy(exchange.markets()[0].yes_token, 100, 50 * ONE)
    db = sqlite3.connect(tmp_path / "sim.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    kinds = dict(db.execute("SELECT kind, count(*) FROM rows GROUP BY kind").fetchall())
    assert kinds["order"] == 1
    assert kinds["key"] == 1
    assert kinds["account"] == 1
    db.close()
    exchange.close()


def test_finished_orders_and_settled_trades_beyond_retention_are_forgotten(tmp_path: Path) -> None:
    clock = ManualClock(START_MS)
    store = Store(tmp_path)
    store.open()
    exchange = Exchange(
        Catalogue.generate(7, START_MS),
        clock=clock,
        initial_balance=1_000 * ONE,
        seed=7,
        store=store,
        retain_orders=5,
        retain_trades=3,
    )
    market = next(m for m in exchange.markets() if m.tick == 100)
    a, b = Trader(exchange, 1), Trader(exchange, 2)
    resting = a.buy(market.yes_token, 1000, 10 * ONE).order_id
    for _ in range(6):
        a.buy(market.yes_token, 5000, 5 * ONE)
        b.buy(market.no_token, 5000, 5 * ONE)
    exchange.advance(clock.advance(10_000))
    exchange.advance(clock.now_ms())
    assert len(exchange.trades()) == 3
    assert len(exchange.trades(a.key)) == 3
    finished = [o for o in exchange._orders.values() if o.status != "LIVE"]
    assert len(finished) == 5
    assert exchange.order(resting) is not None  # open orders are never forgotten
    assert len(store.load("order")) == 6
    assert len(store.load("trade")) == 3
    exchange.check()
    store.close()
