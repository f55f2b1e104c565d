"""A seeded fraction of order posts executes but loses its response (``drop_order_response_rate``).

The reliability tests of anything that places orders need "the exchange drops the response to
30% of submits", repeatably: the rate is honoured, the same seed picks the same posts, and a
dropped post is still executed at the exchange, exactly like a response lost on the wire.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pmtrader.sim.faults import Faults, FaultSettingsError
from pmtrader.testing import MarketPool, SimServer, new_wallet
from py_clob_client_v2 import ClobClient, OrderArgs
from py_clob_client_v2.exceptions import PolyApiException


def _drops(faults: Faults, posts: int, path: str = "/order") -> list[bool]:
    return [faults.take_order_drop("POST", path) for _ in range(posts)]


def _pattern(seed: int, rate: float, posts: int, *, server_seed: int = 1) -> list[bool]:
    faults = Faults(server_seed)
    faults.configure({"drop_order_response_rate": rate, "seed": seed})
    return _drops(faults, posts)


def test_the_rate_is_honoured_within_bounds_for_every_seed() -> None:
    # 1000 posts at 30%: the binomial's standard deviation is ~14.5, so 240..360 is ±4 sigma.
    for seed in range(20):
        dropped = sum(_pattern(seed, 0.3, 1000))
        assert 240 <= dropped <= 360, (seed, dropped)
    assert sum(_pattern(5, 0.0, 500)) == 0
    assert sum(_pattern(5, 1.0, 500)) == 500


def test_the_same_seed_drops_the_same_posts_on_any_server() -> None:
    first = _pattern(42, 0.3, 300, server_seed=1)
    assert first == _pattern(42, 0.3, 300, server_seed=999)  # the explicit seed alone decides
    assert first != _pattern(43, 0.3, 300, server_seed=1)
    assert any(first)
    assert not all(first)


def test_other_traffic_never_shifts_which_posts_lose_their_answer() -> None:
    quiet = _pattern(7, 0.3, 200)
    busy = Faults(1)
    busy.configure(
        {"drop_order_response_rate": 0.3, "seed": 7, "rest_fail_rate": 0.5, "rest_delay_rate": 0.5}
    )
    pattern = []
    for _ in range(200):
        busy.pick_failure("/book")  # reads in between draw from the other generator
        busy.pick_delay("/data/order/0xabc")
        assert not busy.take_order_drop("GET", "/order")  # only placements can be dropped
        assert not busy.take_order_drop("DELETE", "/order")
        assert not busy.take_order_drop("POST", "/cancel-all")
        pattern.append(busy.take_order_drop("POST", "/order"))
    assert pattern == quiet


def test_batch_posts_draw_like_single_posts_and_the_counters_say_what_happened() -> None:
    faults = Faults(3)
    faults.configure({"drop_order_response_rate": 0.3, "seed": 9})
    mixed = [faults.take_order_drop("POST", p) for p in ["/order", "/orders"] * 100]
    assert mixed == _pattern(9, 0.3, 200)
    assert faults.order_posts == 200
    assert faults.dropped_responses == sum(mixed)
    faults.configure({"rest_fail_rate": 0})  # any change restarts the count
    assert (faults.order_posts, faults.dropped_responses) == (0, 0)


def test_a_pending_count_is_used_up_before_the_rate_applies() -> None:
    faults = Faults(3)
    faults.configure({"drop_order_responses": 3, "drop_order_response_rate": 0.0})
    assert _drops(faults, 5) == [True, True, True, False, False]
    faults.configure({"drop_order_responses": 2, "drop_order_response_rate": 1.0})
    assert _drops(faults, 4) == [True, True, True, True]
    assert faults.settings.drop_order_responses == 0


def test_without_a_seed_the_servers_seed_decides_and_reset_clears_both() -> None:
    def unseeded(server_seed: int) -> list[bool]:
        faults = Faults(server_seed)
        faults.configure({"drop_order_response_rate": 0.5})
        return _drops(faults, 100)

    assert unseeded(11) == unseeded(11)
    assert unseeded(11) != unseeded(12)
    faults = Faults(11)
    faults.configure({"drop_order_response_rate": 0.5, "seed": 4})
    settings = faults.configure({"reset": True})
    assert (settings.drop_order_response_rate, settings.seed) == (0.0, None)
    assert not any(_drops(faults, 50))
    assert settings.to_json()["drop_order_response_rate"] == 0.0
    assert settings.to_json()["seed"] is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"drop_order_response_rate": 1.5}, "drop_order_response_rate must be between 0 and 1"),
        ({"drop_order_response_rate": "lots"}, "drop_order_response_rate must be a number"),
        ({"drop_order_response_rate": True}, "drop_order_response_rate must be a number"),
        ({"seed": "abc"}, "seed must be a whole number"),
        ({"seed": 1.5}, "seed must be a whole number"),
        ({"seed": False}, "seed must be a whole number"),
    ],
)
def test_bad_settings_say_what_is_allowed(body: dict[str, object], message: str) -> None:
    faults = Faults(1)
    with pytest.raises(FaultSettingsError, match=message):
        faults.configure(body)
    assert faults.settings.drop_order_response_rate == 0.0, "nothing half-applied"


# --- through the running exchange ---------------------------------------------------------


@pytest.fixture
def clean(quiet_sim: SimServer) -> Iterator[SimServer]:
    quiet_sim.fault(reset=True)
    try:
        yield quiet_sim
    finally:
        quiet_sim.fault(reset=True)


@pytest.mark.slow
def test_the_exchange_drops_exactly_the_seeded_posts_and_still_executes_them(
    clean: SimServer, market_pool: MarketPool
) -> None:
    client = ClobClient(clean.url, chain_id=137, key=new_wallet().key.hex())
    client.set_api_creds(client.create_or_derive_api_key())
    token = market_pool.take(max_min_size=10)["tokens"][0]["token_id"]
    posts = 30
    orders = [
        client.create_order(OrderArgs(token_id=token, price=0.01 + 0.01 * i, size=10, side="BUY"))
        for i in range(posts)
    ]
    answer = httpx.post(
        clean.url + "/_sim/fault",
        json={"drop_order_response_rate": 0.3, "seed": 2026},
        timeout=10,
    ).json()
    assert (answer["drop_order_response_rate"], answer["seed"]) == (0.3, 2026)
    dropped = []
    statuses = set()
    for order in orders:
        try:
            client.post_order(order)
            dropped.append(False)
        except PolyApiException as exc:
            statuses.add(exc.status_code)
            dropped.append(True)
    assert statuses == {None}  # no HTTP response at all, never an error status
    assert dropped == _pattern(2026, 0.3, posts, server_seed=12345)
    assert 0 < sum(dropped) < posts
    # Every post was executed, answered or not: the exchange holds all of them.
    assert len(client.get_open_orders()) == posts
    client.cancel_all()
