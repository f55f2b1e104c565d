"""``POST /_sim/fail-trade`` over HTTP: the trade is FAILED and its settlement unwound for good.

Two wallets trade through the official client; the operator fails the trade. Both wallets'
``/balance-allowance`` (pUSD and shares) are back where they were before the match, the Data API
no longer lists the trade or the position (it reads the chain, where nothing settled), the CLOB
still lists the trade with status FAILED, and all of it survives a restart of the exchange.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from pmtrader.testing import MarketPool, SimServer, new_wallet
from py_clob_client_v2 import AssetType, BalanceAllowanceParams, ClobClient, OrderArgs, TradeParams


def _client(sim: SimServer) -> tuple[ClobClient, str]:
    wallet = new_wallet()
    client = ClobClient(sim.url, chain_id=137, key=wallet.key.hex())
    client.set_api_creds(client.create_or_derive_api_key())
    return client, wallet.address


def _holdings(client: ClobClient, tokens: tuple[str, str]) -> tuple[int, ...]:
    pusd = client.get_balance_allowance(BalanceAllowanceParams(asset_type=AssetType.COLLATERAL))
    shares = [
        client.get_balance_allowance(
            BalanceAllowanceParams(asset_type=AssetType.CONDITIONAL, token_id=token)
        )
        for token in tokens
    ]
    return (int(pusd["balance"]), *(int(s["balance"]) for s in shares))


def test_a_failed_trade_is_unwound_over_http_and_stays_unwound_after_a_restart(
    sim_factory: Callable[..., SimServer], tmp_path: Path
) -> None:
    sim = sim_factory(seed=13, flow=False, state_dir=tmp_path)
    market = MarketPool(sim).take(max_min_size=10)
    yes, no = (t["token_id"] for t in market["tokens"])
    (maker, maker_address), (taker, taker_address) = _client(sim), _client(sim)
    before = {
        a: _holdings(c, (yes, no)) for a, c in ((maker_address, maker), (taker_address, taker))
    }
    maker.create_and_post_order(OrderArgs(token_id=yes, price=0.4, size=20, side="BUY"))
    taken = taker.create_and_post_order(OrderArgs(token_id=no, price=0.6, size=10, side="BUY"))
    (trade_id,) = taken["tradeIDs"]
    assert _holdings(taker, (yes, no)) != before[taker_address]

    failed = sim.http.post("/_sim/fail-trade", json={"trade_id": trade_id})
    assert failed.json() == {"trade_id": trade_id, "status": "FAILED"}
    refused = sim.http.post("/_sim/fail-trade", json={"trade_id": trade_id})
    assert refused.status_code == 400
    assert "already FAILED" in refused.json()["error"]

    for _ in range(2):  # as failed, then after a restart from the state directory
        for address, client in ((maker_address, maker), (taker_address, taker)):
            assert _holdings(client, (yes, no)) == before[address]
            data = httpx.get(sim.url + "/data-api/positions", params={"user": address}).json()
            assert data == []
            trades = httpx.get(sim.url + "/data-api/trades", params={"user": address}).json()
            assert trades == []
        (trade,) = taker.get_trades(TradeParams(id=trade_id))
        assert trade["status"] == "FAILED"
        sim.restart()
    # the maker's bid still rests for what is left of it
    (order,) = maker.get_open_orders()
    assert (order["status"], order["size_matched"]) == ("LIVE", "10")
