"""The live engine signs what pmtrader's own order path signs, after the checks it makes.

pmtrader asks the venue's ``GET /version`` once before a client's first order (no answer counts
as 2) and refuses to sign for any other version, and it signs the builder code
(``PM_BUILDER_CODE``) into every order's ``builder`` field. The engine signs synchronously in its
dispatcher, so it asks the version once, after reconciliation and before trading starts, and
reads the builder code from the environment with pmtrader's own parser. Every case runs an
in-process engine against the real local exchange on loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from pmengine.config import CliOverrides, load_settings
from pmengine.errors import ConfigError, GatewayError
from pmengine.journal import Journal
from pmengine.live import LiveGateway
from pmengine.order import OrderRequest
from pmengine.testing import (
    BID_SIZE,
    BIDDER,
    CountingTransport,
    EngineRun,
    new_key,
    seeded_market,
    until,
)
from pmengine.units import BUY
from pmtrader.signing import BYTES32_ZERO
from pmtrader.sim.auth import order_digest
from pmtrader.sim.routes_orders import parse_order
from pmtrader.testing import SimServer

from pmstrat import MarketInfo
from pmtrader import AsyncClient, Client, Secret, Settings

U = 1_000_000
SIZE = BID_SIZE  # what the test bidder rests
CODE = "0x" + "b1" * 31 + "7e"
PMENGINE = [sys.executable, "-c", "from pmengine.cli import main; main()"]


class LiveRun(EngineRun):
    """A live engine built the way ``pmengine`` builds it: settings from an environment."""

    def __init__(self, sim: SimServer, tmp: Path, market: MarketInfo, env: dict[str, str]) -> None:
        address, self.key = new_key()
        sim.fund(address, "100")
        settings = load_settings(
            {
                "PMENGINE_PRIVATE_KEY": self.key,
                "PMENGINE_CLOB_URL": sim.url + "/",
                "PMENGINE_WS_URL": sim.ws_url,
                **env,
            },
            CliOverrides(env="sim", state_dir=str(tmp)),
        )
        gateway = LiveGateway.from_settings(settings)
        # The same settings, through a transport that counts what the engine asks.
        self.transport = CountingTransport()
        gateway.client = AsyncClient(gateway.client.settings, transport=self.transport)
        super().__init__(sim, tmp, market, gateway=gateway, strategy=BIDDER)


def test_the_builder_code_is_read_as_pmtrader_reads_it() -> None:
    base = {"PMENGINE_DRY_RUN": "true"}
    assert load_settings({**base, "PM_BUILDER_CODE": f" {CODE} "}).builder_code == CODE
    assert load_settings(base).builder_code is None
    assert load_settings({**base, "PM_BUILDER_CODE": ""}).builder_code is None
    assert load_settings({**base, "PM_BUILDER_CODE": BYTES32_ZERO}).builder_code is None
    with pytest.raises(ConfigError, match=r"PM_BUILDER_CODE must be 0x followed by 64 hex"):
        load_settings({**base, "PM_BUILDER_CODE": "0x1234"})


@pytest.mark.slow
@pytest.mark.asyncio
async def test_live_orders_carry_the_builder_code_and_the_version_is_asked_once(
    sim_factory: Callable[..., SimServer], tmp_path: Path
) -> None:
    sim = sim_factory(seed=23, flow=False)
    market = seeded_market(sim, size=SIZE)
    run = LiveRun(sim, tmp_path, market, {"PM_BUILDER_CODE": CODE})
    run.start()
    try:
        await until(lambda: run.engine.reconciled, 30, "reconciliation")
        await until(lambda: bool(run.resting()), 30, "a live bid")
        order_hash = run.resting()
        order = run.engine.core.orders.get(order_hash)
        assert order is not None
        # The exchange took the order under the EIP-712 hash of what was signed, builder
        # included: the same signed fields with no builder would be another order.
        _, fields = parse_order(json.loads(order.payload)["order"])
        assert "0x" + fields.builder.hex() == CODE
        assert "0x" + order_digest(fields, neg_risk=market.neg_risk).hex() == order_hash
        unbuilt = replace(fields, builder=bytes(32))
        assert "0x" + order_digest(unbuilt, neg_risk=market.neg_risk).hex() != order_hash
        with Client(Settings.for_sim(sim.url, private_key=Secret(run.key))) as client:
            client.account.create_or_derive_api_key(use=True)
            seen = client.orders.get_order(order_hash)
            assert (seen.id, str(seen.status).upper()) == (order_hash, "LIVE")
            # Cancelled at the venue by another client: the engine bids again, and signs that
            # second order without asking the version again.
            assert order_hash in client.orders.cancel_order(order_hash).canceled
        await until(lambda: run.resting() not in ("", order_hash), 30, "a second bid")
        assert len(run.journal.load_orders()) == 2
        assert run.transport.count("/version") == 1
    finally:
        if run.task is not None and not run.task.done():
            await run.stop()
        else:
            run.journal.close()


@pytest.mark.slow
@pytest.mark.asyncio
async def test_the_engine_refuses_to_trade_against_a_venue_reporting_version_1(
    sim_factory: Callable[..., SimServer], tmp_path: Path
) -> None:
    sim = sim_factory(seed=29, flow=False)
    market = seeded_market(sim, size=SIZE)
    sim.http.post("/_sim/version", json={"version": 1}).raise_for_status()
    run = LiveRun(sim, tmp_path / "v1", market, {})
    try:
        with pytest.raises(GatewayError, match="reports order version 1") as refused:
            await asyncio.wait_for(run.engine.run(install_signals=False), 30)
        assert "nothing was signed or sent" in str(refused.value)
        # Reconciliation ran (it is read-only), trading never started, nothing was signed.
        assert not run.engine.reconciled
        assert run.journal.load_orders() == []
        req = OrderRequest("s", "intent-1", token_id=market.yes, side=BUY, price=4_100, size=SIZE)
        with pytest.raises(GatewayError, match="nothing was signed"):
            run.gateway.sign(req, tick=market.tick, neg_risk=market.neg_risk, now_ms=1)
        with Client(Settings.for_sim(sim.url, private_key=Secret(run.key))) as client:
            client.account.create_or_derive_api_key(use=True)
            assert client.orders.get_open_orders() == []
            assert client.orders.get_trades() == []
        assert not [p for p in run.transport.paths if p.startswith("/order")]
    finally:
        run.journal.close()
        await run.gateway.close()

    # A venue whose /version does not answer counts as version 2, as in pmtrader.
    sim.http.post("/_sim/version", json={"version": 2}).raise_for_status()
    sim.fault(rest_fail_rate=1.0, rest_fail_status=503, paths=["/version"])
    again = LiveRun(sim, tmp_path / "silent", market, {})
    again.start()
    try:
        await until(lambda: again.engine.reconciled, 30, "reconciliation")
        assert again.transport.count("/version") >= 1
        await until(lambda: bool(again.resting()), 30, "a live bid")
    finally:
        sim.fault(reset=True)
        await again.stop()


@pytest.mark.slow
def test_pmengine_against_a_version_1_venue_exits_with_the_reason_and_no_traceback(
    sim_factory: Callable[..., SimServer], tmp_path: Path
) -> None:
    sim = sim_factory(seed=41, flow=False)
    market = seeded_market(sim, size=SIZE)
    slug = next(
        m["slug"]
        for m in httpx.get(sim.gamma_url + "/markets", params={"limit": 50}, timeout=10).json()
        if m.get("clobTokenIds") and market.yes in m["clobTokenIds"]
    )
    sim.http.post("/_sim/version", json={"version": 1}).raise_for_status()
    address, key = new_key()
    sim.fund(address, "100")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMENGINE_", "PM_"))}
    env.update(
        PMENGINE_PRIVATE_KEY=key,
        PMENGINE_CLOB_URL=sim.url,
        PMENGINE_WS_URL=sim.ws_url,
        PM_BUILDER_CODE=CODE,
    )
    done = subprocess.run(
        [
            *PMENGINE,
            "--env",
            "sim",
            "--state-dir",
            str(tmp_path),
            "--markets",
            slug,
            "--spread-watcher",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "pmengine: error: the venue at" in done.stderr
    assert "reports order version 1" in done.stderr
    assert "Traceback" not in done.stderr
    assert key.removeprefix("0x") not in done.stderr + done.stdout
    with Client(Settings.for_sim(sim.url, private_key=Secret(key))) as client:
        client.account.create_or_derive_api_key(use=True)
        assert client.orders.get_open_orders() == []
        assert client.orders.get_trades() == []
    with Journal.in_dir(tmp_path) as journal:
        assert journal.load_orders() == []


class VersionMismatchTransport(CountingTransport):
    """The real transport; once ``mismatch`` is set, order posts get the venue's
    ``order_version_mismatch`` refusal (no local exchange produces it: the venue's protocol
    would have to change while the engine runs)."""

    def __init__(self) -> None:
        super().__init__()
        self.mismatch = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.mismatch and request.method == "POST" and request.url.path == "/order":
            self.paths.append(request.url.path)
            return httpx.Response(400, json={"error": "order_version_mismatch"}, request=request)
        return await super().handle_async_request(request)


@pytest.mark.slow
@pytest.mark.asyncio
async def test_an_order_refused_for_its_version_stops_the_engine_before_it_signs_again(
    sim_factory: Callable[..., SimServer], tmp_path: Path
) -> None:
    sim = sim_factory(seed=43, flow=False)
    market = seeded_market(sim, size=SIZE)
    run = LiveRun(sim, tmp_path, market, {})
    transport = VersionMismatchTransport()
    run.transport = transport
    run.gateway.client = AsyncClient(run.gateway.client.settings, transport=transport)
    run.start()
    try:
        await until(lambda: bool(run.resting()), 30, "a live bid")
        first = run.resting()
        transport.mismatch = True
        with Client(Settings.for_sim(sim.url, private_key=Secret(run.key))) as client:
            client.account.create_or_derive_api_key(use=True)
            assert first in client.orders.cancel_order(first).canceled
            # The engine bids again; that post is refused for its version.
            await until(lambda: len(run.journal.load_orders()) == 2, 30, "a second bid")
            await until(
                lambda: any(o.state == "REJECTED" for o in run.journal.load_orders()),
                30,
                "the refusal",
            )
        # A new best bid makes the strategy bid again: the engine stops instead of signing a
        # third order.
        address, key = new_key()
        sim.fund(address, "100")
        with Client(Settings.for_sim(sim.url, private_key=Secret(key))) as other:
            other.account.create_or_derive_api_key(use=True)
            resp = other.orders.create_and_post_order(
                market.yes, "BUY", price=Decimal("0.45"), size=Decimal(10)
            )
            assert resp.success, resp
        assert run.task is not None
        with pytest.raises(GatewayError, match="refused an order for its version"):
            await asyncio.wait_for(run.task, 30)
        assert len(run.journal.load_orders()) == 2
    finally:
        run.journal.close()
