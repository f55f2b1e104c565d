"""The exchange's order rules, matching semantics and settlement, as Polymarket specifies them."""

from __future__ import annotations

import base64
import copy
import uuid
from decimal import Decimal

import pytest
from pmtrader.sim import (
    ApiKeyError,
    Exchange,
    FeeParams,
    Market,
    OrderRejected,
    Side,
    SignedOrder,
)
from pmtrader.sim.events import (
    PriceChange,
    SimEvent,
    TickSizeChange,
    UserOrderEvent,
    UserTradeEvent,
)
from pmtrader.sim.testkit import Trader, limit_order, make_exchange, market_buy

ONE = 1_000_000


def cent_market(exchange: Exchange) -> Market:
    """A binary, non-neg-risk market on a 0.01 tick with taker-only fees."""
    return next(m for m in exchange.markets() if not m.neg_risk and m.tick == 100)


def snapshot(exchange: Exchange) -> tuple[object, ...]:
    ledger = exchange.ledger
    return (
        copy.deepcopy(ledger.collateral),
        copy.deepcopy(ledger.tokens),
        dict(ledger.pools),
        {m.condition_id: exchange.book(m.yes_token).to_wire()["bids"] for m in exchange.markets()},
        {m.condition_id: exchange.book(m.yes_token).to_wire()["asks"] for m in exchange.markets()},
        len(exchange.trades()),
    )


Setup = tuple[Exchange, Market, Trader, Trader]


@pytest.fixture
def setup() -> tuple[Exchange, Market, Trader, Trader]:
    exchange, _ = make_exchange()
    market = cent_market(exchange)
    return exchange, market, Trader(exchange, 1), Trader(exchange, 2)


# --- API keys -------------------------------------------------------------------------------


def test_derived_keys_are_deterministic_per_seed_and_shaped_like_production() -> None:
    a, _ = make_exchange(seed=3)
    b, _ = make_exchange(seed=3)
    c, _ = make_exchange(seed=4)
    addr = "0x" + "ab" * 20
    creds = a.derive_api_key(addr, 0)
    assert creds == b.derive_api_key(addr, 0)
    assert creds.api_key != c.derive_api_key(addr, 0).api_key
    assert str(uuid.UUID(creds.api_key)) == creds.api_key
    assert len(base64.urlsafe_b64decode(creds.secret)) == 32
    assert creds.secret.endswith("=")
    assert creds.secret not in repr(creds)
    assert creds.passphrase not in repr(creds)


def test_creating_an_existing_key_fails_like_production_and_derive_returns_it() -> None:
    exchange, _ = make_exchange()
    addr = "0x" + "cd" * 20
    created = exchange.create_api_key(addr, 0)
    with pytest.raises(ApiKeyError, match="Could not create api key"):
        exchange.create_api_key(addr, 0)
    assert exchange.derive_api_key(addr, 0) == created
    record = exchange.api_key(created.api_key)
    assert record is not None
    assert record.address == addr
    assert exchange.api_keys(addr) == [created.api_key]


def test_a_new_key_owner_starts_with_the_initial_balance_and_unlimited_allowances() -> None:
    exchange, _ = make_exchange(balance=250 * ONE)
    trader = Trader(exchange, 9)
    wire = exchange.balance_allowance(trader.address, "COLLATERAL").to_wire()
    assert wire["balance"] == str(250 * ONE)
    assert set(wire["allowances"]) == {
        "0xE111180000d2663C0091e4f400237545B87B996B",
        "0xe2222d279d744050d28e00520010520000310F59",
        "0xd91E80cF2E7be2e162c6513ceD06f1dD0dA35296",
    }
    assert all(int(v) == 2**256 - 1 for v in wire["allowances"].values())


# --- admission ------------------------------------------------------------------------------


