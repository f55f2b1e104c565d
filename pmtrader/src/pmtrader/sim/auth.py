"""Authentication exactly as Polymarket's CLOB checks it.

Three independent checks, each a pure function of the request so that it can be tested with the
golden vectors of the official client:

* **L1** (``POLY_ADDRESS``/``POLY_SIGNATURE``/``POLY_TIMESTAMP``/``POLY_NONCE``): an EIP-712
  ``ClobAuth`` signature under the ``ClobAuthDomain`` v1 domain (no verifying contract), recovered
  and compared with the claimed address. Used to create and derive API keys.
* **L2** (``POLY_API_KEY``/``POLY_PASSPHRASE``/``POLY_SIGNATURE``/``POLY_TIMESTAMP``): an
  HMAC-SHA256 over ``timestamp + METHOD + path-without-query + body`` keyed by the url-safe base64
  secret; the body has every ``'`` replaced by ``"`` first, as the official client does.
* **Orders**: the 11-field EIP-712 ``Order`` under the ``Polymarket CTF Exchange`` v2 domain,
  whose verifying contract is the standard or the neg-risk exchange depending on the market.
  Signature types 0-2 are a plain 65-byte signature by ``signer``; type 3 (POLY_1271) is an
  ERC-7739 blob whose inner signature is the owner EOA's over a ``TypedDataSign`` digest.

Hashing uses ``eth_utils.keccak`` and ``eth_abi``; signature recovery uses ``eth_account``.
The order id the exchange reports (``orderID``) is the EIP-712 digest of the order.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_typing import Hash32
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from pmtrader.sim.errors import SimError

CHAIN_ID = 137
"""Polygon mainnet: the only chain the local exchange speaks (the client signs with it)."""

CLOB_AUTH_MESSAGE = "This message attests that I control the given wallet"
TIMESTAMP_SKEW_S = 300
"""How far (seconds) a POLY_TIMESTAMP may be from the server clock, either way.

Production's window is not published; five minutes tolerates a drifting laptop clock while still
rejecting a replay of yesterday's headers.
"""

EXCHANGE_V2 = "0xE111180000d2663C0091e4f400237545B87B996B"
NEG_RISK_EXCHANGE_V2 = "0xe2222d279d744050d28e00520010520000310F59"
EXCHANGE_DOMAIN_NAME = "Polymarket CTF Exchange"
EXCHANGE_DOMAIN_VERSION = "2"

ORDER_TYPE_STRING = (
    "Order(uint256 salt,address maker,address signer,uint256 tokenId,"
    "uint256 makerAmount,uint256 takerAmount,uint8 side,uint8 signatureType,"
    "uint256 timestamp,bytes32 metadata,bytes32 builder)"
)
_TYPED_DATA_SIGN_TYPE_STRING = (
    "TypedDataSign(Order contents,string name,string version,uint256 chainId,"
    "address verifyingContract,bytes32 salt)" + ORDER_TYPE_STRING
)
_DOMAIN_TYPE_STRING = (
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
_ORDER_TYPE_HASH = keccak(text=ORDER_TYPE_STRING)
_DOMAIN_TYPE_HASH = keccak(text=_DOMAIN_TYPE_STRING)
_TYPED_DATA_SIGN_TYPE_HASH = keccak(text=_TYPED_DATA_SIGN_TYPE_STRING)
_DEPOSIT_WALLET_NAME_HASH = keccak(text="DepositWallet")
_DEPOSIT_WALLET_VERSION_HASH = keccak(text="1")
_ZERO32 = bytes(32)
_ORDER_ABI_TYPES = [
    "bytes32",
    "uint256",
    "address",
    "address",
    "uint256",
    "uint256",
    "uint256",
    "uint8",
    "uint8",
    "uint256",
    "bytes32",
    "bytes32",
]

SIG_EOA = 0
SIG_POLY_PROXY = 1
SIG_POLY_GNOSIS_SAFE = 2
SIG_POLY_1271 = 3

UNAUTHORIZED = "Unauthorized/Invalid api key"
INVALID_L1_HEADERS = "Invalid L1 Request headers"
INVALID_SIGNATURE = "invalid signature"


class AuthRejected(SimError):  # noqa: N818 - pairs with OrderRejected; production says 401/400
    """A request's credentials or an order's signature did not verify.

    Attributes:
        status: the HTTP status production answers with (401 for headers, 400 for orders).
        message: Polymarket's error text, sent back as ``{"error": message}``.
    """

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# --------------------------------------------------------------------------------------------
# L1: ClobAuth


def clob_auth_typed_data(
    address: str, timestamp: str, nonce: int, chain_id: int
) -> dict[str, object]:
    """Return the EIP-712 typed data the client signs for L1 headers."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
            ],
            "ClobAuth": [
                {"name": "address", "type": "address"},
                {"name": "timestamp", "type": "string"},
                {"name": "nonce", "type": "uint256"},
                {"name": "message", "type": "string"},
            ],
        },
        "primaryType": "ClobAuth",
        "domain": {"name": "ClobAuthDomain", "version": "1", "chainId": chain_id},
        "message": {
            "address": address,
            "timestamp": timestamp,
            "nonce": nonce,
            "message": CLOB_AUTH_MESSAGE,
        },
    }


