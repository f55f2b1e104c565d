"""A trade the operator marks FAILED is unwound: its settlement never happened.

On Polygon a FAILED trade's transaction never landed, so no share and no pUSD moved. The local
exchange settles at match time; failing a trade must therefore put every balance it touched
back exactly as it was before the match: both parties' pUSD and shares, the fee collector, the
market's complete-set pool, the pUSD allowance, and each holding's average cost and realized P&L.
Orders keep their matched size (the protocol notes are silent on reopening them).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pmtrader.sim.catalogue import Market
from pmtrader.sim.clock import ManualClock
from pmtrader.sim.errors import SimError
from pmtrader.sim.events import SimEvent, UserOrderEvent, UserTradeEvent
from pmtrader.sim.exchange import Exchange
from pmtrader.sim.ledger import EXCHANGE_V2, FEE_COLLECTOR, NEG_RISK_EXCHANGE_V2
from pmtrader.sim.matching import Side
from pmtrader.sim.records import SignedOrder
from pmtrader.sim.testkit import (
    START_MS,
    Trader,
    limit_order,
    make_exchange,
    market_buy,
    market_sell,
)

ONE = 1_000_000


def fee_market(exchange: Exchange, *, neg_risk: bool) -> Market:
    """A cent-tick market with a taker fee (and, made so here, a maker fee too)."""
    market = next(
        m
        for m in exchange.markets()
        if m.neg_risk is neg_risk and m.tick == 100 and m.fees.rate > 0
    )
    market.fees = replace(market.fees, taker_only=False)
    return market


def balances(exchange: Exchange, *traders: Trader) -> dict[str, object]:
    """Everything a trade can move: pUSD, shares, pools, fees collected, basis, allowances."""
    ledger = exchange.ledger
    return {
        "pusd": {t.address: ledger.pusd(t.address) for t in traders},
        "collector": ledger.pusd(FEE_COLLECTOR),
        "shares": {t.address: ledger.holdings(t.address) for t in traders},
        "pools": {k: v for k, v in ledger.pools.items() if v},
        "basis": {
            t.address: {
                token: ledger.basis_of(t.address, token)
                for token in {tok for m in exchange.markets() for tok in m.token_ids}
                if any(ledger.basis_of(t.address, token))
            }
            for t in traders
        },
        "allowances": copy.deepcopy({t.address: ledger.allowances[t.address] for t in traders}),
        "funded": ledger.funded,
    }


def only_trade(result_trade_ids: tuple[str, ...]) -> str:
    """The one trade an order made."""
    (trade_id,) = result_trade_ids
    return trade_id


def mint_orders(market: Market, maker: str, taker: str) -> tuple[SignedOrder, SignedOrder, str]:
    """Both buy: a complete set is minted (pool +size); the taker pays a fee on top."""
    return (
        limit_order(market.yes_token, Side.BUY, 4_000, 10 * ONE, maker),
        limit_order(market.no_token, Side.BUY, 6_000, 10 * ONE, taker),
        "FAK",
    )


def sub_cent_orders(market: Market, maker: str, taker: str) -> tuple[SignedOrder, SignedOrder, str]:
    """A market BUY of a pUSD amount buys sub-cent shares: its cost rounds in the maker's favour."""
    return (
        limit_order(market.no_token, Side.BUY, 3_700, 30 * ONE, maker),
        market_buy(market.yes_token, 7_777_777, 6_300, taker),
        "FAK",
    )


SCENARIOS = {"mint": mint_orders, "market buy, sub-cent shares": sub_cent_orders}


def seed_holdings(exchange: Exchange, market: Market, holder: Trader, other: Trader) -> None:
    """Give ``holder`` 40 YES and ``other`` 40 NO through a confirmed mint."""
    holder.buy(market.yes_token, 5_000, 40 * ONE)
    other.place(limit_order(market.no_token, Side.BUY, 5_000, 40 * ONE, other.address), "FAK")
    clock = exchange._clock
    assert isinstance(clock, ManualClock)
    clock.advance(7_000)
    exchange.advance(clock.now_ms())


