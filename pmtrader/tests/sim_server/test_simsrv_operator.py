"""Operator actions on a running exchange, and the shared session fixture with background flow."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
from pmtrader.cli import app as cli
from pmtrader.testing import MarketPool, SimServer, new_wallet
from py_clob_client_v2 import AssetType, BalanceAllowanceParams, ClobClient, OrderArgs, TradeParams
from py_clob_client_v2.exceptions import PolyApiException
from typer.testing import CliRunner
from websockets.sync.client import connect

pytestmark = pytest.mark.slow


def _frames(ws: object, seconds: float) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            raw = ws.recv(timeout=left)  # type: ignore[attr-defined]  # websockets sync client
        except TimeoutError:
            break
        data = json.loads(raw)
        out.extend(data if isinstance(data, list) else [data])
    return out


def test_session_sim_has_two_sided_books_from_the_background_flow(sim: SimServer) -> None:
    markets = sim.http.get("/sampling-markets").json()["data"][:5]
    assert markets
    deadline = time.monotonic() + 10
    pending = {m["tokens"][0]["token_id"] for m in markets}
    while pending and time.monotonic() < deadline:
        for token in list(pending):
            book = sim.http.get("/book", params={"token_id": token}).json()
            if book["bids"] and book["asks"]:
                assert Decimal(book["bids"][-1]["price"]) < Decimal(book["asks"][-1]["price"])
                pending.discard(token)
        time.sleep(0.2)
    assert not pending, "every active market has depth on both sides within seconds"


def test_resolve_tick_and_fund_by_operator(quiet_sim: SimServer, market_pool: MarketPool) -> None:
    venue = quiet_sim
    market = market_pool.take(max_min_size=10)
    yes, no = (t["token_id"] for t in market["tokens"])
    cid = market["condition_id"]
    wallets = [new_wallet(), new_wallet()]
    clients = []
    for wallet in wallets:
        client = ClobClient(venue.url, chain_id=137, key=wallet.key.hex())
        client.set_api_creds(client.create_or_derive_api_key())
        clients.append(client)
    alice, bob = clients
    alice.create_and_post_order(OrderArgs(token_id=yes, price=0.5, size=10, side="BUY"))
    bob.create_and_post_order(OrderArgs(token_id=no, price=0.5, size=10, side="BUY"))
    resting = alice.create_and_post_order(OrderArgs(token_id=yes, price=0.2, size=10, side="BUY"))

    with connect(venue.ws_url + "/market") as ws:
        ws.send(json.dumps({"assets_ids": [yes], "type": "market", "custom_feature_enabled": True}))
        _frames(ws, 0.5)
        venue_tick = venue.http.post("/_sim/tick", json={"token_id": yes, "tick_size": "0.001"})
        assert venue_tick.status_code == 200
        ticks = [f for f in _frames(ws, 1.0) if f["event_type"] == "tick_size_change"]
        assert ticks[0]["old_tick_size"] == "0.01"
        assert ticks[0]["new_tick_size"] == "0.001"
        assert venue.http.get("/tick-size", params={"token_id": yes}).json() == {
            "minimum_tick_size": 0.001
        }

        venue.resolve(cid, yes)
        resolved = [f for f in _frames(ws, 1.0) if f["event_type"] == "market_resolved"]
        assert resolved[0]["winning_asset_id"] == yes
        assert resolved[0]["winning_outcome"] == "Yes"

    # Alice's 10 YES pay 1 pUSD each; her resting order was cancelled with the market.
    alice_pusd = alice.get_balance_allowance(
        BalanceAllowanceParams(asset_type=AssetType.COLLATERAL)
    )
    assert int(alice_pusd["balance"]) == 10_000_000_000 - 5_000_000 + 10_000_000
    assert alice.get_order(resting["orderID"])["status"] == "CANCELED_MARKET_RESOLVED"
    assert venue.http.get(f"/markets/{cid}").json()["closed"] is True
    gamma = venue.http.get("/gamma/markets", params={"condition_ids": cid}).json()[0]
    assert gamma["closed"] is True
    assert json.loads(gamma["outcomePrices"]) == ["1", "0"]
    with pytest.raises(PolyApiException) as err:
        alice.create_and_post_order(OrderArgs(token_id=yes, price=0.5, size=10, side="BUY"))
    assert err.value.status_code == 400

    venue.fund(wallets[1].address, Decimal("12.345678"))
    bob_pusd = bob.get_balance_allowance(BalanceAllowanceParams(asset_type=AssetType.COLLATERAL))
    fee = 10_000_000_000 - 5_000_000 - int(bob_pusd["balance"]) + 12_345_678
    assert fee >= 0  # Bob was the taker and may have paid a platform fee; funds arrived exactly
    bad = venue.http.post("/_sim/fund", json={"address": "0x12", "amount": "1"})
    assert bad.status_code == 400
    assert "not an address" in bad.json()["error"]
    too_fine = venue.http.post(
        "/_sim/fund", json={"address": wallets[0].address, "amount": "0.0000001"}
    )
    assert "more than 6 decimals" in too_fine.json()["error"]


def test_cli_operates_a_running_exchange(quiet_sim: SimServer) -> None:
    venue = quiet_sim
    runner = CliRunner()
    address = new_wallet().address
    result = runner.invoke(cli, ["sim", "fund", address, "42.5", "--url", venue.url])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["balance"] == "42.5"
    result = runner.invoke(
        cli, ["sim", "fault", "--rest-fail-rate", "1", "--path", "/book", "--url", venue.url]
    )
    assert result.exit_code == 0, result.output
    assert venue.http.get("/book", params={"token_id": "1"}).status_code == 503
    assert runner.invoke(cli, ["sim", "fault", "--reset", "--url", venue.url]).exit_code == 0
    result = runner.invoke(cli, ["sim", "resolve", "0xdead", "1", "--url", venue.url])
    assert result.exit_code == 1
    assert "market not found" in result.output
    result = runner.invoke(cli, ["sim", "fund", address, "1", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "cannot reach the exchange" in result.output


def test_fail_trade_marks_the_settlement_failed(
    quiet_sim: SimServer, market_pool: MarketPool
) -> None:
    market = market_pool.take(max_min_size=10)
    yes, no = (t["token_id"] for t in market["tokens"])
    clients = []
    for _ in range(2):
        client = ClobClient(quiet_sim.url, chain_id=137, key=new_wallet().key.hex())
        client.set_api_creds(client.create_or_derive_api_key())
        clients.append(client)
    maker, taker = clients
    maker.create_and_post_order(OrderArgs(token_id=yes, price=0.5, size=10, side="BUY"))
    taken = taker.create_and_post_order(OrderArgs(token_id=no, price=0.5, size=10, side="BUY"))
    (trade_id,) = taken["tradeIDs"]
    failed = quiet_sim.http.post("/_sim/fail-trade", json={"trade_id": trade_id})
    assert failed.json() == {"trade_id": trade_id, "status": "FAILED"}
    (trade,) = taker.get_trades(TradeParams(id=trade_id))
    assert trade["status"] == "FAILED"
    again = quiet_sim.http.post("/_sim/fail-trade", json={"trade_id": trade_id})
    assert again.status_code == 400
    unknown = quiet_sim.http.post("/_sim/fail-trade", json={"trade_id": "nope"})
    assert unknown.status_code == 404


def test_match_delay_answers_delayed_then_matches(
    quiet_sim: SimServer, market_pool: MarketPool
) -> None:
    market = market_pool.take(max_min_size=10)
    yes, no = (t["token_id"] for t in market["tokens"])
    clients = []
    for _ in range(2):
        client = ClobClient(quiet_sim.url, chain_id=137, key=new_wallet().key.hex())
        client.set_api_creds(client.create_or_derive_api_key())
        clients.append(client)
    maker, taker = clients
    maker.create_and_post_order(OrderArgs(token_id=yes, price=0.5, size=10, side="BUY"))
    delayed = quiet_sim.http.post(
        "/_sim/match-delay", json={"condition_id": market["condition_id"], "delay_ms": 500}
    )
    assert delayed.status_code == 200
    answer = taker.create_and_post_order(OrderArgs(token_id=no, price=0.5, size=10, side="BUY"))
    assert answer["status"] == "delayed"
    assert answer["tradeIDs"] == []
    deadline = time.monotonic() + 10
    while not taker.get_trades() and time.monotonic() < deadline:
        time.sleep(0.1)
    (trade,) = taker.get_trades()
    assert (trade["size"], trade["price"]) == ("10", "0.5")
    bad = quiet_sim.http.post("/_sim/match-delay", json={"condition_id": "0x1", "delay_ms": 1})
    assert bad.status_code == 404