@dataclass(frozen=True, slots=True)
class L1Identity:
    """Who an L1 request proved to be: the EOA and the key nonce it asked for."""

    address: str
    nonce: int


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return value


def _check_timestamp(raw: str, now_s: int, skew_s: int) -> None:
    try:
        ts = int(raw)
    except ValueError:
        raise AuthRejected(UNAUTHORIZED) from None
    if abs(ts - now_s) > skew_s:
        raise AuthRejected(UNAUTHORIZED)


def verify_l1(
    headers: Mapping[str, str],
    *,
    now_s: int,
    chain_id: int = CHAIN_ID,
    skew_s: int = TIMESTAMP_SKEW_S,
) -> L1Identity:
    """Verify the L1 headers of an API-key request.

    Args:
        headers: the request headers (case-insensitive mapping, or upper-case keys).
        now_s: the server's wall clock in unix seconds.
        chain_id: the chain the ClobAuth domain names.
        skew_s: the accepted distance between POLY_TIMESTAMP and ``now_s``.

    Returns:
        The checksummed address that signed, and the nonce.

    Raises:
        AuthRejected: 401 ``Invalid L1 Request headers`` when anything is missing or wrong.
    """
    address = _header(headers, "POLY_ADDRESS")
    signature = _header(headers, "POLY_SIGNATURE")
    timestamp = _header(headers, "POLY_TIMESTAMP")
    nonce_raw = _header(headers, "POLY_NONCE") or "0"
    if not address or not signature or not timestamp:
        raise AuthRejected(INVALID_L1_HEADERS)
    try:
        nonce = int(nonce_raw)
        ts = int(timestamp)
        checksummed = to_checksum_address(address)
        signable = encode_typed_data(
            full_message=clob_auth_typed_data(checksummed, timestamp, nonce, chain_id)
        )
        recovered = Account.recover_message(signable, signature=bytes.fromhex(_strip0x(signature)))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise AuthRejected(INVALID_L1_HEADERS) from exc
    if nonce < 0 or abs(ts - now_s) > skew_s or recovered.lower() != checksummed.lower():
        raise AuthRejected(INVALID_L1_HEADERS)
    return L1Identity(address=checksummed, nonce=nonce)


# --------------------------------------------------------------------------------------------
# L2: HMAC


def hmac_signature(secret: str, timestamp: str, method: str, path: str, body: str | None) -> str:
    """Compute ``POLY_SIGNATURE`` the way the official client does.

    The body, when present, has every ``'`` turned into ``"`` before hashing (the client signs
    ``str(body).replace("'", '"')``), so a body holding an apostrophe still verifies.
    """
    key = base64.urlsafe_b64decode(secret)
    message = f"{timestamp}{method}{path}"
    if body:
        message += body.replace("'", '"')
    digest = hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


@dataclass(frozen=True, slots=True)
class L2Claim:
    """The L2 headers of a request, before they are checked against the key store."""

    address: str
    api_key: str
    passphrase: str
    signature: str
    timestamp: str


def read_l2_headers(headers: Mapping[str, str]) -> L2Claim:
    """Pick the five L2 headers out of a request.

    Raises:
        AuthRejected: 401 when one is missing.
    """
    values = [
        _header(headers, name)
        for name in (
            "POLY_ADDRESS",
            "POLY_API_KEY",
            "POLY_PASSPHRASE",
            "POLY_SIGNATURE",
            "POLY_TIMESTAMP",
        )
    ]
    address, api_key, passphrase, signature, timestamp = values
    if not address or not api_key or not passphrase or not signature or not timestamp:
        raise AuthRejected(UNAUTHORIZED)
    return L2Claim(address, api_key, passphrase, signature, timestamp)


