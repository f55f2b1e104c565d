"""CTF approvals and the reported order version of the local exchange, as production has them.

Selling outcome tokens needs the seller's ERC-1155 ``setApprovalForAll`` for the exchange that
settles (and, on polymarket.com, for the neg-risk exchange and adapter too); the chain answers
``isApprovedForAll(owner, operator)``. The sim keeps that approval as the ledger's CONDITIONAL
allowance: a wallet it funds is approved for all three operators, as a polymarket.com user is
after the first trade, and ``POST /_sim/allowance`` revokes or grants it.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from pmtrader.testing import MarketPool, SimServer, new_wallet
from py_clob_client_v2 import ClobClient, OrderArgs
from py_clob_client_v2.exceptions import PolyApiException

CTF = "0x4D97DCd97eC945f40cF65F87097ACe5EA0476045"
EXCHANGE_V2 = "0xE111180000d2663C0091e4f400237545B87B996B"
NEG_RISK_EXCHANGE_V2 = "0xe2222d279d744050d28e00520010520000310F59"
NEG_RISK_ADAPTER = "0xd91E80cF2E7be2e162c6513ceD06f1dD0dA35296"
IS_APPROVED_FOR_ALL = "0xe985e9c5"  # keccak("isApprovedForAll(address,address)")[:4]


def _rpc(sim: SimServer, method: str, *params: Any) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": list(params)}
    answer: dict[str, Any] = sim.http.post("/chain", json=body).json()
    return answer


def approved_for_all(sim: SimServer, owner: str, operator: str) -> bool:
    """``isApprovedForAll(owner, operator)`` on the CTF, decoded from its ABI word."""
    data = IS_APPROVED_FOR_ALL + abi_encode(["address", "address"], [owner, operator]).hex()
    answer = _rpc(sim, "eth_call", {"to": CTF, "data": data}, "latest")
    result = answer["result"]
    assert len(result) == 2 + 64  # one ABI word
    (approved,) = abi_decode(["bool"], bytes.fromhex(result[2:]))
    return bool(approved)


def _set(sim: SimServer, address: str, spender: str, amount: str) -> httpx.Response:
    body = {"address": address, "asset_type": "CONDITIONAL", "spender": spender, "amount": amount}
    return sim.http.post("/_sim/allowance", json=body)


def _trader(sim: SimServer) -> tuple[str, ClobClient]:
    wallet = new_wallet()
    client = ClobClient(sim.url, chain_id=137, key=wallet.key.hex())
    client.set_api_creds(client.create_or_derive_api_key())
    return wallet.address, client


def test_a_funded_wallet_is_approved_for_the_three_v2_operators(quiet_sim: SimServer) -> None:
    address, _ = _trader(quiet_sim)
    for operator in (EXCHANGE_V2, NEG_RISK_EXCHANGE_V2, NEG_RISK_ADAPTER):
        assert approved_for_all(quiet_sim, address, operator)
        assert approved_for_all(quiet_sim, address, operator.lower())  # addresses, not strings
    assert not approved_for_all(quiet_sim, address, "0x" + "ab" * 20)
    assert not approved_for_all(quiet_sim, new_wallet().address, EXCHANGE_V2)  # unknown owner


def test_approval_is_all_or_nothing_and_set_like_an_allowance(quiet_sim: SimServer) -> None:
    address, _ = _trader(quiet_sim)
    assert _set(quiet_sim, address, EXCHANGE_V2, "0").status_code == 200
    assert not approved_for_all(quiet_sim, address, EXCHANGE_V2)
    assert approved_for_all(quiet_sim, address, NEG_RISK_ADAPTER)  # the others stay
    # setApprovalForAll has no amount: any grant is a full approval, shown as max uint256.
    assert _set(quiet_sim, address, EXCHANGE_V2, "5").status_code == 200
    assert approved_for_all(quiet_sim, address, EXCHANGE_V2)


def test_bad_approval_calls_revert_with_a_reason(quiet_sim: SimServer) -> None:
    short = _rpc(quiet_sim, "eth_call", {"to": CTF, "data": IS_APPROVED_FOR_ALL + "00" * 10})
    assert short["error"]["code"] == 3
    assert "bad call data" in short["error"]["message"]
    bad = _set(quiet_sim, "0x" + "12" * 20, "not-an-address", "1")
    assert bad.status_code == 400
    assert "spender" in bad.json()["error"]


def test_selling_without_the_ctf_approval_is_refused_like_production(
    quiet_sim: SimServer, market_pool: MarketPool
) -> None:
    market = market_pool.take(max_min_size=20)
    yes, no = (t["token_id"] for t in market["tokens"])
    _, maker = _trader(quiet_sim)
    seller_address, seller = _trader(quiet_sim)
    maker.create_and_post_order(OrderArgs(token_id=yes, price=0.3, size=20, side="BUY"))
    seller.create_and_post_order(OrderArgs(token_id=no, price=0.7, size=20, side="BUY"))
    assert _set(quiet_sim, seller_address, EXCHANGE_V2, "0").status_code == 200

    with pytest.raises(PolyApiException) as refused:
        seller.create_and_post_order(OrderArgs(token_id=no, price=0.9, size=10, side="SELL"))
    assert refused.value.status_code == 400
    message = json.dumps(refused.value.error_msg)
    assert "not enough balance / allowance" in message
    assert "allowance: 0" in message
    # pUSD is a separate approval: the same wallet can still buy.
    bought = seller.create_and_post_order(OrderArgs(token_id=yes, price=0.1, size=10, side="BUY"))
    assert bought["status"] == "live"

    assert _set(quiet_sim, seller_address, EXCHANGE_V2, "1").status_code == 200
    sold = seller.create_and_post_order(OrderArgs(token_id=no, price=0.9, size=10, side="SELL"))
    assert sold["status"] == "live"
    for client in (maker, seller):
        client.cancel_all()


def test_the_reported_order_version_can_be_changed_for_client_tests(
    quiet_sim: SimServer,
) -> None:
    assert quiet_sim.http.get("/version").json() == {"version": 2}
    try:
        assert quiet_sim.http.post("/_sim/version", json={"version": 1}).status_code == 200
        assert quiet_sim.http.get("/version").json() == {"version": 1}
        assert quiet_sim.http.get("/_sim/state").json()["order_version"] == 1
        for bad in ({"version": "1"}, {"version": 0}, {"version": True}, {}):
            answer = quiet_sim.http.post("/_sim/version", json=bad)
            assert answer.status_code == 400
            assert "version must be a whole number" in answer.json()["error"]
    finally:
        quiet_sim.http.post("/_sim/version", json={"version": 2}).raise_for_status()
    assert quiet_sim.http.get("/version").json() == {"version": 2}
