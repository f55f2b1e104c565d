"""Live fills come from the user stream; REST trades only close gaps, and nothing is lost.

A live engine (in process, real local exchange on loopback) rests one bid; a second wallet takes
it by buying the complementary token, so the fill is the engine's as maker. Every HTTP request
the engine's SDK client makes is counted by path, so "no more polling" is a number, not a hope.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from pmengine.fills import FillFeed
from pmengine.journal import Journal
from pmengine.live import LiveGateway
from pmengine.order import FILLED
from pmengine.testing import (
    BID_SIZE,
    BIDDER,
    CountingTransport,
    EngineRun,
    new_key,
    seeded_market,
    until,
    wallet_client,
)
from pmtrader.testing import SimServer

from pmstrat import MarketInfo
from pmtrader import AsyncClient, Client, Secret, Settings

U = 1_000_000
SIZE = BID_SIZE  # what the test bidder rests
TRADES = "/data/trades"


class LiveRun(EngineRun):
    """A live engine on one market, with its counted client, user-stream feed and journal."""

    def __init__(
        self,
        sim: SimServer,
        tmp: Path,
        market: MarketInfo,
        *,
        poll_ms: int,
        silence_s: float = 10.0,
        ping_s: float = 5.0,
    ) -> None:
        address, self.key = new_key()
        sim.fund(address, "100")
        self.transport = CountingTransport()
        gateway = LiveGateway(
            AsyncClient(
                Settings.for_sim(sim.url, private_key=Secret(self.key)), transport=self.transport
            )
        )
        fills = FillFeed(gateway, sim.ws_url, poll_ms=poll_ms, silence_s=silence_s, ping_s=ping_s)
        super().__init__(sim, tmp, market, gateway=gateway, strategy=BIDDER, fills=fills)

    def journal_fills(self, order_hash: str) -> list[tuple[str, int, int, int]]:
        fills = self.journal.load_fills()
        return [(f.fill_id, f.price, f.size, f.fee) for f in fills if f.order_hash == order_hash]


def _take(sim: SimServer, market: MarketInfo, price: int) -> tuple[Client, str]:
    """Another wallet buys NO against our YES bid at ``price`` (a complementary match)."""
    taker = wallet_client(sim)
    no_price = Decimal(10_000 - price) / 10_000
    resp = taker.orders.create_and_post_order(
        market.no, "BUY", price=no_price, size=Decimal(SIZE) / U, order_type="FAK"
    )
    assert resp.success, resp
    assert resp.order_id
    return taker, resp.order_id


def _status(client: Client, taker_order: str) -> str:
    """The venue's status of the trade of ``taker_order`` (``""`` before there is one)."""
    trades = [t for t in client.orders.get_trades() if t.taker_order_id == taker_order]
    return str(trades[0].status).upper().removeprefix("TRADE_STATUS_") if trades else ""


@pytest.mark.slow
@pytest.mark.asyncio
async def test_fills_arrive_on_the_user_stream_without_polling_and_are_booked_once(
    sim_factory: Callable[..., SimServer], tmp_path: Path
) -> None:
    sim = sim_factory(seed=13, flow=False)
    market = seeded_market(sim, size=SIZE)
    run = LiveRun(sim, tmp_path, market, poll_ms=200)
    run.start()
    taker: Client | None = None
    try:
        await until(lambda: bool(run.resting()) and run.fills.catch_ups >= 1, 30, "a live bid")
        order_hash = run.resting()
        order = run.engine.core.orders.get(order_hash)
        assert order is not None
        # From here REST trades cannot answer: a fill booked now came through the user stream.
        sim.fault(rest_fail_rate=1.0, rest_fail_status=503, paths=[TRADES])
        polled = run.transport.count(TRADES)
        seller, taken = _take(sim, market, order.price)
        taker = seller
        await until(lambda: run.qty() == SIZE, 10, "the fill from the user stream")
        assert order.state == FILLED
        sim.fault(reset=True)  # the engine has no reason to ask anyway; the taker does below
        # The trade moves MATCHED -> MINED -> CONFIRMED, and the stream says so each time;
        # the fill is booked once all the same.
        await until(lambda: _status(seller, taken) == "CONFIRMED", 20, "confirmed")
        await until(lambda: run.fills.streamed >= 3, 10, "every status on the stream")
        await asyncio.sleep(1.0)  # the old 250 ms poll would have asked four more times
        assert run.transport.count(TRADES) == polled, "REST trades were polled"
        assert run.qty() == SIZE
        [(fill_id, price, size, fee)] = run.journal_fills(order_hash)
        assert (price, size, fee) == (order.price, SIZE, 0)  # a maker pays no fee here
        assert fill_id.endswith(":" + order_hash)
    finally:
        sim.fault(reset=True)
        await run.stop()  # its REST catch-up on the way out sees the same fill again
        if taker is not None:
            taker.close()
    journal = Journal.in_dir(tmp_path).open()
    try:
        assert len(journal.load_fills()) == 1
    finally:
        journal.close()


