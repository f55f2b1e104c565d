"""API keys, balances, chain reads, heartbeats and the account doctor, against the exchange."""

from __future__ import annotations

import httpx
import pytest
from pmtrader.chain import contracts_for
from pmtrader.testing import SimServer, new_wallet

from pmtrader import (
    ApiCredentials,
    AssetType,
    AuthError,
    CheckStatus,
    ConfigError,
    InvalidHeartbeatError,
    Settings,
    SignatureType,
)

from .conftest import Api, close_api, open_api, wallet_settings

FLAVOURS = ["sync", "async"]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_api_keys_create_derive_list_delete(quiet_sim: SimServer, flavour: str) -> None:
    api = open_api(wallet_settings(quiet_sim), flavour)
    try:
        with pytest.raises(ConfigError, match="create_or_derive_api_key"):
            api(lambda c: c.account.get_api_keys())
        created = api(lambda c: c.account.create_api_key())
        assert api(lambda c: c.account.derive_api_key()) == created
        assert api(lambda c: c.account.create_or_derive_api_key()) == created  # create refused
        assert api(lambda c: c.api_credentials) == created
        assert created.key in api(lambda c: c.account.get_api_keys()).api_keys
        assert api(lambda c: c.account.get_closed_only_mode()).closed_only is False
        assert api(lambda c: c.account.delete_api_key()) is True
        assert api(lambda c: c.api_credentials) is None
        api.client.set_api_credentials(created)
        with pytest.raises(AuthError):  # the venue forgot the key too
            api(lambda c: c.account.get_api_keys())
    finally:
        close_api(api)


def test_wrong_credentials_are_an_auth_error(api: Api) -> None:
    good = api(lambda c: c.api_credentials)
    api.client.set_api_credentials(
        ApiCredentials.from_strings(good.key, "A" * 43 + "=", good.passphrase.reveal())
    )
    with pytest.raises(AuthError) as info:
        api(lambda c: c.account.get_balance_allowance())
    assert info.value.status == 401
    assert "A" * 43 not in str(info.value)


def test_balance_and_allowances(api: Api, quiet_sim: SimServer) -> None:
    balance = api(lambda c: c.account.get_balance_allowance(AssetType.COLLATERAL))
    assert balance.balance == 10_000 * 1_000_000
    for spender in contracts_for(137).spenders.values():
        assert balance.allowance_for(spender) > 0
    quiet_sim.fund(api(lambda c: c.funder), 5)
    fresh = api(lambda c: c.account.update_balance_allowance())
    assert fresh.balance == 10_005 * 1_000_000


def test_chain_reads_agree_with_the_clob(api: Api) -> None:
    address = api(lambda c: c.funder)
    assert api(lambda c: c.chain.get_chain_id()) == 137
    assert api(lambda c: c.chain.get_block_number()) > 0
    on_chain = api(lambda c: c.chain.get_pusd_balance(address))
    assert on_chain == api(lambda c: c.account.get_balance_allowance()).balance
    exchange = api(lambda c: c.chain.contracts).exchange
    assert api(lambda c: c.chain.get_pusd_allowance(address, exchange)) > 0
    assert api(lambda c: c.chain.get_token_balance(address, "12345")) == 0


