"""Pagination ends even when a venue misbehaves (a cursor that never reaches ``LTE=``, an
ignored ``offset``), where the official client would loop forever.

The misbehaving venue is an ``httpx.MockTransport``: the local exchange paginates correctly, so
this is the one place a fake answer is the thing under test.
"""

from __future__ import annotations

import json

import httpx

from pmtrader import ApiCredentials, Client, Secret, Settings

KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
CREDS = ApiCredentials.from_strings("k", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "p")


def _order(i: int) -> dict[str, object]:
    return {"id": f"0x{i:064x}", "side": "BUY", "original_size": "5", "price": "0.5"}


def test_a_cursor_that_comes_back_ends_the_walk() -> None:
    calls: list[str] = []

    def venue(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params["next_cursor"]
        calls.append(cursor)
        # Page "MA==" points to "MQ==", which points back to "MA==": a loop, never "LTE=".
        nxt = "MQ==" if cursor == "MA==" else "MA=="
        body = {"data": [_order(len(calls))], "next_cursor": nxt}
        return httpx.Response(200, content=json.dumps(body).encode())

    settings = Settings(private_key=Secret(KEY), api_credentials=CREDS)
    with Client(settings, transport=httpx.MockTransport(venue)) as client:
        orders = client.orders.get_open_orders()
    assert calls == ["MA==", "MQ=="]
    assert len(orders) == 2


def test_an_empty_cursor_ends_the_walk() -> None:
    def venue(request: httpx.Request) -> httpx.Response:
        body = {"data": [_order(1)], "next_cursor": ""}
        return httpx.Response(200, content=json.dumps(body).encode())

    settings = Settings(private_key=Secret(KEY), api_credentials=CREDS)
    with Client(settings, transport=httpx.MockTransport(venue)) as client:
        assert len(client.orders.get_open_orders()) == 1


def test_gamma_paging_stops_when_offset_is_ignored() -> None:
    calls = 0

    def venue(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        page = [{"id": str(i)} for i in range(3)]  # the same full page whatever the offset
        return httpx.Response(200, content=json.dumps(page).encode())

    with Client(Settings(), transport=httpx.MockTransport(venue)) as client:
        markets = list(client.gamma.iter_markets(page_size=3))
    assert [m.id for m in markets] == ["0", "1", "2"]
    assert calls == 2
