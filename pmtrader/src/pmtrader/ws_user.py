"""The user channel as a stream of typed order and trade events.

:class:`UserStream` logs in with the API credentials, optionally narrows the feed to some markets
(condition ids), and yields :class:`~pmtrader.ws_events.OrderUpdate` and
:class:`~pmtrader.ws_events.TradeUpdate`. It shares the market stream's keep-alive, staleness
detection and jittered reconnects; since a dropped user feed may have missed fills, it yields
:class:`~pmtrader.ws_events.FeedStale` when that happens and
:class:`~pmtrader.ws_events.FeedRestored` once it is subscribed again (then reconcile open
orders and trades over REST). A refused login ends the stream with
:class:`~pmtrader.errors.AuthError` instead of retrying forever.

The secret and passphrase go only into the subscription message; they are never logged.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from typing import Any

import structlog
from websockets.asyncio.client import ClientConnection

from pmtrader.book import parse_price, parse_size
from pmtrader.config import ApiCredentials
from pmtrader.errors import AuthError, FeedDecodeError, PmtraderError, StaleFeedError
from pmtrader.wire import OrderEvent, TradeEvent, UserEvent, decode_user
from pmtrader.ws import Feed, channel_url
from pmtrader.ws_events import (
    FeedRestored,
    FeedStale,
    MakerFill,
    OrderUpdate,
    TradeUpdate,
    UserStreamEvent,
)

__all__ = ["UserStream"]

_log = structlog.get_logger("pmtrader.ws_user")

_POLICY_VIOLATION = 1008  # the close code the venue answers a bad login with


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


class UserStream(Feed[UserStreamEvent]):
    """The caller's order and trade events, kept connected.

    Args:
        url: The websocket base (``settings.ws_url``) or the full ``…/ws/user`` URL.
        creds: The L2 API credentials whose orders and trades to follow.
        markets: Condition ids to follow; ``None`` for every market.
        stale_after: Seconds without any frame (``PONG`` included) before the feed is dead.
        ping_interval: Seconds between ``PING`` keep-alives.
        backoff_initial: First reconnect delay, seconds (jittered, doubling).
        backoff_max: Longest reconnect delay, seconds.
        open_timeout: Seconds allowed for the connection handshake.
        queue_size: Events held for a slow consumer before the reader waits for it.
        rng: Source of backoff jitter (seed it for reproducible tests).
    """

    def __init__(
        self,
        url: str,
        creds: ApiCredentials,
        markets: Iterable[str] | None = None,
        *,
        stale_after: float = 30.0,
        ping_interval: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        open_timeout: float = 10.0,
        queue_size: int = 10_000,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(
            channel_url(url, "user"),
            stale_after=stale_after,
            ping_interval=ping_interval,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            open_timeout=open_timeout,
            queue_size=queue_size,
            rng=rng,
        )
        self._creds = creds
        self._markets: list[str] | None = None if markets is None else list(dict.fromkeys(markets))
        self._stale = False

    def __repr__(self) -> str:
        return f"UserStream(key={self._creds.key!r}, markets={self._markets!r})"

    async def subscribe(self, markets: Iterable[str]) -> None:
        """Follow more markets (no-op when following every market)."""
        if self._markets is None:
            return
        new = [m for m in dict.fromkeys(markets) if m not in self._markets]
        if new:
            self._markets.extend(new)
            await self._send(json.dumps({"operation": "subscribe", "markets": new}))

    async def unsubscribe(self, markets: Iterable[str]) -> None:
        """Stop following some markets."""
        gone = list(dict.fromkeys(markets))
        if self._markets is not None:
            self._markets = [m for m in self._markets if m not in gone]
        await self._send(json.dumps({"operation": "unsubscribe", "markets": gone}))

    # -- feed hooks ------------------------------------------------------------------------------

    async def _subscribe(self, ws: ClientConnection) -> None:
        message: dict[str, Any] = {
            "auth": {
                "apiKey": self._creds.key,
                "secret": self._creds.secret.reveal(),
                "passphrase": self._creds.passphrase.reveal(),
            },
            "type": "user",
        }
        if self._markets is not None:
            message["markets"] = self._markets
        await ws.send(json.dumps(message))

    async def _on_connected(self) -> None:
        if self._stale:
            self._stale = False
            await self._emit(FeedRestored(self.connections - 1))

    async def _on_disconnected(self, reason: str) -> None:
        if self._stale or reason == "closed":
            return
        self._stale = True
        await self._emit(
            FeedStale(
                reason,
                StaleFeedError(
                    f"user feed {reason}: order and trade events may be missing until it is "
                    "restored; reconcile over REST then",
                    reason=reason,
                ),
            )
        )

    def _fatal_close(self, code: int, reason: str) -> PmtraderError | None:
        if code != _POLICY_VIOLATION:
            return None
        return AuthError(
            f"the user channel refused API key {self._creds.key} ({reason or 'no reason given'});"
            " check the key, secret and passphrase (pmtrader doctor)",
            status=401,
            method="WS",
            path="/ws/user",
        )

    async def _on_frame(self, frame: str | bytes) -> None:
        try:
            events: list[UserEvent] = decode_user(frame)
        except FeedDecodeError as exc:
            _log.warning("ws.user_frame_unreadable", error=str(exc), event_type=exc.event_type)
            events = [e for e in exc.events if isinstance(e, OrderEvent | TradeEvent)]
        for event in events:
            try:
                mapped = _order(event) if isinstance(event, OrderEvent) else _trade(event)
            except ValueError as exc:
                _log.error("ws.user_event_unreadable", event_id=event.id, error=str(exc))
                continue
            await self._emit(mapped)


def _order(event: OrderEvent) -> OrderUpdate:
    return OrderUpdate(
        kind=event.type,
        order_id=event.id,
        market=event.market,
        asset_id=event.asset_id,
        side=event.side,
        price=parse_price(event.price),
        original_size=parse_size(event.original_size),
        size_matched=parse_size(event.size_matched),
        status=event.status,
        timestamp=_int(event.timestamp),
        raw=event,
    )


def _trade(event: TradeEvent) -> TradeUpdate:
    return TradeUpdate(
        trade_id=event.id,
        status=event.status,
        market=event.market,
        asset_id=event.asset_id,
        side=event.side,
        price=parse_price(event.price),
        size=parse_size(event.size),
        taker_order_id=event.taker_order_id,
        trader_side=event.trader_side,
        maker_orders=tuple(
            MakerFill(
                order_id=m.order_id,
                asset_id=m.asset_id,
                price=parse_price(m.price),
                matched_amount=parse_size(m.matched_amount),
                owner=m.owner,
            )
            for m in event.maker_orders
        ),
        timestamp=_int(event.timestamp),
        raw=event,
    )
