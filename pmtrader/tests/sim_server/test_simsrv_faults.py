"""Injected faults behave like a misbehaving venue, deterministically under the seed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from pmtrader.sim.faults import Faults, FaultSettingsError
from pmtrader.testing import MarketPool, SimServer, new_wallet
from py_clob_client_v2 import ClobClient, OrderArgs
from py_clob_client_v2.exceptions import PolyApiException


@pytest.fixture
def venue(quiet_sim: SimServer) -> SimServer:
    return quiet_sim


@pytest.fixture
def clean(venue: SimServer) -> Iterator[SimServer]:
    venue.fault(reset=True)
    try:
        yield venue
    finally:
        venue.fault(reset=True)


def test_fault_decisions_repeat_under_the_same_seed() -> None:
    def pattern(seed: int) -> list[int | None]:
        faults = Faults(seed)
        faults.configure({"rest_fail_rate": 0.5, "rest_fail_status": 429})
        return [faults.pick_failure("/book") for _ in range(40)]

    assert pattern(7) == pattern(7)
    assert pattern(7) != pattern(8)
    assert set(pattern(7)) == {None, 429}


def test_fault_settings_are_validated() -> None:
    faults = Faults(1)
    for bad in (
        {"rest_fail_rate": 2},
        {"rest_fail_status": 404},
        {"rest_delay_ms": -1},
        {"paths": "/book"},
        {"colour": "red"},
    ):
        with pytest.raises(FaultSettingsError):
            faults.configure(bad)  # type: ignore[arg-type]  # deliberately malformed
    assert faults.configure({"rest_fail_rate": "0.25"}).rest_fail_rate == 0.25
    assert faults.pick_failure("/_sim/fund") is None  # operator paths are never faulted


@pytest.mark.slow
@pytest.mark.parametrize("status", [425, 429, 500, 503])
def test_failed_calls_carry_production_status_and_body(clean: SimServer, status: int) -> None:
    clean.fault(rest_fail_rate=1, rest_fail_status=status, paths=["/book", "/ok"])
    response = clean.http.get("/ok")
    assert response.status_code == status
    assert set(response.json()) == {"error"}
    assert (response.headers.get("retry-after") == "1") is (status == 429)
    assert clean.http.get("/version").status_code == 200  # outside the faulted paths


@pytest.mark.slow
def test_a_fraction_fails_and_delays_are_applied(clean: SimServer) -> None:
    clean.fault(rest_fail_rate=0.5, rest_fail_status=503)
    statuses = [clean.http.get("/version").status_code for _ in range(40)]
    assert 5 < statuses.count(503) < 35
    assert set(statuses) == {200, 503}
    clean.fault(reset=True)
    clean.fault(rest_delay_rate=1, rest_delay_ms=300)
    started = time.monotonic()
    assert clean.http.get("/version").status_code == 200
    assert time.monotonic() - started >= 0.3


@pytest.mark.slow
def test_a_dropped_order_response_still_places_the_order(
    clean: SimServer, market_pool: MarketPool
) -> None:
    client = ClobClient(clean.url, chain_id=137, key=new_wallet().key.hex())
    client.set_api_creds(client.create_or_derive_api_key())
    token = market_pool.take(max_min_size=10)["tokens"][0]["token_id"]
    order = client.create_order(OrderArgs(token_id=token, price=0.12, size=10, side="BUY"))
    clean.fault(drop_order_responses=1)
    with pytest.raises(PolyApiException) as err:
        client.post_order(order)
    assert err.value.status_code is None  # no HTTP response at all
    open_orders = client.get_open_orders()
    assert len(open_orders) == 1  # ... but the exchange took the order
    assert open_orders[0]["price"] == "0.12"
    with pytest.raises(PolyApiException) as again:  # a blind retry is a duplicate
        client.post_order(order)
    assert again.value.status_code == 400
    assert "Duplicated" in again.value.error_msg["error"]
    client.cancel_all()


@pytest.mark.slow
def test_persistence_across_restart_and_crash(
    sim_factory: Callable[..., SimServer], tmp_path_factory: pytest.TempPathFactory
) -> None:
    state = tmp_path_factory.mktemp("sim-state")
    sim = sim_factory(seed=61, flow=False, state_dir=state)
    wallet = new_wallet()
    client = ClobClient(sim.url, chain_id=137, key=wallet.key.hex())
    creds = client.create_or_derive_api_key()
    client.set_api_creds(creds)
    token = sim.http.get("/markets").json()["data"][0]["tokens"][0]["token_id"]
    placed = client.create_and_post_order(
        OrderArgs(token_id=token, price=0.21, size=10, side="BUY")
    )
    sim.fund(wallet.address, "5.5")
    funder = new_wallet().address
    sim.http.post("/_sim/funder", json={"eoa": wallet.address, "maker": funder})
    book = sim.http.get("/book", params={"token_id": token}).json()

    for stop in (sim.kill, sim.stop):  # a crash (SIGKILL), then a graceful stop
        stop()
        sim.restart()
        again = ClobClient(sim.url, chain_id=137, key=wallet.key.hex())
        assert again.derive_api_key() == creds
        again.set_api_creds(creds)
        assert [o["id"] for o in again.get_open_orders()] == [placed["orderID"]]
        state_now = sim.http.get("/_sim/state").json()
        assert state_now["seed"] == 61
        after = sim.http.get("/book", params={"token_id": token}).json()
        assert (after["bids"], after["asks"]) == (book["bids"], book["asks"])
        # The on-chain balance: open orders reserve pUSD but do not move it.
        assert again.get_balance_allowance()["balance"] == "10005500000"
        assert state_now["funders"] == {wallet.address.lower(): [funder.lower()]}
