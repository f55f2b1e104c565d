"""The local exchange authenticates exactly like Polymarket's CLOB.

Golden vectors come from py-clob-client-v2's own tests (protocol.md §2 and §1.4); orders are built
and signed by the unmodified official order builder.
"""

from __future__ import annotations

import dataclasses

import pytest
from pmtrader.sim.auth import (
    AuthRejected,
    FunderRegistry,
    OrderFields,
    hmac_signature,
    read_l2_headers,
    verify_l1,
    verify_l2,
    verify_order_signature,
)
from py_clob_client_v2.clob_types import CreateOrderOptions, OrderArgsV2
from py_clob_client_v2.headers.headers import create_level_1_headers
from py_clob_client_v2.order_builder.builder import OrderBuilder
from py_clob_client_v2.order_utils.model.signature_type_v2 import SignatureTypeV2
from py_clob_client_v2.signer import Signer

HARDHAT_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
HARDHAT_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
AMOY = 80002
ZERO32 = bytes(32)


def test_hmac_matches_the_official_golden_vector() -> None:
    secret = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    got = hmac_signature(secret, "1000000", "test-sign", "/orders", '{"hash": "0x123"}')
    assert got == "ZwAdJKvoYRlEKDkNMwd5BuwNNtg93kNaR_oU2HrfVvc="


def test_hmac_applies_the_quote_rule_to_the_received_body() -> None:
    secret = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    # The client signs str(body).replace("'", '"'); a body sent with apostrophes verifies.
    assert hmac_signature(secret, "1000000", "test-sign", "/orders", "{'hash': '0x123'}") == (
        "ZwAdJKvoYRlEKDkNMwd5BuwNNtg93kNaR_oU2HrfVvc="
    )


def test_clob_auth_golden_vector_recovers_the_hardhat_address() -> None:
    signature = (
        "0xf62319a987514da40e57e2f4d7529f7bac38f0355bd88bb5adbb3768d80de6c1682518e0af677d5260366"
        "425f4361e7b70c25ae232aff0ab2331e2b164a1aedc1b"
    )
    headers = {
        "POLY_ADDRESS": HARDHAT_ADDRESS,
        "POLY_SIGNATURE": signature,
        "POLY_TIMESTAMP": "10000000",
        "POLY_NONCE": "23",
    }
    identity = verify_l1(headers, now_s=10_000_000, chain_id=AMOY)
    assert identity.address == HARDHAT_ADDRESS
    assert identity.nonce == 23


def test_l1_headers_from_the_official_client_verify_and_tampering_fails() -> None:
    signer = Signer(HARDHAT_KEY, 137)
    headers = create_level_1_headers(signer, nonce=5, timestamp=1_800_000_000)
    assert verify_l1(headers, now_s=1_800_000_010).nonce == 5
    for key, value in [("POLY_NONCE", "6"), ("POLY_TIMESTAMP", "1800000001")]:
        with pytest.raises(AuthRejected) as err:
            verify_l1({**headers, key: value}, now_s=1_800_000_010)
        assert (err.value.status, err.value.message) == (401, "Invalid L1 Request headers")
    with pytest.raises(AuthRejected):
        verify_l1(headers, now_s=1_800_000_000 + 3600)  # stale timestamp
    with pytest.raises(AuthRejected):
        verify_l1({k: v for k, v in headers.items() if k != "POLY_SIGNATURE"}, now_s=1_800_000_000)


def _l2_headers(secret: str, method: str, path: str, body: str | None, ts: int) -> dict[str, str]:
    return {
        "POLY_ADDRESS": HARDHAT_ADDRESS,
        "POLY_API_KEY": "00000000-1111-2222-3333-444444444444",
        "POLY_PASSPHRASE": "pass",
        "POLY_SIGNATURE": hmac_signature(secret, str(ts), method, path, body),
        "POLY_TIMESTAMP": str(ts),
    }


