"""The upstream clients: per event loop, one lean HTTP/1.1 pool per route and one aiohttp session.

Forwarded requests go through :mod:`pmproxy.h1` pools (the hot path); the websocket relay and
the health probes use the aiohttp session.

Under uvicorn there is one loop and so one session for the application's lifetime (opened
lazily on the first request, closed by the lifespan). On Lambda, Mangum drives the app from the
thread's current loop, which normally lives as long as the warm execution environment; should
an invocation run on another loop, a session bound to the first would fail ("attached to a
different loop"), so sessions are kept per loop and each loop gets its own.

The session relays bytes, it does not interpret them: no cookie jar, no decompression (the
body and its ``Content-Encoding`` reach the client as sent), no proxy settings from the
environment, no redirects followed, and no default headers the client did not send.
"""

from __future__ import annotations

import asyncio
import ssl

import aiohttp

from pmproxy.errors import UpstreamError, UpstreamTimeoutError, UpstreamUnavailableError
from pmproxy.h1 import H1Pool
from pmproxy.settings import Settings

# Headers aiohttp would otherwise invent; a relayed request carries only the client's own.
_SKIP_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


class UpstreamPool:
    """Hands out the pooled client session of the running event loop.

    One session per loop: a session (and every connection in it) belongs to the loop it was
    opened on and cannot be used from another. Sessions of loops that were closed since are
    dropped the next time a session is opened.

    Args:
        settings: pool size and timeouts come from here.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        self._h1: dict[asyncio.AbstractEventLoop, dict[str, H1Pool]] = {}
        self._tls: ssl.SSLContext | None = None
        self._upstreams = {
            name: settings.upstream(name) for name in ("clob", "gamma", "data", "chain")
        }
        self.timeout = aiohttp.ClientTimeout(
            total=None,
            connect=settings.connect_timeout,
            sock_connect=settings.connect_timeout,
            sock_read=settings.read_timeout,
        )

    def session(self) -> aiohttp.ClientSession:
        """The session of the running loop, opened on first use (call from a coroutine)."""
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is not None and not session.closed:
            return session
        for old_loop, old in list(self._sessions.items()):
            if old_loop.is_closed():
                # Its loop is gone and with it every socket of the pool; only forget it.
                old.detach()
                del self._sessions[old_loop]
        connector = aiohttp.TCPConnector(
            ssl=self.tls(),
            limit=self._settings.pool_size,
            limit_per_host=0,
            ttl_dns_cache=300,
            keepalive_timeout=30.0,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            trust_env=False,
            skip_auto_headers=_SKIP_AUTO_HEADERS,
            timeout=self.timeout,
            raise_for_status=False,
            requote_redirect_url=False,
            max_field_size=16_384,
        )
        # aiohttp resends "idempotent" requests (its list includes DELETE) once when a pooled
        # connection turns out to be closed. A DELETE here cancels orders and is never sent
        # twice; the forwarder applies pmproxy's own policy (errors.may_retry) instead.
        session._retry_connection = False
        self._sessions[loop] = session
        return session

    def h1(self, route: str) -> H1Pool:
        """The hot-path connection pool of a route for the running loop (call from a coroutine)."""
        loop = asyncio.get_running_loop()
        pools = self._h1.get(loop)
        if pools is None:
            for old_loop in [old for old in self._h1 if old.is_closed()]:
                del self._h1[old_loop]
            pools = self._h1[loop] = {}
        pool = pools.get(route)
        if pool is None:
            pool = pools[route] = H1Pool(
                self._upstreams[route],
                loop=loop,
                limit=self._settings.pool_size,
                connect_timeout=self._settings.connect_timeout,
                read_timeout=self._settings.read_timeout,
                tls=self.tls(),
            )
        return pool

    def tls(self) -> ssl.SSLContext:
        """The TLS context for ``https`` upstreams (certificates and host names verified)."""
        if self._tls is None:
            self._tls = ssl.create_default_context(cafile=self._settings.ca_file or None)
        return self._tls

    async def close(self) -> None:
        """Close the running loop's connections (the lifespan's shutdown calls this)."""
        loop = asyncio.get_running_loop()
        for pool in self._h1.pop(loop, {}).values():
            await pool.aclose()
        session = self._sessions.pop(loop, None)
        if session is not None and not session.closed:
            await session.close()


def map_error(route: str, exc: BaseException) -> UpstreamError:
    """Translate an aiohttp or socket failure into the error pmproxy answers with.

    Timeouts become :class:`UpstreamTimeoutError` (504); refused, reset or broken connections and
    malformed answers become :class:`UpstreamUnavailableError` (502).
    """
    if isinstance(exc, TimeoutError):
        return UpstreamTimeoutError(route, f"the {route} upstream did not answer in time")
    reason = type(exc).__name__
    return UpstreamUnavailableError(route, f"the {route} upstream is unavailable ({reason})")


FAILURES = (aiohttp.ClientError, OSError, TimeoutError)
"""Exceptions an upstream call can raise that :func:`map_error` translates."""
