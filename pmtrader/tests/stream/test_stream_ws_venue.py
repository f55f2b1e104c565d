"""Market and user streams against the real local exchange (a private server, background flow off
so only these tests move its books; orders placed with the unmodified official client)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
import pytest_asyncio
from pmtrader.book import Book, book_hash, parse_price, parse_size
from pmtrader.config import ApiCredentials
from pmtrader.errors import AuthError, BookIntegrityError, StaleFeedError
from pmtrader.testing import SimServer, new_wallet, start_sim
from pmtrader.ws import Feed
from pmtrader.ws_events import (
    BookResynced,
    BookStale,
    BookUpdated,
    FeedRestored,
    FeedStale,
    OrderUpdate,
    TradePrinted,
    TradeUpdate,
)
from pmtrader.ws_market import MarketStream, rest_resync_check
from pmtrader.ws_user import UserStream
from py_clob_client_v2 import ClobClient, MarketOrderArgs, OrderArgs, OrderType

pytestmark = pytest.mark.slow

E = TypeVar("E")
FAST: dict[str, Any] = {
    "stale_after": 1.0,
    "ping_interval": 0.2,
    "backoff_initial": 0.05,
    "backoff_max": 0.5,
}


@pytest.fixture(scope="module")
def venue() -> Iterator[SimServer]:
    with start_sim(seed=41, flow=False) as sim:
        yield sim


def _trader(sim: SimServer) -> ClobClient:
    client = ClobClient(sim.url, chain_id=137, key=new_wallet().key.hex())
    client.set_api_creds(client.create_or_derive_api_key())
    return client


def _creds(client: ClobClient) -> ApiCredentials:
    c = client.creds
    return ApiCredentials.from_strings(c.api_key, c.api_secret, c.api_passphrase)


_used: set[str] = set()


def _fresh_market(sim: SimServer) -> dict[str, Any]:
    """A 0.01-tick market no other test in this module has touched."""
    cursor = "MA=="
    while cursor != "LTE=":
        page: dict[str, Any] = httpx.get(
            sim.url + "/markets", params={"next_cursor": cursor}
        ).json()
        market: dict[str, Any]
        for market in page["data"]:
            if str(market["minimum_tick_size"]) == "0.01" and market["condition_id"] not in _used:
                _used.add(market["condition_id"])
                return market
        cursor = page["next_cursor"]
    raise AssertionError("the catalogue ran out of 0.01-tick markets")


def _tokens(market: dict[str, Any]) -> tuple[str, str]:
    yes, no = (token["token_id"] for token in market["tokens"])
    return yes, no


async def _place(client: ClobClient, token: str, price: float, size: float, side: str) -> str:
    # The official client is synchronous; run it off the event loop the streams live on.
    args = OrderArgs(token_id=token, price=price, size=size, side=side)
    response = await asyncio.to_thread(client.create_and_post_order, args)
    order_id: str = response["orderID"]
    return order_id


async def _rest_book(sim: SimServer, token: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=sim.url) as http:
        body: dict[str, Any] = (await http.get("/book", params={"token_id": token})).json()
    return body


def _levels(side: list[dict[str, str]]) -> list[tuple[int, int]]:
    return [(parse_price(level["price"]), parse_size(level["size"])) for level in side]


async def _until(stream: Feed[Any], kind: type[E], pred: Callable[[E], bool], seen: list[Any]) -> E:
    """Read events (kept in ``seen``) until one of ``kind`` satisfies ``pred``."""
    async with asyncio.timeout(10):
        async for event in stream:
            seen.append(event)
            if isinstance(event, kind) and pred(event):
                return event
    raise AssertionError(f"the stream ended before a matching {kind.__name__}: {seen}")


async def _drain(stream: Feed[Any]) -> list[Any]:
    return [event async for event in stream]


@pytest_asyncio.fixture
async def maker(venue: SimServer) -> AsyncIterator[ClobClient]:
    yield await asyncio.to_thread(_trader, venue)


# -- market stream ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_book_on_subscribe_equals_the_rest_book(venue: SimServer, maker: ClobClient) -> None:
    yes, no = _tokens(_fresh_market(venue))
    await _place(maker, yes, 0.31, 40, "BUY")
    await _place(maker, yes, 0.30, 25, "BUY")
    await _place(maker, no, 0.55, 12.5, "BUY")  # a NO bid at 0.55 is a YES ask at 0.45
    seen: list[Any] = []
    async with MarketStream(venue.ws_url, [yes, no], **FAST) as stream:
        resynced = await _until(stream, BookResynced, lambda e: e.asset_id == yes, seen)
        book = stream.fresh_book(yes)
        rest = await _rest_book(venue, yes)
    assert book.levels("BUY") == _levels(rest["bids"]) == [(3000, 25_000_000), (3100, 40_000_000)]
    assert book.levels("SELL") == _levels(rest["asks"]) == [(4500, 12_500_000)]
    assert (book.bid, book.ask, book.tick_size) == (3100, 4500, 100)
    # Same content, same hash: REST's body hashed at the websocket snapshot's timestamp.
    rest_at_ws_time = book_hash(
        rest["market"],
        rest["asset_id"],
        str(book.timestamp),
        rest["bids"],
        rest["asks"],
        rest["min_order_size"],
        rest["tick_size"],
        rest["neg_risk"],
        rest["last_trade_price"],
    )
    assert resynced.hash == book.hash == rest_at_ws_time


@pytest.mark.asyncio
async def test_a_placed_order_arrives_as_a_price_change_on_both_legs(
    venue: SimServer, maker: ClobClient
) -> None:
    yes, no = _tokens(_fresh_market(venue))
    seen: list[Any] = []
    async with MarketStream(venue.ws_url, [yes, no], **FAST) as stream:
        async with asyncio.timeout(10):
            await stream.wait_fresh()
        await _place(maker, yes, 0.42, 15, "BUY")
        update = await _until(
            stream, BookUpdated, lambda e: e.asset_id == yes and e.book.bid == 4200, seen
        )
        assert not update.snapshot
        assert update.book.size_at("BUY", 4200) == 15_000_000
        # The NO book mirrors it: a YES bid at 0.42 is a NO ask at 0.58.
        await _until(stream, BookUpdated, lambda e: e.asset_id == no, seen)
        assert stream.book(no).best_ask() == (5800, 15_000_000)
        assert not any(isinstance(e, BookStale) for e in seen)


@pytest.mark.asyncio
async def test_a_trade_prints_and_the_book_is_resent(venue: SimServer, maker: ClobClient) -> None:
    yes, no = _tokens(_fresh_market(venue))
    taker = await asyncio.to_thread(_trader, venue)
    await _place(maker, yes, 0.6, 10, "BUY")
    seen: list[Any] = []
    async with MarketStream(venue.ws_url, [yes, no], **FAST) as stream:
        async with asyncio.timeout(10):
            await stream.wait_fresh()
        # A BUY of NO at 0.4 matches the YES bid at 0.6 (a complete set is minted).
        order = MarketOrderArgs(token_id=no, amount=1.6, side="BUY")
        await asyncio.to_thread(taker.create_and_post_market_order, order, order_type=OrderType.FOK)
        printed = await _until(stream, TradePrinted, lambda e: e.asset_id == no, seen)
        assert (printed.price, printed.size, printed.side) == (4000, 4_000_000, "BUY")
        await _until(
            stream,
            BookUpdated,
            lambda e: e.asset_id == yes and e.book.size_at("BUY", 6000) == 6_000_000,
            seen,
        )


@pytest.mark.asyncio
async def test_silent_drop_is_signalled_then_books_are_rebuilt_and_equal_rest(
    venue: SimServer, maker: ClobClient
) -> None:
    yes, no = _tokens(_fresh_market(venue))
    await _place(maker, yes, 0.25, 20, "BUY")
    checked: list[str] = []

    async def fetch(token: str) -> bytes:
        async with httpx.AsyncClient(base_url=venue.url) as http:
            return (await http.get("/book", params={"token_id": token})).content

    check = rest_resync_check(fetch)

    async def recording_check(book: Book) -> None:
        await check(book)
        checked.append(book.asset_id)

    seen: list[Any] = []
    async with MarketStream(venue.ws_url, [yes, no], on_resync=recording_check, **FAST) as stream:
        async with asyncio.timeout(10):
            await stream.wait_fresh()
        assert sorted(checked) == sorted([yes, no])
        checked.clear()
        venue.fault(ws_drop=True)  # every open socket goes silent; its TCP connection stays up
        try:
            stale = await _until(stream, BookStale, lambda e: True, seen)
            assert stale.reason == "silent"
            assert set(stale.asset_ids) == {yes, no}
            assert isinstance(stale.error, StaleFeedError)
            with pytest.raises(StaleFeedError, match="stale"):
                stream.fresh_book(yes)
            # The venue moves on while we are away.
            await _place(maker, yes, 0.27, 30, "BUY")
            await _until(stream, BookResynced, lambda e: e.asset_id == yes, seen)
            async with asyncio.timeout(10):
                await stream.wait_fresh()
        finally:
            venue.fault(reset=True)
        assert stream.connections >= 2
        book = stream.fresh_book(yes)
        rest = await _rest_book(venue, yes)
    assert sorted(checked) == sorted([yes, no])
    assert book.levels("BUY") == _levels(rest["bids"]) == [(2500, 20_000_000), (2700, 30_000_000)]
    assert book.levels("SELL") == _levels(rest["asks"])
    kinds = [type(e).__name__ for e in seen]
    assert "BookResynced" in kinds[kinds.index("BookStale") :]


@pytest.mark.asyncio
async def test_a_failing_resync_check_keeps_the_book_stale_and_asks_again(
    venue: SimServer,
) -> None:
    yes, _ = _tokens(_fresh_market(venue))
    refusals = 0

    async def refuse_once(book: Book) -> None:
        nonlocal refusals
        if refusals == 0:
            refusals += 1
            raise BookIntegrityError("REST disagrees")

    seen: list[Any] = []
    async with MarketStream(venue.ws_url, [yes], on_resync=refuse_once, **FAST) as stream:
        stale = await _until(stream, BookStale, lambda e: True, seen)
        assert stale.reason == "inconsistent"
        assert "REST disagrees" in str(stale.error)
        await _until(stream, BookResynced, lambda e: e.asset_id == yes, seen)
        assert not stream.book(yes).stale
        assert stream.connections == 1  # resynchronised on the same connection


@pytest.mark.asyncio
async def test_dynamic_subscribe_and_unsubscribe(venue: SimServer, maker: ClobClient) -> None:
    first, _ = _tokens(_fresh_market(venue))
    second, _ = _tokens(_fresh_market(venue))
    seen: list[Any] = []
    async with MarketStream(venue.ws_url, [first], **FAST) as stream:
        await _until(stream, BookResynced, lambda e: e.asset_id == first, seen)
        await stream.subscribe([second])
        assert stream.book(second).stale
        await _until(stream, BookResynced, lambda e: e.asset_id == second, seen)
        await stream.unsubscribe([first])
        assert set(stream.books) == {second}
        seen.clear()
        await _place(maker, first, 0.2, 10, "BUY")
        await _place(maker, second, 0.2, 10, "BUY")
        await _until(stream, BookUpdated, lambda e: e.asset_id == second, seen)
    assert all(getattr(e, "asset_id", second) == second for e in seen)


# -- user stream -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_user_stream_sees_the_order_its_fill_and_the_trade(
    venue: SimServer, maker: ClobClient
) -> None:
    market = _fresh_market(venue)
    yes, no = _tokens(market)
    taker = await asyncio.to_thread(_trader, venue)
    seen: list[Any] = []
    stream = UserStream(venue.ws_url, _creds(maker), [market["condition_id"]], **FAST)
    async with stream:
        async with asyncio.timeout(10):
            await stream.wait_connected()
        order_id = await _place(maker, yes, 0.6, 10, "BUY")
        placed = await _until(stream, OrderUpdate, lambda e: e.kind == "PLACEMENT", seen)
        assert (placed.order_id, placed.price, placed.original_size) == (order_id, 6000, 10_000_000)
        order = MarketOrderArgs(token_id=no, amount=1.6, side="BUY")
        await asyncio.to_thread(taker.create_and_post_market_order, order, order_type=OrderType.FOK)
        filled = await _until(stream, OrderUpdate, lambda e: e.kind == "UPDATE", seen)
        assert (filled.size_matched, filled.remaining) == (4_000_000, 6_000_000)
        trade = await _until(stream, TradeUpdate, lambda e: True, seen)
        assert trade.status == "MATCHED"
        assert [(m.order_id, m.matched_amount) for m in trade.maker_orders] == [
            (order_id, 4_000_000)
        ]
        assert not trade.final
    assert maker.creds.api_secret not in repr(stream)
    assert maker.creds.api_passphrase not in repr(stream)


@pytest.mark.asyncio
async def test_user_stream_reports_a_silent_drop_and_recovers(
    venue: SimServer, maker: ClobClient
) -> None:
    market = _fresh_market(venue)
    yes, _ = _tokens(market)
    seen: list[Any] = []
    async with UserStream(venue.ws_url, _creds(maker), **FAST) as stream:
        async with asyncio.timeout(10):
            await stream.wait_connected()
        venue.fault(ws_drop=True)
        try:
            stale = await _until(stream, FeedStale, lambda e: True, seen)
            assert stale.reason == "silent"
            restored = await _until(stream, FeedRestored, lambda e: True, seen)
            assert restored.reconnects >= 1
        finally:
            venue.fault(reset=True)
        order_id = await _place(maker, yes, 0.3, 20, "BUY")
        placed = await _until(stream, OrderUpdate, lambda e: e.order_id == order_id, seen)
        assert placed.kind == "PLACEMENT"


@pytest.mark.asyncio
async def test_user_stream_with_a_wrong_secret_ends_with_an_auth_error(
    venue: SimServer, maker: ClobClient
) -> None:
    good = _creds(maker)
    wrong = ApiCredentials.from_strings(good.key, "d3Jvbmc=", good.passphrase.reveal())
    async with UserStream(venue.ws_url, wrong, **FAST) as stream:
        with pytest.raises(AuthError, match="refused API key") as info:
            await asyncio.wait_for(_drain(stream), 10)
    assert "d3Jvbmc=" not in str(info.value)
    assert stream.connections == 1  # no retry loop on a refused login


# -- a busy exchange -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_books_track_a_busy_exchange_without_false_alarms(sim: SimServer) -> None:
    """The shared exchange has its background traders on: every delta must agree with the
    venue's top of book, and the books must end equal to REST."""
    async with httpx.AsyncClient(base_url=sim.url) as http:
        page = (await http.get("/markets")).json()["data"]
    tokens = [token["token_id"] for market in page for token in market["tokens"]]
    seen: list[Any] = []
    async with MarketStream(sim.ws_url, tokens, **FAST) as stream:
        updates = 0

        def enough(event: BookUpdated) -> bool:
            nonlocal updates
            updates += 1
            return updates >= 10

        async with asyncio.timeout(30):
            await _until(stream, BookUpdated, enough, seen)
        mismatched = [t for t in tokens if not await _equals_rest(sim, stream, t)]
    assert not [e for e in seen if isinstance(e, BookStale)]
    assert mismatched == []


async def _equals_rest(sim: SimServer, stream: MarketStream, token: str) -> bool:
    """Whether the token's book equals REST, allowing the flow to move it between the reads."""
    for _ in range(5):
        rest = await _rest_book(sim, token)
        book = stream.fresh_book(token)
        if (book.levels("BUY"), book.levels("SELL")) == (
            _levels(rest["bids"]),
            _levels(rest["asks"]),
        ):
            return True
        await asyncio.sleep(0.05)  # let the stream apply what it has received meanwhile
    return False
