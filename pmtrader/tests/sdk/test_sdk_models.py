"""Every REST model parses a recorded-shape payload (built from the documented samples)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pmtrader.models import (
    Activity,
    ApiKeys,
    BalanceAllowance,
    BanStatus,
    CancelResponse,
    ClobMarketInfo,
    DataTrade,
    GammaEvent,
    GammaMarket,
    GammaTag,
    Heartbeat,
    LastTradePrice,
    MarketsPage,
    Notification,
    OpenOrder,
    OrderResponse,
    PortfolioValue,
    Position,
    PriceHistory,
    RewardsMarket,
    SearchResults,
    Trade,
)
from pydantic import BaseModel, TypeAdapter

from pmtrader import BookIntegrityError, OrderBook, Side

RESOURCES = Path(__file__).parent.parent / "resources" / "rest"


def load(name: str) -> Any:
    return json.loads((RESOURCES / name).read_text())


CASES: dict[str, Any] = {
    "clob_book.json": OrderBook,
    "clob_book_hash_vector.json": OrderBook,
    "clob_markets_page.json": MarketsPage,
    "clob_market_info.json": ClobMarketInfo,
    "clob_order_response.json": OrderResponse,
    "clob_order_response_matched.json": OrderResponse,
    "clob_batch_order_response.json": list[OrderResponse],
    "clob_cancel_response.json": CancelResponse,
    "clob_open_order.json": OpenOrder,
    "clob_trades_page.json": None,
    "clob_rewards_markets_current.json": None,
    "clob_rewards_market.json": None,
    "clob_notifications.json": list[Notification],
    "clob_balance_allowance.json": BalanceAllowance,
    "clob_balance_allowance_legacy.json": BalanceAllowance,
    "clob_price_history.json": PriceHistory,
    "clob_last_trade_price.json": LastTradePrice,
    "clob_api_keys.json": ApiKeys,
    "clob_ban_status.json": BanStatus,
    "clob_heartbeat.json": Heartbeat,
    "gamma_market.json": GammaMarket,
    "gamma_event.json": GammaEvent,
    "gamma_tags.json": list[GammaTag],
    "gamma_search.json": SearchResults,
    "data_positions.json": list[Position],
    "data_trades.json": list[DataTrade],
    "data_activity.json": list[Activity],
    "data_value.json": list[PortfolioValue],
}


def test_every_resource_is_covered() -> None:
    assert {path.name for path in RESOURCES.glob("*.json")} == set(CASES)


@pytest.mark.parametrize("name", sorted(n for n, m in CASES.items() if m is not None))
def test_resource_parses_and_round_trips(name: str) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(CASES[name])
    parsed = adapter.validate_python(load(name))
    items = parsed if isinstance(parsed, list) else [parsed]
    assert items
    for item in items:
        assert isinstance(item, BaseModel)
        again = type(item).model_validate(item.to_wire())  # type: ignore[attr-defined]
        assert again == item


def test_book_top_mid_spread_and_depth() -> None:
    book = OrderBook.model_validate(load("clob_book.json"))
    assert book.best_bid == Decimal("0.49")
    assert book.best_ask == Decimal("0.51")
    assert book.mid == Decimal("0.50")
    assert book.spread == Decimal("0.02")
    assert book.depth(Side.BUY) == Decimal("1510.5")
    assert book.depth(Side.SELL, within=Decimal("0.01")) == Decimal("95.25")
    assert [lv.price for lv in book.asks_best_first()] == [Decimal("0.51"), Decimal("0.53")]
    assert book.last_trade_price == Decimal("0.50")
    assert book.timestamp_ms == 1757908892351


def test_book_hash_matches_the_official_vector_and_catches_tampering() -> None:
    book = OrderBook.model_validate(load("clob_book_hash_vector.json"))
    assert book.hash_matches()
    assert book.verify() is book
    tampered = OrderBook.model_validate({**load("clob_book_hash_vector.json"), "timestamp": "1"})
    with pytest.raises(BookIntegrityError, match="fetch a fresh book"):
        tampered.verify()


def test_book_hash_agrees_with_the_official_client() -> None:
    from py_clob_client_v2.utilities import (
        generate_orderbook_summary_hash,
        parse_raw_orderbook_summary,
    )

    raw = load("clob_book.json")
    book = OrderBook.model_validate(raw)
    assert book.computed_hash() == generate_orderbook_summary_hash(parse_raw_orderbook_summary(raw))


def test_gamma_json_strings_become_real_lists() -> None:
    market = GammaMarket.model_validate(load("gamma_market.json"))
    assert market.outcomes == ["Yes", "No"]
    assert market.outcome_prices == [Decimal("0.60"), Decimal("0.40")]
    assert market.clob_token_ids[1].startswith("5211")
    assert market.token_for("no") == market.clob_token_ids[1]
    assert market.order_price_min_tick_size == Decimal("0.01")
    assert market.question_id.startswith("0x1e0b")
    with pytest.raises(KeyError, match="Maybe"):
        market.token_for("Maybe")
    wire = market.to_wire()
    assert wire["clobTokenIds"] == market.clob_token_ids
    assert wire["conditionId"] == market.condition_id


def test_clob_market_info_reads_the_terse_names() -> None:
    info = ClobMarketInfo.model_validate(load("clob_market_info.json"))
    assert info.min_tick_size == Decimal("0.01")
    assert info.token_ids == [
        "71321045679252212594626385532706912750332728571942532289631379312455583992563",
        "52114319501245915516055106046884209969926127482827954674443846427813813222426",
    ]
    assert info.fee is not None
    assert info.fee.fee(Decimal(10), Decimal("0.5")) == Decimal("0.0125")
    assert info.min_order_size == Decimal(5)


def test_trades_parse_with_maker_orders() -> None:
    page = load("clob_trades_page.json")
    trades = [Trade.model_validate(item) for item in page["data"]]
    assert page["next_cursor"] == "LTE="
    assert trades[0].maker_orders[0].matched_amount == Decimal(10)
    assert trades[0].side is Side.BUY


def test_balances_are_integers_of_base_units() -> None:
    ba = BalanceAllowance.model_validate(load("clob_balance_allowance.json"))
    assert ba.balance == 1_000_000_000
    assert ba.balance_decimal == Decimal(1000)
    assert ba.allowance_for("0xe111180000d2663c0091e4f400237545b87b996b") == 2**256 - 1
    assert ba.allowance_for("0xd91E80cF2E7be2e162c6513ceD06f1dD0dA35296") == 0
    legacy = BalanceAllowance.model_validate(load("clob_balance_allowance_legacy.json"))
    assert legacy.allowance_for("0xanything") == 999_999_999_000_000


def test_order_responses_keep_empty_amounts_as_none() -> None:
    live = OrderResponse.model_validate(load("clob_order_response.json"))
    assert live.making_amount is None
    assert live.order_id is not None
    matched = OrderResponse.model_validate(load("clob_order_response_matched.json"))
    assert matched.making_amount == Decimal("4.98")
    assert matched.trade_ids
    assert OpenOrder.model_validate(load("clob_open_order.json")).remaining == Decimal(75)


@pytest.mark.parametrize("name", ["clob_rewards_markets_current.json", "clob_rewards_market.json"])
def test_rewards_pages_parse(name: str) -> None:
    page = load(name)
    markets = [RewardsMarket.model_validate(item) for item in page["data"]]
    assert markets[0].rewards_max_spread == Decimal("4.5")
    assert markets[0].rewards_config[0].rate_per_day == 25


def test_numeric_ids_are_read_as_strings() -> None:
    market = GammaMarket.model_validate({**load("gamma_market.json"), "id": 123456})
    assert market.id == "123456"
