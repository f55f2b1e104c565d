"""Polymarket's official client trades through pmproxy against the local exchange.

The client signs its own requests (L1 ClobAuth, L2 HMAC over the exact path and body, EIP-712
orders); the exchange verifies every signature as production does, so each passing call proves
the proxy forwarded path, body and ``POLY_*`` headers byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pmproxy.testing import ProxyServer
from pmtrader.testing import SimServer, new_wallet, start_sim
from py_clob_client_v2 import ClobClient, OpenOrderParams, OrderArgs
from websockets.sync.client import connect

from pmproxy import Settings, create_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def venue() -> Iterator[SimServer]:
    with start_sim(seed=23, flow=False) as sim:
        yield sim


def _settings(venue: SimServer, **overrides: object) -> Settings:
    return Settings(
        clob_url=venue.url,
        gamma_url=venue.gamma_url,
        data_url=venue.data_url,
        chain_url=venue.chain_url,
        ws_url=venue.ws_url,
    ).with_overrides(**overrides)


@pytest.fixture(scope="module")
def proxy(venue: SimServer) -> Iterator[ProxyServer]:
    with ProxyServer(create_app(_settings(venue))) as server:
        yield server


def _market(client: ClobClient) -> dict[str, Any]:
    page = client.get_markets()
    return next(
        m
        for m in page["data"]
        if m["accepting_orders"] and str(m["minimum_tick_size"]) == "0.01" and not m["neg_risk"]
    )


def test_the_official_client_trades_through_the_proxy(proxy: ProxyServer) -> None:
    wallet = new_wallet()
    client = ClobClient(proxy.url + "/clob", chain_id=137, key=wallet.key.hex())
    client.set_api_creds(client.create_or_derive_api_key())  # L1 signature verified
    assert client.create_or_derive_api_key().api_key == client.creds.api_key  # derive: same key

    market = _market(client)
    yes = market["tokens"][0]["token_id"]
    book = client.get_order_book(yes)
    assert client.get_order_book_hash(dict(book)) == book["hash"]

    placed = client.create_and_post_order(OrderArgs(token_id=yes, price=0.05, size=20, side="BUY"))
    assert placed["success"] is True
    assert placed["status"] == "live"  # the EIP-712 order signature verified at the exchange

    open_orders = client.get_open_orders(OpenOrderParams(asset_id=yes))  # L2 HMAC verified
    assert [o["id"] for o in open_orders] == [placed["orderID"]]
    assert client.get_order_book(yes)["bids"][-1] == {"price": "0.05", "size": "20"}

    cancelled = client.cancel_all()
    assert cancelled["canceled"] == [placed["orderID"]]
    assert client.get_open_orders(OpenOrderParams(asset_id=yes)) == []


def test_gamma_data_and_chain_go_through_too(proxy: ProxyServer, venue: SimServer) -> None:
    markets = httpx.get(proxy.url + "/gamma/markets", params={"limit": 2}).json()
    direct = httpx.get(venue.gamma_url + "/markets", params={"limit": 2}).json()
    assert markets == direct
    chain_id = httpx.post(
        proxy.url + "/chain", json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}
    ).json()
    assert chain_id["result"] == "0x89"
    positions = httpx.get(proxy.url + "/data/positions", params={"user": new_wallet().address})
    assert positions.status_code == 200


def test_the_market_websocket_is_relayed(proxy: ProxyServer) -> None:
    client = ClobClient(proxy.url + "/clob", chain_id=137)
    yes = _market(client)["tokens"][0]["token_id"]
    with connect(f"ws://127.0.0.1:{proxy.port}/ws/market", open_timeout=10) as socket:
        socket.send(json.dumps({"assets_ids": [yes], "type": "market"}))
        frame = json.loads(socket.recv(timeout=10))
        events = frame if isinstance(frame, list) else [frame]
        assert any(e.get("event_type") == "book" and e.get("asset_id") == yes for e in events)
        socket.send("PING")
        assert socket.recv(timeout=10) == "PONG"


def test_in_dry_run_the_client_trades_against_nothing(venue: SimServer) -> None:
    with ProxyServer(create_app(_settings(venue, dry_run=True))) as dry:
        wallet = new_wallet()
        client = ClobClient(dry.url + "/clob", chain_id=137, key=wallet.key.hex())
        client.set_api_creds(client.create_or_derive_api_key())  # auth still reaches the venue
        yes = _market(client)["tokens"][0]["token_id"]
        placed = client.create_and_post_order(
            OrderArgs(token_id=yes, price=0.07, size=30, side="BUY")
        )
        assert placed["status"] == "live"
        assert placed["orderID"].startswith("0x")
        assert client.get_open_orders(OpenOrderParams(asset_id=yes)) == []  # never sent
        assert {"price": "0.07", "size": "30"} not in client.get_order_book(yes)["bids"]
        assert client.cancel_all() == {"canceled": [], "not_canceled": {}}


def test_pmtraders_sdk_trades_through_the_proxy_with_pmproxy_url(
    proxy: ProxyServer, venue: SimServer
) -> None:
    from decimal import Decimal

    from pmtrader.config import Settings as SdkSettings

    from pmtrader import Client

    wallet = new_wallet()
    sdk = SdkSettings.from_env(
        {
            "PMT_ENV": "sim",
            "PMT_SIM_URL": venue.url,
            "PMPROXY_URL": proxy.url,
            "PM_PRIVATE_KEY": wallet.key.hex(),
        }
    )
    assert sdk.clob_url == proxy.url + "/clob"
    with Client(sdk) as client:
        client.account.create_or_derive_api_key()
        market = _market(ClobClient(proxy.url + "/clob", chain_id=137))
        yes = market["tokens"][0]["token_id"]
        placed = client.orders.create_and_post_order(
            yes, "BUY", price=Decimal("0.06"), size=Decimal(15)
        )
        assert placed.status == "live"
        assert [o.id for o in client.orders.get_open_orders(asset_id=yes)] == [placed.order_id]
        assert client.orders.cancel_all().canceled == [placed.order_id]
