"""Fleet features: one rate budget for every client of the proxy, and coalesced public GETs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pmproxy.budget import LIMITS, TokenBucket, family_of
from pmproxy.testing import ProxyServer, RecordingUpstream

from pmproxy import BudgetExceededError, Budgets


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_families_follow_the_documented_endpoint_groups() -> None:
    assert family_of("clob", "GET", "/book") == "clob.book"
    assert family_of("clob", "POST", "/books") == "clob.books"
    assert family_of("clob", "POST", "/order") == "clob.post-order"
    assert family_of("clob", "DELETE", "/order") == "clob.delete-order"
    assert family_of("clob", "DELETE", "/cancel-all/") == "clob.cancel-all"
    assert family_of("clob", "GET", "/auth/derive-api-key") == "clob.api-keys"
    assert family_of("clob", "GET", "/markets/0x1") is None
    assert family_of("gamma", "GET", "/markets") == "gamma.markets"
    assert family_of("data", "GET", "/positions") == "data.positions"
    assert LIMITS["clob.post-order"] == ((3_500, 10), (36_000, 600))


def test_budgets_are_scaled_from_polymarkets_limits() -> None:
    budgets = Budgets(scale=0.8)
    assert budgets.capacity("clob.book") == 1_200
    assert budgets.capacity("global") == 12_000
    assert Budgets(scale=0.0001).capacity("clob.cancel-all") == 1


def test_a_spent_bucket_refuses_with_the_seconds_to_wait_and_refills_over_time() -> None:
    clock = _Clock()
    budgets = Budgets(scale=0.01, clock=clock)  # cancel-all: 2 per 10 s, 60 per 10 min
    budgets.charge("clob", "DELETE", "/cancel-all")
    budgets.charge("clob", "DELETE", "/cancel-all")
    with pytest.raises(BudgetExceededError) as refused:
        budgets.charge("clob", "DELETE", "/cancel-all")
    assert refused.value.family == "clob.cancel-all"
    assert refused.value.retry_after == 5  # one token of 2 per 10 s
    clock.now += 5.0
    budgets.charge("clob", "DELETE", "/cancel-all")


def test_a_refusal_takes_nothing_from_the_other_buckets() -> None:
    clock = _Clock()
    budgets = Budgets(scale=0.001, clock=clock)  # clob.tick-size: 1 token; clob: 9
    budgets.charge("clob", "GET", "/tick-size")
    for _ in range(20):
        with pytest.raises(BudgetExceededError):
            budgets.charge("clob", "GET", "/tick-size")
    for _ in range(8):  # the general CLOB bucket still holds 8 of its 9
        budgets.charge("clob", "GET", "/markets")
    with pytest.raises(BudgetExceededError) as refused:
        budgets.charge("clob", "GET", "/markets")
    assert refused.value.family == "clob"


class _Reference:
    """The budget rule written plainly with TokenBucket.wait: what Budgets.charge must do."""

    def __init__(self, scale: float, clock: _Clock) -> None:
        self.clock = clock
        self.buckets = {
            name: [TokenBucket(max(1.0, int(limit * scale)), float(window), clock())
                   for limit, window in windows]
            for name, windows in LIMITS.items()
        }  # fmt: skip

    def charge(self, route: str, method: str, path: str) -> str | None:
        names = [n for n in (family_of(route, method, path), route, "global") if n in LIMITS]
        waits = [(b.wait(self.clock()), n) for n in names for b in self.buckets[n]]
        worst, family = max(waits, key=lambda w: w[0])
        if worst > 0.0:
            return family
        for name in names:
            for bucket in self.buckets[name]:
                bucket.tokens -= 1.0
        return None


_CALLS = [
    ("clob", "GET", "/book"),
    ("clob", "GET", "/book/"),
    ("clob", "DELETE", "/cancel-all"),
    ("clob", "POST", "/order"),
    ("clob", "GET", "/tick-size"),
    ("gamma", "GET", "/markets"),
    ("data", "GET", "/positions"),
    ("data", "GET", "/x"),
]


@settings(max_examples=150, deadline=None, database=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(_CALLS), st.sampled_from([0.0, 0.0, 0.01, 0.5, 3.0, 700.0])),
        max_size=120,
    )
)
def test_charging_follows_the_token_bucket_rule_call_for_call(
    steps: list[tuple[tuple[str, str, str], float]],
) -> None:
    clock, reference_clock = _Clock(), _Clock()
    budgets = Budgets(scale=0.002, clock=clock)  # small buckets: refusals are frequent
    reference = _Reference(0.002, reference_clock)
    for (route, method, path), step in steps:
        clock.now += step
        reference_clock.now += step
        expected = reference.charge(route, method, path)
        if expected is None:
            budgets.charge(route, method, path)
        else:
            with pytest.raises(BudgetExceededError) as refused:
                budgets.charge(route, method, path)
            assert refused.value.family == expected


def test_the_proxy_answers_429_with_retry_after_once_a_budget_is_spent(
    upstream: RecordingUpstream, start_proxy: Any, make_settings: Any
) -> None:
    server = start_proxy(make_settings(budgets=True, budget_scale=0.001))
    upstream.clear()
    # POST /order: 3,500 per 10 s x 0.001 = 3 tokens, shared by every client.
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(httpx.Client(base_url=server.url)) for _ in range(3)]
        statuses = [
            clients[i % 3].post("/clob/order", content=b"{}", headers={"POLY_API_KEY": "k"})
            for i in range(5)
        ]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429]
    refused = statuses[3]
    assert int(refused.headers["retry-after"]) >= 1
    assert "clob.post-order" in refused.json()["error"]
    assert upstream.hits == 3
    metrics = httpx.get(server.url + "/metrics").text
    assert 'pmproxy_budget_rejections_total{family="clob.post-order"} 2.0' in metrics


@pytest.fixture(scope="module")
def slow_upstream() -> Iterator[RecordingUpstream]:
    with RecordingUpstream(delay=0.3) as server:
        yield server


async def _burst(url: str, n: int, headers: dict[str, str] | None = None) -> list[httpx.Response]:
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=n)) as client:
        return list(await asyncio.gather(*(client.get(url, headers=headers) for _ in range(n))))


def test_identical_concurrent_public_gets_make_one_upstream_call(
    slow_upstream: RecordingUpstream, start_proxy: Any, make_settings: Any
) -> None:
    server = start_proxy(make_settings(clob_url=slow_upstream.url))
    slow_upstream.clear()
    responses = asyncio.run(_burst(server.url + "/clob/book?token_id=42", 20))
    assert [r.status_code for r in responses] == [200] * 20
    assert len({r.content for r in responses}) == 1
    assert slow_upstream.hits == 1
    assert slow_upstream.requests[0].target == b"/book?token_id=42"
    metrics = httpx.get(server.url + "/metrics").text
    assert 'pmproxy_coalesced_requests_total{route="clob"} 19.0' in metrics


def test_authenticated_or_different_gets_are_not_coalesced(
    slow_upstream: RecordingUpstream, start_proxy: Any, make_settings: Any
) -> None:
    server = start_proxy(make_settings(clob_url=slow_upstream.url))
    slow_upstream.clear()
    asyncio.run(_burst(server.url + "/clob/data/orders", 5, {"POLY_API_KEY": "k"}))
    assert slow_upstream.hits == 5
    slow_upstream.clear()

    async def mixed() -> None:
        async with httpx.AsyncClient() as client:
            await asyncio.gather(
                client.get(server.url + "/clob/book?token_id=1"),
                client.get(server.url + "/clob/book?token_id=2"),
                client.get(server.url + "/clob/book?token_id=1", headers={"Accept-Encoding": "br"}),
            )

    asyncio.run(mixed())
    assert slow_upstream.hits == 3


def test_coalescing_can_be_switched_off(
    slow_upstream: RecordingUpstream, start_proxy: Any, make_settings: Any
) -> None:
    server: ProxyServer = start_proxy(make_settings(clob_url=slow_upstream.url, coalesce=False))
    slow_upstream.clear()
    asyncio.run(_burst(server.url + "/clob/book?token_id=42", 4))
    assert slow_upstream.hits == 4
