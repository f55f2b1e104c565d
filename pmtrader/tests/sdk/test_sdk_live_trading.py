"""Orders end to end against the local exchange, with the sync and the async client."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from pmtrader import (
    AssetType,
    Client,
    InsufficientBalanceError,
    InvalidPriceError,
    OrderRejectedError,
    OrderSizeError,
    OrderType,
    Side,
    ValidationError,
)

from .conftest import Api, Catalogue


def buy(token: str, price: str, size: int = 10) -> Callable[[Any], Any]:
    """The call that signs a limit BUY (for either client)."""
    return lambda c: c.orders.create_order(token, "BUY", price=price, size=size)


def test_limit_order_lifecycle(api: Api, catalogue: Catalogue) -> None:
    market = catalogue.first(skip=3)
    token = market.tokens[0].token_id
    placed = api(lambda c: c.orders.create_and_post_order(token, "BUY", price="0.30", size=12))
    assert placed.success
    assert placed.status == "live"
    open_orders = api(lambda c: c.orders.get_open_orders())
    assert [o.id for o in open_orders] == [placed.order_id]
    order = api(lambda c: c.orders.get_order(placed.order_id))
    assert (order.side, order.price, order.original_size) == (Side.BUY, Decimal("0.3"), 12)
    assert order.status == "LIVE"
    assert order.market == market.condition_id
    assert api(lambda c: c.orders.get_open_orders(market=market.condition_id)) == open_orders
    assert api(lambda c: c.orders.get_open_orders(asset_id=market.tokens[1].token_id)) == []
    assert api(lambda c: c.orders.is_order_scoring(placed.order_id)) in (True, False)
    scoring = api(lambda c: c.orders.are_orders_scoring([placed.order_id]))
    assert set(scoring) == {placed.order_id}
    cancelled = api(lambda c: c.orders.cancel_order(placed.order_id))
    assert cancelled.canceled == [placed.order_id]
    assert api(lambda c: c.orders.get_open_orders()) == []


def test_signed_order_id_is_its_hash(api: Api, catalogue: Catalogue) -> None:
    token = catalogue.first(skip=3).tokens[1].token_id
    signed = api(lambda c: c.orders.create_order(token, Side.SELL, price="0.9", size=10))
    assert signed.price == Decimal("0.9")
    assert (signed.amounts.maker_amount, signed.amounts.taker_amount) == (10_000_000, 9_000_000)
    with pytest.raises(InsufficientBalanceError):  # nothing to sell yet
        api(lambda c: c.orders.post_order(signed))
    buy = api(lambda c: c.orders.create_order(token, "BUY", price="0.1", size=10))
    response = api(lambda c: c.orders.post_order(buy, OrderType.GTC))
    assert response.order_id == buy.order_hash


def test_batches_and_every_kind_of_cancel(api: Api, catalogue: Catalogue) -> None:
    market = catalogue.first(skip=4)
    yes, no = (t.token_id for t in market.tokens)
    orders: list[tuple[Any, OrderType | str]] = [
        (api(buy(yes, price)), OrderType.GTC) for price in ("0.20", "0.21", "0.22")
    ]
    orders.append((api(buy(no, "0.1")), "GTC"))
    results = api(lambda c: c.orders.post_orders(orders))
    assert [r.success for r in results] == [True] * 4
    ids = [r.order_id for r in results]
    assert sorted(o.id for o in api(lambda c: c.orders.get_open_orders())) == sorted(ids)

    assert api(lambda c: c.orders.cancel_orders(ids[:2])).canceled == ids[:2]
    by_token = api(lambda c: c.orders.cancel_market_orders(asset_id=no))
    assert by_token.canceled == [ids[3]]
    by_market = api(lambda c: c.orders.cancel_market_orders(market=market.condition_id))
    assert by_market.canceled == [ids[2]]
    api(lambda c: c.orders.create_and_post_order(yes, "BUY", price="0.2", size=10))
    assert len(api(lambda c: c.orders.cancel_all()).canceled) == 1
    missing = api(lambda c: c.orders.cancel_orders(["0x" + "ab" * 32]))
    assert missing.not_canceled


def test_batch_limit_is_checked_before_sending(api: Api, catalogue: Catalogue) -> None:
    token = catalogue.first(skip=4).tokens[0].token_id
    one = api(lambda c: c.orders.create_order(token, "BUY", price="0.2", size=10))
    with pytest.raises(ValidationError, match="at most 15"):
        api(lambda c: c.orders.post_orders([(one, "GTC")] * 16))
    assert api(lambda c: c.orders.get_open_orders()) == []


def test_market_orders_preview_trade_and_settle(
    api: Api, counterparty: Client, catalogue: Catalogue
) -> None:
    market = catalogue.first(skip=5)
    yes, no = (t.token_id for t in market.tokens)
    counterparty.orders.create_and_post_order(no, "BUY", price=Decimal("0.45"), size=50)  # ask 0.55
    counterparty.orders.create_and_post_order(no, "BUY", price=Decimal("0.44"), size=50)  # ask 0.56
    before = api(lambda c: c.account.get_balance_allowance()).balance

    preview = api(lambda c: c.orders.preview_market_order(yes, "BUY", amount=30))
    assert preview.crosses
    assert preview.fills_completely
    assert not preview.rests
    assert preview.worst_price == Decimal("0.56")
    assert preview.cost == Decimal(30)
    assert preview.shares == Decimal("54.464286")  # 50 @ 0.55 + 2.5 / 0.56
    assert preview.amounts is not None
    assert preview.amounts.maker_amount == 30_000_000
    assert preview.fee > 0

    limit_preview = api(lambda c: c.orders.preview_order(yes, "BUY", price="0.55", size=60))
    assert limit_preview.shares == 50
    assert limit_preview.rests
    assert limit_preview.resting_shares == 10

    with pytest.raises(ValidationError, match="not enough liquidity"):
        api(lambda c: c.orders.create_market_order(yes, "BUY", amount=1000))

    bought = api(lambda c: c.orders.create_and_post_market_order(yes, "BUY", amount=30))
    assert bought.status == "matched"
    assert bought.trade_ids
    trades = api(lambda c: c.orders.get_trades(market=market.condition_id))
    assert trades
    assert {t.asset_id for t in trades} == {yes}
    after = api(lambda c: c.account.get_balance_allowance()).balance
    assert before - after >= 30_000_000
    held = api(lambda c: c.account.get_balance_allowance(AssetType.CONDITIONAL, yes)).balance
    assert held >= 54_000_000

    address = api(lambda c: c.funder)
    positions = api(lambda c: c.data.get_positions(address))
    assert any(p.asset == yes and p.size > 50 for p in positions)
    assert any(t.asset == yes for t in api(lambda c: c.data.get_trades(address)))
    assert any(a.type == "TRADE" for a in api(lambda c: c.data.get_activity(address)))
    assert api(lambda c: c.data.get_value(address)).value > 0
    assert api(lambda c: c.chain.get_token_balance(address, yes)) == held

    notes = api(lambda c: c.account.get_notifications())
    assert notes
    assert {n.payload.get("asset_id") for n in notes} == {yes}
    assert api(lambda c: c.account.drop_notifications([str(n.id) for n in notes])) is True
    assert api(lambda c: c.account.get_notifications()) == []

    # Sell some back into a bid, fill-and-kill.
    counterparty.orders.create_and_post_order(yes, "BUY", price=Decimal("0.50"), size=20)
    sold = api(
        lambda c: c.orders.create_and_post_market_order(
            yes, "SELL", amount=Decimal("30"), order_type="FAK"
        )
    )
    assert sold.status == "matched"
    left = api(lambda c: c.account.get_balance_allowance(AssetType.CONDITIONAL, yes)).balance
    assert held - left == 20_000_000


def test_venue_rejections_carry_polymarkets_reason(
    api: Api, counterparty: Client, catalogue: Catalogue
) -> None:
    market = catalogue.first(skip=6)
    yes, no = (t.token_id for t in market.tokens)
    counterparty.orders.create_and_post_order(no, "BUY", price=Decimal("0.40"), size=10)  # ask 0.60
    with pytest.raises(OrderRejectedError, match="crosses book"):
        api(
            lambda c: c.orders.create_and_post_order(
                yes, "BUY", price="0.60", size=10, post_only=True
            )
        )
    with pytest.raises(OrderRejectedError, match="FOK"):
        api(lambda c: c.orders.create_and_post_market_order(yes, "BUY", amount=50, price="0.60"))
    with pytest.raises(InsufficientBalanceError) as info:
        api(lambda c: c.orders.create_and_post_order(yes, "BUY", price="0.5", size=50_000))
    assert "but the balance is 10000: short by" in info.value.hint  # fees included
    assert api(lambda c: c.orders.get_open_orders()) == []


def test_sides_and_types_are_case_insensitive_and_checked(api: Api, catalogue: Catalogue) -> None:
    token = catalogue.first(skip=7).tokens[1].token_id
    signed = api(
        lambda c: c.orders.create_order(token, "buy", price="0.2", size=10, order_type="gtc")
    )
    assert signed.side is Side.BUY
    with pytest.raises(ValidationError, match="side must be one of BUY, SELL; got 'hold'"):
        api(lambda c: c.orders.create_order(token, "hold", price="0.2", size=10))
    with pytest.raises(ValidationError, match="side"):
        api(lambda c: c.books.get_price(token, "up"))


def test_gtd_orders_carry_their_expiration(api: Api, catalogue: Catalogue) -> None:
    token = catalogue.first(skip=7).tokens[0].token_id
    expiry = int(time.time()) + 3600
    placed = api(
        lambda c: c.orders.create_and_post_order(
            token, "BUY", price="0.25", size=10, order_type="GTD", expiration=expiry
        )
    )
    order = api(lambda c: c.orders.get_order(placed.order_id))
    assert order.expiration == expiry
    assert order.order_type == "GTD"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"price": "0.305", "size": 10}, InvalidPriceError, r"0\.3 and 0\.31"),
        ({"price": "0.999", "size": 10}, InvalidPriceError, r"0\.99"),
        ({"price": 0.3, "size": 10}, ValidationError, "not a float"),
        ({"price": "0.3", "size": 4}, OrderSizeError, "minimum order size of 5"),
        ({"price": "0.3", "size": "10.001"}, OrderSizeError, "whole cents"),
        (
            {"price": "0.3", "size": 10, "order_type": "FOK", "post_only": True},
            ValidationError,
            "post_only",
        ),
        ({"price": "0.3", "size": 10, "order_type": "GTD"}, ValidationError, "expiration"),
        ({"price": "0.3", "size": 10, "order_type": "IOC"}, ValidationError, "GTC, GTD, FOK, FAK"),
        (
            {"price": "0.3", "size": 10, "expiration": 2_000_000_000},
            ValidationError,
            "only for GTD",
        ),
    ],
)
def test_bad_orders_are_refused_before_signing(
    api: Api, catalogue: Catalogue, kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    market = catalogue.first(skip=7)
    assert market.minimum_order_size == 5
    token = market.tokens[0].token_id
    with pytest.raises(error, match=match):
        api(lambda c: c.orders.create_and_post_order(token, "BUY", **kwargs))
    assert api(lambda c: c.orders.get_open_orders()) == []


@pytest.mark.parametrize(
    "case",
    [
        ("0.001", "0.123", "0.1235", (Decimal("0.123"), Decimal("0.124"))),
        ("0.0025", "0.0625", "0.063", (Decimal("0.0625"), Decimal("0.065"))),
        ("0.005", "0.125", "0.127", (Decimal("0.125"), Decimal("0.13"))),
    ],
)
def test_fine_tick_markets(
    api: Api, catalogue: Catalogue, case: tuple[str, str, str, tuple[Decimal, ...]]
) -> None:
    tick, good, bad, nearest = case
    market = catalogue.first(tick=tick)
    token = market.tokens[0].token_id
    size = max(market.minimum_order_size, Decimal(10))
    placed = api(lambda c: c.orders.create_and_post_order(token, "BUY", price=good, size=size))
    assert api(lambda c: c.orders.get_order(placed.order_id)).price == Decimal(good)
    with pytest.raises(InvalidPriceError) as info:
        api(lambda c: c.orders.create_order(token, "BUY", price=bad, size=size))
    assert info.value.nearest == nearest