def test_resting_and_crossing_orders_report_production_statuses(setup: Setup) -> None:
    exchange, market, maker, taker = setup
    rest = maker.buy(market.yes_token, 5000, 10 * ONE)
    assert rest.to_wire()["status"] == "live"
    assert rest.to_wire()["makingAmount"] == ""
    bought = taker.place(
        limit_order(market.no_token, Side.BUY, 5000, 4 * ONE, taker.address), "FAK"
    ).to_wire()
    assert bought["status"] == "matched"
    assert bought["takingAmount"] == "4"
    assert bought["makingAmount"] == "2.07"  # 2.00 + fee 4 x 0.07 x 0.25
    assert len(bought["tradeIDs"]) == 1
    assert bought["transactionsHashes"][0].startswith("0x")
    assert len(bought["transactionsHashes"][0]) == 66
    exchange.check()


@pytest.mark.parametrize(
    ("price", "message"),
    [
        (5050, "breaks minimum tick size rule: 0.01"),
        (0, "Invalid order payload"),
    ],
)
def test_a_limit_price_off_the_tick_grid_is_rejected(
    setup: Setup, price: int, message: str
) -> None:
    exchange, market, maker, _ = setup
    before = snapshot(exchange)
    with pytest.raises(OrderRejected, match=message):
        maker.buy(market.yes_token, price, 10 * ONE)
    assert snapshot(exchange) == before


def test_an_off_grid_market_buy_is_a_worst_price_limit(setup: Setup) -> None:
    exchange, market, maker, taker = setup
    maker.place(limit_order(market.no_token, Side.BUY, 4800, 100 * ONE, maker.address))
    order = market_buy(market.yes_token, 10 * ONE, 5200, taker.address)
    assert (order.maker_amount * 10_000) % order.taker_amount != 0
    result = taker.place(order, "FOK").to_wire()
    assert result["status"] == "matched"
    assert taker.shares(market.yes_token) == 19_230_769  # 10 / 0.52, rounded for the maker
    exchange.check()


def test_an_order_below_the_minimum_size_is_rejected_with_both_sizes(setup: Setup) -> None:
    _, market, maker, _ = setup
    minimum = market.min_order_size // ONE
    with pytest.raises(OrderRejected, match=rf"Size \(1\) lower than the minimum: {minimum}$"):
        maker.buy(market.yes_token, 5000, ONE)


def test_duplicate_order_ids_are_rejected(setup: Setup) -> None:
    exchange, market, maker, _ = setup
    order = limit_order(market.yes_token, Side.BUY, 4000, 10 * ONE, maker.address)
    exchange.place(order, order_id="0xabc", owner_key=maker.key, order_type="GTC", post_only=False)
    with pytest.raises(OrderRejected, match=r"^order 0xabc is invalid. Duplicated.$"):
        exchange.place(
            order, order_id="0xabc", owner_key=maker.key, order_type="GTC", post_only=False
        )


def test_unknown_tokens_and_foreign_keys_are_rejected(setup: Setup) -> None:
    exchange, _, maker, _ = setup
    with pytest.raises(OrderRejected, match="Invalid token id"):
        maker.place(limit_order("123", Side.BUY, 5000, 10 * ONE, maker.address))
    order = limit_order(cent_market(exchange).yes_token, Side.BUY, 5000, 10 * ONE, maker.address)
    with pytest.raises(OrderRejected, match="owner has to be the owner of the API KEY"):
        exchange.place(order, order_id="0x1", owner_key="nope", order_type="GTC", post_only=False)


def test_balance_is_checked_net_of_open_orders_and_says_how_much(setup: Setup) -> None:
    exchange, market, maker, _ = setup
    maker.buy(market.yes_token, 5000, 1_800 * ONE)  # reserves 900 of 1000 pUSD
    before = snapshot(exchange)
    with pytest.raises(
        OrderRejected,
        match=r"^not enough balance / allowance: the balance is not enough -> balance: "
        r"100000000, order amount: 155250000$",  # 150 + the max taker fee 300 x 0.07 x 0.25
    ):
        maker.buy(market.no_token, 5000, 300 * ONE)
    assert snapshot(exchange) == before


def test_selling_shares_you_do_not_have_is_rejected(setup: Setup) -> None:
    _, market, maker, _ = setup
    with pytest.raises(OrderRejected, match="not enough balance / allowance"):
        maker.sell(market.yes_token, 5000, 10 * ONE)


