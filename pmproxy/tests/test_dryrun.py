"""Dry-run: placing and cancelling orders never leaves the proxy; reads still do."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from pmproxy.dryrun import ANSWER, FORWARD, REFUSE, classify
from pmproxy.testing import ProxyServer, RecordingUpstream, raw_request

SIGNED = {
    "order": {
        "salt": 450883298259,
        "maker": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "signer": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "tokenId": "111",
        "makerAmount": "5000000",
        "takerAmount": "10000000",
        "side": "BUY",
        "expiration": "0",
        "signatureType": 0,
        "timestamp": "1795954678207",
        "metadata": "0x" + "0" * 64,
        "builder": "0x" + "0" * 64,
        "signature": "0x7b44" + "ab" * 63,
    },
    "owner": "00000000-1111-2222-3333-444444444444",
    "orderType": "GTC",
    "deferExec": False,
    "postOnly": False,
}


@pytest.fixture(scope="module")
def dry(start_proxy: Any, make_settings: Any) -> ProxyServer:
    server: ProxyServer = start_proxy(make_settings(dry_run=True))
    return server


@pytest.mark.parametrize(
    ("method", "path", "verdict"),
    [
        ("POST", "/order", ANSWER),
        ("POST", "/order/", ANSWER),
        ("POST", "/ORDER", ANSWER),
        ("POST", "/ord%65r", ANSWER),
        ("POST", "/orders", ANSWER),
        ("DELETE", "/order", ANSWER),
        ("DELETE", "/orders", ANSWER),
        ("DELETE", "/cancel-all", ANSWER),
        ("DELETE", "/cancel-market-orders", ANSWER),
        ("GET", "/book", FORWARD),
        ("GET", "/data/orders", FORWARD),
        ("POST", "/books", FORWARD),
        ("POST", "/auth/api-key", FORWARD),
        ("DELETE", "/auth/api-key", REFUSE),
        ("PUT", "/order", REFUSE),
        ("POST", "/order;x", REFUSE),
        ("POST", "/something-new", REFUSE),
    ],
)
def test_every_spelling_of_a_write_is_answered_or_refused(
    method: str, path: str, verdict: str
) -> None:
    assert classify(method, path) == verdict


def test_a_placed_order_gets_an_order_response_and_is_not_sent(
    dry: ProxyServer, upstream: RecordingUpstream
) -> None:
    upstream.clear()
    body = json.dumps(SIGNED, separators=(",", ":"))
    response = httpx.post(dry.url + "/clob/order", content=body, headers={"POLY_API_KEY": "k"})
    assert response.status_code == 200
    answer = response.json()
    assert answer["success"] is True
    assert answer["errorMsg"] == ""
    assert answer["status"] == "live"
    assert re.fullmatch(r"0x[0-9a-f]{64}", answer["orderID"])
    assert answer["tradeIDs"] == []
    assert response.headers["x-pmproxy-dry-run"] == "1"
    again = httpx.post(dry.url + "/clob/order", content=body).json()
    assert again["orderID"] == answer["orderID"]  # same signed order, same id
    batch = httpx.post(dry.url + "/clob/orders", content=json.dumps([SIGNED, SIGNED])).json()
    assert [entry["status"] for entry in batch] == ["live", "live"]
    assert upstream.hits == 0


def test_cancels_get_the_cancel_shape_and_are_not_sent(
    dry: ProxyServer, upstream: RecordingUpstream
) -> None:
    upstream.clear()
    with httpx.Client(base_url=dry.url) as client:
        one = client.request("DELETE", "/clob/order", content=b'{"orderID":"0xabc"}')
        many = client.request("DELETE", "/clob/orders", content=b'["0x1","0x2"]')
        everything = client.delete("/clob/cancel-all")
        market = client.request("DELETE", "/clob/cancel-market-orders", content=b'{"market":"0x9"}')
    assert one.json() == {"canceled": ["0xabc"], "not_canceled": {}}
    assert many.json() == {"canceled": ["0x1", "0x2"], "not_canceled": {}}
    assert everything.json() == {"canceled": [], "not_canceled": {}}
    assert market.json() == {"canceled": [], "not_canceled": {}}
    assert upstream.hits == 0


def test_disguised_writes_never_reach_the_upstream(
    dry: ProxyServer, upstream: RecordingUpstream
) -> None:
    upstream.clear()
    body = json.dumps(SIGNED).encode()
    for target in (b"/clob/order/", b"/clob/ORDER", b"/clob/ord%65r", b"/clob/order;v=1"):
        response = raw_request(dry.port, target, method=b"POST", body=body)
        assert response.status in (200, 403), target
    assert raw_request(dry.port, b"/clob/auth/api-key", method=b"DELETE").status == 403
    assert raw_request(dry.port, b"/clob/order", method=b"POST", body=b"{bad").status == 400
    assert upstream.hits == 0


def test_reads_and_read_like_posts_still_pass_through(
    dry: ProxyServer, upstream: RecordingUpstream
) -> None:
    upstream.clear()
    assert raw_request(dry.port, b"/clob/book?token_id=1").status == 200
    assert raw_request(dry.port, b"/clob/books", method=b"POST", body=b"[]").status == 200
    assert [r.target for r in upstream.requests] == [b"/c/book?token_id=1", b"/c/books"]


def test_dry_run_keeps_signed_transactions_off_the_chain(
    dry: ProxyServer, upstream: RecordingUpstream
) -> None:
    upstream.clear()
    call = b'{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0x02f8"]}'
    assert httpx.post(dry.url + "/chain", content=call).status_code == 403
    assert upstream.hits == 0