def test_heartbeats_chain_their_ids(api: Api) -> None:
    first = api(lambda c: c.orders.post_heartbeat())
    assert first.heartbeat_id
    second = api(lambda c: c.orders.post_heartbeat(first.heartbeat_id))
    assert second.heartbeat_id
    with pytest.raises(InvalidHeartbeatError) as info:
        api(lambda c: c.orders.post_heartbeat("not-the-id"))
    assert info.value.status == 400
    assert "Heartbeat" in info.value.message
    assert info.value.expected_id == second.heartbeat_id  # resume the chain with it
    assert api(lambda c: c.orders.post_heartbeat(info.value.expected_id)).heartbeat_id


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_doctor_passes_a_healthy_wallet(quiet_sim: SimServer, flavour: str) -> None:
    api = open_api(wallet_settings(quiet_sim), flavour)
    try:
        api(lambda c: c.account.create_or_derive_api_key())
        report = api(lambda c: c.doctor())
        assert report.ok, str(report)
        names = [check.name for check in report.checks]
        assert names[:4] == ["private_key", "signature_type", "clob", "api_key"]
        assert {"pusd_balance", "allowance:exchange_v2", "allowance:neg_risk_exchange_v2"} <= set(
            names
        )
        assert "10,000.000000 pUSD" in report.by_name("pusd_balance").detail
    finally:
        close_api(api)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_doctor_explains_the_classic_misconfigurations(quiet_sim: SimServer, flavour: str) -> None:
    # A proxy signature type without the proxy's address.
    api = open_api(wallet_settings(quiet_sim, signature_type=SignatureType.POLY_PROXY), flavour)
    try:
        report = api(lambda c: c.doctor())
        check = report.by_name("signature_type")
        assert check.status is CheckStatus.FAIL
        assert "PM_FUNDER_ADDRESS" in check.fix
        assert report.by_name("api_key").status is CheckStatus.WARN  # derived for you
        assert not report.ok
    finally:
        close_api(api)

    # An EOA wallet with a funder that is not the key's address.
    settings = wallet_settings(quiet_sim, funder="0x" + "12" * 20)
    api = open_api(settings, flavour)
    try:
        report = api(lambda c: c.doctor())
        assert report.by_name("signature_type").status is CheckStatus.FAIL
        assert "PM_SIGNATURE_TYPE=1" in report.by_name("signature_type").fix
    finally:
        close_api(api)


def test_doctor_names_a_missing_allowance(api: Api, quiet_sim: SimServer) -> None:
    address = api(lambda c: c.funder)
    adapter = contracts_for(137).neg_risk_adapter
    httpx.post(
        quiet_sim.url + "/_sim/allowance",
        json={"address": address, "spender": adapter, "asset_type": "COLLATERAL", "amount": "0"},
        timeout=10,
    ).raise_for_status()
    api(lambda c: c.account.update_balance_allowance())
    report = api(lambda c: c.doctor())
    check = report.by_name("allowance:neg_risk_adapter")
    assert check.status is CheckStatus.FAIL
    assert adapter in check.fix
    assert report.by_name("allowance:exchange_v2").status is CheckStatus.OK


def test_doctor_without_a_key_says_to_set_one(quiet_sim: SimServer) -> None:
    api = open_api(Settings.for_sim(quiet_sim.url), "sync")
    try:
        report = api(lambda c: c.doctor())
        assert report.by_name("private_key").status is CheckStatus.FAIL
        assert "PM_PRIVATE_KEY" in report.by_name("private_key").fix
        assert report.by_name("clob").status is CheckStatus.OK
    finally:
        close_api(api)


def test_proxy_wallets_trade_as_their_funder(quiet_sim: SimServer) -> None:
    proxy = new_wallet().address
    settings = wallet_settings(quiet_sim, signature_type=SignatureType.POLY_PROXY, funder=proxy)
    api = open_api(settings, "sync")
    try:
        httpx.post(
            quiet_sim.url + "/_sim/funder",
            json={"eoa": api(lambda c: c.address), "maker": proxy},
            timeout=10,
        ).raise_for_status()
        api(lambda c: c.account.create_or_derive_api_key())
        quiet_sim.fund(proxy, 100)
        signed = api(lambda c: c.orders.create_order(_any_token(c), "BUY", price="0.1", size=10))
        assert signed.raw.maker == proxy
        assert signed.raw.signer == api(lambda c: c.address)
        response = api(lambda c: c.orders.post_order(signed))
        assert response.success
        report = api(lambda c: c.doctor())
        assert report.by_name("signature_type").status is CheckStatus.OK
    finally:
        close_api(api)


def _any_token(client: object) -> str:
    markets = client.markets.get_markets()  # type: ignore[attr-defined]
    return str(markets.data[-1].tokens[0].token_id)