def test_a_revoked_allowance_is_reported_as_such(setup: Setup) -> None:
    exchange, market, maker, _ = setup
    exchange.set_allowance(
        maker.address, "COLLATERAL", "0xE111180000d2663C0091e4f400237545B87B996B", 0
    )
    with pytest.raises(OrderRejected, match="the allowance is not enough -> allowance: 0"):
        maker.buy(market.yes_token, 5000, 10 * ONE)


def test_post_only_orders_that_would_cross_are_rejected(setup: Setup) -> None:
    exchange, market, maker, taker = setup
    maker.buy(market.yes_token, 5000, 10 * ONE)
    order = limit_order(market.no_token, Side.BUY, 5000, 10 * ONE, taker.address)
    before = snapshot(exchange)
    with pytest.raises(OrderRejected, match=r"^invalid post-only order: order crosses book$"):
        taker.place(order, post_only=True)
    assert snapshot(exchange) == before
    assert (
        taker.place(
            limit_order(market.no_token, Side.BUY, 4900, 10 * ONE, taker.address), post_only=True
        ).status
        == "live"
    )
    with pytest.raises(OrderRejected, match="only GTC and GTD"):
        taker.place(
            limit_order(market.no_token, Side.BUY, 4900, 10 * ONE, taker.address),
            "FOK",
            post_only=True,
        )


def test_fok_is_all_or_nothing(setup: Setup) -> None:
    exchange, market, maker, taker = setup
    maker.buy(market.yes_token, 5000, 10 * ONE)
    before = snapshot(exchange)
    with pytest.raises(OrderRejected, match="FOK orders are fully filled or killed"):
        taker.place(market_buy(market.no_token, 6 * ONE, 5000, taker.address), "FOK")
    assert snapshot(exchange) == before
    taker.place(market_buy(market.no_token, 5 * ONE, 5000, taker.address), "FOK")
    assert taker.shares(market.no_token) == 10 * ONE
    exchange.check()


def test_fak_fills_what_it_can_and_kills_the_rest_but_not_nothing(setup: Setup) -> None:
    exchange, market, maker, taker = setup
    with pytest.raises(OrderRejected, match="no orders found to match with FAK order"):
        taker.place(market_buy(market.no_token, 6 * ONE, 5000, taker.address), "FAK")
    maker.buy(market.yes_token, 5000, 10 * ONE)
    result = taker.place(market_buy(market.no_token, 20 * ONE, 5000, taker.address), "FAK")
    assert result.status == "matched"
    assert taker.shares(market.no_token) == 10 * ONE
    assert exchange.open_orders(taker.key) == []
    exchange.check()


def test_gtd_needs_an_expiration_a_minute_ahead_and_expires_on_time(setup: Setup) -> None:
    exchange, market, maker, _ = setup
    now_s = exchange._clock.now_ms() // 1000
    with pytest.raises(OrderRejected, match="invalid expiration"):
        maker.place(
            limit_order(
                market.yes_token, Side.BUY, 5000, 10 * ONE, maker.address, expiration=now_s + 30
            ),
            "GTD",
        )
    placed = maker.place(
        limit_order(
            market.yes_token, Side.BUY, 5000, 10 * ONE, maker.address, expiration=now_s + 90
        ),
        "GTD",
    )
    exchange.advance((now_s + 89) * 1000)
    assert exchange.open_orders(maker.key)
    exchange.advance((now_s + 90) * 1000)
    assert exchange.open_orders(maker.key) == []
    record = exchange.order(placed.order_id)
    assert record is not None
    assert record.status == "CANCELED"
    assert exchange.available_pusd(maker.address) == maker.pusd
    exchange.check()


# --- matching semantics ----------------------------------------------------------------------


def test_buy_yes_meets_buy_no_by_minting_a_complete_set(setup: Setup) -> None:
    exchange, market, yes_buyer, no_buyer = setup
    yes_buyer.buy(market.yes_token, 6000, 10 * ONE)
    no_buyer.buy(market.no_token, 4000, 10 * ONE)
    assert yes_buyer.shares(market.yes_token) == 10 * ONE
    assert no_buyer.shares(market.no_token) == 10 * ONE
    assert exchange.ledger.pools[market.condition_id] == 10 * ONE
    assert yes_buyer.pusd == 1_000 * ONE - 6 * ONE
    fee = 10 * 0.07 * 0.24
    assert no_buyer.pusd == 1_000 * ONE - 4 * ONE - round(fee * ONE)
    exchange.check()


