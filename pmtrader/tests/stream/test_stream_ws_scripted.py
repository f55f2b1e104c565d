"""Stream behaviour the local exchange cannot be made to show (contradicting deltas, crossed
snapshots, garbage frames, a venue that closes on us), driven by a real websocket server on
loopback that plays a script. Plus the pure pieces: backoff and channel URLs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from pmtrader.book import Book
from pmtrader.config import ApiCredentials
from pmtrader.errors import BookIntegrityError, PmtraderError, StaleFeedError
from pmtrader.ws import Feed, backoff_delay, channel_url
from pmtrader.ws_events import (
    BookResynced,
    BookStale,
    BookUpdated,
    FeedRestored,
    FeedStale,
    MarketListed,
    MarketResolved,
    OrderUpdate,
    TickSizeChanged,
    TradePrinted,
    TradeUpdate,
)
from pmtrader.ws_market import MarketStream, ResyncCheck, rest_resync_check
from pmtrader.ws_user import UserStream
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

E = TypeVar("E")
RESOURCES = Path(__file__).parent.parent / "resources" / "ws"
FAST: dict[str, Any] = {
    "stale_after": 0.6,
    "ping_interval": 0.1,
    "backoff_initial": 0.02,
    "backoff_max": 0.1,
    "rng": random.Random(7),
}
A, B, C = "1001", "1002", "1003"


def book(asset: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> str:
    return json.dumps(
        {
            "event_type": "book",
            "asset_id": asset,
            "market": "0xmarket",
            "bids": [{"price": p, "size": s} for p, s in bids],
            "asks": [{"price": p, "size": s} for p, s in asks],
            "timestamp": "1757908892351",
            "hash": f"hash-{asset}",
            "tick_size": "0.01",
        }
    )


def change(asset: str, side: str, price: str, size: str, *, top: tuple[str, str]) -> str:
    best_bid, best_ask = top
    return json.dumps(
        {
            "event_type": "price_change",
            "market": "0xmarket",
            "timestamp": "1757908892400",
            "price_changes": [
                {
                    "asset_id": asset,
                    "price": price,
                    "size": size,
                    "side": side,
                    "hash": "",
                    "best_bid": best_bid,
                    "best_ask": best_ask,
                }
            ],
        }
    )


BOOKS = {
    A: book(A, [("0.48", "100"), ("0.49", "50")], [("0.52", "70"), ("0.51", "30")]),
    B: book(B, [("0.20", "10")], [("0.30", "10")]),
    C: book(C, [], [("0.90", "5")]),
}


class ScriptedVenue:
    """A loopback websocket server that answers subscriptions with books and records all it hears.

    ``silent`` stops every answer (no PONG, no books), the way a dead feed looks; ``books`` can
    be replaced to serve a different snapshot on the next subscription.
    """

    def __init__(self) -> None:
        self.heard: asyncio.Queue[str] = asyncio.Queue()
        self.connections: list[ServerConnection] = []
        self.arrivals: asyncio.Queue[ServerConnection] = asyncio.Queue()
        self.books = dict(BOOKS)
        self.silent = False
        self.close_code: int | None = None
        self.server: Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        port = next(iter(self.server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/ws"

    async def handler(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        self.arrivals.put_nowait(ws)
        if self.close_code is not None:
            await ws.close(self.close_code, "scripted refusal")
            return
        try:
            async for message in ws:
                text = message if isinstance(message, str) else message.decode()
                await self.heard.put(text)
                if self.silent:
                    continue
                if text == "PING":
                    await ws.send("PONG")
                    continue
                payload = json.loads(text)
                if payload.get("operation", "subscribe") == "subscribe":
                    assets = payload.get("assets_ids") or []
                    frames = [json.loads(self.books[a]) for a in assets if a in self.books]
                    if frames:
                        await ws.send(json.dumps(frames))
        except ConnectionClosed:
            return

    def forget(self) -> None:
        """Drop everything heard so far."""
        while not self.heard.empty():
            self.heard.get_nowait()

    async def send(self, frame: str) -> None:
        await self.connections[-1].send(frame)

    async def hear(self, pred: Callable[[str], bool]) -> str:
        """The next message from the client that satisfies ``pred`` (PINGs skipped unless asked)."""
        async with asyncio.timeout(5):
            while True:
                text = await self.heard.get()
                if pred(text):
                    return text


@pytest_asyncio.fixture
async def venue() -> AsyncIterator[ScriptedVenue]:
    scripted = ScriptedVenue()
    async with serve(scripted.handler, "127.0.0.1", 0) as server:
        scripted.server = server
        yield scripted


async def until(stream: Feed[Any], kind: type[E], pred: Callable[[E], bool], seen: list[Any]) -> E:
    async with asyncio.timeout(5):
        async for event in stream:
            seen.append(event)
            if isinstance(event, kind) and pred(event):
                return event
    raise AssertionError(f"stream ended before a matching {kind.__name__}: {seen}")


async def fresh_stream(venue: ScriptedVenue, assets: list[str], **kw: Any) -> MarketStream:
    stream = MarketStream(venue.url, assets, **(FAST | kw))
    await stream.start()
    try:
        async with asyncio.timeout(5):
            await asyncio.gather(stream.wait_fresh(), _drain_until_fresh(stream, assets))
    except BaseException:
        await stream.close()
        raise
    return stream


async def _drain_until_fresh(stream: MarketStream, assets: list[str]) -> None:
    pending = set(assets)
    async for event in stream:
        if isinstance(event, BookResynced):
            pending.discard(event.asset_id)
        if not pending:
            return


def is_op(operation: str) -> Callable[[str], bool]:
    return lambda text: text != "PING" and json.loads(text).get("operation") == operation


# -- construction, subscription, keep-alive ------------------------------------------------------


@pytest.mark.asyncio
async def test_constructing_a_stream_does_no_io(venue: ScriptedVenue) -> None:
    stream = MarketStream(venue.url, [A], **FAST)
    for _ in range(20):
        await asyncio.sleep(0)
    assert venue.connections == []
    assert not stream.connected
    assert stream.book(A).stale
    async with stream:
        first = await venue.hear(lambda text: text != "PING")
    assert json.loads(first) == {
        "assets_ids": [A],
        "type": "market",
        "custom_feature_enabled": True,
    }


@pytest.mark.asyncio
async def test_closing_ends_iteration_and_a_closed_stream_cannot_restart(
    venue: ScriptedVenue,
) -> None:
    stream = await fresh_stream(venue, [A])
    await stream.close()
    assert [event async for event in stream] == []
    assert stream.book(A).stale
    with pytest.raises(PmtraderError, match="create a new stream"):
        await stream.start()


@pytest.mark.asyncio
async def test_closing_a_stream_whose_consumer_fell_behind_still_ends_its_iteration(
    venue: ScriptedVenue,
) -> None:
    stream = MarketStream(venue.url, [A, B], **(FAST | {"queue_size": 1}))
    await stream.start()
    async with asyncio.timeout(5):
        # Both books fresh: the first BookResynced fills the queue, the reader waits on the second.
        await stream.wait_fresh([A, B])
    await stream.close()
    async with asyncio.timeout(2):
        leftover = [event async for event in stream]
    assert len(leftover) <= 1


@pytest.mark.asyncio
async def test_the_keep_alive_is_a_text_ping(venue: ScriptedVenue) -> None:
    async with MarketStream(venue.url, [A], **FAST):
        assert await venue.hear(lambda text: text == "PING") == "PING"


@pytest.mark.asyncio
async def test_fresh_books_match_their_snapshots(venue: ScriptedVenue) -> None:
    stream = await fresh_stream(venue, [A, B])
    async with stream:
        book = stream.fresh_book(A)
        assert (book.bid, book.bid_size, book.ask, book.ask_size) == (
            4900,
            50_000_000,
            5100,
            30_000_000,
        )
        assert book.hash == f"hash-{A}"
        assert book.market == "0xmarket"
    assert stream.book(A).stale  # closing the stream leaves nothing that looks tradable


# -- inconsistency ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_delta_contradicting_the_venue_top_resyncs_only_that_token(
    venue: ScriptedVenue,
) -> None:
    stream = await fresh_stream(venue, [A, B])
    seen: list[Any] = []
    async with stream:
        # A bid of 5 at 0.47 leaves our best bid at 0.49, but the venue says 0.50: we missed one.
        venue.books[A] = book(A, [("0.47", "5"), ("0.50", "1")], [("0.51", "30")])
        await venue.send(change(A, "BUY", "0.47", "5", top=("0.50", "0.51")))
        stale = await until(stream, BookStale, lambda e: True, seen)
        assert (stale.asset_ids, stale.reason) == ((A,), "inconsistent")
        assert "venue best bid 0.50" in str(stale.error)
        assert stream.book(A).stale
        assert not stream.book(B).stale
        assert json.loads(await venue.hear(is_op("unsubscribe")))["assets_ids"] == [A]
        assert json.loads(await venue.hear(is_op("subscribe")))["assets_ids"] == [A]
        resynced = await until(stream, BookResynced, lambda e: e.asset_id == A, seen)
        assert resynced.book.bid == 5000
        assert stream.connections == 1


@pytest.mark.asyncio
async def test_a_delta_that_leaves_the_book_crossed_resyncs(venue: ScriptedVenue) -> None:
    stream = await fresh_stream(venue, [A], check_top=False)
    seen: list[Any] = []
    async with stream:
        await venue.send(change(A, "BUY", "0.55", "5", top=("", "")))
        stale = await until(stream, BookStale, lambda e: True, seen)
        assert "crossed" in str(stale.error)
        await until(stream, BookResynced, lambda e: e.asset_id == A, seen)
        assert stream.fresh_book(A).bid == 4900


@pytest.mark.asyncio
async def test_a_crossed_snapshot_is_refused_and_asked_for_again(venue: ScriptedVenue) -> None:
    venue.books[A] = book(A, [("0.60", "1")], [("0.55", "1")])
    seen: list[Any] = []
    async with MarketStream(venue.url, [A], **FAST) as stream:
        # The first snapshot is crossed: the book stays stale and is requested again.
        stale = await until(stream, BookStale, lambda e: True, seen)
        assert "crossed" in str(stale.error)
        assert stream.book(A).stale
        venue.books[A] = BOOKS[A]
        await venue.hear(is_op("unsubscribe"))
        await until(stream, BookResynced, lambda e: e.asset_id == A, seen)
        assert stream.fresh_book(A).ask == 5100


@pytest.mark.asyncio
async def test_a_venue_that_keeps_sending_bad_books_is_asked_with_backoff(
    venue: ScriptedVenue,
) -> None:
    venue.books[A] = book(A, [("0.60", "1")], [("0.55", "1")])  # crossed, every time
    async with MarketStream(
        venue.url, [A], **(FAST | {"backoff_initial": 0.05, "backoff_max": 0.4})
    ) as stream:
        await venue.hear(is_op("unsubscribe"))
        venue.forget()
        loop = asyncio.get_running_loop()
        end = loop.time() + 1.0
        asked = 0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(end):
                while True:
                    await venue.hear(is_op("subscribe"))
                    asked += 1
        assert stream.book(A).stale
    # Without backoff this is a tight loop (hundreds a second); with it, a handful.
    assert 2 <= asked <= 20


@pytest.mark.asyncio
async def test_deltas_that_agree_update_the_book(venue: ScriptedVenue) -> None:
    stream = await fresh_stream(venue, [A])
    seen: list[Any] = []
    async with stream:
        await venue.send(change(A, "SELL", "0.51", "0", top=("0.49", "0.52")))
        update = await until(stream, BookUpdated, lambda e: True, seen)
        assert (update.book.ask, update.book.ask_size, update.snapshot) == (5200, 70_000_000, False)
        assert update.timestamp == 1757908892400
        await venue.send(BOOKS[A])  # the venue re-sends the whole book after a trade
        again = await until(stream, BookUpdated, lambda e: e.snapshot, seen)
        assert again.book.ask == 5100
    assert not any(isinstance(e, BookStale) for e in seen)


# -- unknown, unreadable, and custom events ------------------------------------------------------


@pytest.mark.asyncio
async def test_garbage_and_unknown_events_do_not_stop_the_stream(venue: ScriptedVenue) -> None:
    stream = await fresh_stream(venue, [A])
    seen: list[Any] = []
    async with stream:
        await venue.send("INVALID OPERATION")
        await venue.send('{"error": "INVALID OPERATION: assets_ids must be a list of strings"}')
        await venue.send('{"event_type": "sports_score", "score": "1-0"}')
        await venue.send(change(A, "BUY", "0.495", "3", top=("0.495", "0.51")))
        update = await until(stream, BookUpdated, lambda e: True, seen)
        assert update.book.bid == 4950
    assert not any(isinstance(e, BookStale) for e in seen)


@pytest.mark.asyncio
async def test_an_unreadable_book_event_resyncs_the_books(venue: ScriptedVenue) -> None:
    stream = await fresh_stream(venue, [A, B])
    seen: list[Any] = []
    async with stream:
        await venue.send('{"event_type": "price_change", "market": "0xmarket"}')
        stale = await until(stream, BookStale, lambda e: True, seen)
        assert set(stale.asset_ids) == {A, B}
        assert stale.reason == "inconsistent"
        await until(stream, BookResynced, lambda e: e.asset_id == B, seen)


@pytest.mark.asyncio
async def test_a_book_with_a_malformed_level_resyncs_that_token_only(venue: ScriptedVenue) -> None:
    stream = await fresh_stream(venue, [A, B])
    seen: list[Any] = []
    async with stream:
        bad = json.loads(BOOKS[A])
        bad["bids"][1] = {"price": "0.49"}  # no size
        await venue.send(json.dumps(bad))
        stale = await until(stream, BookStale, lambda e: True, seen)
        assert set(stale.asset_ids) == {A}
        assert "size" in str(stale.error)
        await until(stream, BookResynced, lambda e: e.asset_id == A, seen)
        assert stream.fresh_book(A).levels("BUY") == [(4800, 100_000_000), (4900, 50_000_000)]
        assert not stream.book(B).stale


@pytest.mark.asyncio
async def test_trades_ticks_and_market_news_become_typed_events(venue: ScriptedVenue) -> None:
    samples = {
        name: json.loads((RESOURCES / f"market_{name}.json").read_text())
        for name in ("last_trade_price", "tick_size_change", "market_resolved", "new_market")
    }
    trade_asset = samples["last_trade_price"]["asset_id"]
    tick_asset = samples["tick_size_change"]["asset_id"]
    venue.books[trade_asset] = book(trade_asset, [("0.45", "10")], [("0.46", "10")])
    venue.books[tick_asset] = book(tick_asset, [("0.95", "10")], [("0.97", "10")])
    stream = await fresh_stream(venue, [trade_asset, tick_asset])
    seen: list[Any] = []
    async with stream:
        await venue.send(json.dumps(list(samples.values())))
        printed = await until(stream, TradePrinted, lambda e: True, seen)
        assert (printed.price, printed.size, printed.side) == (4560, 219_217_767, "BUY")
        assert str(printed.price_decimal) == "0.456"
        tick = await until(stream, TickSizeChanged, lambda e: True, seen)
        assert (tick.old_tick, tick.new_tick) == (100, 10)
        assert stream.book(tick_asset).tick_size == 10
        resolved = await until(stream, MarketResolved, lambda e: True, seen)
        assert resolved.winning_outcome == "Yes"
        listed = await until(stream, MarketListed, lambda e: True, seen)
        assert listed.slug == "nvda-above-240-on-january-30-2026"


# -- disconnects ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_dropped_connection_marks_books_stale_and_resubscribes_everything(
    venue: ScriptedVenue,
) -> None:
    stream = await fresh_stream(venue, [A])
    seen: list[Any] = []
    async with stream:
        await stream.subscribe([C])
        await until(stream, BookResynced, lambda e: e.asset_id == C, seen)
        venue.forget()
        await venue.connections[-1].close(1011, "venue restarting")
        stale = await until(stream, BookStale, lambda e: True, seen)
        assert (set(stale.asset_ids), stale.reason) == ({A, C}, "disconnected")
        assert isinstance(stale.error, StaleFeedError)
        resubscription = json.loads(await venue.hear(lambda t: "type" in t))
        assert resubscription["assets_ids"] == [A, C]
        await until(stream, BookResynced, lambda e: e.asset_id == A, seen)
        await until(stream, BookResynced, lambda e: e.asset_id == C, seen)
        assert stream.connections == 2


@pytest.mark.asyncio
async def test_a_silent_venue_is_detected_by_the_missing_pong(venue: ScriptedVenue) -> None:
    stream = await fresh_stream(venue, [A])
    seen: list[Any] = []
    async with stream:
        venue.silent = True
        stale = await until(stream, BookStale, lambda e: True, seen)
        assert stale.reason == "silent"
        venue.silent = False
        await until(stream, BookResynced, lambda e: e.asset_id == A, seen)


@pytest.mark.asyncio
async def test_an_unreachable_venue_is_retried_without_events(venue: ScriptedVenue) -> None:
    url = venue.url
    assert venue.server is not None
    venue.server.close()
    await venue.server.wait_closed()
    stream = MarketStream(url, [A], **FAST)
    async with stream:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await anext(stream)
        assert stream.connections == 0
        assert stream.book(A).stale


# -- user stream -----------------------------------------------------------------------------------


CREDS = ApiCredentials.from_strings("key-1", "c2VjcmV0LXZhbHVl", "pass-phrase-value")


@pytest.mark.asyncio
async def test_user_stream_logs_in_and_maps_orders_and_trades(venue: ScriptedVenue) -> None:
    seen: list[Any] = []
    async with UserStream(venue.url, CREDS, ["0xcond"], **FAST) as stream:
        login = json.loads(await venue.hear(lambda t: "auth" in t))
        assert login == {
            "auth": {
                "apiKey": "key-1",
                "secret": "c2VjcmV0LXZhbHVl",
                "passphrase": "pass-phrase-value",
            },
            "type": "user",
            "markets": ["0xcond"],
        }
        await venue.send((RESOURCES / "user_order_update.json").read_text())
        await venue.send((RESOURCES / "user_trade.json").read_text())
        update = await until(stream, OrderUpdate, lambda e: True, seen)
        assert (update.kind, update.price, update.remaining) == ("UPDATE", 5000, 75_000_000)
        trade = await until(stream, TradeUpdate, lambda e: True, seen)
        assert (trade.status, trade.size, trade.maker_orders[0].matched_amount) == (
            "MATCHED",
            10_000_000,
            10_000_000,
        )
        await stream.subscribe(["0xother"])
        assert json.loads(await venue.hear(is_op("subscribe"))) == {
            "operation": "subscribe",
            "markets": ["0xother"],
        }
    assert "c2VjcmV0LXZhbHVl" not in repr(stream)
    assert "pass-phrase-value" not in repr(stream)


@pytest.mark.asyncio
async def test_user_stream_reports_staleness_once_and_its_restoration(
    venue: ScriptedVenue,
) -> None:
    seen: list[Any] = []
    async with UserStream(venue.url, CREDS, **FAST) as stream:
        async with asyncio.timeout(5):
            await stream.wait_connected()
        venue.close_code = 1011  # every reconnect is turned away for a while
        await venue.connections[-1].close(1011, "restart")
        stale = await until(stream, FeedStale, lambda e: True, seen)
        assert stale.reason == "disconnected"
        async with asyncio.timeout(5):
            for _ in range(4):  # the first connection, then three refused reconnects
                await venue.arrivals.get()
        venue.close_code = None
        restored = await until(stream, FeedRestored, lambda e: True, seen)
        assert restored.reconnects >= 1
    assert sum(isinstance(e, FeedStale) for e in seen) == 1


# -- pure pieces -----------------------------------------------------------------------------------


def _rest_body(ask_size: str) -> bytes:
    return json.dumps(
        {
            "market": "0xmarket",
            "asset_id": A,
            "timestamp": "1757908899999",
            "hash": "0" * 40,
            "bids": [{"price": "0.49", "size": "50"}],
            "asks": [{"price": "0.51", "size": ask_size}],
            "min_order_size": "5",
            "tick_size": "0.01",
            "neg_risk": False,
            "last_trade_price": "",
        }
    ).encode()


@pytest.mark.asyncio
async def test_the_rest_resync_check_compares_levels_not_timestamps() -> None:
    rebuilt = Book(A)
    rebuilt.apply_snapshot([(4900, 50_000_000)], [(5100, 30_000_000)], timestamp=1)
    bodies = {"same": _rest_body("30"), "moved": _rest_body("31")}
    asked: list[str] = []

    def check_against(which: str) -> ResyncCheck:
        async def fetch(token: str) -> bytes:
            asked.append(token)
            return bodies[which]

        return rest_resync_check(fetch)

    await check_against("same")(rebuilt)
    with pytest.raises(BookIntegrityError, match="differs from REST /book"):
        await check_against("moved")(rebuilt)
    assert asked == [A, A]


def test_backoff_grows_is_capped_and_jittered() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(n, initial=0.5, maximum=30.0, rng=rng) for n in range(12)]
    for n, delay in enumerate(delays):
        step = min(30.0, 0.5 * 2**n)
        assert step / 2 <= delay <= step
    assert max(delays) <= 30.0
    assert len(set(delays)) == len(delays)
    again = random.Random(1)
    assert delays == [backoff_delay(n, initial=0.5, maximum=30.0, rng=again) for n in range(12)]
    assert backoff_delay(10_000, initial=0.5, maximum=30.0) <= 30.0


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "wss://ws-subscriptions-clob.polymarket.com/ws",
            "wss://ws-subscriptions-clob.polymarket.com/ws/market",
        ),
        ("ws://127.0.0.1:8700/ws/", "ws://127.0.0.1:8700/ws/market"),
        ("ws://127.0.0.1:8700/ws/market", "ws://127.0.0.1:8700/ws/market"),
    ],
)
def test_channel_urls_come_from_the_websocket_base(url: str, expected: str) -> None:
    assert channel_url(url, "market") == expected


def test_a_non_websocket_url_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="ws:// or wss://"):
        MarketStream("https://clob.polymarket.com", [A])


def test_stale_after_must_leave_room_for_a_pong() -> None:
    with pytest.raises(ValueError, match="must exceed ping_interval"):
        MarketStream("ws://127.0.0.1:1/ws", [A], stale_after=5, ping_interval=10)
