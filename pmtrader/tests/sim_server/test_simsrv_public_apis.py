"""Gamma, the Data API and the chain JSON-RPC of the local exchange have production's shapes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from pmtrader.testing import MarketPool, SimServer, new_wallet
from py_clob_client_v2 import ClobClient, OrderArgs

pytestmark = pytest.mark.slow

PUSD = "0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB"
CTF = "0x4D97DCd97eC945f40cF65F87097ACe5EA0476045"
EXCHANGE_V2 = "0xE111180000d2663C0091e4f400237545B87B996B"


@pytest.fixture
def venue(quiet_sim: SimServer) -> SimServer:
    return quiet_sim


def _gamma(sim: SimServer, path: str, **params: Any) -> Any:
    response = sim.http.get("/gamma" + path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_gamma_markets_encode_lists_as_json_strings(venue: SimServer) -> None:
    markets = _gamma(venue, "/markets", limit=500)
    assert len(markets) >= 30
    for market in markets:
        assert isinstance(market["id"], str)
        outcomes = json.loads(market["outcomes"])
        tokens = json.loads(market["clobTokenIds"])
        prices = json.loads(market["outcomePrices"])
        assert outcomes == ["Yes", "No"]
        assert len(tokens) == 2
        assert sum(float(p) for p in prices) == pytest.approx(1.0)
        assert market["conditionId"].startswith("0x")
        assert str(market["orderPriceMinTickSize"]) in {"0.01", "0.001", "0.005", "0.0025"}
    one = markets[0]
    assert _gamma(venue, f"/markets/{one['id']}")["conditionId"] == one["conditionId"]
    assert _gamma(venue, f"/markets/slug/{one['slug']}")["id"] == one["id"]
    by_token = _gamma(venue, "/markets", clob_token_ids=json.loads(one["clobTokenIds"])[1])
    assert [m["id"] for m in by_token] == [one["id"]]
    by_condition = _gamma(venue, "/markets", condition_ids=one["conditionId"])
    assert [m["id"] for m in by_condition] == [one["id"]]


def test_gamma_filters_order_and_paging(venue: SimServer) -> None:
    everything = _gamma(venue, "/markets", limit=500)
    top = _gamma(venue, "/markets", order="volumeNum", ascending="false", limit=3)
    assert [m["volumeNum"] for m in top] == sorted(
        (m["volumeNum"] for m in everything), reverse=True
    )[:3]
    page2 = _gamma(venue, "/markets", limit=5, offset=5)
    assert [m["id"] for m in page2] == [m["id"] for m in everything[5:10]]
    rich = _gamma(venue, "/markets", liquidity_num_min=100_000, limit=500)
    assert rich
    assert all(m["liquidityNum"] >= 100_000 for m in rich)
    closed = _gamma(venue, "/markets", closed="true", limit=500)
    assert all(m["closed"] for m in closed)
    assert len(closed) + len(_gamma(venue, "/markets", closed="false", limit=500)) == len(
        everything
    )
    soon = _gamma(venue, "/markets", end_date_max="2100-01-01", end_date_min="2000-01-01")
    assert len(soon) == min(len(everything), 100)


def test_gamma_events_tags_and_search(venue: SimServer) -> None:
    events = _gamma(venue, "/events", limit=100)
    assert len(events) >= 5
    neg = [e for e in events if e["negRisk"]]
    assert neg
    assert len(neg[0]["markets"]) >= 3
    assert isinstance(neg[0]["markets"][0]["clobTokenIds"], str)
    assert _gamma(venue, f"/events/{neg[0]['id']}")["slug"] == neg[0]["slug"]
    assert _gamma(venue, f"/events/slug/{neg[0]['slug']}")["id"] == neg[0]["id"]
    tags = _gamma(venue, "/tags")
    crypto = next(t for t in tags if t["label"] == "Crypto")
    tagged = _gamma(venue, "/events", tag_id=crypto["id"])
    assert tagged
    assert all(any(t["label"] == "Crypto" for t in e["tags"]) for e in tagged)
    found = _gamma(venue, "/public-search", q="bitcoin")
    assert found["events"]
    assert "Bitcoin" in found["events"][0]["title"]
    missing = venue.http.get("/gamma/markets/999999999")
    assert (missing.status_code, missing.json()) == (404, {"error": "market not found"})


def test_data_api_and_chain_follow_a_trade(venue: SimServer, market_pool: MarketPool) -> None:
    clob = market_pool.take(neg_risk=None, max_min_size=20)
    market = _gamma(venue, "/markets", condition_ids=clob["condition_id"])[0]
    yes, no = json.loads(market["clobTokenIds"])
    wallets = [new_wallet(), new_wallet()]
    clients = []
    for wallet in wallets:
        client = ClobClient(venue.url, chain_id=137, key=wallet.key.hex())
        client.set_api_creds(client.create_or_derive_api_key())
        clients.append(client)
    maker, taker = clients
    maker.create_and_post_order(OrderArgs(token_id=yes, price=0.3, size=20, side="BUY"))
    taker.create_and_post_order(OrderArgs(token_id=no, price=0.7, size=20, side="BUY"))
    buyer = wallets[1].address

    positions = venue.http.get("/data-api/positions", params={"user": buyer}).json()
    assert len(positions) == 1
    pos = positions[0]
    assert (pos["asset"], pos["conditionId"], pos["size"], pos["outcome"]) == (
        no,
        market["conditionId"],
        20.0,
        "No",
    )
    assert pos["avgPrice"] == pytest.approx(0.7)
    assert pos["oppositeAsset"] == yes
    trades = venue.http.get("/data-api/trades", params={"user": buyer}).json()
    assert [(t["side"], t["asset"], t["size"], t["price"]) for t in trades] == [
        ("BUY", no, 20.0, 0.7)
    ]
    assert trades[0]["transactionHash"].startswith("0x")
    maker_rows = venue.http.get(
        "/data-api/trades", params={"user": wallets[0].address, "takerOnly": "false"}
    ).json()
    assert [(t["side"], t["asset"]) for t in maker_rows] == [("BUY", yes)]
    activity = venue.http.get("/data-api/activity", params={"user": buyer}).json()
    assert activity[0]["type"] == "TRADE"
    assert activity[0]["usdcSize"] == pytest.approx(14.0)
    value = venue.http.get("/data-api/value", params={"user": buyer}).json()
    assert value[0]["user"] == buyer
    assert value[0]["value"] > 0
    bad = venue.http.get("/data-api/positions")
    assert bad.status_code == 400

    def rpc(method: str, *params: Any) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        response = venue.http.post("/chain", json=body).json()
        assert "error" not in response, response
        return response["result"]

    assert rpc("eth_chainId") == "0x89"
    assert int(rpc("eth_blockNumber"), 16) > 0
    assert int(rpc("eth_getBalance", buyer, "latest"), 16) > 0
    balance_call = "0x70a08231" + abi_encode(["address"], [buyer]).hex()
    (pusd,) = abi_decode(
        ["uint256"],
        bytes.fromhex(rpc("eth_call", {"to": PUSD, "data": balance_call}, "latest")[2:]),
    )
    fd = venue.http.get(f"/clob-markets/{market['conditionId']}").json()["fd"]
    fee = Decimal(20) * Decimal(str(fd["r"])) * (Decimal("0.7") * Decimal("0.3")) ** fd["e"]
    # 10 000 pUSD minus 20 shares at 0.70, minus the taker's platform fee (floored to 1e-6).
    assert pusd == 10_000_000_000 - 14_000_000 - int(fee * 1_000_000)
    allowance_call = "0xdd62ed3e" + abi_encode(["address", "address"], [buyer, EXCHANGE_V2]).hex()
    (allowed,) = abi_decode(
        ["uint256"], bytes.fromhex(rpc("eth_call", {"to": PUSD, "data": allowance_call})[2:])
    )
    assert allowed == 2**256 - 1
    ctf_call = "0x00fdd58e" + abi_encode(["address", "uint256"], [buyer, int(no)]).hex()
    (shares,) = abi_decode(
        ["uint256"], bytes.fromhex(rpc("eth_call", {"to": CTF, "data": ctf_call})[2:])
    )
    assert shares == 20_000_000
    unknown = venue.http.post(
        "/chain", json={"jsonrpc": "2.0", "id": 2, "method": "eth_sendTransaction"}
    ).json()
    assert unknown["error"]["code"] == -32601