def test_sell_yes_meets_sell_no_by_merging(setup: Setup) -> None:
    exchange, market, a, b = setup
    a.buy(market.yes_token, 5000, 10 * ONE)
    b.buy(market.no_token, 5000, 10 * ONE)
    a.sell(market.yes_token, 7000, 10 * ONE)
    b.sell(market.no_token, 3000, 10 * ONE)
    assert exchange.ledger.pools[market.condition_id] == 0
    assert a.shares(market.yes_token) == b.shares(market.no_token) == 0
    exchange.check()


def test_the_no_book_is_the_mirror_of_the_yes_book_with_best_last(setup: Setup) -> None:
    exchange, market, a, b = setup
    a.buy(market.yes_token, 4500, 10 * ONE)
    a.buy(market.yes_token, 4700, 10 * ONE)
    b.buy(market.no_token, 4800, 5 * ONE)  # a YES ask at 0.52
    yes = exchange.book(market.yes_token).to_wire()
    no = exchange.book(market.no_token).to_wire()
    assert yes["bids"] == [{"price": "0.45", "size": "10"}, {"price": "0.47", "size": "10"}]
    assert yes["asks"] == [{"price": "0.52", "size": "5"}]
    assert no["bids"] == [{"price": "0.48", "size": "5"}]
    assert no["asks"] == [{"price": "0.55", "size": "10"}, {"price": "0.53", "size": "10"}]
    assert len(yes["hash"]) == 40


def test_a_limit_buy_that_crosses_fills_at_the_makers_price(setup: Setup) -> None:
    exchange, market, a, b = setup
    a.buy(market.no_token, 5000, 10 * ONE)  # YES ask 0.50
    result = b.buy(market.yes_token, 5500, 10 * ONE)
    assert result.taking == 10 * ONE
    assert result.making == 5 * ONE + 175_000
    assert exchange.open_orders(b.key) == []


def test_fees_follow_the_market_parameters_and_are_taker_only() -> None:
    exchange, _ = make_exchange()
    market = next(
        m
        for m in exchange.markets()
        if m.tick == 100 and m.fees.exponent == 2 and m.fees.rate > 0 and not m.neg_risk
    )
    maker, taker = Trader(exchange, 1), Trader(exchange, 2)
    maker.buy(market.no_token, 7000, 100 * ONE)  # YES ask at 0.30
    result = taker.buy(market.yes_token, 3000, 100 * ONE)
    expected_fee = int(100 * ONE * market.fees.rate * (Decimal("0.3") * Decimal("0.7")) ** 2)
    assert result.making == 30 * ONE + expected_fee
    assert maker.pusd == 1_000 * ONE - 70 * ONE
    collector = exchange.ledger.pusd("0x000000000000000000000000000000000000fee5")
    assert collector == result.making - 30 * ONE
    exchange.check()


# --- cancels, resolution, tick sizes, heartbeats ---------------------------------------------


def test_cancels_release_reservations_and_explain_failures(setup: Setup) -> None:
    exchange, market, a, b = setup
    first = a.buy(market.yes_token, 4000, 10 * ONE).order_id
    second = a.buy(market.yes_token, 4100, 10 * ONE).order_id
    result = exchange.cancel(a.key, [first, "0xdead"])
    assert result.to_wire() == {"canceled": [first], "not_canceled": {"0xdead": "order not found"}}
    assert exchange.cancel(b.key, [second]).not_canceled == {second: "order not found"}
    assert exchange.cancel(a.key, [first]).not_canceled == {first: "already canceled or matched"}
    assert exchange.cancel_market(a.key, market=market.condition_id).canceled == (second,)
    assert exchange.available_pusd(a.address) == a.pusd == 1_000 * ONE
    exchange.check()


