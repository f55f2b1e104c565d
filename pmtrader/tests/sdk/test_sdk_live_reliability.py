"""Retries, timeouts, lost answers and tick-size changes, against the exchange's fault injection.

Requests are counted by wrapping the real httpx transport (every request still goes to the
exchange), so "retried three times" and "sent exactly once" are observed, not assumed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from pmtrader.testing import SimServer

from pmtrader import (
    InvalidPriceError,
    OrderRejectedError,
    OrderStatusUnknownError,
    RateLimitedError,
    RequestTimeoutError,
    RetryPolicy,
    ServiceUnavailableError,
)

from .conftest import Api, Catalogue, close_api, open_api, wallet_settings

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)


class Counting(httpx.HTTPTransport):
    """The real transport, counting what it sends per ``METHOD path``."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(f"{request.method} {request.url.path}")
        return super().handle_request(request)


class AsyncCounting(httpx.AsyncHTTPTransport):
    """The async twin of :class:`Counting`."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(f"{request.method} {request.url.path}")
        return await super().handle_async_request(request)


@pytest.fixture
def faults(quiet_sim: SimServer) -> Iterator[SimServer]:
    """The quiet exchange, with every fault cleared afterwards."""
    try:
        yield quiet_sim
    finally:
        quiet_sim.fault(reset=True)


@contextlib.contextmanager
def counting_client(
    sim: SimServer, flavour: str, policy: RetryPolicy = FAST
) -> Iterator[tuple[Api, list[str]]]:
    """A wallet whose client counts requests, with a fast retry policy and a short timeout."""
    transport: Counting | AsyncCounting = Counting() if flavour == "sync" else AsyncCounting()
    settings = wallet_settings(sim, timeout=0.4)
    handle = open_api(settings, flavour, transport=transport, retry=policy)
    handle(lambda c: c.account.create_or_derive_api_key())
    try:
        yield handle, transport.sent
    finally:
        close_api(handle)


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    """``sync`` or ``async``."""
    return str(request.param)


@pytest.fixture
def counted(flavour: str, quiet_sim: SimServer) -> Iterator[tuple[Api, list[str]]]:
    """A counting client with the fast policy."""
    with counting_client(quiet_sim, flavour) as handle:
        yield handle


def test_reads_retry_through_transient_failures(
    counted: tuple[Api, list[str]], faults: SimServer, catalogue: Catalogue
) -> None:
    api, sent = counted
    token = catalogue.first().tokens[0].token_id
    faults.fault(rest_fail_rate=1.0, rest_fail_status=503, paths=["/book"])
    with pytest.raises(ServiceUnavailableError) as info:
        api(lambda c: c.books.get_order_book(token))
    assert info.value.status == 503
    assert sent.count("GET /book") == 3  # every attempt of the policy, then the error


def test_reads_get_through_flaky_hosts(
    flavour: str, faults: SimServer, catalogue: Catalogue
) -> None:
    token = catalogue.first().tokens[0].token_id
    patient = RetryPolicy(attempts=12, base_delay=0.001, max_delay=0.002)
    with counting_client(faults, flavour, patient) as (api, sent):
        faults.fault(rest_fail_rate=0.5, rest_fail_status=500, paths=["/tick-size"])
        for _ in range(6):  # half the calls fail; twelve attempts get each one through
            assert api(lambda c: c.markets.get_tick_size(token, refresh=True)) == Decimal("0.01")
    assert sent.count("GET /tick-size") > 6


def test_rate_limits_report_retry_after(
    counted: tuple[Api, list[str]], faults: SimServer, catalogue: Catalogue
) -> None:
    api, sent = counted
    token = catalogue.first().tokens[0].token_id
    faults.fault(rest_fail_rate=1.0, rest_fail_status=429, paths=["/neg-risk"])
    with pytest.raises(RateLimitedError) as info:
        api(lambda c: c.markets.get_neg_risk(token))
    assert info.value.retry_after == 1.0
    assert sent.count("GET /neg-risk") == 3  # waited the venue's second twice, then gave up


def test_an_order_post_is_sent_once_even_when_it_fails(
    counted: tuple[Api, list[str]], faults: SimServer, catalogue: Catalogue
) -> None:
    api, sent = counted
    token = catalogue.first(skip=8).tokens[0].token_id
    signed = api(lambda c: c.orders.create_order(token, "BUY", price="0.2", size=10))
    faults.fault(rest_fail_rate=1.0, rest_fail_status=503, paths=["/order"])
    with pytest.raises(ServiceUnavailableError):
        api(lambda c: c.orders.post_order(signed))
    assert sent.count("POST /order") == 1


def test_a_lost_order_answer_names_the_order_to_look_up(
    counted: tuple[Api, list[str]], faults: SimServer, catalogue: Catalogue
) -> None:
    api, sent = counted
    token = catalogue.first(skip=8).tokens[1].token_id
    signed = api(lambda c: c.orders.create_order(token, "BUY", price="0.2", size=10))
    faults.fault(drop_order_responses=1)
    with pytest.raises(OrderStatusUnknownError) as info:
        api(lambda c: c.orders.post_order(signed))
    assert info.value.order_hashes == (signed.order_hash,)
    assert sent.count("POST /order") == 1
    # The order did reach the book: the hash finds it.
    assert api(lambda c: c.orders.get_order(signed.order_hash)).status == "LIVE"


def test_slow_reads_time_out_with_a_clear_error(
    counted: tuple[Api, list[str]], faults: SimServer, catalogue: Catalogue
) -> None:
    api, sent = counted
    token = catalogue.first().tokens[0].token_id
    faults.fault(rest_delay_rate=1.0, rest_delay_ms=700, paths=["/spread"])
    with pytest.raises(RequestTimeoutError, match="timed out"):
        api(lambda c: c.books.get_spread(token))
    assert sent.count("GET /spread") == 3


def test_tick_size_changes_are_picked_up(api: Api, faults: SimServer, catalogue: Catalogue) -> None:
    market = catalogue.first(tick="0.001", skip=1)
    token = market.tokens[0].token_id
    size = max(market.minimum_order_size, Decimal(10))
    api(lambda c: c.orders.create_order(token, "BUY", price="0.123", size=size))  # caches 0.001
    stale = api(lambda c: c.orders.create_order(token, "BUY", price="0.123", size=size))
    httpx.post(
        faults.url + "/_sim/tick", json={"token_id": token, "tick_size": "0.01"}, timeout=10
    ).raise_for_status()
    try:
        with pytest.raises(OrderRejectedError, match="tick size"):
            api(lambda c: c.orders.post_order(stale))
        # The rejection dropped the cached tick: the next order is checked against 0.01.
        with pytest.raises(InvalidPriceError) as info:
            api(lambda c: c.orders.create_order(token, "BUY", price="0.123", size=size))
        assert info.value.nearest == (Decimal("0.12"), Decimal("0.13"))
        # A stream can report the change too (websocket tick_size_change).
        api(lambda c: c.markets.note_tick_size_change(token, Decimal("0.001")))
        assert api(lambda c: c.markets.get_tick_size(token)) == Decimal("0.001")
        assert api(lambda c: c.markets.get_tick_size(token, refresh=True)) == Decimal("0.01")
    finally:
        httpx.post(
            faults.url + "/_sim/tick", json={"token_id": token, "tick_size": "0.001"}, timeout=10
        ).raise_for_status()


def test_the_lively_shared_exchange_serves_consistent_books(sim: SimServer) -> None:
    from pmtrader import AsyncClient, Client, Settings

    settings = Settings.for_sim(sim.url)
    with Client(settings) as client:
        market = next(m for m in client.markets.iter_markets() if m.accepting_orders)
        token = market.tokens[0].token_id
        book = client.books.get_order_book(token, verify=True)
        assert book.asset_id == token

    async def read() -> bool:
        async with AsyncClient(settings) as aclient:
            books = await aclient.books.get_order_books([token], verify=True)
            return books[0].hash_matches()

    assert asyncio.run(read())
