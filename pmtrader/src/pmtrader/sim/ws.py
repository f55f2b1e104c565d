"""The local exchange's websockets: the market channel and the user channel (``protocol.md`` §5).

* ``/ws/market``: subscribe with ``{"assets_ids": [...], "type": "market",
  "custom_feature_enabled": true}``, later ``{"operation": "subscribe"|"unsubscribe",
  "assets_ids": [...]}``. A subscription is answered with the tokens' ``book`` events (in one array
  frame); then ``price_change`` (current schema, one entry per level with ``best_bid``/``best_ask``
  and the book ``hash`` after the change), ``last_trade_price``, ``book`` after trades,
  ``tick_size_change``, and with the custom feature ``best_bid_ask`` and ``market_resolved``.
* ``/ws/user``: subscribe with ``{"auth": {"apiKey", "secret", "passphrase"}, "markets":
  [condition ids], "type": "user"}`` (no ``markets``: every market); ``order`` events
  (PLACEMENT/UPDATE/CANCELLATION) and ``trade`` events (each status change) of that key.
* Keep-alive: the text ``PING`` is answered ``PONG``; the server never drops a quiet client.
* Fault ``ws_drop``: every socket open at that moment goes silent (no events, no ``PONG``) with
  its TCP connection left open, the way a dead feed looks from the client.

Fan-out: the exchange calls :meth:`WsHub.on_event` synchronously on the event loop; each
connection has a bounded queue drained by its own sender task, so a slow client never delays the
exchange (it is disconnected when its queue overflows).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from dataclasses import dataclass, field
from typing import Any

import msgspec
import structlog
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from pmtrader.sim.context import ServerContext
from pmtrader.sim.errors import UnknownMarket
from pmtrader.sim.events import (
    BestBidAsk,
    BookSnapshotRequest,
    LastTradePrice,
    MarketResolved,
    PriceChange,
    SimEvent,
    TickSizeChange,
    UserOrderEvent,
    UserTradeEvent,
)
from pmtrader.sim.shapes import book_wire

log = structlog.get_logger("pmtrader.sim.ws")

QUEUE_LIMIT = 5_000
"""Frames a connection may have waiting before it is considered dead and closed."""

_encoder = msgspec.json.Encoder()


def _text(payload: Any) -> str:
    return _encoder.encode(payload).decode()


@dataclass(eq=False, slots=True)
class _Conn:
    """One websocket connection and what it subscribed to."""

    ws: WebSocket
    generation: int
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    assets: set[str] = field(default_factory=set)
    custom: bool = False
    api_key: str | None = None
    markets: set[str] | None = None
    overflowed: bool = False

    def push(self, text: str) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.overflowed = True


class WsHub:
    """Both channels' connections, and the routing of exchange events to them."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.market_conns: set[_Conn] = set()
        self.user_conns: set[_Conn] = set()

    def routes(self) -> list[WebSocketRoute]:
        """The websocket routes (``/ws/market``, ``/ws/user``)."""
        return [
            WebSocketRoute("/ws/market", self.market_endpoint),
            WebSocketRoute("/ws/user", self.user_endpoint),
        ]

    def _alive(self, conn: _Conn) -> bool:
        return conn.generation == self.ctx.faults.ws_generation and not conn.overflowed

    # event routing ---------------------------------------------------------------------------
    def on_event(self, event: SimEvent) -> None:
        """Route one exchange event to the connections that want it (never raises)."""
        try:
            self._route(event)
        except Exception:  # a bad frame must never break the exchange call that emitted it
            log.exception("ws.route_failed", event=type(event).__name__)

    def _route(self, event: SimEvent) -> None:
        if isinstance(event, UserOrderEvent | UserTradeEvent):
            self._route_user(event)
            return
        if not self.market_conns:
            return
        if isinstance(event, PriceChange):
            self._route_price_change(event)
        elif isinstance(event, BookSnapshotRequest):
            self._route_books(event)
        elif isinstance(event, LastTradePrice | TickSizeChange):
            self._send_to_assets(event.asset_ids, _text(event.to_wire()), custom_only=False)
        elif isinstance(event, BestBidAsk | MarketResolved):
            self._send_to_assets(event.asset_ids, _text(event.to_wire()), custom_only=True)

    def _send_to_assets(self, assets: tuple[str, ...], text: str, *, custom_only: bool) -> None:
        wanted = set(assets)
        for conn in self.market_conns:
            if custom_only and not conn.custom:
                continue
            if conn.assets & wanted:
                conn.push(text)

    def _book_hashes(self, asset_ids: set[str]) -> dict[str, str]:
        hashes: dict[str, str] = {}
        for asset in asset_ids:
            try:
                hashes[asset] = book_wire(self.ctx.exchange.book(asset))["hash"]
            except UnknownMarket:
                hashes[asset] = ""
        return hashes

    def _route_price_change(self, event: PriceChange) -> None:
        interested = [c for c in self.market_conns if c.assets.intersection(event.asset_ids)]
        if not interested:
            return
        hashes = self._book_hashes(set(event.asset_ids))
        entries = []
        for change in event.changes:
            wire = change.to_wire()
            wire["hash"] = hashes.get(change.asset_id, "")
            entries.append((change.asset_id, wire))
        full = _text(
            {
                "event_type": "price_change",
                "market": event.market,
                "timestamp": str(event.timestamp_ms),
                "price_changes": [w for _, w in entries],
            }
        )
        for conn in interested:
            if conn.assets.issuperset(event.asset_ids):
                conn.push(full)
                continue
            conn.push(
                _text(
                    {
                        "event_type": "price_change",
                        "market": event.market,
                        "timestamp": str(event.timestamp_ms),
                        "price_changes": [w for a, w in entries if a in conn.assets],
                    }
                )
            )

    def _route_books(self, event: BookSnapshotRequest) -> None:
        for asset in event.asset_ids:
            conns = [c for c in self.market_conns if asset in c.assets]
            if not conns:
                continue
            text = _text(book_wire(self.ctx.exchange.book(asset), event_type="book"))
            for conn in conns:
                conn.push(text)

    def _route_user(self, event: UserOrderEvent | UserTradeEvent) -> None:
        text: str | None = None
        for conn in self.user_conns:
            if conn.api_key != event.owner:
                continue
            if conn.markets and event.market.lower() not in conn.markets:
                continue
            if text is None:
                text = _text(event.to_wire())
            conn.push(text)

    # connections -----------------------------------------------------------------------------
    async def _sender(self, conn: _Conn) -> None:
        while True:
            text = await conn.queue.get()
            if conn.overflowed:
                with contextlib.suppress(Exception):
                    await conn.ws.close(code=1013, reason="too slow: send queue overflowed")
                return
            if not self._alive(conn):
                continue  # a silenced socket swallows its frames
            await conn.ws.send_text(text)

    def _books_frame(self, assets: list[str]) -> str | None:
        books = []
        for asset in assets:
            try:
                books.append(book_wire(self.ctx.exchange.book(asset), event_type="book"))
            except UnknownMarket:
                continue
        return _text(books) if books else None

    async def _serve(self, ws: WebSocket, conns: set[_Conn], *, user: bool) -> None:
        await ws.accept()
        conn = _Conn(ws=ws, generation=self.ctx.faults.ws_generation)
        conns.add(conn)
        sender = asyncio.create_task(self._sender(conn))
        try:
            while True:
                message = await ws.receive_text()
                if not self._alive(conn):
                    continue  # silenced: no PONG, no subscriptions
                if message.strip().upper() == "PING":
                    conn.push("PONG")
                    continue
                try:
                    payload = msgspec.json.decode(message)
                except msgspec.DecodeError:
                    conn.push(_text({"error": "INVALID OPERATION: send JSON or PING"}))
                    continue
                if not isinstance(payload, dict):
                    conn.push(_text({"error": "INVALID OPERATION: expected a JSON object"}))
                    continue
                if user:
                    if not self._user_message(conn, payload):
                        await ws.close(code=1008, reason="Unauthorized/Invalid api key")
                        return
                else:
                    self._market_message(conn, payload)
        except WebSocketDisconnect:
            return
        finally:
            conns.discard(conn)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender

    async def market_endpoint(self, ws: WebSocket) -> None:
        """``/ws/market``."""
        await self._serve(ws, self.market_conns, user=False)

    async def user_endpoint(self, ws: WebSocket) -> None:
        """``/ws/user``."""
        await self._serve(ws, self.user_conns, user=True)

    def _market_message(self, conn: _Conn, payload: dict[str, Any]) -> None:
        assets = payload.get("assets_ids") or payload.get("asset_ids") or []
        if not isinstance(assets, list) or not all(isinstance(a, str) for a in assets):
            conn.push(_text({"error": "INVALID OPERATION: assets_ids must be a list of strings"}))
            return
        if "custom_feature_enabled" in payload:
            conn.custom = bool(payload["custom_feature_enabled"])
        operation = str(payload.get("operation") or "subscribe").lower()
        if operation == "unsubscribe":
            conn.assets.difference_update(assets)
            return
        new = [a for a in dict.fromkeys(assets) if a not in conn.assets]
        conn.assets.update(assets)
        if new and payload.get("initial_dump", True) is not False:
            frame = self._books_frame(new)
            if frame is not None:
                conn.push(frame)

    def _user_message(self, conn: _Conn, payload: dict[str, Any]) -> bool:
        """Apply a user-channel message; False when its auth fails (the socket is closed)."""
        auth = payload.get("auth")
        if conn.api_key is None or auth is not None:
            if not isinstance(auth, dict):
                return False
            key = auth.get("apiKey") or auth.get("api_key")
            record = self.ctx.exchange.api_key(key) if isinstance(key, str) else None
            secret = str(auth.get("secret", ""))
            passphrase = str(auth.get("passphrase", ""))
            if (
                record is None
                or not hmac.compare_digest(record.secret, secret)
                or not hmac.compare_digest(record.passphrase, passphrase)
            ):
                return False
            conn.api_key = record.api_key
        markets = payload.get("markets")
        if isinstance(markets, list) and all(isinstance(m, str) for m in markets):
            lowered = {m.lower() for m in markets}
            operation = str(payload.get("operation") or "").lower()
            if operation == "unsubscribe":
                if conn.markets:
                    conn.markets.difference_update(lowered)
            elif operation == "subscribe":
                if conn.markets is not None:  # None already means every market
                    conn.markets.update(lowered)
            else:
                conn.markets = lowered or None
        return True

    async def close_all(self) -> None:
        """Close every connection (server shutdown)."""
        for conn in [*self.market_conns, *self.user_conns]:
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, reason="server shutting down")
