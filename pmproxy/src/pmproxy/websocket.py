"""``/ws/market``: the public market channel, relayed frame by frame.

The client's frames (the subscribe message, ``PING``) go up unchanged and the upstream's
frames come down unchanged; nothing is decoded. The proxy opens the upstream socket before it
accepts the client's, so a client of a dead upstream sees its handshake refused rather than an
open socket that never speaks. Only the market channel is relayed: the user channel carries API
credentials in its first frame, and a shared proxy has no business seeing them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import aiohttp
import structlog
from yarl import URL

from pmproxy.errors import UnsafeRequestError
from pmproxy.safety import check_query
from pmproxy.settings import Upstream
from pmproxy.upstream import FAILURES, UpstreamPool

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PATH = "/ws/market"
_MAX_FRAME = 16 * 1024 * 1024


async def relay_market(
    scope: Scope, receive: Receive, send: Send, *, upstream: Upstream, pool: UpstreamPool
) -> None:
    """Relay one client websocket on ``/ws/market`` to ``{ws_url}/market``."""
    log = structlog.get_logger("pmproxy.ws")
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    query: bytes = scope.get("query_string", b"")
    try:
        check_query(query)
    except UnsafeRequestError:
        await send({"type": "websocket.close", "code": 1008})
        return
    url = URL.build(
        scheme=upstream.scheme,
        host=upstream.host,
        port=upstream.port,
        path=upstream.base_path + "/market",
        query_string=query.decode("ascii"),
        encoded=True,
    )
    try:
        remote = await pool.session().ws_connect(
            url,
            autoping=True,
            max_msg_size=_MAX_FRAME,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0),
        )
    except FAILURES as exc:
        log.warning("ws.upstream_failed", error=type(exc).__name__)
        await send({"type": "websocket.close", "code": 1011})
        return
    await send({"type": "websocket.accept"})
    log.debug("ws.opened")
    up = asyncio.ensure_future(_client_to_upstream(receive, remote))
    down = asyncio.ensure_future(_upstream_to_client(remote, send))
    try:
        await asyncio.wait((up, down), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (up, down):
            task.cancel()
        for task in (up, down):
            with contextlib.suppress(BaseException):
                await task
        await remote.close()
        log.debug("ws.closed")


async def _client_to_upstream(receive: Receive, remote: aiohttp.ClientWebSocketResponse) -> None:
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.receive":
            text = message.get("text")
            if text is not None:
                await remote.send_str(text)
            else:
                await remote.send_bytes(message.get("bytes") or b"")
        elif kind == "websocket.disconnect":
            return


async def _upstream_to_client(remote: aiohttp.ClientWebSocketResponse, send: Send) -> None:
    async for frame in remote:
        if frame.type is aiohttp.WSMsgType.TEXT:
            await send({"type": "websocket.send", "text": frame.data})
        elif frame.type is aiohttp.WSMsgType.BINARY:
            await send({"type": "websocket.send", "bytes": frame.data})
        else:
            break
    code = remote.close_code or 1000
    with contextlib.suppress(Exception):
        await send({"type": "websocket.close", "code": code if 1000 <= code < 5000 else 1011})