@pytest.mark.parametrize(
    ("method", "path", "body", "ts", "passphrase", "address"),
    [
        ("DELETE", "/order", '{"orderID":"0x2"}', 1_800_000_000, "pass", HARDHAT_ADDRESS),  # body
        ("POST", "/order", '{"orderID":"0x1"}', 1_800_000_000, "pass", HARDHAT_ADDRESS),  # method
        ("DELETE", "/orders", '{"orderID":"0x1"}', 1_800_000_000, "pass", HARDHAT_ADDRESS),  # path
        ("DELETE", "/order", '{"orderID":"0x1"}', 1_800_000_999, "pass", HARDHAT_ADDRESS),  # ts
        ("DELETE", "/order", '{"orderID":"0x1"}', 1_800_000_000, "nope", HARDHAT_ADDRESS),  # pass
        ("DELETE", "/order", '{"orderID":"0x1"}', 1_800_000_000, "pass", "0x" + "1" * 40),  # who
    ],
)
def test_l2_rejects_any_tampering_with_401(  # noqa: PLR0917 - one parameter per tampered part
    method: str, path: str, body: str, ts: int, passphrase: str, address: str
) -> None:
    secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlYw=="
    headers = _l2_headers(secret, "DELETE", "/order", '{"orderID":"0x1"}', 1_800_000_000)
    verify_l2(
        read_l2_headers(headers),
        key_address=HARDHAT_ADDRESS,
        secret=secret,
        passphrase="pass",
        method="DELETE",
        path="/order",
        body=b'{"orderID":"0x1"}',
        now_s=1_800_000_100,
    )
    headers["POLY_TIMESTAMP"] = str(ts)
    with pytest.raises(AuthRejected) as err:
        verify_l2(
            read_l2_headers(headers),
            key_address=address,
            secret=secret,
            passphrase=passphrase,
            method=method,
            path=path,
            body=body.encode(),
            now_s=1_800_000_100,
        )
    assert (err.value.status, err.value.message) == (401, "Unauthorized/Invalid api key")


def test_l2_refuses_a_timestamp_outside_the_skew_window() -> None:
    secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlYw=="
    headers = _l2_headers(secret, "GET", "/data/orders", None, 1_800_000_000)
    with pytest.raises(AuthRejected):
        verify_l2(
            read_l2_headers(headers),
            key_address=HARDHAT_ADDRESS,
            secret=secret,
            passphrase="pass",
            method="GET",
            path="/data/orders",
            body=b"",
            now_s=1_800_000_000 + 301,
        )


def _fields(signed: object) -> OrderFields:
    o = signed
    return OrderFields(
        salt=int(o.salt),  # type: ignore[attr-defined]  # the client's dataclass is untyped
        maker=o.maker,  # type: ignore[attr-defined]
        signer=o.signer,  # type: ignore[attr-defined]
        token_id=int(o.tokenId),  # type: ignore[attr-defined]
        maker_amount=int(o.makerAmount),  # type: ignore[attr-defined]
        taker_amount=int(o.takerAmount),  # type: ignore[attr-defined]
        side=int(o.side),  # type: ignore[attr-defined]
        signature_type=int(o.signatureType),  # type: ignore[attr-defined]
        timestamp=int(o.timestamp),  # type: ignore[attr-defined]
        metadata=bytes.fromhex(o.metadata[2:]),  # type: ignore[attr-defined]
        builder=bytes.fromhex(o.builder[2:]),  # type: ignore[attr-defined]
    )


def test_poly_1271_golden_vector_unwraps_to_the_owner_eoa() -> None:
    blob = (
        "0xa3a093c83b6c20c83355c16ce94c92e6e9fcbdeb840618cc74f6c57a42ad145b"
        "2b98db73d2c73cbf1f2b6af288566ae81960ddbc3a13921027358a8bff3be6ff1c"
        "a440cbd865bc0c6243d7a8df9a8bf48a8827b0a4abbb61c30e96d305423af148"
        "d23d42d3ad94e65d78258cecaf8dcbaddac0f73dc085040f2c12bb595dd83804"
        "4f726465722875696e743235362073616c742c61646472657373206d616b65722c"
        "61646472657373207369676e65722c75696e7432353620746f6b656e49642c75"
        "696e74323536206d616b6572416d6f756e742c75696e743235362074616b6572"
        "416d6f756e742c75696e743820736964652c75696e7438207369676e61747572"
        "65547970652c75696e743235362074696d657374616d702c6279746573333220"
        "6d657461646174612c62797465733332206275696c6465722900ba"
    )
    wallet = "0x1111111111111111111111111111111111111111"
    order = OrderFields(
        salt=479249096354,
        maker=wallet,
        signer=wallet,
        token_id=1234,
        maker_amount=100_000_000,
        taker_amount=50_000_000,
        side=0,
        signature_type=3,
        timestamp=1710000000000,
        metadata=ZERO32,
        builder=ZERO32,
    )
    verified = verify_order_signature(order, blob, neg_risk=False, chain_id=AMOY)
    assert verified.owner_eoa == HARDHAT_ADDRESS
    assert verified.order_id == (
        "0x2afca94626db91b2d556c351584a4cd93e13da32e377dc48c7983e43afa5ab47"
    )
    with pytest.raises(AuthRejected):  # the blob names the standard exchange, not the neg-risk one
        verify_order_signature(order, blob, neg_risk=True, chain_id=AMOY)
    tampered = dataclasses.replace(order, maker_amount=100_000_001)
    with pytest.raises(AuthRejected):
        verify_order_signature(tampered, blob, neg_risk=False, chain_id=AMOY)


