"""The doctor checks the CTF approvals SELL orders need, and says exactly how to grant one.

Outcome tokens are ERC-1155s of the Conditional Tokens contract: the exchange that settles a
SELL moves the seller's shares, so the seller (the funder) must have called
``setApprovalForAll(operator, true)`` for the standard exchange, the neg-risk exchange and the
neg-risk adapter. Without it the venue refuses the SELL with "not enough balance / allowance"
although the shares are in the wallet. The local exchange keeps the approval per operator and
answers ``isApprovedForAll`` on its JSON-RPC; its funded wallets are approved, as a
polymarket.com user is after the first trade.
"""

from __future__ import annotations

import httpx
import pytest
from pmtrader.chain import contracts_for
from pmtrader.testing import SimServer, new_wallet

from pmtrader import CheckStatus, InsufficientBalanceError, SignatureType

from .conftest import Api, Catalogue, close_api, open_api, wallet_settings

CONTRACTS = contracts_for(137)
ROLES = {
    "exchange_v2": CONTRACTS.exchange,
    "neg_risk_exchange_v2": CONTRACTS.neg_risk_exchange,
    "neg_risk_adapter": CONTRACTS.neg_risk_adapter,
}


def _approve(sim: SimServer, owner: str, operator: str, approved: bool) -> None:
    """Model ``setApprovalForAll(operator, approved)`` sent by ``owner``."""
    httpx.post(
        sim.url + "/_sim/allowance",
        json={
            "address": owner,
            "asset_type": "CONDITIONAL",
            "spender": operator,
            "amount": "1" if approved else "0",
        },
        timeout=10,
    ).raise_for_status()


def test_a_funded_wallet_passes_every_ctf_approval_check(api: Api) -> None:
    report = api(lambda c: c.doctor())
    assert report.ok, str(report)
    names = [check.name for check in report.checks]
    for role, operator in ROLES.items():
        check = report.by_name(f"ctf_approval:{role}")
        assert check.status is CheckStatus.OK
        assert operator in check.detail
        assert check.fix == ""
    # The approvals come last, after the chain itself answered.
    assert names[-4:] == ["chain", *(f"ctf_approval:{role}" for role in ROLES)]
    funder = api(lambda c: c.funder)
    assert api(lambda c: c.chain.is_approved_for_all(funder, CONTRACTS.exchange)) is True
    assert api(lambda c: c.chain.is_approved_for_all(funder, "0x" + "ab" * 20)) is False


def test_a_missing_ctf_approval_fails_with_the_operator_sender_and_call(
    api: Api, quiet_sim: SimServer
) -> None:
    funder = api(lambda c: c.funder)
    _approve(quiet_sim, funder, CONTRACTS.neg_risk_adapter, False)
    report = api(lambda c: c.doctor())
    assert not report.ok
    assert [check.name for check in report.failures] == ["ctf_approval:neg_risk_adapter"]
    check = report.by_name("ctf_approval:neg_risk_adapter")
    assert "neg-risk markets" in check.detail
    assert "not enough balance / allowance" in check.detail
    assert f"setApprovalForAll({CONTRACTS.neg_risk_adapter}, true)" in check.fix
    assert CONTRACTS.conditional_tokens in check.fix
    assert f"from {funder} (the key's own address)" in check.fix
    assert "polymarket.com does it on your first trade" in check.fix
    # The pUSD allowance for the same contract is a different approval and still there.
    assert report.by_name("allowance:neg_risk_adapter").status is CheckStatus.OK
    assert report.by_name("ctf_approval:exchange_v2").status is CheckStatus.OK
    assert "[fail] ctf_approval:neg_risk_adapter" in str(report)

    _approve(quiet_sim, funder, CONTRACTS.neg_risk_adapter, True)
    assert api(lambda c: c.doctor()).ok


def test_the_doctor_predicts_the_refused_sell(
    api: Api, quiet_sim: SimServer, catalogue: Catalogue
) -> None:
    # Buy shares from a counterparty, revoke the exchange's approval, then try to sell them.
    market = catalogue.first(skip=3)
    yes, no = market.tokens[0].token_id, market.tokens[1].token_id
    with open_api(wallet_settings(quiet_sim), "sync").client as other:
        other.account.create_or_derive_api_key()
        other.orders.create_and_post_order(yes, "BUY", price="0.3", size=20)
        api(lambda c: c.orders.create_and_post_order(no, "BUY", price="0.7", size=20))
        other.orders.cancel_all()
    funder = api(lambda c: c.funder)
    _approve(quiet_sim, funder, CONTRACTS.exchange, False)

    check = api(lambda c: c.doctor()).by_name("ctf_approval:exchange_v2")
    assert check.status is CheckStatus.FAIL
    assert f"setApprovalForAll({CONTRACTS.exchange}, true)" in check.fix
    with pytest.raises(InsufficientBalanceError, match="allowance") as refused:
        api(lambda c: c.orders.create_and_post_order(no, "SELL", price="0.9", size=10))
    assert "the allowance is 0" in refused.value.hint
    assert "setApprovalForAll for a SELL" in refused.value.hint

    _approve(quiet_sim, funder, CONTRACTS.exchange, True)
    assert api(lambda c: c.doctor()).by_name("ctf_approval:exchange_v2").status is CheckStatus.OK
    sold = api(lambda c: c.orders.create_and_post_order(no, "SELL", price="0.9", size=10))
    assert sold.status == "live"


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_proxy_wallet_is_told_to_approve_from_the_wallet_not_the_key(
    quiet_sim: SimServer, flavour: str
) -> None:
    proxy = new_wallet().address
    settings = wallet_settings(quiet_sim, signature_type=SignatureType.POLY_PROXY, funder=proxy)
    api = open_api(settings, flavour)
    try:
        httpx.post(
            quiet_sim.url + "/_sim/funder",
            json={"eoa": api(lambda c: c.address), "maker": proxy},
            timeout=10,
        ).raise_for_status()
        api(lambda c: c.account.create_or_derive_api_key())
        quiet_sim.fund(proxy, 100)
        _approve(quiet_sim, proxy, CONTRACTS.exchange, False)
        report = api(lambda c: c.doctor())
        check = report.by_name("ctf_approval:exchange_v2")
        assert check.status is CheckStatus.FAIL
        assert f"from {proxy} (your POLY_PROXY wallet" in check.fix
        assert api(lambda c: c.address) not in check.fix
        assert report.by_name("ctf_approval:neg_risk_exchange_v2").status is CheckStatus.OK
    finally:
        close_api(api)


def test_an_unreachable_rpc_skips_the_approvals_with_a_warning(quiet_sim: SimServer) -> None:
    settings = wallet_settings(quiet_sim, rpc_url="http://127.0.0.1:9/chain")
    api = open_api(settings, "sync")
    try:
        api(lambda c: c.account.create_or_derive_api_key())
        report = api(lambda c: c.doctor())
        assert report.by_name("chain").status is CheckStatus.WARN
        assert not any(check.name.startswith("ctf_approval:") for check in report.checks)
        assert report.ok  # nothing failed: the approvals were not checked
    finally:
        close_api(api)
