"""``Client`` and ``AsyncClient``: one object per venue connection, split by resource.

Quick start (the local exchange: ``pmtrader sim serve``; for production use
``Settings.from_env(os.environ)`` with ``PM_PRIVATE_KEY`` and friends)::

    from decimal import Decimal
    from pmtrader import Client, InsufficientBalanceError, InvalidPriceError, Secret, Settings

    settings = Settings.for_sim("http://127.0.0.1:8700", private_key=Secret(key))
    with Client(settings) as client:
        client.account.create_or_derive_api_key()  # L1 once; later calls use the L2 key
        print(client.doctor())  # key, funder, API key, balance, every allowance

        market = next(client.markets.iter_markets())
        token = market.tokens[0].token_id
        book = client.books.get_order_book(token, verify=True)  # hash checked
        preview = client.orders.preview_order(token, "BUY", price=Decimal("0.52"), size=10)
        try:
            client.orders.create_and_post_order(token, "BUY", price=Decimal("0.52"), size=10)
        except InvalidPriceError as exc:  # off the tick grid: exc.nearest has valid prices
            ...
        except InsufficientBalanceError as exc:  # exc.hint says what is short
            ...

The async client is the same API, awaited::

    async with AsyncClient(settings) as client:
        book = await client.books.get_order_book(token)
        async for market in client.gamma.iter_markets(closed=False):
            ...

Groups (the same on both clients):

============  ================================================================================
``markets``   CLOB markets (paged and iterate-all), ``/clob-markets``, tick size, neg-risk, fees,
              rewards listings, trade events
``books``     books, prices, midpoints, spreads, last trades (single and batch), price history
``gamma``     Gamma markets and events (filters, id, slug), search, tags
``data``      Data API positions, trades, activity, portfolio value
``chain``     pUSD and CTF balances, pUSD allowances and CTF approvals over JSON-RPC
``account``   API keys (create/derive/list/delete), balance and allowance, ban status,
              notifications
``orders``    build/sign/post limit and market orders, batches, cancels, open orders, trades,
              scoring, heartbeats, and :class:`~pmtrader.preview.OrderPreview`
============  ================================================================================

Method names follow py-clob-client-v2 (``get_order_book``, ``create_and_post_order``,
``cancel_all`` ...) on the group where they belong, so a trader who knows the official client
finds them (``client.books.get_order_book`` for ``ClobClient.get_order_book``); there are no
aliases, one name per call. What differs is the types: ``Decimal`` in (floats are refused for
prices and sizes), typed pydantic models out, typed errors raised (:mod:`pmtrader.errors`).

Constructors do no I/O; the HTTP connection pool opens on the first request and closes with
:meth:`Client.close` (or the ``with`` block). Pass ``transport=`` to route requests anywhere
(an ASGI app, a counting wrapper, a proxy) and ``retry=`` to tune retries of idempotent calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib.metadata import version
from types import TracebackType
from typing import Self

import httpx

from pmtrader._http import AsyncRunner, Authenticator, SyncRunner
from pmtrader._state import ClientState, MarketCache
from pmtrader.account import Account, AsyncAccount
from pmtrader.books import AsyncBooks, Books
from pmtrader.chain import AsyncChain, Chain
from pmtrader.config import ApiCredentials, Settings
from pmtrader.data import AsyncDataApi, DataApi
from pmtrader.doctor import DoctorReport, op_doctor
from pmtrader.gamma import AsyncGamma, Gamma
from pmtrader.markets import AsyncMarkets, Markets
from pmtrader.orders import AsyncOrders, Orders
from pmtrader.retry import RetryPolicy

__all__ = ["AsyncClient", "Client"]


def _headers() -> dict[str, str]:
    return {"User-Agent": f"pmtrader/{version('pmtrader')}"}


class Client:
    """The synchronous Polymarket client.

    Args:
        settings: Endpoints and credentials (``Settings.from_env(os.environ)``); defaults to
            production endpoints without credentials (public data only).
        transport: An httpx transport to send requests through (default: real network).
        retry: Retry policy for idempotent requests (order POSTs are never retried).
        clock: Seconds since the epoch for ``POLY_TIMESTAMP`` (injectable for golden tests).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or Settings()
        self._http = httpx.Client(
            transport=transport,
            timeout=self.settings.timeout,
            headers=_headers(),
            follow_redirects=False,
        )
        auth = Authenticator(self.settings, clock)
        runner = SyncRunner(self.settings, self._http, auth, retry or RetryPolicy())
        self._state = ClientState(self.settings, runner, auth, MarketCache(), clock)
        self.markets = Markets(self._state)
        self.books = Books(self._state)
        self.gamma = Gamma(self._state)
        self.data = DataApi(self._state)
        self.chain = Chain(self._state)
        self.account = Account(self._state)
        self.orders = Orders(self._state)

    @property
    def address(self) -> str:
        """The signer's EOA address (from ``PM_PRIVATE_KEY``)."""
        return self._state.auth.address

    @property
    def funder(self) -> str:
        """The address holding the funds: ``PM_FUNDER_ADDRESS`` or the signer's own."""
        return self.settings.funder or self._state.auth.address

    @property
    def api_credentials(self) -> ApiCredentials | None:
        """The L2 credentials in use, if any."""
        return self._state.auth.credentials

    def set_api_credentials(self, credentials: ApiCredentials) -> None:
        """Use ``credentials`` for every later L2 call."""
        self._state.auth.credentials = credentials

    def doctor(self) -> DoctorReport:
        """Check the account end to end and say exactly what to fix (see :mod:`pmtrader.doctor`)."""
        return self._state.runner.run(op_doctor(self._state))

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(env={self.settings.env!r}, clob_url={self.settings.clob_url!r})"


class AsyncClient:
    """The asyncio twin of :class:`Client`: the same groups and methods, awaited.

    Args:
        settings: Endpoints and credentials.
        transport: An async httpx transport (default: real network).
        retry: Retry policy for idempotent requests.
        clock: Seconds since the epoch for ``POLY_TIMESTAMP``.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or Settings()
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=self.settings.timeout,
            headers=_headers(),
            follow_redirects=False,
        )
        auth = Authenticator(self.settings, clock)
        runner = AsyncRunner(self.settings, self._http, auth, retry or RetryPolicy())
        self._state = ClientState(self.settings, runner, auth, MarketCache(), clock)
        self.markets = AsyncMarkets(self._state)
        self.books = AsyncBooks(self._state)
        self.gamma = AsyncGamma(self._state)
        self.data = AsyncDataApi(self._state)
        self.chain = AsyncChain(self._state)
        self.account = AsyncAccount(self._state)
        self.orders = AsyncOrders(self._state)

    @property
    def address(self) -> str:
        """See :attr:`Client.address`."""
        return self._state.auth.address

    @property
    def funder(self) -> str:
        """See :attr:`Client.funder`."""
        return self.settings.funder or self._state.auth.address

    @property
    def api_credentials(self) -> ApiCredentials | None:
        """See :attr:`Client.api_credentials`."""
        return self._state.auth.credentials

    def set_api_credentials(self, credentials: ApiCredentials) -> None:
        """See :meth:`Client.set_api_credentials`."""
        self._state.auth.credentials = credentials

    async def doctor(self) -> DoctorReport:
        """See :meth:`Client.doctor`."""
        return await self._state.runner.run(op_doctor(self._state))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncClient(env={self.settings.env!r}, clob_url={self.settings.clob_url!r})"