@pytest.mark.parametrize("neg_risk", [False, True], ids=["binary", "neg-risk"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_failing_a_buy_against_a_buy_restores_every_balance(scenario: str, neg_risk: bool) -> None:
    exchange, _ = make_exchange()
    market = fee_market(exchange, neg_risk=neg_risk)
    maker, taker = Trader(exchange, 1), Trader(exchange, 2)
    before = balances(exchange, maker, taker)
    make, take, kind = SCENARIOS[scenario](market, maker.address, taker.address)
    maker.place(make)
    result = taker.place(take, kind)
    trade = exchange.trade(only_trade(result.trade_ids))
    assert trade is not None
    assert trade.fee > 0
    assert trade.maker_orders[0].fee > 0
    assert balances(exchange, maker, taker) != before
    exchange.fail_trade(trade.id)
    assert trade.status == "FAILED"
    # The maker's bid still rests for what is left of it, so its pUSD is still reserved.
    assert balances(exchange, maker, taker) == before
    exchange.check()


@pytest.mark.parametrize("neg_risk", [False, True], ids=["binary", "neg-risk"])
@pytest.mark.parametrize("taker_side", [Side.BUY, Side.SELL])
def test_failing_a_transfer_or_a_merge_restores_every_balance(
    taker_side: Side, neg_risk: bool
) -> None:
    exchange, _ = make_exchange()
    market = fee_market(exchange, neg_risk=neg_risk)
    holder, other, newcomer = Trader(exchange, 1), Trader(exchange, 2), Trader(exchange, 3)
    seed_holdings(exchange, market, holder, other)
    before = balances(exchange, holder, other, newcomer)
    if taker_side is Side.BUY:
        # transfer: the holder's resting SELL of YES is taken by a newcomer's market BUY
        holder.sell(market.yes_token, 6_100, 25 * ONE)
        result = newcomer.place(
            market_buy(market.yes_token, 9_999_999, 7_000, newcomer.address), "FAK"
        )
    else:
        # merge: the holder sells YES into the other's resting SELL of NO (a NO ask is a YES bid)
        other.sell(market.no_token, 3_900, 25 * ONE)
        result = holder.place(
            market_sell(market.yes_token, 13_370_000, 5_000, holder.address), "FAK"
        )
    trade = exchange.trade(only_trade(result.trade_ids))
    assert trade is not None
    pool_after_trade = exchange.ledger.pools[market.condition_id]
    exchange.fail_trade(trade.id)
    after = balances(exchange, holder, other, newcomer)
    assert after == before
    if taker_side is Side.SELL:
        assert exchange.ledger.pools[market.condition_id] > pool_after_trade  # merge undone
    exchange.check()


def test_positions_average_cost_and_realized_pnl_come_back_as_without_the_trade() -> None:
    exchange, _ = make_exchange()
    market = fee_market(exchange, neg_risk=False)
    holder, other, buyer = Trader(exchange, 1), Trader(exchange, 2), Trader(exchange, 3)
    seed_holdings(exchange, market, holder, other)
    # A sale that realizes P&L, then a second buy at another price: the failed sale sits in the
    # middle of the holding's history, so its basis cannot be undone by subtraction alone.
    holder.sell(market.yes_token, 7_000, 15 * ONE)
    sold = buyer.place(market_buy(market.yes_token, 10_500_000, 7_000, buyer.address), "FAK")
    holder.buy(market.yes_token, 3_000, 10 * ONE)
    other.place(limit_order(market.no_token, Side.BUY, 7_000, 10 * ONE, other.address), "FAK")
    positions_with = exchange.positions(holder.address)
    exchange.fail_trade(only_trade(sold.trade_ids))

    twin, _ = make_exchange()
    twin_market = fee_market(twin, neg_risk=False)
    h2, o2 = Trader(twin, 1), Trader(twin, 2)
    seed_holdings(twin, twin_market, h2, o2)
    h2.buy(twin_market.yes_token, 3_000, 10 * ONE)
    o2.place(limit_order(twin_market.no_token, Side.BUY, 7_000, 10 * ONE, o2.address), "FAK")
    expected = twin.positions(h2.address)
    assert exchange.positions(holder.address) == expected
    assert exchange.positions(holder.address) != positions_with
    assert exchange.ledger.pusd(holder.address) == twin.ledger.pusd(h2.address)
    assert exchange.ledger.holdings(buyer.address) == {}
    exchange.check()


def test_a_spent_pusd_allowance_is_given_back() -> None:
    exchange, _ = make_exchange()
    market = fee_market(exchange, neg_risk=False)
    maker, taker = Trader(exchange, 1), Trader(exchange, 2)
    for trader in (maker, taker):
        exchange.set_allowance(trader.address, "COLLATERAL", EXCHANGE_V2, 500 * ONE)
    before = balances(exchange, maker, taker)
    maker.buy(market.yes_token, 4_000, 10 * ONE)
    result = taker.place(
        limit_order(market.no_token, Side.BUY, 6_000, 10 * ONE, taker.address), "FAK"
    )
    assert exchange.ledger.allowance(taker.address, "COLLATERAL", EXCHANGE_V2) < 500 * ONE
    exchange.fail_trade(only_trade(result.trade_ids))
    assert balances(exchange, maker, taker) == before
    # the neg-risk exchange's allowance was never used and is not touched
    assert exchange.ledger.allowance(taker.address, "COLLATERAL", NEG_RISK_EXCHANGE_V2) > 0


def test_orders_keep_their_matched_size_and_the_failure_reaches_both_parties() -> None:
    exchange, _ = make_exchange()
    market = fee_market(exchange, neg_risk=False)
    maker, taker = Trader(exchange, 1), Trader(exchange, 2)
    resting = maker.buy(market.yes_token, 4_000, 20 * ONE).order_id
    result = taker.place(
        limit_order(market.no_token, Side.BUY, 6_000, 10 * ONE, taker.address), "FAK"
    )
    events: list[SimEvent] = []
    exchange.subscribe(events.append)
    exchange.fail_trade(only_trade(result.trade_ids))
    record = exchange.order(resting)
    assert record is not None
    assert (record.status, record.size_matched, record.open_size) == ("LIVE", 10 * ONE, 10 * ONE)
    taken = exchange.order(result.order_id)
    assert taken is not None
    assert taken.size_matched == 10 * ONE
    statuses = [(e.owner, e.to_wire()["status"]) for e in events if isinstance(e, UserTradeEvent)]
    for key in (maker.key, taker.key):  # retried, then given up
        assert [s for k, s in statuses if k == key] == ["RETRYING", "FAILED"]
    # nothing was cancelled: the maker's remaining reservation is still backed
    assert not [e for e in events if isinstance(e, UserOrderEvent)]
    exchange.check()


def test_an_open_sell_of_shares_that_were_never_delivered_is_cancelled() -> None:
    exchange, _ = make_exchange()
    market = fee_market(exchange, neg_risk=False)
    maker, taker = Trader(exchange, 1), Trader(exchange, 2)
    maker.buy(market.yes_token, 4_000, 10 * ONE)
    result = taker.place(
        limit_order(market.no_token, Side.BUY, 6_000, 10 * ONE, taker.address), "FAK"
    )
    resale = maker.sell(market.yes_token, 9_000, 10 * ONE).order_id
    exchange.fail_trade(only_trade(result.trade_ids))
    record = exchange.order(resale)
    assert record is not None
    assert record.status == "CANCELED"
    assert maker.shares(market.yes_token) == 0
    exchange.check()


def test_a_failure_that_would_overdraw_is_refused_and_changes_nothing() -> None:
    exchange, _ = make_exchange()
    market = fee_market(exchange, neg_risk=False)
    a, b, c = Trader(exchange, 1), Trader(exchange, 2), Trader(exchange, 3)
    a.buy(market.yes_token, 4_000, 10 * ONE)
    first = b.place(limit_order(market.no_token, Side.BUY, 6_000, 10 * ONE, b.address), "FAK")
    # a sells the YES it just received on to c: failing the first trade alone would overdraw a
    c.buy(market.yes_token, 5_000, 10 * ONE)
    second = a.place(market_sell(market.yes_token, 10 * ONE, 5_000, a.address), "FAK")
    before = balances(exchange, a, b, c)
    with pytest.raises(SimError, match="no longer holds the 10 shares"):
        exchange.fail_trade(only_trade(first.trade_ids))
    assert balances(exchange, a, b, c) == before
    trade = exchange.trade(only_trade(first.trade_ids))
    assert trade is not None
    assert trade.status == "MATCHED"
    # failing the later trade first, then the earlier one, unwinds both
    exchange.fail_trade(only_trade(second.trade_ids))
    exchange.fail_trade(only_trade(first.trade_ids))
    assert a.shares(market.yes_token) == b.shares(market.no_token) == 0
    exchange.check()


def test_a_trade_in_a_resolved_market_can_no_longer_fail() -> None:
    exchange, _ = make_exchange()
    market = fee_market(exchange, neg_risk=False)
    a, b = Trader(exchange, 1), Trader(exchange, 2)
    a.buy(market.yes_token, 4_000, 10 * ONE)
    result = b.place(limit_order(market.no_token, Side.BUY, 6_000, 10 * ONE, b.address), "FAK")
    exchange.resolve(market.condition_id, market.yes_token)
    with pytest.raises(SimError, match="resolved market"):
        exchange.fail_trade(only_trade(result.trade_ids))


def test_the_unwinding_survives_a_restart(tmp_path: Path) -> None:
    clock = ManualClock(START_MS)

    def open_exchange() -> Exchange:
        return Exchange.open(tmp_path, seed=7, clock=clock, initial_balance=1_000 * ONE)

    exchange = open_exchange()
    market = fee_market(exchange, neg_risk=True)
    maker, taker = Trader(exchange, 1), Trader(exchange, 2)
    before = balances(exchange, maker, taker)
    maker.buy(market.yes_token, 4_000, 10 * ONE)
    result = taker.place(
        limit_order(market.no_token, Side.BUY, 6_000, 10 * ONE, taker.address), "FAK"
    )
    exchange.fail_trade(only_trade(result.trade_ids))
    exchange.close()

    reopened = open_exchange()
    try:
        again = reopened.trade(only_trade(result.trade_ids))
        assert again is not None
        assert again.status == "FAILED"
        # the same addresses on the reopened exchange (the Trader helper only derives keys)
        maker2, taker2 = Trader(reopened, 1), Trader(reopened, 2)
        assert balances(reopened, maker2, taker2) == before
        assert reopened.positions(taker2.address) == []
        reopened.check()
    finally:
        reopened.close()


_orders = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2),  # trader
        st.sampled_from(["yes", "no"]),  # token
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(min_value=35, max_value=65),  # price in cents, near 0.50 so orders cross
        st.integers(min_value=5, max_value=40),  # whole shares (market orders: pUSD x 0.37)
        st.booleans(),  # a market order (FAK, sub-cent amounts) instead of a GTC limit
    ),
    min_size=2,
    max_size=25,
)


