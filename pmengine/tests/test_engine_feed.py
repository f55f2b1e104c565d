"""Market data: pmtrader's market stream becomes engine events; drops are survived exactly.

The engine no longer speaks the market channel itself: pmtrader's ``MarketStream`` keeps the
socket and a book per token, and ``pmengine.feed`` tells the engine what changed in exact
integer units. The integration tests run the engine (dry-run) on the local exchange's real
market channel and tell the exchange to let every open socket go quiet while TCP stays up
(``ws_drop``): the drop must be noticed, the books rebuilt to exactly what REST ``/book`` says,
and no order created while the books could not be trusted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from pmengine.core import EngineCore
from pmengine.engine import Engine, EngineConfig, Feed
from pmengine.events import (
    BookSnapshot,
    Event,
    FeedStale,
    LevelChange,
    MarketResolved,
    Shutdown,
    TickSizeChange,
    TradePrint,
)
from pmengine.feed import BookTranslator, MarketFeed
from pmengine.gateway import DryRunGateway
from pmengine.journal import Journal, now_ms
from pmengine.metrics import EngineMetrics
from pmengine.strategy import StrategyRunner, load_strategy
from pmengine.units import BUY, SELL, amount_to_int, price_to_int
from pmstrat.venue import market_info
from pmtrader.models.gamma import GammaMarket
from pmtrader.testing import SimServer, new_wallet
from pmtrader.wire import LastTradePriceEvent, MarketResolvedEvent
from pmtrader.ws_events import (
    BookResynced,
    BookStale,
    BookUpdated,
    TickSizeChanged,
    TradePrinted,
)
from pmtrader.ws_events import MarketResolved as StreamResolved

from pmengine import risk
from pmstrat import Buy, Context, MarketInfo, strategy
from pmtrader import Book, Client, Secret, Settings, StaleFeedError

U = 1_000_000


def test_stream_events_become_integer_engine_events_and_deltas_only_what_changed() -> None:
    book = Book("t", tick_size=100)
    book.apply_snapshot([(4_800, 10 * U), (4_700, 3 * U)], [(5_200, 12_500_000)], 1_700_000_000)
    tr = BookTranslator()
    # A rebuilt book is a whole snapshot, in the engine's units (1e-4 price, 1e-6 size).
    [snap] = tr.translate(BookResynced("t", book, "h"), 7)
    assert snap == BookSnapshot(
        "t", [(4_700, 3 * U), (4_800, 10 * U)], [(5_200, 12_500_000)], 1_700_000_000, tick=100,
        recv_ns=7,
    )  # fmt: skip
    # A price_change: only the levels that differ from what the engine holds.
    book.apply_level("BUY", 4_700, 0)
    book.apply_level("BUY", 4_900, 1 * U)
    book.apply_level("SELL", 5_200, 12_500_000)  # unchanged: not repeated
    events = tr.translate(BookUpdated("t", book, 1_700_000_001, snapshot=False), 8)
    assert sorted(events, key=lambda e: e.price if isinstance(e, LevelChange) else 0) == [
        LevelChange("t", BUY, 4_700, 0, 1_700_000_001, 8),
        LevelChange("t", BUY, 4_900, 1 * U, 1_700_000_001, 8),
    ]
    assert tr.translate(BookUpdated("t", book, 1_700_000_002, snapshot=False), 9) == []
    raw = LastTradePriceEvent("t", "m", "0.52", "SELL", "3", "1700000000002")
    trade = TradePrinted("t", "m", 5_200, 3 * U, "SELL", 1_700_000_000_002, raw)
    assert tr.translate(trade, 9) == [TradePrint("t", 5_200, 3 * U, SELL, 1_700_000_000_002, 9)]
    assert tr.translate(TickSizeChanged("t", "m", 100, 10, 5), 0) == [TickSizeChange("t", 10)]
    resolved = MarketResolvedEvent("1", "m", ["t", "u"], "u", "5", "No")
    assert tr.translate(StreamResolved("m", ("t", "u"), "u", "No", 5, resolved), 0) == [
        MarketResolved(("t", "u"), "u")
    ]
    # Stale: the engine drops the book, so the next change comes as a whole snapshot again.
    err = StaleFeedError("x", asset_ids=("t",), reason="silent")
    assert tr.translate(BookStale(("t",), "silent", err), 0) == [FeedStale(("t",), "silent")]
    [again] = tr.translate(BookUpdated("t", book, 1_700_000_003, snapshot=False), 10)
    assert isinstance(again, BookSnapshot)
    assert dict(again.bids) == {4_800: 10 * U, 4_900: 1 * U}


@strategy(name="engine_test_bidder")
def bidder(ctx: Context) -> list[Buy]:
    """Join the bid with 5 shares on every top-of-book change (one order per price)."""
    out = []
    for token in ctx.changed:
        book = ctx.book(token)
        if book is not None and book.best_bid is not None and not ctx.open_orders(token):
            out.append(Buy(token, book.best_bid, 5 * U, tag=str(ctx.now_ms)))
    return out


async def _until(cond: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def _markets(sim: SimServer, n: int) -> list[MarketInfo]:
    items = httpx.get(sim.gamma_url + "/markets", params={"limit": 10}, timeout=10).json()
    return [market_info(GammaMarket.model_validate(m)) for m in items if m.get("acceptingOrders")][
        :n
    ]


def _engine(
    tmp_path: Path, markets: list[MarketInfo], feed: Feed, strategies: list[str]
) -> tuple[Engine, Journal]:
    core = EngineCore(risk.RiskLimits(rate_count=1_000, max_open_orders=1_000))
    journal = Journal.in_dir(tmp_path).open()
    runners = [StrategyRunner(*load_strategy(name, {}, markets)) for name in strategies]
    engine = Engine(
        core=core,
        gateway=DryRunGateway(core.books.get, cash=10_000 * U, clock=now_ms),
        journal=journal,
        metrics=EngineMetrics(),
        runners=runners,
        config=EngineConfig(state_dir=tmp_path, tick_interval_ms=200, markets=markets),
        feed=feed,
    )
    return engine, journal


def _rest_book(sim: SimServer, token: str) -> tuple[dict[int, int], dict[int, int]]:
    body = httpx.get(sim.url + "/book", params={"token_id": token}, timeout=5).json()

    def side(levels: list[dict[str, str]]) -> dict[int, int]:
        return {price_to_int(lvl["price"]): amount_to_int(lvl["size"]) for lvl in levels}

    return side(body["bids"]), side(body["asks"])


def _books_equal_rest(sim: SimServer, engine: Engine, tokens: list[str]) -> bool:
    for token in tokens:
        book = engine.core.books.get(token)
        if book is None or (book.bids, book.asks) != _rest_book(sim, token):
            return False
    return True


@pytest.mark.slow
@pytest.mark.asyncio
async def test_books_equal_rest_after_start_and_after_a_silent_drop(
    sim_factory: Callable[..., SimServer], tmp_path: Path
) -> None:
    # No background flow: the books move only when this test moves them, so "equal to REST
    # /book" is exact, not a race.
    sim = sim_factory(seed=9, flow=False)
    markets = _markets(sim, 2)
    tokens = sorted(t for m in markets for t in m.tokens)
    feed = MarketFeed(sim.ws_url, sim.url, poll_ms=200, silence_s=1.0, ping_s=0.3)
    engine, journal = _engine(tmp_path, markets, feed, [])
    wallet = new_wallet()
    sim.fund(wallet.address, "100")
    key = "0x" + wallet.key.hex().removeprefix("0x")
    trader = Client(Settings.for_sim(sim.url, private_key=Secret(key)))
    trader.account.create_or_derive_api_key(use=True)
    # Something to compare: both sides of the first market (a NO bid is a YES ask), the bids
    # of the second, at a few levels.
    for market, sides in ((markets[0], 2), (markets[1], 1)):
        for token in market.tokens[:sides]:
            for level, size in (("0.40", 20), ("0.38", 12), ("0.35", 9)):
                resp = trader.orders.create_and_post_order(
                    token, "BUY", price=Decimal(level), size=Decimal(size)
                )
                assert resp.success, resp
    task = asyncio.create_task(engine.run(install_signals=False))
    try:
        await _until(lambda: _books_equal_rest(sim, engine, tokens), 20, "books from the stream")
        assert feed.polled == 0  # the stream alone built them
        first = engine.core.books[markets[0].tokens[0]]
        assert (first.best_bid, first.best_ask) == (4_000, 6_000)
        assert len(first.bids) == len(first.asks) == 3

        sim.fault(ws_drop=True)  # every socket goes quiet, TCP stays up
        token, tick = markets[0].tokens[0], markets[0].tick
        bid = max(_rest_book(sim, token)[0], default=tick)
        price = Decimal(max(bid - tick, tick)) / 10_000  # a new level under the best bid
        trader.orders.create_and_post_order(token, "BUY", price=price, size=Decimal(7))
        await _until(lambda: feed.drops >= 1, 10, "the silent socket to be noticed")
        await _until(lambda: bool(engine.stale_periods), 10, "the books to be rebuilt")
        await _until(
            lambda: feed.stream is not None and feed.stream.connections >= 2, 15, "a new socket"
        )
        await _until(lambda: _books_equal_rest(sim, engine, tokens), 15, "books equal REST again")
        assert engine.core.books[token].bids.get(price_to_int(price), 0) >= 7 * U

        # The resubscribed stream carries changes again (no REST poll once it is fresh).
        polled = feed.polled
        trader.orders.create_and_post_order(token, "BUY", price=price, size=Decimal(5))
        await _until(lambda: _books_equal_rest(sim, engine, tokens), 10, "the stream's delta")
        assert feed.polled == polled
    finally:
        sim.fault(reset=True)
        trader.close()
        await engine.post(Shutdown("test"))
        assert await asyncio.wait_for(task, 10) == 0
        journal.close()


@pytest.mark.slow
@pytest.mark.asyncio
async def test_silent_websocket_is_detected_books_rebuilt_no_exposure_while_stale(
    sim_factory: Callable[..., SimServer], tmp_path: Path
) -> None:
    sim = sim_factory(seed=5, flow=True)
    markets = _markets(sim, 2)
    feed = MarketFeed(sim.ws_url + "/market", sim.url, poll_ms=200, silence_s=1.0, ping_s=0.3)
    engine, journal = _engine(tmp_path, markets, feed, ["engine_test_bidder"])
    core = engine.core
    task = asyncio.create_task(engine.run(install_signals=False))
    try:
        await _until(lambda: len(core.orders.orders) >= 2, 30, "orders on live books")
        sim.fault(ws_drop=True)
        await _until(lambda: engine.stale, 10, "the silent socket to be noticed")
        assert feed.drops >= 1
        await _until(lambda: bool(engine.stale_periods), 15, "the books to be rebuilt")
        sim.fault(reset=True)
        await _until(lambda: feed.connected, 15, "the socket to come back")
        start, end = engine.stale_periods[0]
        for token in {t for m in markets for t in m.tokens}:
            book = core.books[token]
            assert book.updated_ms >= start or not book.is_two_sided()
        # No order was created while the books could not be trusted.
        assert not [o for o in core.orders.orders.values() if start <= o.created_ms <= end]
    finally:
        sim.fault(reset=True)
        await engine.post(Shutdown("test"))
        assert await asyncio.wait_for(task, 10) == 0
        journal.close()


@pytest.mark.asyncio
async def test_with_no_socket_at_all_books_come_from_rest_polling(
    sim: SimServer, tmp_path: Path
) -> None:
    markets = _markets(sim, 1)
    dead = "ws://127.0.0.1:9/ws"  # nothing listens on the discard port: every connect fails
    feed = MarketFeed(dead, sim.url, poll_ms=200, silence_s=1.0, ping_s=0.3, backoff_max=0.5)
    engine, journal = _engine(tmp_path, markets, feed, [])
    task = asyncio.create_task(engine.run(install_signals=False))
    try:
        token = markets[0].tokens[0]
        await _until(lambda: engine.core.book(token).updated_ms > 0, 10, "a REST snapshot")
        assert feed.polled >= 1
        assert not feed.connected
        assert engine.core.book(token).tick == markets[0].tick
    finally:
        await engine.post(Shutdown("test"))
        assert await asyncio.wait_for(task, 10) == 0
        journal.close()


class ScriptedFeed:
    """Posts a fixed list of events, then waits: the engine's ``Feed``, without a network."""

    def __init__(self, events: list[Event]) -> None:
        self.events = events

    async def run(self, post: Callable[[Event], Awaitable[None]], tokens: list[str]) -> None:
        for event in self.events:
            await post(event)
        await asyncio.Event().wait()


