"""Golden tests: pmt's auth headers and signed orders are byte-identical to py-clob-client-v2's.

The client under test talks to a tiny loopback HTTP server that records the exact bytes it
receives and answers with documented payloads. Each expectation is then rebuilt with the
official client's own functions from the same key, salt and timestamp.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pmtrader._amounts import Amounts
from pmtrader._http import Authenticator
from pmtrader.signing import BYTES32_ZERO, sign_order
from py_clob_client_v2 import ClobClient
from py_clob_client_v2.clob_types import (
    ApiCreds,
    BuilderConfig,
    MarketOrderArgsV2,
    OrderArgsV2,
    PartialCreateOrderOptions,
    RequestArgs,
)
from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.headers.headers import create_level_1_headers, create_level_2_headers
from py_clob_client_v2.order_builder.builder import ROUNDING_CONFIG, OrderBuilder
from py_clob_client_v2.order_utils.exchange_order_builder_v2 import ExchangeOrderBuilderV2
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2, order_to_json_v2
from py_clob_client_v2.order_utils.model.side import Side as WireSide
from py_clob_client_v2.order_utils.model.signature_type_v2 import SignatureTypeV2
from py_clob_client_v2.signer import Signer
from py_clob_client_v2.signing.hmac import build_hmac_signature

from pmtrader import ApiCredentials, Client, Secret, Settings, Side, SignatureType

KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
SECRET = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
PASSPHRASE = "canary-passphrase-7"
CREDS = ApiCredentials.from_strings("00000000-1111-2222-3333-444444444444", SECRET, PASSPHRASE)
TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
CONDITION = "0x" + "cd" * 32
NOW = 1_795_954_678.207


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _Venue(ThreadingHTTPServer):
    seen: list[Seen]
    tick: str
    neg_risk: bool


class _Handler(BaseHTTPRequestHandler):
    server: _Venue

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append(Seen(self.command, self.path, dict(self.headers), body))
        path = self.path.split("?", 1)[0]
        payload: Any
        if path.startswith("/markets-by-token/"):
            payload = {"condition_id": CONDITION}
        elif path.startswith("/clob-markets/"):
            payload = {
                "c": CONDITION,
                "t": [{"t": TOKEN, "o": "Yes"}, {"t": "2", "o": "No"}],
                "mts": float(self.server.tick),
                "nr": self.server.neg_risk,
                "mos": 5,
                "fd": {"r": 0.02, "e": 1, "to": True},
            }
        elif path.startswith("/fees/builder-fees/"):
            payload = {"builder_maker_fee_rate_bps": 0, "builder_taker_fee_rate_bps": 50}
        elif path == "/tick-size":
            payload = {"minimum_tick_size": float(self.server.tick)}
        elif path == "/order":
            payload = {
                "success": True,
                "errorMsg": "",
                "orderID": "0x" + "11" * 32,
                "status": "live",
                "makingAmount": "",
                "takingAmount": "",
                "tradeIDs": [],
                "transactionsHashes": [],
            }
        elif path.startswith("/balance-allowance"):
            payload = {"balance": "1000000", "allowances": {}}
        elif path.startswith("/auth/"):
            payload = {"apiKey": CREDS.key, "secret": SECRET, "passphrase": PASSPHRASE}
        else:
            payload = {"canceled": [], "not_canceled": {}}
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _answer  # noqa: N815 - stdlib dispatch names


@pytest.fixture
def venue() -> Iterator[_Venue]:
    server = _Venue(("127.0.0.1", 0), _Handler)
    server.seen, server.tick, server.neg_risk = [], "0.01", False
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _client(venue: _Venue, **overrides: Any) -> Client:
    url = f"http://127.0.0.1:{venue.server_address[1]}"
    settings = Settings.for_sim(url, private_key=Secret(KEY), api_credentials=CREDS, **overrides)
    return Client(settings, clock=lambda: NOW)


def test_hmac_matches_the_published_vector() -> None:
    # REPO-PY tests/signing/test_hmac.py, reproduced in protocol.md §2.2.
    settings = Settings(
        private_key=Secret(KEY),
        api_credentials=ApiCredentials.from_strings("k", SECRET, "p"),
    )
    headers = Authenticator(settings, clock=lambda: 1_000_000).level2(
        "test-sign", "/orders", '{"hash": "0x123"}'
    )
    assert headers["POLY_SIGNATURE"] == "ZwAdJKvoYRlEKDkNMwd5BuwNNtg93kNaR_oU2HrfVvc="


def test_l1_headers_on_the_wire_equal_the_official_ones(venue: _Venue) -> None:
    with _client(venue) as client:
        client.account.derive_api_key(nonce=23)
    seen = venue.seen[-1]
    expected = create_level_1_headers(Signer(KEY, 137), nonce=23, timestamp=int(NOW))
    for name, value in expected.items():
        assert seen.headers[name] == value
    assert seen.path == "/auth/derive-api-key"


def test_l2_headers_and_body_of_a_limit_order_equal_the_official_client(venue: _Venue) -> None:
    with _client(venue) as client:
        response = client.orders.create_and_post_order(
            TOKEN, "BUY", price=Decimal("0.56"), size=Decimal("21.37")
        )
    assert response.status == "live"
    post = next(s for s in venue.seen if s.method == "POST" and s.path == "/order")
    sent = json.loads(post.body)

    # Rebuild the whole request with py-clob-client-v2's functions, same salt and timestamp.
    signer = Signer(KEY, 137)
    side, maker, taker = OrderBuilder(signer).get_order_amounts(
        "BUY", 21.37, 0.56, ROUNDING_CONFIG["0.01"]
    )
    builder = ExchangeOrderBuilderV2(
        get_contract_config(137).exchange_v2,
        137,
        signer,
        generate_salt=lambda: str(sent["order"]["salt"]),
        domain_version="2",
    )
    official = builder.build_signed_order(
        OrderDataV2(
            maker=ADDRESS,
            tokenId=TOKEN,
            makerAmount=str(maker),
            takerAmount=str(taker),
            side=side,
            signer=ADDRESS,
            signatureType=SignatureTypeV2.EOA,
            timestamp=str(int(NOW * 1000)),
            metadata=BYTES32_ZERO,
            builder=BYTES32_ZERO,
        )
    )
    expected_body = json.dumps(
        order_to_json_v2(official, CREDS.key, "GTC", False, False),
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert post.body.decode() == expected_body
    expected_headers = create_level_2_headers(
        signer,
        ApiCreds(CREDS.key, SECRET, PASSPHRASE),
        RequestArgs("POST", "/order", body=None, serialized_body=expected_body),
        timestamp=int(NOW),
    )
    for name, value in expected_headers.items():
        assert post.headers[name] == value
    assert sent["order"]["makerAmount"] == "11967200"
    assert sent["order"]["takerAmount"] == "21370000"


def test_neg_risk_markets_are_signed_for_the_neg_risk_exchange(venue: _Venue) -> None:
    venue.neg_risk = True
    with _client(venue) as client:
        order = client.orders.create_order(TOKEN, "SELL", price="0.57", size="13.33")
    assert order.neg_risk
    builder = ExchangeOrderBuilderV2(
        get_contract_config(137).neg_risk_exchange_v2, 137, Signer(KEY, 137), domain_version="2"
    )
    assert builder.build_order_hash(builder.build_order_typed_data(order.raw)) == order.order_hash
    assert order.raw.signature == builder.build_order_signature(
        builder.build_order_typed_data(order.raw)
    )


def test_get_requests_sign_the_path_without_the_query(venue: _Venue) -> None:
    with _client(venue) as client:
        client.account.get_balance_allowance("CONDITIONAL", token_id=TOKEN)
    seen = venue.seen[-1]
    assert seen.path.startswith("/balance-allowance?")
    expected = build_hmac_signature(SECRET, int(NOW), "GET", "/balance-allowance")
    assert seen.headers["POLY_SIGNATURE"] == expected
    assert "signature_type=0" in seen.path


def test_delete_bodies_are_signed_as_sent(venue: _Venue) -> None:
    with _client(venue) as client:
        client.orders.cancel_order("0xdead")
        client.orders.cancel_all()
    cancel, cancel_all = venue.seen[-2], venue.seen[-1]
    assert cancel.body == b'{"orderID":"0xdead"}'
    assert cancel.headers["POLY_SIGNATURE"] == build_hmac_signature(
        SECRET, int(NOW), "DELETE", "/order", '{"orderID":"0xdead"}'
    )
    assert cancel_all.body == b""
    assert cancel_all.headers["POLY_SIGNATURE"] == build_hmac_signature(
        SECRET, int(NOW), "DELETE", "/cancel-all"
    )


def test_through_a_proxy_prefix_the_venue_path_is_what_is_signed(venue: _Venue) -> None:
    # pmproxy forwards /clob/order to the CLOB's /order: the HMAC must cover /order.
    url = f"http://127.0.0.1:{venue.server_address[1]}"
    settings = Settings(clob_url=f"{url}/clob", private_key=Secret(KEY), api_credentials=CREDS)
    with Client(settings, clock=lambda: NOW) as client:
        client.orders.cancel_all()
    seen = venue.seen[-1]
    assert seen.path == "/clob/cancel-all"
    assert seen.headers["POLY_SIGNATURE"] == build_hmac_signature(
        SECRET, int(NOW), "DELETE", "/cancel-all"
    )


def test_poly_1271_signature_matches_the_published_vector() -> None:
    # REPO-PY tests/order_utils/test_exchange_order_builder_v2.py (Amoy, exchange_v2).
    order = sign_order(
        Signer(KEY, 80002),
        chain_id=80002,
        token_id="1234",
        amounts=Amounts(Side.BUY, 100_000_000, 50_000_000),
        signature_type=SignatureType.POLY_1271,
        funder="0x1111111111111111111111111111111111111111",
        neg_risk=False,
        salt=479249096354,
        timestamp_ms=1710000000000,
    )
    assert order.signature == (
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
    assert order.order_hash == "0x2afca94626db91b2d556c351584a4cd93e13da32e377dc48c7983e43afa5ab47"
    assert order.raw.signer == order.raw.maker == "0x1111111111111111111111111111111111111111"


@pytest.mark.parametrize(
    "signature_type", [SignatureType.POLY_PROXY, SignatureType.POLY_GNOSIS_SAFE]
)
def test_proxy_and_safe_orders_have_the_funder_as_maker_and_the_eoa_as_signer(
    signature_type: SignatureType,
) -> None:
    funder = "0x" + "22" * 20
    order = sign_order(
        Signer(KEY, 137),
        chain_id=137,
        token_id=TOKEN,
        amounts=Amounts(Side.SELL, 10_000_000, 4_900_000),
        signature_type=signature_type,
        funder=funder,
        neg_risk=False,
        salt=1,
        timestamp_ms=2,
    )
    assert order.raw.maker == funder
    assert order.raw.signer == ADDRESS
    assert order.payload("key", order_type=__import__("pmtrader").OrderType.GTC)["order"][
        "signatureType"
    ] == int(signature_type)
    assert order.raw.side == WireSide.SELL


def test_no_secret_reaches_a_log_line_even_at_debug(
    venue: _Venue, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.DEBUG), _client(venue) as client:
        client.account.derive_api_key()  # the answer carries the secret and passphrase
        client.orders.create_and_post_order(TOKEN, "BUY", price="0.5", size=10)
        client.orders.cancel_all()
    captured = capsys.readouterr()
    text = caplog.text + captured.out + captured.err
    assert "POST /order" in caplog.text or "/order" in caplog.text  # logging was on
    for secret in (KEY, KEY[2:], SECRET, PASSPHRASE, "POLY_PASSPHRASE", "POLY_SIGNATURE"):
        assert secret not in text


BUILDER = "0x" + "b1" * 31 + "7e"


def _official_client(venue: _Venue) -> ClobClient:
    url = f"http://127.0.0.1:{venue.server_address[1]}"
    return ClobClient(
        url,
        chain_id=137,
        key=KEY,
        creds=ApiCreds(CREDS.key, SECRET, PASSPHRASE),
        builder_config=BuilderConfig(builder_address=ADDRESS, builder_code=BUILDER),
    )


def _resign(official: Any, salt: int, timestamp: str) -> Any:
    """The official order re-signed with pmt's salt and timestamp (the two random inputs)."""
    builder = ExchangeOrderBuilderV2(
        get_contract_config(137).exchange_v2,
        137,
        Signer(KEY, 137),
        generate_salt=lambda: str(salt),
        domain_version="2",
    )
    fields = {
        name: getattr(official, name)
        for name in ("maker", "tokenId", "makerAmount", "takerAmount", "side", "signer")
    }
    return builder.build_signed_order(
        OrderDataV2(
            **fields,
            signatureType=official.signatureType,
            timestamp=timestamp,
            metadata=official.metadata,
            builder=official.builder,
            expiration=official.expiration,
        )
    )