@settings(max_examples=40, deadline=None)
@given(orders=_orders, neg_risk=st.booleans())
def test_failing_every_trade_newest_first_gives_back_the_starting_ledger(
    orders: list[tuple[int, str, Side, int, int, bool]], neg_risk: bool
) -> None:
    """Whatever traded, unwinding all of it restores every balance to the unit."""
    exchange, _ = make_exchange()
    market = fee_market(exchange, neg_risk=neg_risk)
    traders = [Trader(exchange, n) for n in (1, 2, 3)]
    # a starting inventory, then the snapshot everything must come back to
    seed_holdings(exchange, market, traders[0], traders[1])
    start = balances(exchange, *traders)
    settled_before = {t.id for t in exchange._trade_log}
    # something resting on both sides for the random orders to hit (0.45 bid / 0.55 ask)
    traders[0].sell(market.yes_token, 5_500, 10 * ONE)
    traders[1].sell(market.no_token, 5_500, 10 * ONE)
    for who, outcome, side, cents, shares, market_order in orders:
        trader = traders[who]
        token = market.yes_token if outcome == "yes" else market.no_token
        if market_order and side is Side.BUY:
            order = market_buy(token, shares * 370_000, 9_900, trader.address)
        elif market_order:
            order = market_sell(token, shares * 1_010_000, 100, trader.address)
        else:
            order = limit_order(token, side, cents * 100, shares * ONE, trader.address)
        try:
            trader.place(order, "FAK" if market_order else "GTC")
        except SimError:  # not enough balance, nothing to match: refused, nothing changed
            continue
        exchange.check()
    new = [t for t in exchange._trade_log if t.id not in settled_before]
    for trade in reversed(new):
        exchange.fail_trade(trade.id)
        exchange.check()
    assert balances(exchange, *traders) == start