def verify_l2(
    claim: L2Claim,
    *,
    key_address: str,
    secret: str,
    passphrase: str,
    method: str,
    path: str,
    body: bytes,
    now_s: int,
    skew_s: int = TIMESTAMP_SKEW_S,
) -> None:
    """Check an L2 claim against the stored credentials of its API key.

    Args:
        claim: the request's headers.
        key_address: the EOA the API key belongs to.
        secret: the key's url-safe base64 secret.
        passphrase: the key's passphrase.
        method: the HTTP method, upper-case.
        path: the request path **without** the query string.
        body: the raw request body.
        now_s: server wall clock, unix seconds.
        skew_s: accepted timestamp distance.

    Raises:
        AuthRejected: 401 ``Unauthorized/Invalid api key`` on any mismatch.
    """
    if not hmac.compare_digest(claim.passphrase, passphrase):
        raise AuthRejected(UNAUTHORIZED)
    if claim.address.lower() != key_address.lower():
        raise AuthRejected(UNAUTHORIZED)
    _check_timestamp(claim.timestamp, now_s, skew_s)
    try:
        text = body.decode("utf-8") if body else None
        expected = hmac_signature(secret, claim.timestamp, method, path, text)
    except (UnicodeDecodeError, binascii.Error, ValueError):
        raise AuthRejected(UNAUTHORIZED) from None
    if not hmac.compare_digest(expected, claim.signature):
        raise AuthRejected(UNAUTHORIZED)


# --------------------------------------------------------------------------------------------
# Orders


@dataclass(frozen=True, slots=True)
class OrderFields:
    """The eleven signed fields of a V2 order, as integers and raw bytes."""

    salt: int
    maker: str
    signer: str
    token_id: int
    maker_amount: int
    taker_amount: int
    side: int
    signature_type: int
    timestamp: int
    metadata: bytes
    builder: bytes


@lru_cache(maxsize=16)
def exchange_domain_separator(contract: str, chain_id: int = CHAIN_ID, version: str = "2") -> bytes:
    """Return the EIP-712 domain separator of a Polymarket CTF exchange contract."""
    return keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                _DOMAIN_TYPE_HASH,
                keccak(text=EXCHANGE_DOMAIN_NAME),
                keccak(text=version),
                chain_id,
                to_checksum_address(contract),
            ],
        )
    )


def exchange_for(*, neg_risk: bool) -> str:
    """Return the V2 exchange a market's orders are signed for."""
    return NEG_RISK_EXCHANGE_V2 if neg_risk else EXCHANGE_V2


def order_struct_hash(order: OrderFields) -> bytes:
    """Return ``hashStruct(Order)`` (the ERC-7739 ``contentsHash``)."""
    return keccak(
        abi_encode(
            _ORDER_ABI_TYPES,
            [
                _ORDER_TYPE_HASH,
                order.salt,
                order.maker,
                order.signer,
                order.token_id,
                order.maker_amount,
                order.taker_amount,
                order.side,
                order.signature_type,
                order.timestamp,
                order.metadata,
                order.builder,
            ],
        )
    )


def order_digest(order: OrderFields, *, neg_risk: bool, chain_id: int = CHAIN_ID) -> bytes:
    """Return the EIP-712 digest of an order: the exchange's order hash and our ``orderID``."""
    separator = exchange_domain_separator(exchange_for(neg_risk=neg_risk), chain_id)
    return keccak(b"\x19\x01" + separator + order_struct_hash(order))


@dataclass(frozen=True, slots=True)
class VerifiedOrder:
    """An order whose signature checked out.

    Attributes:
        order_id: ``0x`` + the EIP-712 digest, lower-case hex.
        owner_eoa: the EOA that signed (for type 3, the deposit wallet's owner).
    """

    order_id: str
    owner_eoa: str


def _strip0x(value: str) -> str:
    return value[2:] if value[:2] in ("0x", "0X") else value


def _recover(digest: bytes, signature: bytes) -> str:
    return str(Account._recover_hash(Hash32(digest), signature=signature))


