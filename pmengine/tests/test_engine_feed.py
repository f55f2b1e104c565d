"""Market data: frames decode exactly; a silent websocket is detected and the books rebuilt.

The silent-drop test runs the engine (dry-run) on the local exchange's real market channel and
tells the exchange to let every open socket go quiet while TCP stays up (``ws_drop``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from pmengine.core import EngineCore
from pmengine.engine import Engine, EngineConfig
from pmengine.events import BookSnapshot, LevelChange, TickSizeChange, TradePrint
from pmengine.feed import MarketFeed, decode
from pmengine.gateway import DryRunGateway
from pmengine.journal import Journal, now_ms
from pmengine.markets import market_info
from pmengine.metrics import EngineMetrics
from pmengine.strategy import StrategyRunner, load_strategy
from pmtrader.testing import SimServer

from pmengine import risk
from pmstrat import Buy, Context, MarketInfo, strategy

U = 1_000_000


def test_frames_decode_to_integer_events() -> None:
    frame = json.dumps(
        [
            {
                "event_type": "book",
                "asset_id": "t",
                "market": "m",
                "timestamp": "1700000000000",
                "bids": [{"price": "0.48", "size": "10"}],
                "asks": [{"price": "0.52", "size": "12.5"}],
                "tick_size": "0.01",
                "min_order_size": "5",
            },
            {
                "event_type": "price_change",
                "market": "m",
                "timestamp": "1700000000001",
                "price_changes": [{"asset_id": "t", "price": "0.49", "size": "0", "side": "BUY"}],
            },
            {
                "event_type": "last_trade_price",
                "asset_id": "t",
                "price": "0.52",
                "size": "3",
                "side": "SELL",
                "timestamp": "1700000000002",
            },
            {"event_type": "tick_size_change", "asset_id": "t", "new_tick_size": "0.001"},
            {"event_type": "something_new"},
        ]
    )
    events = decode(frame, 7)
    assert events == [
        BookSnapshot(
            "t",
            [(4_800, 10 * U)],
            [(5_200, 12_500_000)],
            1_700_000_000_000,
            tick=100,
            min_size=5 * U,
            recv_ns=7,
        ),
        LevelChange("t", 0, 4_900, 0, 1_700_000_000_001, 7),
        TradePrint("t", 5_200, 3 * U, 1, 1_700_000_000_002, 7),
        TickSizeChange("t", 10),
    ]
    assert decode("PONG", 0) == []


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


@pytest.mark.slow
@pytest.mark.asyncio
async def test_silent_websocket_is_detected_books_rebuilt_no_exposure_while_stale(
    sim_factory: Callable[..., SimServer], tmp_path: Path
) -> None:
    sim = sim_factory(seed=5, flow=True)
    async with httpx.AsyncClient() as http:
        items = (await http.get(sim.gamma_url + "/markets", params={"limit": 3})).json()
    markets: list[MarketInfo] = [market_info(m) for m in items[:2]]
    core = EngineCore(risk.RiskLimits(rate_count=1_000, max_open_orders=1_000))
    journal = Journal.in_dir(tmp_path).open()
    instance, selected = load_strategy("engine_test_bidder", {}, markets)
    feed = MarketFeed(sim.ws_url + "/market", sim.url, poll_ms=200, silence_s=1.0, ping_s=0.3)
    engine = Engine(
        core=core,
        gateway=DryRunGateway(core.books.get, cash=10_000 * U, clock=now_ms),
        journal=journal,
        metrics=EngineMetrics(),
        runners=[StrategyRunner(instance, selected)],
        config=EngineConfig(state_dir=tmp_path, tick_interval_ms=200, markets=markets),
        feed=feed,
    )
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
        from pmengine.events import Shutdown

        await engine.post(Shutdown("test"))
        assert await asyncio.wait_for(task, 10) == 0
        journal.close()


def test_market_resolved_decodes_with_its_winner() -> None:
    from pmengine.events import MarketResolved

    frame = json.dumps(
        {
            "event_type": "market_resolved",
            "market": "m",
            "assets_ids": ["a", "b"],
            "winning_asset_id": "b",
            "winning_outcome": "No",
        }
    )
    assert decode(frame, 0) == [MarketResolved(("a", "b"), "b")]