@pytest.mark.asyncio
async def test_one_stale_book_keeps_the_engine_stale_until_that_book_is_rebuilt(
    tmp_path: Path,
) -> None:
    market = MarketInfo("0xc1", ("Y1", "N1"), slug="m1", tick=100, min_size=5 * U)
    bids, asks = [(4_000, 10 * U)], [(6_000, 10 * U)]
    feed = ScriptedFeed(
        [
            BookSnapshot("Y1", bids, asks, 1),
            BookSnapshot("N1", bids, asks, 1),
            FeedStale(("Y1",), "inconsistent"),  # one token resynchronising
            BookSnapshot("N1", bids, asks, 2),  # the other one's news does not clear it
        ]
    )
    engine, journal = _engine(tmp_path, [market], feed, [])
    task = asyncio.create_task(engine.run(install_signals=False))
    try:
        await _until(lambda: engine.core.book("N1").updated_ms == 2, 5, "the script")
        assert engine.stale
        assert engine.stale_tokens == {"Y1"}
        assert not engine.healthy()  # no heartbeat keeps quotes alive on a book in doubt
        assert not engine.core.book("Y1").is_two_sided()  # forgotten: risk denies orders on it
        await engine.post(BookSnapshot("Y1", bids, asks, 3))
        await _until(lambda: not engine.stale, 5, "the rebuilt book")
        assert len(engine.stale_periods) == 1
    finally:
        await engine.post(Shutdown("test"))
        assert await asyncio.wait_for(task, 10) == 0
        journal.close()