def test_resolution_cancels_orders_and_redeems_winners_at_one(setup: Setup) -> None:
    exchange, market, a, b = setup
    a.buy(market.yes_token, 6000, 10 * ONE)
    b.buy(market.no_token, 4000, 10 * ONE)
    resting = a.buy(market.yes_token, 3000, 10 * ONE).order_id
    events: list[SimEvent] = []
    exchange.subscribe(events.append)
    a_before = a.pusd
    exchange.resolve(market.condition_id, market.yes_token)
    record = exchange.order(resting)
    assert record is not None
    assert record.status == "CANCELED_MARKET_RESOLVED"
    assert a.pusd == a_before + 10 * ONE
    assert b.shares(market.no_token) == 0
    assert exchange.ledger.pools[market.condition_id] == 0
    assert any(e.to_wire()["event_type"] == "market_resolved" for e in events)
    with pytest.raises(OrderRejected, match="not yet ready"):
        a.buy(market.yes_token, 5000, 10 * ONE)
    exchange.check()


def test_a_neg_risk_win_resolves_the_other_outcomes_to_no() -> None:
    exchange, _ = make_exchange()
    event = next(e for e in exchange.catalogue.events if e.neg_risk)
    winner = event.markets[0]
    exchange.resolve(winner.condition_id, winner.yes_token)
    assert all(m.closed for m in event.markets)
    assert [m.winner for m in event.markets[1:]] == [m.no_token for m in event.markets[1:]]


def test_markets_resolve_at_their_end_date() -> None:
    exchange, _ = make_exchange()
    first = min(exchange.markets(), key=lambda m: m.end_ms)
    exchange.advance(first.end_ms)
    assert first.closed
    assert first.winner in first.token_ids


def test_tick_size_changes_apply_to_new_orders_and_are_announced(setup: Setup) -> None:
    exchange, market, a, _ = setup
    events: list[SimEvent] = []
    exchange.subscribe(events.append)
    exchange.set_tick_size(market.yes_token, 10)
    ticks = [e.to_wire() for e in events if isinstance(e, TickSizeChange)]
    assert {t["asset_id"] for t in ticks} == set(market.token_ids)
    assert ticks[0]["old_tick_size"] == "0.01"
    assert ticks[0]["new_tick_size"] == "0.001"
    assert a.buy(market.yes_token, 5010, 10 * ONE).status == "live"


def test_trading_past_096_switches_to_a_finer_tick_and_back() -> None:
    exchange, _ = make_exchange()
    market = cent_market(exchange)
    a, b = Trader(exchange, 1), Trader(exchange, 2)
    a.buy(market.yes_token, 9700, 10 * ONE)
    b.buy(market.no_token, 300, 10 * ONE)
    assert market.tick == 10
    a.buy(market.yes_token, 5000, 10 * ONE)
    b.buy(market.no_token, 5000, 10 * ONE)
    assert market.tick == 100


def test_heartbeats_chain_ids_and_a_lapse_cancels_everything() -> None:
    exchange, clock = make_exchange()
    market = cent_market(exchange)
    a = Trader(exchange, 1)
    a.buy(market.yes_token, 4000, 10 * ONE)
    first = exchange.heartbeat(a.key, "")
    second = exchange.heartbeat(a.key, first)
    from pmtrader.sim import HeartbeatRejected

    with pytest.raises(HeartbeatRejected) as wrong:
        exchange.heartbeat(a.key, first)
    assert wrong.value.expected_id == second
    clock.advance(9_000)
    exchange.advance(clock.now_ms())
    assert exchange.open_orders(a.key)
    clock.advance(2_000)
    exchange.advance(clock.now_ms())
    assert exchange.open_orders(a.key) == []
    assert exchange.heartbeat(a.key, "anything") != second  # a lapsed switch re-arms


def test_trades_move_from_matched_to_mined_to_confirmed_and_can_fail(setup: Setup) -> None:
    exchange, market, a, b = setup
    a.buy(market.yes_token, 5000, 10 * ONE)
    b.buy(market.no_token, 5000, 5 * ONE)
    b.buy(market.no_token, 5000, 5 * ONE)
    first, second = sorted(exchange.trades(b.key), key=lambda t: t.id)
    clock = exchange._clock
    start = clock.now_ms()
    exchange.fail_trade(second.id)
    exchange.advance(start + 2_000)
    assert first.status == "MINED"
    exchange.advance(start + 6_000)
    assert first.status == "CONFIRMED"
    assert second.status == "FAILED"
    wire = first.to_wire(a.key)
    assert wire["trader_side"] == "MAKER"
    assert first.to_wire(b.key)["trader_side"] == "TAKER"


