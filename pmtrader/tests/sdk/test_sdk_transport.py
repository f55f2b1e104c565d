"""Transport behaviour that needs no venue: construction does no I/O; dead hosts map cleanly."""

from __future__ import annotations

import asyncio
import socket
import threading

import httpx
import pytest
from pmtrader._amounts import Amounts
from pmtrader._http import AuthLevel, Request, Service

from pmtrader import (
    AsyncClient,
    Client,
    ConnectionFailedError,
    OrderStatusUnknownError,
    RetryPolicy,
    Secret,
    Settings,
    Side,
)

KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002)


def dead_url() -> str:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class Counting(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += 1
        return super().handle_request(request)


def test_constructing_and_closing_clients_does_no_io() -> None:
    settings = Settings.for_sim(dead_url(), private_key=Secret(KEY))
    transport = Counting()
    client = Client(settings, transport=transport)
    assert client.address.startswith("0x")  # derived from the key locally
    client.close()
    assert transport.sent == 0

    async def build() -> None:
        async with AsyncClient(settings):
            pass

    asyncio.run(build())


def test_a_dead_host_is_a_connection_error_after_the_retries() -> None:
    transport = Counting()
    client = Client(Settings.for_sim(dead_url()), transport=transport, retry=FAST)
    with client, pytest.raises(ConnectionFailedError, match="GET /book") as info:
        client.books.get_order_book("1")
    assert transport.sent == 3
    assert info.value.path == "/book"


def test_an_order_to_a_dead_host_is_never_sent_twice_and_is_known_unsent() -> None:
    # A refused connection means the order never left: safe to say so (not "status unknown").
    transport = Counting()
    settings = Settings.for_sim(dead_url(), private_key=Secret(KEY))
    with Client(settings, transport=transport, retry=FAST) as client:
        request = Request.send(
            "POST", Service.CLOB, "/order", {"order": {}}, order_hashes=("0xabc",)
        )
        with pytest.raises(ConnectionFailedError) as info:
            client._state.runner.send(request)
    assert not isinstance(info.value, OrderStatusUnknownError)
    assert transport.sent == 1


def test_an_order_whose_answer_never_comes_is_status_unknown() -> None:
    # A server that accepts the connection, reads the request and closes without answering.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"

    def swallow() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.close()

    thread = threading.Thread(target=swallow, daemon=True)
    thread.start()
    transport = Counting()
    with Client(Settings.for_sim(url), transport=transport, retry=FAST) as client:
        request = Request.send(
            "POST",
            Service.CLOB,
            "/order",
            {"order": {}},
            auth=AuthLevel.NONE,
            order_hashes=("0xabc",),
        )
        with pytest.raises(OrderStatusUnknownError, match="look it up") as info:
            client._state.runner.send(request)
    thread.join(5)
    listener.close()
    assert info.value.order_hashes == ("0xabc",)
    assert transport.sent == 1


def test_amounts_know_their_shares_and_pusd() -> None:
    buy = Amounts(Side.BUY, 5_000_000, 10_000_000)
    sell = Amounts(Side.SELL, 10_000_000, 4_900_000)
    assert (buy.shares, buy.pusd) == (10_000_000, 5_000_000)
    assert (sell.shares, sell.pusd) == (10_000_000, 4_900_000)
