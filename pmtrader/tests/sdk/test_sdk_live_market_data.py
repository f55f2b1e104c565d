"""Public market data against the local exchange, with the sync and the async client.

Books are built by a counterparty on the quiet exchange, so every number is known exactly.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from pmtrader.testing import SimServer

from pmtrader import Client, NotFoundError, Side, ValidationError

from .conftest import Api, Catalogue, raw_get


def test_venue_meta(api: Api) -> None:
    assert api(lambda c: c.markets.get_ok()) is True
    assert abs(api(lambda c: c.markets.get_server_time()) - time.time()) < 120
    assert api(lambda c: c.markets.get_version()) == 2


def test_markets_page_by_page_and_all_at_once(api: Api, quiet_sim: SimServer) -> None:
    first = api(lambda c: c.markets.get_markets())
    assert first.data
    assert first.next_cursor != "LTE="
    everything = api.collect(lambda c: c.markets.iter_markets())
    pages, cursor = [], "MA=="
    while cursor != "LTE=":
        page = raw_get(quiet_sim, f"/markets?next_cursor={cursor}")
        pages.extend(page["data"])
        cursor = page["next_cursor"]
    assert [m.condition_id for m in everything] == [m["condition_id"] for m in pages]
    assert len({m.condition_id for m in everything}) == len(everything) >= 30
    sampling = api.collect(lambda c: c.markets.iter_markets(sampling=True))
    assert {m.condition_id for m in sampling} <= {m.condition_id for m in everything}
    assert api(lambda c: c.markets.get_sampling_markets()).data
    simplified = api(lambda c: c.markets.get_simplified_markets())
    assert simplified["data"][0]["condition_id"] == first.data[0].condition_id


@pytest.mark.parametrize("neg_risk", [False, True])
def test_one_market_and_its_order_facts(api: Api, catalogue: Catalogue, neg_risk: bool) -> None:
    market = catalogue.first(neg_risk=neg_risk)
    token = market.tokens[0].token_id
    assert api(lambda c: c.markets.get_market(market.condition_id)) == market
    info = api(lambda c: c.markets.get_clob_market_info(market.condition_id))
    assert info.token_ids == [t.token_id for t in market.tokens]
    assert info.min_tick_size == market.minimum_tick_size
    assert info.neg_risk is market.neg_risk is neg_risk
    assert api(lambda c: c.markets.get_market_by_token(token)) == market.condition_id
    assert api(lambda c: c.markets.get_tick_size(token)) == market.minimum_tick_size
    assert api(lambda c: c.markets.get_neg_risk(token)) is market.neg_risk
    assert api(lambda c: c.markets.get_fee_details(token)) == info.fee


def test_unknown_market_is_not_found(api: Api) -> None:
    with pytest.raises(NotFoundError) as info:
        api(lambda c: c.markets.get_market("0x" + "00" * 32))
    assert info.value.status == 404


def test_books_prices_midpoints_spreads(
    api: Api, counterparty: Client, catalogue: Catalogue
) -> None:
    market = catalogue.first(skip=1)
    yes, no = (t.token_id for t in market.tokens)
    counterparty.orders.create_and_post_order(yes, "BUY", price=Decimal("0.40"), size=20)
    counterparty.orders.create_and_post_order(yes, "BUY", price=Decimal("0.38"), size=15)
    counterparty.orders.create_and_post_order(no, "BUY", price=Decimal("0.40"), size=30)

    book = api(lambda c: c.books.get_order_book(yes, verify=True))
    assert book.best_bid == Decimal("0.40")
    assert book.best_ask == Decimal("0.60")  # the NO bid at 0.40 is a YES ask at 0.60
    assert book.mid == Decimal("0.50")
    assert book.depth(Side.BUY) == Decimal(35)
    assert [lv.price for lv in book.bids] == [Decimal("0.38"), Decimal("0.40")]  # best last
    books = api(lambda c: c.books.get_order_books([yes, no], verify=True))
    assert [b.asset_id for b in books] == [yes, no]
    assert books[1].best_bid == Decimal("0.40")

    buy = api(lambda c: c.books.get_price(yes, Side.BUY))
    sell = api(lambda c: c.books.get_price(yes, Side.SELL))
    assert {buy, sell} == {Decimal("0.40"), Decimal("0.60")}
    batch = api(lambda c: c.books.get_prices([(yes, "BUY"), (yes, "SELL")]))
    assert batch[yes][Side.BUY] == api(lambda c: c.books.get_price(yes, "BUY"))
    assert api(lambda c: c.books.get_midpoint(yes)) == Decimal("0.5")
    assert api(lambda c: c.books.get_midpoints([yes, no])) == {
        yes: Decimal("0.5"),
        no: Decimal("0.5"),
    }
    assert api(lambda c: c.books.get_spread(yes)) == Decimal("0.2")
    assert api(lambda c: c.books.get_spreads([yes]))[yes] == Decimal("0.2")


def test_last_trade_prices_follow_a_trade(
    api: Api, counterparty: Client, catalogue: Catalogue
) -> None:
    market = catalogue.first(skip=2)
    yes = market.tokens[0].token_id
    counterparty.orders.create_and_post_order(
        market.tokens[1].token_id, "BUY", price=Decimal("0.38"), size=20
    )
    api(lambda c: c.orders.create_and_post_order(yes, "BUY", price=Decimal("0.62"), size=10))
    last = api(lambda c: c.books.get_last_trade_price(yes))
    assert last.price == Decimal("0.62")
    assert last.side == "BUY"
    batch = api(lambda c: c.books.get_last_trades_prices([yes]))
    assert batch[0].token_id == yes
    assert batch[0].price == Decimal("0.62")
    events = api(lambda c: c.markets.get_market_trades_events(market.condition_id))
    assert events
    assert all(event.get("asset_id", yes) in (yes, market.tokens[1].token_id) for event in events)


def test_price_history(api: Api, catalogue: Catalogue) -> None:
    token = catalogue.first().tokens[0].token_id
    history = api(lambda c: c.books.get_prices_history(token, interval="1d"))
    assert history.history
    assert all(Decimal(0) < point.p < Decimal(1) for point in history.history)
    now = int(time.time())
    ranged = api(
        lambda c: c.books.get_prices_history(token, start_ts=now - 86_400, end_ts=now, fidelity=60)
    )
    assert all(now - 86_400 - 3600 <= point.t <= now + 60 for point in ranged.history)
    with pytest.raises(ValidationError, match="interval"):
        api(lambda c: c.books.get_prices_history(token))


def test_gamma_markets_events_search_tags(api: Api, catalogue: Catalogue) -> None:
    markets = api(lambda c: c.gamma.get_markets(limit=5))
    assert len(markets) == 5
    everything = api.collect(lambda c: c.gamma.iter_markets(page_size=7))
    assert len({m.id for m in everything}) == len(everything) >= len(catalogue.markets)
    one = markets[0]
    assert api(lambda c: c.gamma.get_market(one.id)) == one
    assert api(lambda c: c.gamma.get_market_by_slug(one.slug)).id == one.id
    clob = next(m for m in catalogue.markets if m.condition_id == one.condition_id)
    assert one.clob_token_ids == [t.token_id for t in clob.tokens]
    assert one.token_for(one.outcomes[1]) == clob.tokens[1].token_id
    by_token = api(lambda c: c.gamma.get_markets(clob_token_ids=[clob.tokens[0].token_id]))
    assert [m.id for m in by_token] == [one.id]

    events = api(lambda c: c.gamma.get_events(limit=3))
    assert events
    event = events[0]
    assert api(lambda c: c.gamma.get_event(event.id)).slug == event.slug
    assert api(lambda c: c.gamma.get_event_by_slug(event.slug)).id == event.id
    assert event.markets
    word = event.title.split()[0]
    found = api(lambda c: c.gamma.search(word))
    assert event.id in {e.id for e in found.events}
    tags = api(lambda c: c.gamma.get_tags())
    assert tags
    assert all(t.slug for t in tags)


def test_rewards_listings(api: Api, catalogue: Catalogue) -> None:
    current = api(lambda c: c.markets.get_current_rewards())
    assert current
    assert all(m.rewards_config for m in current)
    first = current[0]
    detail = api(lambda c: c.markets.get_raw_rewards_for_market(first.condition_id))
    assert [m.condition_id for m in detail] == [first.condition_id]
    assert detail[0].rewards_max_spread == first.rewards_max_spread
