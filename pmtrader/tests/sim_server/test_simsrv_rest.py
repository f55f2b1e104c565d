"""Raw HTTP against the local exchange: production's statuses and messages for every bad input.

Requests are signed with the official client's header helpers, then sent by hand so that the
tests can tamper with exactly one thing at a time. After each rejection the ledger is unchanged.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from pmtrader.testing import MarketPool, SimServer, new_wallet
from py_clob_client_v2 import ApiCreds, ClobClient, OrderArgs
from py_clob_client_v2.clob_types import RequestArgs
from py_clob_client_v2.headers.headers import create_level_2_headers
from py_clob_client_v2.order_utils.model.order_data_v2 import order_to_json_v2
from py_clob_client_v2.signer import Signer

pytestmark = pytest.mark.slow


@pytest.fixture
def venue(quiet_sim: SimServer) -> SimServer:
    return quiet_sim


class Raw:
    """A wallet with an API key that signs requests like the official client."""

    def __init__(self, sim: SimServer) -> None:
        wallet = new_wallet()
        self.sim = sim
        self.key = wallet.key.hex()
        self.client = ClobClient(sim.url, chain_id=137, key=self.key)
        self.creds: ApiCreds = self.client.create_or_derive_api_key()
        self.client.set_api_creds(self.creds)
        self.signer = Signer(self.key, 137)

    def headers(self, method: str, path: str, body: str | None = None) -> dict[str, str]:
        args = RequestArgs(method=method, request_path=path, body=body, serialized_body=body)
        headers: dict[str, str] = create_level_2_headers(self.signer, self.creds, args)
        return headers

    def send(
        self,
        method: str,
        path: str,
        body: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        return self.sim.http.request(
            method,
            path,
            content=body.encode() if body is not None else None,
            headers=headers if headers is not None else self.headers(method, path, body),
            params=params,
        )

    def balance(self) -> str:
        r = self.send("GET", "/balance-allowance", params={"asset_type": "COLLATERAL"})
        assert r.status_code == 200
        balance: str = r.json()["balance"]
        return balance


def _order_body(raw: Raw, token: str, **changes: Any) -> str:
    order = raw.client.create_order(OrderArgs(token_id=token, price=0.1, size=10, side="BUY"))
    payload = order_to_json_v2(order, raw.creds.api_key, "GTC")
    payload.update(changes)
    return json.dumps(payload, separators=(",", ":"))


def test_meta_endpoints(venue: SimServer) -> None:
    assert venue.http.get("/").json() == "OK"
    assert venue.http.get("/version").json() == {"version": 2}
    server_time = venue.http.get("/time").json()
    assert isinstance(server_time, int)
    assert abs(server_time - time.time()) < 5


def test_public_errors_have_production_status_and_shape(
    venue: SimServer, market_pool: MarketPool
) -> None:
    token = market_pool.all[0]["tokens"][0]["token_id"]
    cases = [
        ("/book", {}, 400, "Invalid token id"),
        ("/book", {"token_id": "1"}, 404, "No orderbook exists for the requested token id"),
        ("/price", {"token_id": token, "side": "UP"}, 400, "Invalid side"),
        ("/markets/0xdead", {}, 404, "market not found"),
        ("/markets", {"next_cursor": "!!"}, 400, "invalid next_cursor '!!'"),
        ("/no-such-path", {}, 404, "Not Found"),
    ]
    for path, params, status, message in cases:
        response = venue.http.get(path, params=params)
        assert (response.status_code, response.json()) == (status, {"error": message}), path


def test_tick_sizes_stringify_to_the_clients_table_keys(venue: SimServer) -> None:
    keys = {"0.1", "0.01", "0.005", "0.0025", "0.001", "0.0001"}
    cursor, seen = "MA==", set()
    while cursor != "LTE=":
        page = venue.http.get("/markets", params={"next_cursor": cursor}).json()
        for market in page["data"]:
            token = market["tokens"][0]["token_id"]
            tick = venue.http.get("/tick-size", params={"token_id": token}).json()
            seen.add(str(tick["minimum_tick_size"]))
            info = venue.http.get(f"/clob-markets/{market['condition_id']}").json()
            assert str(info["mts"]) == str(tick["minimum_tick_size"])
            assert info["t"][0]["t"] == token
        cursor = page["next_cursor"]
    assert seen <= keys
    assert len(seen) >= 3


def test_batch_price_endpoints(venue: SimServer, market_pool: MarketPool) -> None:
    token = market_pool.take(max_min_size=10)["tokens"][0]["token_id"]
    maker = Raw(venue)
    maker.client.create_and_post_order(OrderArgs(token_id=token, price=0.2, size=10, side="BUY"))
    prices = venue.http.post("/prices", json=[{"token_id": token, "side": "BUY"}]).json()
    assert prices == {token: {"BUY": "0.2"}}
    last = venue.http.post("/last-trades-prices", json=[{"token_id": token}]).json()
    assert last == [{"token_id": token, "price": "0", "side": ""}]
    history = venue.http.get(
        "/prices-history", params={"market": token, "interval": "1d", "fidelity": 60}
    ).json()["history"]
    assert 20 <= len(history) <= 26
    assert all(0 < p["p"] < 1 for p in history)
    maker.client.cancel_all()


def test_malformed_and_forged_orders_are_refused_with_the_ledger_unchanged(
    venue: SimServer, market_pool: MarketPool
) -> None:
    token = market_pool.take(max_min_size=10)["tokens"][0]["token_id"]
    raw, other = Raw(venue), Raw(venue)
    before = raw.balance()
    cases = [
        ("{not json", 400, "Invalid order payload"),
        ('{"order": 1}', 400, "Invalid order payload"),
        (_order_body(raw, token, owner=other.creds.api_key), 400, None),
        (_order_body(raw, token, orderType="IOC"), 400, "Invalid order payload"),
        (_order_body(raw, token, orderType="FOK", postOnly=True), 400, None),
    ]
    messages = []
    for body, status, message in cases:
        response = raw.send("POST", "/order", body)
        assert response.status_code == status, body
        messages.append(response.json()["error"])
        if message is not None:
            assert response.json()["error"] == message
    assert messages[2] == "the order owner has to be the owner of the API KEY"
    assert messages[4] == "invalid post-only order: only GTC and GTD order types are allowed"

    # An order signed by someone else's key: the signer is not the API key's address.
    foreign = json.loads(_order_body(other, token))
    foreign["owner"] = raw.creds.api_key
    response = raw.send("POST", "/order", json.dumps(foreign, separators=(",", ":")))
    assert response.json()["error"] == (
        "the order signer address has to be the address of the API KEY"
    )
    unknown = json.loads(_order_body(raw, token))
    unknown["order"]["tokenId"] = "12345"
    response = raw.send("POST", "/order", json.dumps(unknown, separators=(",", ":")))
    assert (response.status_code, response.json()["error"]) == (400, "Invalid token id")
    assert raw.balance() == before
    assert raw.client.get_open_orders() == []


@pytest.mark.parametrize("tamper", ["body", "path", "timestamp", "passphrase", "address"])
def test_l2_tampering_is_401(venue: SimServer, tamper: str) -> None:
    raw = Raw(venue)
    body = '{"orderID":"0x01"}'
    headers = raw.headers("DELETE", "/order", body)
    path = "/order"
    if tamper == "body":
        body = '{"orderID":"0x02"}'
    elif tamper == "path":
        path = "/orders"
    elif tamper == "timestamp":
        headers["POLY_TIMESTAMP"] = str(int(headers["POLY_TIMESTAMP"]) + 1)
    elif tamper == "passphrase":
        headers["POLY_PASSPHRASE"] = "x" + headers["POLY_PASSPHRASE"]
    else:
        headers["POLY_ADDRESS"] = new_wallet().address
    response = raw.send("DELETE", path, body, headers=headers)
    assert (response.status_code, response.json()) == (
        401,
        {"error": "Unauthorized/Invalid api key"},
    )
    untouched = raw.send("DELETE", "/order", '{"orderID":"0x01"}')
    assert untouched.status_code == 200
    assert untouched.json() == {"canceled": [], "not_canceled": {"0x01": "order not found"}}


def test_stale_headers_are_refused(venue: SimServer) -> None:
    raw = Raw(venue)
    old = int(time.time()) - 3600
    signer = raw.signer
    args = RequestArgs(method="GET", request_path="/data/orders")
    headers = create_level_2_headers(signer, raw.creds, args, timestamp=old)
    response = raw.send("GET", "/data/orders", headers=headers)
    assert response.status_code == 401


def test_l1_errors(venue: SimServer) -> None:
    response = venue.http.post("/auth/api-key", headers={"POLY_ADDRESS": "0x1"})
    assert (response.status_code, response.json()) == (
        401,
        {"error": "Invalid L1 Request headers"},
    )


def test_trades_paginate_to_lte(venue: SimServer, market_pool: MarketPool) -> None:
    token, no_token = (t["token_id"] for t in market_pool.take()["tokens"])
    maker, taker = Raw(venue), Raw(venue)
    for _ in range(3):
        maker.client.create_and_post_order(OrderArgs(token_id=token, price=0.5, size=5, side="BUY"))
    taker.client.create_and_post_order(OrderArgs(token_id=no_token, price=0.5, size=15, side="BUY"))
    first = taker.send("GET", "/data/trades", params={"next_cursor": "MA=="}).json()
    assert first["next_cursor"] == "LTE="
    assert first["count"] == len(first["data"]) == 3
    assert len(taker.client.get_trades()) == 3
    heartbeat = taker.client.post_heartbeat("")
    assert heartbeat["heartbeat_id"]
    assert taker.client.post_heartbeat(heartbeat["heartbeat_id"])["heartbeat_id"]
    with pytest.raises(Exception, match="Invalid Heartbeat ID"):
        taker.client.post_heartbeat("wrong")
