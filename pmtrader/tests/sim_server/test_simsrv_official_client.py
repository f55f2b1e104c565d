"""Polymarket's official client, unmodified, trades a whole session against the local exchange.

Every call goes through ``py_clob_client_v2.ClobClient`` over HTTP to a real ``pmtrader sim serve``
process (background flow off, so the books hold only what these tests put there). The checks are
what production would answer: amounts, statuses, book order and hash, and the rejections with
their status codes and messages, with the balance unchanged after each rejection.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from pmtrader.testing import MarketPool, SimServer, new_wallet
from py_clob_client_v2 import (
    ApiCreds,
    AssetType,
    BalanceAllowanceParams,
    BookParams,
    ClobClient,
    MarketOrderArgs,
    OpenOrderParams,
    OrderArgs,
    OrderMarketCancelParams,
    OrderPayload,
    OrderType,
    PostOrdersV2Args,
    TradeParams,
)
from py_clob_client_v2.exceptions import PolyApiException, PolyException

pytestmark = pytest.mark.slow


@dataclass
class Trader:
    """An official client with its own fresh wallet and API key."""

    client: ClobClient
    address: str

    def pusd(self) -> Decimal:
        raw = self.client.get_balance_allowance(
            BalanceAllowanceParams(asset_type=AssetType.COLLATERAL)
        )
        return Decimal(raw["balance"]) / 1_000_000

    def shares(self, token_id: str) -> Decimal:
        raw = self.client.get_balance_allowance(
            BalanceAllowanceParams(asset_type=AssetType.CONDITIONAL, token_id=token_id)
        )
        return Decimal(raw["balance"]) / 1_000_000


def _trader(sim: SimServer) -> Trader:
    wallet = new_wallet()
    client = ClobClient(sim.url, chain_id=137, key=wallet.key.hex())
    client.set_api_creds(client.create_or_derive_api_key())
    return Trader(client, wallet.address)


@pytest.fixture
def venue(quiet_sim: SimServer) -> SimServer:
    return quiet_sim


@pytest.fixture(scope="module")
def markets(quiet_sim: SimServer) -> list[dict[str, Any]]:
    venue = quiet_sim
    client = ClobClient(venue.url, chain_id=137)
    out: list[dict[str, Any]] = []
    cursor = "MA=="
    pages = 0
    while cursor != "LTE=":
        page = client.get_markets(next_cursor=cursor)
        out.extend(page["data"])
        cursor = page["next_cursor"]
        pages += 1
    assert pages >= 2, "the catalogue spans several pages"
    return out


def _api_error(exc: pytest.ExceptionInfo[PolyApiException]) -> tuple[int | None, str]:
    message = exc.value.error_msg
    return exc.value.status_code, message["error"] if isinstance(message, dict) else message


def test_markets_page_to_the_end_with_production_fields(markets: list[dict[str, Any]]) -> None:
    assert len(markets) >= 30
    assert len({m["condition_id"] for m in markets}) == len(markets)
    sample = markets[0]
    for key in ("condition_id", "tokens", "minimum_tick_size", "neg_risk", "accepting_orders"):
        assert key in sample
    assert {str(m["minimum_tick_size"]) for m in markets} <= {"0.01", "0.001", "0.005", "0.0025"}
    assert any(m["neg_risk"] for m in markets)
    assert any(not m["neg_risk"] for m in markets)


def test_api_keys_are_created_then_derived_identically(venue: SimServer) -> None:
    wallet = new_wallet()
    client = ClobClient(venue.url, chain_id=137, key=wallet.key.hex())
    first = client.create_or_derive_api_key()
    again = client.create_or_derive_api_key()  # create now fails (400) and the client derives
    assert first == again
    with pytest.raises(PolyApiException) as err:
        client.create_api_key()
    assert _api_error(err) == (400, "Could not create api key")
    client.set_api_creds(first)
    assert client.get_api_keys() == {"apiKeys": [first.api_key]}
    assert client.get_closed_only_mode() == {"closed_only": False}


def test_a_trading_session_behaves_as_production(venue: SimServer, market_pool: MarketPool) -> None:
    market = market_pool.take()
    yes, no = (t["token_id"] for t in market["tokens"])
    cid = market["condition_id"]
    maker, taker = _trader(venue), _trader(venue)
    start_balance = taker.pusd()
    assert start_balance == Decimal(10_000)

    # The maker quotes YES 0.45 / 0.55: a YES bid and a NO bid at 0.45 (= a YES ask at 0.55).
    bid = maker.client.create_and_post_order(
        OrderArgs(token_id=yes, price=0.45, size=100, side="BUY")
    )
    ask = maker.client.create_and_post_order(
        OrderArgs(token_id=no, price=0.45, size=100, side="BUY")
    )
    assert bid["status"] == ask["status"] == "live"
    assert bid["success"] is True
    assert bid["orderID"].startswith("0x")
    assert len(bid["orderID"]) == 66

    # Books: bids ascending, asks descending, all ten keys, hash as the client computes it.
    book = taker.client.get_order_book(yes)
    assert book["bids"] == [{"price": "0.45", "size": "100"}]
    assert book["asks"] == [{"price": "0.55", "size": "100"}]
    assert taker.client.get_order_book_hash(dict(book)) == book["hash"]
    assert (book["tick_size"], book["min_order_size"], book["neg_risk"]) == ("0.01", "5", False)
    books = taker.client.get_order_books([BookParams(token_id=yes), BookParams(token_id=no)])
    assert books[1]["bids"] == [{"price": "0.45", "size": "100"}]
    assert books[1]["asks"] == [{"price": "0.55", "size": "100"}]
    for each in books:
        assert taker.client.get_order_book_hash(dict(each)) == each["hash"]
    assert taker.client.get_price(yes, "BUY") == {"price": "0.45"}  # BUY -> best bid (live)
    assert taker.client.get_price(yes, "SELL") == {"price": "0.55"}
    assert taker.client.get_midpoint(yes) == {"mid": "0.5"}
    assert taker.client.get_spread(yes) == {"spread": "0.1"}
    assert taker.client.get_tick_size(yes) == "0.01"
    assert taker.client.get_neg_risk(yes) is False

    # GTC and GTD rest; a post-only that would cross is refused with the balance untouched.
    gtc = taker.client.create_and_post_order(
        OrderArgs(token_id=yes, price=0.40, size=10, side="BUY")
    )
    gtd = taker.client.create_and_post_order(
        OrderArgs(token_id=yes, price=0.41, size=10, side="BUY", expiration=int(time.time()) + 600),
        order_type=OrderType.GTD,
    )
    assert gtc["status"] == gtd["status"] == "live"
    before = taker.pusd()
    with pytest.raises(PolyApiException) as err:
        taker.client.create_and_post_order(
            OrderArgs(token_id=yes, price=0.56, size=10, side="BUY"), post_only=True
        )
    assert _api_error(err) == (400, "invalid post-only order: order crosses book")
    assert taker.pusd() == before
    resting = taker.client.create_and_post_order(
        OrderArgs(token_id=yes, price=0.42, size=10, side="BUY"), post_only=True
    )
    assert resting["status"] == "live"

    # A market BUY (FOK) fills at once and reports its settlement hash: no 30 s polling.
    t0 = time.monotonic()
    bought = taker.client.create_and_post_market_order(
        MarketOrderArgs(token_id=yes, amount=11, side="BUY"), order_type=OrderType.FOK
    )
    assert time.monotonic() - t0 < 5
    assert bought["status"] == "matched"
    assert bought["transactionsHashes"]
    assert bought["tradeIDs"]
    assert Decimal(bought["takingAmount"]) == Decimal(20)  # $11 at 0.55 = 20 shares
    assert taker.shares(yes) == Decimal(20)

    # FOK beyond the book is killed whole; the balance does not move.
    before = taker.pusd()
    with pytest.raises(PolyApiException) as err:
        taker.client.create_and_post_market_order(
            MarketOrderArgs(token_id=yes, amount=500, side="BUY", price=0.55),
            order_type=OrderType.FOK,
        )
    assert _api_error(err) == (
        400,
        "order couldn't be fully filled. FOK orders are fully filled or killed.",
    )
    assert taker.pusd() == before
    with pytest.raises(Exception, match="no match"):  # the client itself sees the thin book
        taker.client.create_and_post_market_order(
            MarketOrderArgs(token_id=yes, amount=500, side="BUY"), order_type=OrderType.FOK
        )

    # FAK and FOK SELLs hit the 0.45 bid; a large FAK BUY takes what is left and kills the rest.
    sold = taker.client.create_and_post_market_order(
        MarketOrderArgs(token_id=yes, amount=8, side="SELL"), order_type=OrderType.FAK
    )
    assert sold["status"] == "matched"
    assert Decimal(sold["makingAmount"]) == Decimal(8)
    assert taker.shares(yes) == Decimal(12)
    fok_sell = taker.client.create_and_post_market_order(
        MarketOrderArgs(token_id=yes, amount=2, side="SELL"), order_type=OrderType.FOK
    )
    assert fok_sell["status"] == "matched"
    assert Decimal(fok_sell["makingAmount"]) == Decimal(2)
    assert taker.shares(yes) == Decimal(10)
    swept = taker.client.create_and_post_market_order(
        MarketOrderArgs(token_id=yes, amount=100, side="BUY", price=0.55), order_type=OrderType.FAK
    )
    assert swept["status"] == "matched"
    assert Decimal(swept["takingAmount"]) == Decimal(80)  # the 80 shares left at 0.55
    assert taker.client.get_order_book(yes)["asks"] == []

    # Open orders, one order, trades.
    open_ids = {o["id"] for o in taker.client.get_open_orders(OpenOrderParams(market=cid))}
    assert open_ids == {gtc["orderID"], gtd["orderID"], resting["orderID"]}
    one = taker.client.get_order(gtd["orderID"])
    assert (one["status"], one["order_type"], one["price"], one["original_size"]) == (
        "LIVE",
        "GTD",
        "0.41",
        "10",
    )
    trades = taker.client.get_trades(TradeParams(market=cid))
    assert len(trades) >= 3
    assert all(t["transaction_hash"] for t in trades)
    assert {t["trader_side"] for t in trades} == {"TAKER"}
    maker_view = maker.client.get_trades(TradeParams(asset_id=yes))
    assert maker_view
    assert {t["trader_side"] for t in maker_view} == {"MAKER"}

    # Cancels: one, a list, by market, all.
    assert taker.client.cancel_order(OrderPayload(orderID=gtc["orderID"])) == {
        "canceled": [gtc["orderID"]],
        "not_canceled": {},
    }
    again = taker.client.cancel_orders([gtc["orderID"], gtd["orderID"]])
    assert again["canceled"] == [gtd["orderID"]]
    assert gtc["orderID"] in again["not_canceled"]
    by_market = taker.client.cancel_market_orders(OrderMarketCancelParams(market=cid))
    assert by_market["canceled"] == [resting["orderID"]]
    assert maker.client.cancel_all()["canceled"] == [bid["orderID"]]
    assert taker.client.get_open_orders() == []
    assert maker.client.get_open_orders() == []

    # Balances: exact pUSD accounting of the taker's four fills. The platform fee is
    # shares * r * (p * (1 - p))^e in base units, floored, paid on top by a BUY taker and out of the
    # proceeds by a SELL taker (makers pay none: fees are taker-only).
    fd = venue.http.get(f"/clob-markets/{cid}").json()["fd"]

    def fee(shares: int, price: str) -> int:
        p = Decimal(price)
        return int(shares * 1_000_000 * Decimal(str(fd["r"])) * (p * (1 - p)) ** fd["e"])

    expected = (
        10_000_000_000
        - (11_000_000 + fee(20, "0.55"))
        + (3_600_000 - fee(8, "0.45"))
        + (900_000 - fee(2, "0.45"))
        - (44_000_000 + fee(80, "0.55"))
    )
    allowance = taker.client.get_balance_allowance(
        BalanceAllowanceParams(asset_type=AssetType.COLLATERAL)
    )
    assert int(allowance["balance"]) == expected
    # The maker bought 10 YES and 100 NO at 0.45 each, fee-free.
    assert maker.pusd() == Decimal(10_000) - Decimal("4.5") - Decimal(45)
    assert (maker.shares(yes), maker.shares(no)) == (Decimal(10), Decimal(100))
    assert allowance["allowances"]
    updated = taker.client.update_balance_allowance(
        BalanceAllowanceParams(asset_type=AssetType.CONDITIONAL, token_id=yes)
    )
    assert Decimal(updated["balance"]) / 1_000_000 == Decimal(90)


def test_batches_report_each_order_in_a_200_array(
    venue: SimServer, market_pool: MarketPool
) -> None:
    market = market_pool.take()
    yes = market["tokens"][0]["token_id"]
    trader = _trader(venue)
    good = trader.client.create_order(OrderArgs(token_id=yes, price=0.30, size=10, side="BUY"))
    small = trader.client.create_order(OrderArgs(token_id=yes, price=0.31, size=1, side="BUY"))
    results = trader.client.post_orders(
        [
            PostOrdersV2Args(order=good, orderType=OrderType.GTC),
            PostOrdersV2Args(order=small, orderType=OrderType.GTC),
        ]
    )
    assert [r["success"] for r in results] == [True, False]
    assert results[0]["status"] == "live"
    assert "lower than the minimum: 5" in results[1]["errorMsg"]
    too_many = [PostOrdersV2Args(order=good, orderType=OrderType.GTC)] * 16
    with pytest.raises(PolyApiException) as err:
        trader.client.post_orders(too_many)
    assert _api_error(err) == (400, "Too many orders in payload: 16, max allowed: 15")


def test_neg_risk_orders_are_signed_for_the_neg_risk_exchange(
    venue: SimServer, market_pool: MarketPool
) -> None:
    market = market_pool.take(neg_risk=True, max_min_size=20)
    yes = market["tokens"][0]["token_id"]
    trader = _trader(venue)
    assert trader.client.get_neg_risk(yes) is True
    placed = trader.client.create_and_post_order(
        OrderArgs(token_id=yes, price=0.05, size=20, side="BUY")
    )
    assert placed["status"] == "live"
    assert trader.client.cancel_all()["canceled"] == [placed["orderID"]]


def test_bad_signature_replay_and_bad_hmac_are_refused_and_change_nothing(
    venue: SimServer, market_pool: MarketPool
) -> None:
    market = market_pool.take(max_min_size=10)
    yes = market["tokens"][0]["token_id"]
    trader = _trader(venue)
    before = trader.pusd()

    tampered = trader.client.create_order(OrderArgs(token_id=yes, price=0.20, size=10, side="BUY"))
    tampered.makerAmount = str(int(tampered.makerAmount) - 1_000_000)  # not what was signed
    with pytest.raises(PolyApiException) as err:
        trader.client.post_order(tampered)
    assert _api_error(err) == (400, "invalid signature")

    order = trader.client.create_order(OrderArgs(token_id=yes, price=0.20, size=10, side="BUY"))
    first = trader.client.post_order(order)
    with pytest.raises(PolyApiException) as err:
        trader.client.post_order(order)  # the same signed order again
    assert _api_error(err) == (400, f"order {first['orderID']} is invalid. Duplicated.")
    trader.client.cancel_all()

    forger = ClobClient(
        venue.url,
        chain_id=137,
        key=new_wallet().key.hex(),
        creds=ApiCreds(
            api_key=trader.client.creds.api_key,
            api_secret="c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlYw==",
            api_passphrase=trader.client.creds.api_passphrase,
        ),
    )
    with pytest.raises(PolyApiException) as err:
        forger.get_open_orders()
    assert _api_error(err) == (401, "Unauthorized/Invalid api key")
    with pytest.raises(PolyApiException) as err:
        forger.cancel_all()
    assert err.value.status_code == 401

    with pytest.raises(PolyApiException) as err:
        trader.client.get_order_book("12345")
    assert _api_error(err) == (404, "No orderbook exists for the requested token id")
    with pytest.raises(PolyException):
        trader.client.create_order(OrderArgs(token_id="12345", price=0.5, size=10, side="BUY"))
    assert trader.pusd() == before
    assert trader.client.get_open_orders() == []


@pytest.mark.parametrize("signature_type", [1, 2, 3])
def test_funder_wallets_trade_once_the_operator_registers_them(
    venue: SimServer, market_pool: MarketPool, signature_type: int
) -> None:
    market = market_pool.take(max_min_size=10)
    yes = market["tokens"][0]["token_id"]
    owner, funder = new_wallet(), new_wallet().address
    client = ClobClient(
        venue.url,
        chain_id=137,
        key=owner.key.hex(),
        signature_type=signature_type,
        funder=funder,
    )
    client.set_api_creds(client.create_or_derive_api_key())
    args = OrderArgs(token_id=yes, price=0.11, size=10, side="BUY")
    with pytest.raises(PolyApiException) as err:  # a funder nobody registered for this EOA
        client.create_and_post_order(args)
    assert _api_error(err) == (400, "invalid signature")

    registered = venue.http.post("/_sim/funder", json={"eoa": owner.address, "maker": funder})
    assert registered.status_code == 200
    with pytest.raises(PolyApiException) as err:  # the funder holds no pUSD yet
        client.create_and_post_order(args)
    assert "not enough balance" in _api_error(err)[1]
    venue.fund(funder, 50)
    placed = client.create_and_post_order(args)
    assert placed["status"] == "live"
    order = client.get_order(placed["orderID"])
    assert order["maker_address"].lower() == funder.lower()
    balance = client.get_balance_allowance(BalanceAllowanceParams(asset_type=AssetType.COLLATERAL))
    assert balance["balance"] == "50000000"  # the funder's pUSD, not the EOA's 10 000
    client.cancel_all()


def test_readonly_and_builder_keys(venue: SimServer) -> None:
    trader = _trader(venue)
    readonly = trader.client.create_readonly_api_key()["apiKey"]
    assert trader.client.get_readonly_api_keys() == [readonly]
    check = venue.http.get(
        "/auth/validate-readonly-api-key", params={"address": trader.address, "key": readonly}
    )
    assert check.json() is True
    assert trader.client.delete_readonly_api_key(readonly) == "OK"
    assert trader.client.get_readonly_api_keys() == []
    builder = trader.client.create_builder_api_key()
    assert set(builder) == {"key", "secret", "passphrase"}
    assert trader.client.get_builder_api_keys()[0]["revokedAt"] is None
    trader.client.revoke_builder_api_key()
    assert trader.client.get_builder_api_keys()[0]["revokedAt"] is not None