@pytest.mark.slow
@pytest.mark.asyncio
async def test_a_fill_while_the_user_stream_is_silent_is_booked_after_it_reconnects(
    sim_factory: Callable[..., SimServer], tmp_path: Path
) -> None:
    sim = sim_factory(seed=17, flow=False)
    market = seeded_market(sim, size=SIZE)
    # The stream is noticed dead only after 12 s of silence, and the while-down poll is off,
    # so by then the trade is CONFIRMED (no later event for it) and only the catch-up that
    # follows the reconnect can book it.
    run = LiveRun(sim, tmp_path, market, poll_ms=3_600_000, silence_s=12.0, ping_s=1.0)
    run.start()
    taker: Client | None = None
    try:
        await until(lambda: bool(run.resting()) and run.fills.catch_ups >= 1, 30, "a live bid")
        order_hash = run.resting()
        order = run.engine.core.orders.get(order_hash)
        assert order is not None
        catch_ups = run.fills.catch_ups
        sim.fault(ws_drop=True)  # every open socket goes quiet; TCP stays up
        seller, taken = _take(sim, market, order.price)
        taker = seller
        await until(lambda: _status(seller, taken) == "CONFIRMED", 20, "confirmed")
        assert run.qty() == 0, "booked while the stream was silent and nothing polled"
        assert run.fills.connected  # the socket does not know yet
        await until(lambda: run.qty() == SIZE, 20, "the fill, after the reconnect")
        assert run.fills.drops == 1
        assert run.fills.catch_ups > catch_ups
        assert order.state == FILLED
        [(_, price, size, _)] = run.journal_fills(order_hash)
        assert (price, size) == (order.price, SIZE)
    finally:
        sim.fault(reset=True)
        await run.stop()
        if taker is not None:
            taker.close()


@pytest.mark.slow
@pytest.mark.asyncio
async def test_a_cancellation_at_the_venue_reaches_the_engine_through_the_user_stream(
    sim_factory: Callable[..., SimServer], tmp_path: Path
) -> None:
    sim = sim_factory(seed=19, flow=False)
    market = seeded_market(sim, size=SIZE)
    run = LiveRun(sim, tmp_path, market, poll_ms=200)
    run.start()
    try:
        await until(lambda: bool(run.resting()) and run.fills.catch_ups >= 1, 30, "a live bid")
        order_hash = run.resting()
        order = run.engine.core.orders.get(order_hash)
        assert order is not None
        lookups = run.transport.count("/data/order/" + order_hash)
        # Someone else with the same key (another process, the dashboard) cancels it.
        with Client(Settings.for_sim(sim.url, private_key=Secret(run.key))) as other:
            other.account.create_or_derive_api_key(use=True)
            assert order_hash in other.orders.cancel_order(order_hash).canceled
        await until(lambda: order.state == "CANCELLED", 10, "the cancellation")
        assert run.transport.count("/data/order/" + order_hash) == lookups  # not asked: told
        events = [(e, d) for _, _, e, d in run.journal.order_events(order_hash)]
        assert ("venue", "CANCELED") in events
    finally:
        await run.stop()
