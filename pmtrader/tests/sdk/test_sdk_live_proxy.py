"""The SDK through pmproxy: ``PMPROXY_URL`` routes REST via ``/clob``, ``/gamma``, ``/data``,
``/chain``, and the venue still verifies every L1 signature, HMAC and order signature (the HMAC
covers the venue's path, ``/order``, not the proxy's ``/clob/order``).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from pmproxy.app import create_app
from pmproxy.settings import Settings as ProxySettings
from pmproxy.testing import ProxyServer
from pmtrader.testing import SimServer, new_wallet

from pmtrader import Settings

from .conftest import Api, Catalogue, close_api, open_api


@pytest.fixture(scope="module")
def proxy(quiet_sim: SimServer) -> Iterator[ProxyServer]:
    settings = ProxySettings(
        clob_url=quiet_sim.url,
        gamma_url=quiet_sim.gamma_url,
        data_url=quiet_sim.data_url,
        chain_url=quiet_sim.chain_url,
        budgets=False,
        log_level="warning",
    )
    with ProxyServer(create_app(settings)) as server:
        yield server


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_everything_works_through_pmproxy(
    proxy: ProxyServer, quiet_sim: SimServer, catalogue: Catalogue, flavour: str
) -> None:
    key = new_wallet().key.hex()
    settings = Settings.from_env(
        {
            "PMT_ENV": "sim",
            "PMT_SIM_URL": quiet_sim.url,
            "PMPROXY_URL": proxy.url,
            "PM_PRIVATE_KEY": key,
        }
    )
    assert settings.clob_url == f"{proxy.url}/clob"
    api: Api = open_api(settings, flavour)
    try:
        creds = api(lambda c: c.account.create_or_derive_api_key())  # L1 through the proxy
        assert creds.key
        market = catalogue.first(skip=9)
        token = market.tokens[0].token_id
        placed = api(lambda c: c.orders.create_and_post_order(token, "BUY", price="0.2", size=10))
        assert placed.status == "live"  # order signature and HMAC verified by the venue
        book = api(lambda c: c.books.get_order_book(token, verify=True))
        assert book.best_bid == Decimal("0.2")
        assert api(lambda c: c.gamma.get_markets(limit=2))
        address = api(lambda c: c.funder)
        assert api(lambda c: c.data.get_positions(address)) == []
        assert api(lambda c: c.chain.get_pusd_balance(address)) == 10_000 * 1_000_000
        assert api(lambda c: c.orders.cancel_all()).canceled == [placed.order_id]
    finally:
        close_api(api)