def _recover_poly_1271(order: OrderFields, blob: bytes, *, separator: bytes, chain_id: int) -> str:
    # Layout: sig(65) | appDomainSeparator(32) | contentsHash(32) | contentsType(n) | n(2).
    if len(blob) < 65 + 32 + 32 + 2:
        raise AuthRejected(INVALID_SIGNATURE, status=400)
    type_len = int.from_bytes(blob[-2:], "big")
    if len(blob) != 65 + 32 + 32 + type_len + 2:
        raise AuthRejected(INVALID_SIGNATURE, status=400)
    inner, app_separator = blob[:65], blob[65:97]
    contents_hash, contents_type = blob[97:129], blob[129 : 129 + type_len]
    struct_hash = order_struct_hash(order)
    if (
        app_separator != separator
        or contents_hash != struct_hash
        or contents_type != ORDER_TYPE_STRING.encode("ascii")
    ):
        raise AuthRejected(INVALID_SIGNATURE, status=400)
    sign_struct = keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "bytes32", "uint256", "address", "bytes32"],
            [
                _TYPED_DATA_SIGN_TYPE_HASH,
                struct_hash,
                _DEPOSIT_WALLET_NAME_HASH,
                _DEPOSIT_WALLET_VERSION_HASH,
                chain_id,
                order.signer,
                _ZERO32,
            ],
        )
    )
    return _recover(keccak(b"\x19\x01" + separator + sign_struct), inner)


def verify_order_signature(
    order: OrderFields,
    signature: str,
    *,
    neg_risk: bool,
    chain_id: int = CHAIN_ID,
) -> VerifiedOrder:
    """Recover who signed an order, under the domain its market requires.

    Types 0-2 must be signed by ``order.signer`` itself. Type 3 (POLY_1271) must have
    ``signer == maker`` (the deposit wallet) and carries the owner EOA's signature inside the
    ERC-7739 wrapper; the returned ``owner_eoa`` is that owner. Whether the EOA may trade for
    ``maker`` is the caller's rule (see :class:`FunderRegistry`).

    Raises:
        AuthRejected: 400 ``invalid signature`` when the signature does not verify.
    """
    separator = exchange_domain_separator(exchange_for(neg_risk=neg_risk), chain_id)
    digest = keccak(b"\x19\x01" + separator + order_struct_hash(order))
    try:
        raw = bytes.fromhex(_strip0x(signature))
    except ValueError:
        raise AuthRejected(INVALID_SIGNATURE, status=400) from None
    try:
        if order.signature_type == SIG_POLY_1271:
            if order.signer.lower() != order.maker.lower():
                raise AuthRejected(INVALID_SIGNATURE, status=400)
            owner = _recover_poly_1271(order, raw, separator=separator, chain_id=chain_id)
        elif order.signature_type in (SIG_EOA, SIG_POLY_PROXY, SIG_POLY_GNOSIS_SAFE):
            if len(raw) != 65:
                raise AuthRejected(INVALID_SIGNATURE, status=400)
            owner = _recover(digest, raw)
            if owner.lower() != order.signer.lower():
                raise AuthRejected(INVALID_SIGNATURE, status=400)
        else:
            raise AuthRejected(INVALID_SIGNATURE, status=400)
    except AuthRejected:
        raise
    except Exception as exc:  # eth_keys raises several types for a malformed (r, s, v)
        raise AuthRejected(INVALID_SIGNATURE, status=400) from exc
    return VerifiedOrder(order_id="0x" + digest.hex(), owner_eoa=to_checksum_address(owner))


class FunderRegistry:
    """Which makers (funders) each EOA may sign for.

    Production derives proxy, Safe and deposit-wallet addresses from the EOA with CREATE2; the
    local exchange keeps an explicit table instead, filled by the operator (``/_sim/funder``).
    An EOA may always trade for itself with signature type 0.
    """

    def __init__(self) -> None:
        self._makers: dict[str, set[str]] = {}

    def register(self, eoa: str, maker: str) -> None:
        """Allow ``eoa`` to sign orders whose maker is ``maker``."""
        self._makers.setdefault(eoa.lower(), set()).add(maker.lower())

    def makers_of(self, eoa: str) -> list[str]:
        """Return the registered makers of an EOA, sorted (lower-case)."""
        return sorted(self._makers.get(eoa.lower(), ()))

    def snapshot(self) -> dict[str, list[str]]:
        """Return the whole table, for persistence."""
        return {eoa: sorted(makers) for eoa, makers in sorted(self._makers.items())}

    def allows(self, eoa: str, maker: str, signature_type: int) -> bool:
        """Say whether ``eoa`` may sign an order of ``signature_type`` for ``maker``."""
        if signature_type == SIG_EOA:
            return eoa.lower() == maker.lower()
        return maker.lower() in self._makers.get(eoa.lower(), ())
