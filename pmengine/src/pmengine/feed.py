"""Market data: the venue's market websocket, with REST polling while it is down.

Frames are decoded here (the only module that touches raw market-channel JSON) into the engine's
typed events with integer prices and sizes. A socket that goes quiet (no frame and no ``PONG``
within ``silence_s``) counts as dropped even if TCP never said so: the engine is told its books
are stale (no new exposure), the socket is rebuilt and the subscription's snapshots rebuild the
books.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import structlog
import websockets

from pmengine.events import (
    BookSnapshot,
    Event,
    FeedStale,
    LevelChange,
    MarketResolved,
    TickSizeChange,
    TradePrint,
)
from pmengine.units import BUY, SELL, amount_to_int, price_to_int

log = structlog.get_logger("pmengine.feed")


def _levels(raw: object) -> list[tuple[int, int]]:
    if not isinstance(raw, list):
        return []
    return [
        (price_to_int(Decimal(str(lvl["price"]))), amount_to_int(Decimal(str(lvl["size"]))))
        for lvl in raw
        if isinstance(lvl, dict)
    ]


def _ts(raw: object) -> int:
    try:
        return int(str(raw))
    except ValueError:
        return int(time.time() * 1000)


def decode(frame: str | bytes, recv_ns: int) -> list[Event]:
    """Decode one market-channel frame (an object or an array of them) into events.

    Unknown event types are ignored; malformed numbers raise ``ValueError``.
    """
    if frame in ("PONG", b"PONG"):
        return []
    data: Any = json.loads(frame)
    items = data if isinstance(data, list) else [data]
    out: list[Event] = []
    for ev in items:
        if not isinstance(ev, dict):
            continue
        kind = ev.get("event_type")
        if kind == "book":
            tick_raw = ev.get("tick_size")
            min_raw = ev.get("min_order_size")
            out.append(
                BookSnapshot(
                    str(ev["asset_id"]),
                    _levels(ev.get("bids")),
                    _levels(ev.get("asks")),
                    _ts(ev.get("timestamp")),
                    tick=price_to_int(Decimal(str(tick_raw))) if tick_raw else 0,
                    min_size=amount_to_int(Decimal(str(min_raw))) if min_raw else 0,
                    recv_ns=recv_ns,
                )
            )
        elif kind == "price_change":
            ts = _ts(ev.get("timestamp"))
            out.extend(
                LevelChange(
                    str(ch["asset_id"]),
                    BUY if str(ch["side"]).upper() == "BUY" else SELL,
                    price_to_int(Decimal(str(ch["price"]))),
                    amount_to_int(Decimal(str(ch["size"]))),
                    ts,
                    recv_ns,
                )
                for ch in ev.get("price_changes") or []
            )
        elif kind == "last_trade_price":
            out.append(
                TradePrint(
                    str(ev["asset_id"]),
                    price_to_int(Decimal(str(ev["price"]))),
                    amount_to_int(Decimal(str(ev.get("size") or "0"))),
                    BUY if str(ev.get("side", "BUY")).upper() == "BUY" else SELL,
                    _ts(ev.get("timestamp")),
                    recv_ns,
                )
            )
        elif kind == "market_resolved":
            assets = ev.get("assets_ids") or []
            if isinstance(assets, str):
                assets = json.loads(assets)
            out.append(MarketResolved(tuple(str(a) for a in assets), str(ev["winning_asset_id"])))
        elif kind == "tick_size_change":
            out.append(
                TickSizeChange(str(ev["asset_id"]), price_to_int(Decimal(str(ev["new_tick_size"]))))
            )
    return out


class MarketFeed:
    """The market channel for a set of tokens, with REST ``/book`` polling as a fallback.

    Args:
        ws_url: the market channel URL (``…/ws/market``).
        rest_url: the CLOB base URL for ``GET /book`` while the socket is down.
        poll_ms: the REST polling period (``TICK_INTERVAL_MS``).
        silence_s: seconds without any frame or ``PONG`` before the socket counts as dead.
        ping_s: how often to send ``PING``.
    """

    def __init__(
        self,
        ws_url: str,
        rest_url: str,
        *,
        poll_ms: int = 1000,
        silence_s: float = 10.0,
        ping_s: float = 5.0,
    ) -> None:
        self.ws_url = ws_url
        self.rest_url = rest_url
        self.poll_ms = poll_ms
        self.silence_s = silence_s
        self.ping_s = ping_s
        self.connected = False
        self.drops = 0

    async def run(self, post: Callable[[Event], Awaitable[None]], tokens: list[str]) -> None:
        """Stream until cancelled, reconnecting forever; poll REST while disconnected."""
        if not tokens:
            return
        poller: asyncio.Task[None] | None = None
        backoff = 0.2
        try:
            while True:
                try:
                    await self._session(post, tokens)
                    reason = "closed"
                except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                    reason = type(exc).__name__
                self.connected = False
                self.drops += 1
                await post(FeedStale(tuple(tokens), reason))
                if poller is None or poller.done():
                    poller = asyncio.get_running_loop().create_task(self._poll(post, tokens))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
        finally:
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller

    async def _session(self, post: Callable[[Event], Awaitable[None]], tokens: list[str]) -> None:
        async with websockets.connect(self.ws_url, ping_interval=None, open_timeout=5) as ws:
            await ws.send(
                json.dumps({"assets_ids": tokens, "type": "market", "custom_feature_enabled": True})
            )
            self.connected = True
            log.info("feed.connected", url=self.ws_url, tokens=len(tokens))
            last_ping = time.monotonic()
            while True:
                async with asyncio.timeout(self.silence_s):
                    frame = await ws.recv()
                recv_ns = time.perf_counter_ns()
                for event in decode(frame, recv_ns):
                    await post(event)
                if time.monotonic() - last_ping >= self.ping_s:
                    await ws.send("PING")
                    last_ping = time.monotonic()

    async def _poll(self, post: Callable[[Event], Awaitable[None]], tokens: list[str]) -> None:
        async with httpx.AsyncClient(base_url=self.rest_url.rstrip("/") + "/", timeout=5) as http:
            while not self.connected:
                for token in tokens:
                    with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                        resp = await http.get("book", params={"token_id": token})
                        if resp.status_code == 200:
                            body = resp.json()
                            body["event_type"] = "book"
                            body.setdefault("asset_id", token)
                            for event in decode(json.dumps(body), time.perf_counter_ns()):
                                await post(event)
                await asyncio.sleep(self.poll_ms / 1000)
