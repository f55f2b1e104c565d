"""Fixtures for the SDK's integration tests: a quiet local exchange and a client per flavour.

The ``quiet_sim`` exchange runs with background flow off, so its books hold exactly the orders a
test places (deterministic); tests that want a lively venue use the shared ``sim`` fixture.

``api`` is parametrised over the two clients: every integration test runs once with
:class:`~pmtrader.Client` and once with :class:`~pmtrader.AsyncClient` through the same code:
``api(lambda c: c.books.get_order_book(token))`` returns the value for both (the async call is
awaited on the fixture's own event loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pmtrader.models import Market
from pmtrader.testing import SimServer, new_wallet, start_sim

from pmtrader import AsyncClient, AuthError, Client, Secret, Settings, SignatureType


@pytest.fixture(scope="session")
def quiet_sim() -> Iterator[SimServer]:
    """A local exchange with background flow off: empty books until a test trades."""
    with start_sim(seed=11, flow=False) as server:
        yield server


def wallet_settings(
    sim: SimServer,
    *,
    signature_type: SignatureType = SignatureType.EOA,
    funder: str | None = None,
    **overrides: Any,
) -> Settings:
    """Settings for a brand-new wallet on ``sim``."""
    key = new_wallet().key.hex()
    return Settings.for_sim(
        sim.url,
        private_key=Secret(key if key.startswith("0x") else "0x" + key),
        signature_type=signature_type,
        funder=funder,
        **overrides,
    )


class Api:
    """One client, sync or async, driven through the same calls."""

    def __init__(self, client: Any, loop: asyncio.AbstractEventLoop | None) -> None:
        self.client = client
        self.loop = loop
        self.flavour = "async" if loop is not None else "sync"

    def __call__(self, call: Callable[[Any], Any]) -> Any:
        result = call(self.client)
        if inspect.isawaitable(result):
            assert self.loop is not None
            return self.loop.run_until_complete(result)
        return result

    def collect(self, call: Callable[[Any], Any]) -> list[Any]:
        """Exhaust an iterator (sync) or async iterator (async) returned by ``call``."""
        result = call(self.client)
        if isinstance(result, AsyncIterator):
            assert self.loop is not None

            async def drain() -> list[Any]:
                return [item async for item in result]

            return self.loop.run_until_complete(drain())
        return list(result)


def open_api(settings: Settings, flavour: str, **kwargs: Any) -> Api:
    """Build an :class:`Api` for ``settings`` in the given flavour."""
    if flavour == "sync":
        return Api(Client(settings, **kwargs), None)
    loop = asyncio.new_event_loop()
    return Api(AsyncClient(settings, **kwargs), loop)


def close_api(api: Api) -> None:
    """Cancel what the wallet left open and close the client (and its loop)."""
    try:
        if api.client.api_credentials is not None:
            # A test may have left deleted or wrong credentials behind on purpose.
            with contextlib.suppress(AuthError):
                api(lambda c: c.orders.cancel_all())
    finally:
        if api.loop is not None:
            api.loop.run_until_complete(api.client.aclose())
            api.loop.close()
        else:
            api.client.close()


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest, quiet_sim: SimServer) -> Iterator[Api]:
    """A fresh funded wallet with API credentials, as a sync or an async client."""
    handle = open_api(wallet_settings(quiet_sim), request.param)
    handle(lambda c: c.account.create_or_derive_api_key())
    try:
        yield handle
    finally:
        close_api(handle)


@pytest.fixture
def counterparty(quiet_sim: SimServer) -> Iterator[Client]:
    """A second trader (sync) who makes the other side of the market."""
    with Client(wallet_settings(quiet_sim)) as client:
        client.account.create_or_derive_api_key()
        try:
            yield client
        finally:
            client.orders.cancel_all()


@dataclass(frozen=True)
class Catalogue:
    """Markets of the quiet exchange, by kind."""

    markets: list[Market]

    def first(self, *, tick: str = "0.01", neg_risk: bool = False, skip: int = 0) -> Market:
        found = [
            m
            for m in self.markets
            if m.minimum_tick_size == Decimal(tick)
            and m.neg_risk is neg_risk
            and m.accepting_orders
        ]
        return found[skip]


@pytest.fixture(scope="session")
def catalogue(quiet_sim: SimServer) -> Catalogue:
    """Every market of the quiet exchange (read once)."""
    with Client(Settings.for_sim(quiet_sim.url)) as client:
        return Catalogue(list(client.markets.iter_markets()))


def raw_get(sim: SimServer, path: str) -> Any:
    """Read a path from the exchange without pmt's client (ground truth for comparisons)."""
    return httpx.get(sim.url + path, timeout=10).json()