def test_user_and_market_events_are_emitted_for_a_match(setup: Setup) -> None:
    exchange, market, a, b = setup
    events: list[SimEvent] = []
    exchange.subscribe(events.append)
    a.buy(market.yes_token, 5000, 10 * ONE)
    b.place(limit_order(market.no_token, Side.BUY, 5000, 4 * ONE, b.address), "FAK")
    kinds = [(e.kind, e.owner) for e in events if isinstance(e, UserOrderEvent)]
    assert ("PLACEMENT", a.key) in kinds
    assert ("UPDATE", a.key) in kinds
    trades = [e for e in events if isinstance(e, UserTradeEvent)]
    assert {e.owner for e in trades} == {a.key, b.key}
    changes = [e for e in events if isinstance(e, PriceChange)]
    last = changes[-1].to_wire()["price_changes"]
    yes_level = next(c for c in last if c["asset_id"] == market.yes_token)
    assert yes_level == {
        "asset_id": market.yes_token,
        "price": "0.5",
        "size": "6",
        "side": "BUY",
        "hash": "",
        "best_bid": "0.5",
        "best_ask": "0",
    }
    wire_types = {e.to_wire().get("event_type") for e in events}
    assert {"last_trade_price", "price_change", "order", "trade"} <= wire_types


def test_signed_order_amounts_define_the_size() -> None:
    order = SignedOrder(1, "0x1", "0x1", "1", 5 * ONE, 10 * ONE, Side.BUY)
    assert order.size == 10 * ONE


def test_makers_pay_fees_too_when_the_market_is_not_taker_only(setup: Setup) -> None:
    exchange, market, maker, taker = setup
    market.fees = FeeParams(Decimal("0.04"), 1, taker_only=False)
    maker.buy(market.yes_token, 5000, 10 * ONE)  # reserves 5 + its maximum fee 0.10
    assert exchange.available_pusd(maker.address) == 1_000 * ONE - 5_100_000
    taker.place(limit_order(market.no_token, Side.BUY, 5000, 10 * ONE, taker.address), "FAK")
    assert maker.pusd == 1_000 * ONE - 5_100_000
    assert taker.pusd == 1_000 * ONE - 5_100_000
    assert exchange.ledger.pusd("0x000000000000000000000000000000000000fee5") == 200_000
    (trade,) = exchange.trades(taker.key)
    assert trade.maker_orders[0].fee == 100_000
    assert trade.maker_orders[0].to_wire()["fee_rate_bps"] == "400"
    exchange.check()


def test_sub_unit_rounding_never_overdraws_a_buyer_whose_balance_is_exact() -> None:
    # A market BUY leaves the maker with a size that has sub-cent digits; a later limit BUY
    # backed by exactly its cost pays one base unit of rounding on that fill, so the part of it
    # that rests shrinks by a few base units instead of overdrawing the account.
    exchange, _ = make_exchange(balance=0)
    market = cent_market(exchange)
    market.fees = FeeParams(Decimal(0), 1)
    maker, sweeper, buyer = Trader(exchange, 1), Trader(exchange, 2), Trader(exchange, 3)
    exchange.fund(maker.address, 100 * ONE)
    exchange.fund(sweeper.address, 10 * ONE)
    exchange.fund(buyer.address, 33 * ONE)
    maker.buy(market.no_token, 6700, 100 * ONE)  # a YES ask at 0.33
    sweeper.place(market_buy(market.yes_token, 10 * ONE, 3300, sweeper.address), "FAK")
    assert sweeper.shares(market.yes_token) == 30_303_030
    result = buyer.buy(market.yes_token, 3300, 100 * ONE)
    assert result.making == 23_000_001  # 69.69697 x 0.33 = 23.0000001, rounded for the maker
    (resting,) = exchange.open_orders(buyer.key)
    assert resting.remaining == 30_303_027  # not 30.303030: three base units given up
    assert exchange.available_pusd(buyer.address) >= 0
    exchange.check()
