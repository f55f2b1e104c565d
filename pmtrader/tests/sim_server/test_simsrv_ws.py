"""The local exchange's websockets speak Polymarket's market and user channels.

A real server (flow off, so only these tests move the books) and a plain websocket client.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from pmtrader.testing import MarketPool, SimServer, new_wallet
from py_clob_client_v2 import ClobClient, MarketOrderArgs, OrderArgs, OrderType
from py_clob_client_v2.utilities import generate_orderbook_summary_hash, parse_raw_orderbook_summary
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

pytestmark = pytest.mark.slow


@pytest.fixture
def venue(quiet_sim: SimServer) -> SimServer:
    return quiet_sim


def _trader(sim: SimServer) -> ClobClient:
    client = ClobClient(sim.url, chain_id=137, key=new_wallet().key.hex())
    client.set_api_creds(client.create_or_derive_api_key())
    return client


def _frames(ws: ClientConnection, timeout: float = 2.0) -> list[Any]:
    """Every frame that arrives within ``timeout`` (JSON decoded, arrays flattened)."""
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            raw = ws.recv(timeout=left)
        except TimeoutError:
            break
        if raw == "PONG":
            out.append(raw)
            continue
        data = json.loads(raw)
        out.extend(data if isinstance(data, list) else [data])
    return out


def _wait_for(ws: ClientConnection, pred: Callable[[Any], bool], timeout: float = 5.0) -> list[Any]:
    seen: list[Any] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.extend(_frames(ws, 0.2))
        if any(pred(f) for f in seen):
            return seen
    raise AssertionError(f"no matching frame in {seen}")


def test_book_on_subscribe_equals_rest_book(venue: SimServer, market_pool: MarketPool) -> None:
    market = market_pool.take(max_min_size=10)
    yes = market["tokens"][0]["token_id"]
    maker = _trader(venue)
    maker.create_and_post_order(OrderArgs(token_id=yes, price=0.31, size=40, side="BUY"))
    maker.create_and_post_order(OrderArgs(token_id=yes, price=0.30, size=25, side="BUY"))
    with connect(venue.ws_url + "/market") as ws:
        ws.send(json.dumps({"assets_ids": [yes], "type": "market", "custom_feature_enabled": True}))
        frames = _frames(ws, 1.0)
    rest = venue.http.get("/book", params={"token_id": yes}).json()
    books = [f for f in frames if f["event_type"] == "book"]
    assert len(books) == 1
    book = books[0]
    for key in ("market", "asset_id", "bids", "asks", "tick_size", "min_order_size", "neg_risk"):
        assert book[key] == rest[key]
    assert book["bids"] == [{"price": "0.3", "size": "25"}, {"price": "0.31", "size": "40"}]
    assert generate_orderbook_summary_hash(parse_raw_orderbook_summary(book)) == book["hash"]


def test_price_change_trades_and_user_events_follow_a_fill(
    venue: SimServer, market_pool: MarketPool
) -> None:
    market = market_pool.take(max_min_size=10)
    yes, no = (t["token_id"] for t in market["tokens"])
    maker, taker = _trader(venue), _trader(venue)
    with (
        connect(venue.ws_url + "/market") as feed,
        connect(venue.ws_url + "/user") as user,
    ):
        feed.send(json.dumps({"assets_ids": [yes, no], "type": "market"}))
        _frames(feed, 0.5)
        creds = maker.creds
        user.send(
            json.dumps(
                {
                    "auth": {
                        "apiKey": creds.api_key,
                        "secret": creds.api_secret,
                        "passphrase": creds.api_passphrase,
                    },
                    "markets": [market["condition_id"]],
                    "type": "user",
                }
            )
        )
        placed = maker.create_and_post_order(
            OrderArgs(token_id=yes, price=0.6, size=10, side="BUY")
        )
        seen = _wait_for(feed, lambda f: f.get("event_type") == "price_change")
        change = next(f for f in seen if f.get("event_type") == "price_change")
        assert change["market"] == market["condition_id"]
        by_asset = {c["asset_id"]: c for c in change["price_changes"]}
        assert by_asset[yes] | {"hash": ""} == {
            "asset_id": yes,
            "price": "0.6",
            "size": "10",
            "side": "BUY",
            "hash": "",
            "best_bid": "0.6",
            "best_ask": "0",
        }
        assert by_asset[no]["side"] == "SELL"
        assert by_asset[no]["price"] == "0.4"
        assert len(by_asset[yes]["hash"]) == 40

        # A BUY of NO at 0.4 matches the YES bid at 0.6: a complete set is minted.
        taker.create_and_post_market_order(
            MarketOrderArgs(token_id=no, amount=1.6, side="BUY"), order_type=OrderType.FOK
        )
        seen = _wait_for(feed, lambda f: f.get("event_type") == "last_trade_price")
        last = next(f for f in seen if f.get("event_type") == "last_trade_price")
        assert (last["asset_id"], last["price"], last["side"], last["size"]) == (
            no,
            "0.4",
            "BUY",
            "4",
        )
        assert any(f.get("event_type") == "book" for f in _frames(feed, 0.5) + seen)

        mine = _wait_for(user, lambda f: f.get("event_type") == "trade")
        orders = [f for f in mine if f.get("event_type") == "order"]
        assert orders[0]["type"] == "PLACEMENT"
        assert orders[0]["id"] == placed["orderID"]
        assert any(o["type"] == "UPDATE" and o["size_matched"] == "4" for o in orders)
        trade = next(f for f in mine if f.get("event_type") == "trade")
        assert trade["type"] == "TRADE"
        assert trade["status"] == "MATCHED"
        assert trade["maker_orders"][0]["order_id"] == placed["orderID"]
        assert trade["maker_orders"][0]["matched_amount"] == "4"
        # MATCHED -> MINED -> CONFIRMED as sim time passes (a few seconds at speed 1).
        later = _wait_for(user, lambda f: f.get("status") == "CONFIRMED", timeout=10)
        assert [f["status"] for f in later if f.get("event_type") == "trade"][-1] == "CONFIRMED"


def test_user_channel_refuses_bad_credentials(venue: SimServer) -> None:
    trader = _trader(venue)
    with connect(venue.ws_url + "/user") as ws:
        ws.send(
            json.dumps(
                {
                    "auth": {
                        "apiKey": trader.creds.api_key,
                        "secret": "wrong",
                        "passphrase": trader.creds.api_passphrase,
                    },
                    "type": "user",
                }
            )
        )
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008


def test_ping_pong_and_silent_drop_fault(venue: SimServer, market_pool: MarketPool) -> None:
    yes = market_pool.take(neg_risk=None, max_min_size=10)["tokens"][0]["token_id"]
    with connect(venue.ws_url + "/market") as ws:
        ws.send(json.dumps({"assets_ids": [yes], "type": "market"}))
        _frames(ws, 0.5)
        ws.send("PING")
        assert ws.recv(timeout=2) == "PONG"
        venue.fault(ws_drop=True)
        try:
            ws.send("PING")
            assert _frames(ws, 1.5) == []  # no PONG, no events: the feed is dead ...
            ws.ping().wait(timeout=2)  # ... while the TCP connection is still open
            with connect(venue.ws_url + "/market") as fresh:  # a reconnect recovers
                fresh.send("PING")
                assert fresh.recv(timeout=2) == "PONG"
        finally:
            venue.fault(reset=True)


def test_dynamic_subscribe_and_unsubscribe(venue: SimServer, market_pool: MarketPool) -> None:
    first = market_pool.take(max_min_size=10)["tokens"][0]["token_id"]
    second = market_pool.take(max_min_size=10)["tokens"][0]["token_id"]
    trader = _trader(venue)
    with connect(venue.ws_url + "/market") as ws:
        ws.send(json.dumps({"assets_ids": [first], "type": "market"}))
        assert [f["asset_id"] for f in _frames(ws, 0.5)] == [first]
        ws.send(json.dumps({"operation": "subscribe", "assets_ids": [second]}))
        assert [f["asset_id"] for f in _frames(ws, 0.5)] == [second]
        ws.send(json.dumps({"operation": "unsubscribe", "assets_ids": [first]}))
        time.sleep(0.2)
        trader.create_and_post_order(OrderArgs(token_id=first, price=0.2, size=10, side="BUY"))
        trader.create_and_post_order(OrderArgs(token_id=second, price=0.2, size=10, side="BUY"))
        changes = [f for f in _frames(ws, 1.0) if f["event_type"] == "price_change"]
        assets = {c["asset_id"] for f in changes for c in f["price_changes"]}
        assert assets == {second}


def test_best_bid_ask_only_with_the_custom_feature(
    venue: SimServer, market_pool: MarketPool
) -> None:
    yes = market_pool.take(max_min_size=10)["tokens"][0]["token_id"]
    trader = _trader(venue)
    with (
        connect(venue.ws_url + "/market") as custom,
        connect(venue.ws_url + "/market") as plain,
    ):
        custom.send(
            json.dumps({"assets_ids": [yes], "type": "market", "custom_feature_enabled": True})
        )
        plain.send(json.dumps({"assets_ids": [yes], "type": "market"}))
        _frames(custom, 0.5)
        _frames(plain, 0.5)
        trader.create_and_post_order(OrderArgs(token_id=yes, price=0.33, size=10, side="BUY"))
        seen = _wait_for(custom, lambda f: f.get("event_type") == "best_bid_ask")
        top = next(f for f in seen if f.get("event_type") == "best_bid_ask")
        assert (top["asset_id"], top["best_bid"], top["best_ask"]) == (yes, "0.33", "0")
        assert all(f.get("event_type") != "best_bid_ask" for f in _frames(plain, 0.7))