def test_the_builder_code_setting_signs_like_the_official_builder_config(venue: _Venue) -> None:
    # py-clob-client-v2 fills an order's zero builder code from BuilderConfig.builder_code.
    official = _official_client(venue).create_order(
        OrderArgsV2(token_id=TOKEN, price=0.56, size=21.37, side="BUY"),
        PartialCreateOrderOptions(tick_size="0.01", neg_risk=False),
    )
    assert official.builder == BUILDER
    with _client(venue, builder_code=BUILDER) as client:
        client.orders.create_and_post_order(TOKEN, "BUY", price=Decimal("0.56"), size="21.37")
    post = next(s for s in venue.seen if s.method == "POST" and s.path == "/order")
    sent = json.loads(post.body)
    expected = _resign(official, sent["order"]["salt"], sent["order"]["timestamp"])
    assert post.body.decode() == json.dumps(
        order_to_json_v2(expected, CREDS.key, "GTC", False, False),
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert sent["order"]["builder"] == BUILDER


def test_market_orders_carry_the_builder_code_too(venue: _Venue) -> None:
    official = _official_client(venue).create_market_order(
        MarketOrderArgsV2(token_id=TOKEN, amount=10, side="BUY", price=0.52),
        PartialCreateOrderOptions(tick_size="0.01", neg_risk=False),
    )
    assert official.builder == BUILDER
    with _client(venue, builder_code=BUILDER) as client:
        order = client.orders.create_market_order(TOKEN, "BUY", amount=10, price="0.52")
    assert order.builder_code == BUILDER
    expected = _resign(official, order.salt, order.raw.timestamp)
    assert order.raw == expected  # every field, the signature included
    assert order.order_hash.startswith("0x")


def test_without_a_builder_code_the_field_is_zero(venue: _Venue) -> None:
    with _client(venue) as client:
        order = client.orders.create_order(TOKEN, "BUY", price="0.5", size=10)
    assert order.builder_code == BYTES32_ZERO


@pytest.mark.parametrize(
    ("amount", "price", "balance"),
    [
        ("10", "0.52", "5"),  # capped: 5 minus the platform and builder fees
        ("5", "0.5", "5"),  # everything: capped just below the balance
        ("10", "0.52", "100"),  # fits as asked: unchanged
        ("250", "0.07", "123.45"),  # cheap shares: the per-share platform fee dominates
        ("40", "0.93", "39.99"),
    ],
)
def test_balance_capped_market_buys_size_like_the_official_client(
    venue: _Venue, amount: str, price: str, balance: str
) -> None:
    # py-clob-client-v2 shrinks a market BUY by its platform fee (fd r=0.02, e=1 here) and its
    # builder's taker fee (50 bps from /fees/builder-fees) when given user_usdc_balance.
    official = _official_client(venue).create_market_order(
        MarketOrderArgsV2(
            token_id=TOKEN,
            amount=float(amount),
            side="BUY",
            price=float(price),
            user_usdc_balance=float(balance),
        ),
        PartialCreateOrderOptions(tick_size="0.01", neg_risk=False),
    )
    with _client(venue, builder_code=BUILDER) as client:
        order = client.orders.create_market_order(
            TOKEN, "BUY", amount=amount, price=price, balance=balance
        )
    assert (order.raw.makerAmount, order.raw.takerAmount) == (
        official.makerAmount,
        official.takerAmount,
    )
    assert order.amounts.maker_amount <= int(Decimal(balance) * 1_000_000)


@pytest.mark.parametrize(
    ("price", "size", "balance"),
    [
        ("0.5", "10", "5"),  # 5 pUSD of shares, capped below 5 by the fees
        ("0.56", "21.37", "11"),
        ("0.56", "21.37", "1000"),  # fits: unchanged
        ("0.07", "500", "30.01"),
    ],
)
def test_balance_capped_limit_buys_size_like_the_official_client(
    venue: _Venue, price: str, size: str, balance: str
) -> None:
    official = _official_client(venue).create_order(
        OrderArgsV2(
            token_id=TOKEN,
            price=float(price),
            size=float(size),
            side="BUY",
            user_usdc_balance=float(balance),
        ),
        PartialCreateOrderOptions(tick_size="0.01", neg_risk=False),
    )
    with _client(venue, builder_code=BUILDER) as client:
        order = client.orders.create_order(TOKEN, "BUY", price=price, size=size, balance=balance)
    assert (order.raw.makerAmount, order.raw.takerAmount) == (
        official.makerAmount,
        official.takerAmount,
    )
    assert order.amounts.maker_amount <= int(Decimal(balance) * 1_000_000)