@pytest.mark.parametrize("neg_risk", [False, True])
def test_official_builder_orders_verify_under_their_market_domain_only(neg_risk: bool) -> None:
    builder = OrderBuilder(Signer(HARDHAT_KEY, 137))
    signed = builder.build_order(
        OrderArgsV2(token_id="1234", price=0.56, size=21.37, side="BUY"),
        CreateOrderOptions(tick_size="0.01", neg_risk=neg_risk),
    )
    fields = _fields(signed)
    verified = verify_order_signature(fields, signed.signature, neg_risk=neg_risk)
    assert verified.owner_eoa == HARDHAT_ADDRESS
    assert verified.order_id.startswith("0x")
    assert len(verified.order_id) == 66
    with pytest.raises(AuthRejected) as err:
        verify_order_signature(fields, signed.signature, neg_risk=not neg_risk)
    assert (err.value.status, err.value.message) == (400, "invalid signature")


def test_order_id_is_the_eip712_digest_the_official_builder_computes() -> None:
    from py_clob_client_v2.order_utils.exchange_order_builder_v2 import ExchangeOrderBuilderV2

    signer = Signer(HARDHAT_KEY, 137)
    exchange = ExchangeOrderBuilderV2("0xE111180000d2663C0091e4f400237545B87B996B", 137, signer)
    signed = OrderBuilder(signer).build_order(
        OrderArgsV2(token_id="99", price=0.5, size=10, side="SELL"),
        CreateOrderOptions(tick_size="0.01", neg_risk=False),
    )
    expected = exchange.build_order_hash(exchange.build_order_typed_data(signed))
    assert verify_order_signature(_fields(signed), signed.signature, neg_risk=False).order_id == (
        expected
    )


def test_proxy_and_safe_orders_need_a_registered_funder() -> None:
    funder = "0x2222222222222222222222222222222222222222"
    registry = FunderRegistry()
    for sig_type in (SignatureTypeV2.POLY_PROXY, SignatureTypeV2.POLY_GNOSIS_SAFE):
        builder = OrderBuilder(Signer(HARDHAT_KEY, 137), signature_type=sig_type, funder=funder)
        signed = builder.build_order(
            OrderArgsV2(token_id="7", price=0.5, size=10, side="BUY"),
            CreateOrderOptions(tick_size="0.01", neg_risk=False),
        )
        verified = verify_order_signature(_fields(signed), signed.signature, neg_risk=False)
        assert verified.owner_eoa == HARDHAT_ADDRESS
        assert not registry.allows(HARDHAT_ADDRESS, funder, int(sig_type))
    registry.register(HARDHAT_ADDRESS, funder)
    assert registry.allows(HARDHAT_ADDRESS, funder, 1)
    assert registry.allows(HARDHAT_ADDRESS, HARDHAT_ADDRESS, 0)
    assert not registry.allows(HARDHAT_ADDRESS, funder, 0)


def test_a_signature_by_someone_else_is_rejected() -> None:
    other = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
    signed = OrderBuilder(Signer(other, 137)).build_order(
        OrderArgsV2(token_id="7", price=0.5, size=10, side="BUY"),
        CreateOrderOptions(tick_size="0.01", neg_risk=False),
    )
    fields = _fields(signed)
    forged = dataclasses.replace(fields, signer=HARDHAT_ADDRESS)
    with pytest.raises(AuthRejected):
        verify_order_signature(forged, signed.signature, neg_risk=False)
    with pytest.raises(AuthRejected):
        verify_order_signature(fields, "0x1234", neg_risk=False)
    with pytest.raises(AuthRejected):
        verify_order_signature(fields, "not hex", neg_risk=False)
