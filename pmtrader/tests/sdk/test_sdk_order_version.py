"""Before its first order a client asks the venue's ``/version``; pmt signs only version 2.

py-clob-client-v2 asks ``GET /version`` once per client to choose the V1 or V2 order struct and
treats any failure as 2. pmt has only the V2 signer, so a venue that reports another version
gets a typed :class:`UnsupportedVersionError` and nothing is signed or sent. The local exchange
reports what ``POST /_sim/version`` sets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from pmtrader.testing import SimServer

from pmtrader import RetryPolicy, SigningError, UnsupportedVersionError

from .conftest import Api, Catalogue, close_api, open_api, wallet_settings


@pytest.fixture
def set_version(quiet_sim: SimServer) -> Iterator[Callable[[int], None]]:
    """``set_version(n)`` makes the venue report ``n``; it reports 2 again after the test."""

    def set_to(version: int) -> None:
        httpx.post(
            quiet_sim.url + "/_sim/version", json={"version": version}, timeout=10
        ).raise_for_status()

    try:
        yield set_to
    finally:
        set_to(2)
        quiet_sim.fault(reset=True)


def test_a_venue_on_another_version_gets_a_typed_refusal_and_no_order(
    api: Api, catalogue: Catalogue, set_version: Callable[[int], None]
) -> None:
    token = catalogue.first(skip=5).tokens[0].token_id
    set_version(1)
    with pytest.raises(UnsupportedVersionError) as refused:
        api(lambda c: c.orders.create_and_post_order(token, "BUY", price="0.2", size=10))
    assert refused.value.version == 1
    assert isinstance(refused.value, SigningError)
    message = str(refused.value)
    assert "pmt signs CLOB V2 orders" in message
    assert "reports order version 1" in message
    assert "nothing was signed or sent" in message
    set_version(3)
    with pytest.raises(UnsupportedVersionError, match="version 3"):
        api(lambda c: c.orders.create_market_order(token, "BUY", amount=5, price="0.5"))
    assert api(lambda c: c.orders.get_open_orders(asset_id=token)) == []

    # A refusal is not remembered: once the venue speaks V2, the same client trades.
    set_version(2)
    placed = api(lambda c: c.orders.create_and_post_order(token, "BUY", price="0.2", size=10))
    assert placed.status == "live"


def test_the_version_is_asked_once_per_client(
    api: Api, quiet_sim: SimServer, catalogue: Catalogue, set_version: Callable[[int], None]
) -> None:
    token = catalogue.first(skip=5).tokens[0].token_id
    api(lambda c: c.orders.create_order(token, "BUY", price="0.2", size=10))
    set_version(1)
    # This client already knows the venue is V2 and does not ask again...
    assert api(lambda c: c.orders.create_order(token, "SELL", price="0.8", size=10)).order_hash
    # ...while a new client asks before its first order.
    fresh = open_api(wallet_settings(quiet_sim), api.flavour)
    try:
        fresh(lambda c: c.account.create_or_derive_api_key())
        with pytest.raises(UnsupportedVersionError):
            fresh(lambda c: c.orders.create_order(token, "BUY", price="0.2", size=10))
    finally:
        close_api(fresh)


def test_an_unanswered_version_counts_as_2_like_the_official_client(
    quiet_sim: SimServer, catalogue: Catalogue, set_version: Callable[[int], None]
) -> None:
    token = catalogue.first(skip=5).tokens[0].token_id
    quiet_sim.fault(rest_fail_rate=1.0, rest_fail_status=500, paths=["/version"])
    assert quiet_sim.http.get("/version").status_code == 500
    api = open_api(wallet_settings(quiet_sim), "sync", retry=RetryPolicy.never())
    try:
        api(lambda c: c.account.create_or_derive_api_key())
        order = api(lambda c: c.orders.create_order(token, "BUY", price="0.2", size=10))
        assert order.amounts.shares == 10_000_000
    finally:
        close_api(api)


def test_the_doctor_says_the_same_before_any_order(
    api: Api, set_version: Callable[[int], None]
) -> None:
    set_version(1)
    check = api(lambda c: c.doctor()).by_name("clob")
    assert check.status.value == "fail"
    assert "order version 1" in check.detail
    assert "PM_CLOB_URL" in check.fix
