"""Signing V2 orders with py-clob-client-v2's own exchange order builder.

pmt computes the amounts exactly (:mod:`pmtrader._amounts`) and hands them to the official
``ExchangeOrderBuilderV2`` for the EIP-712 signature (types 0-2) or the ERC-7739 wrapped
signature (type 3, deposit wallets); nothing here re-implements EIP-712. The JSON body is the
official ``order_to_json_v2``, serialised compactly like the official client, so a signed order
from pmt and from py-clob-client-v2 are byte-identical for the same key, salt and timestamp.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pmtrader._amounts import Amounts
from pmtrader.chain import contracts_for
from pmtrader.config import SignatureType
from pmtrader.errors import SigningError
from pmtrader.models.clob import OrderType, Side

if TYPE_CHECKING:
    from py_clob_client_v2.signer import Signer

__all__ = ["BYTES32_ZERO", "SignedOrder", "new_salt", "sign_order"]

BYTES32_ZERO = "0x" + "0" * 64
_salts = random.SystemRandom()


def new_salt() -> int:
    """A random order salt below 2**53 (it travels as a JSON number)."""
    return _salts.getrandbits(53)


@dataclass(frozen=True, slots=True)
class SignedOrder:
    """A signed V2 order, ready to post.

    Attributes:
        token_id: The outcome token.
        side: BUY or SELL.
        amounts: ``makerAmount``/``takerAmount`` in base units.
        neg_risk: Whether it was signed for the neg-risk exchange.
        order_hash: The EIP-712 hash of the order (the venue's order id).
        expiration: Unix seconds (0 = none; only GTD orders carry one).
        raw: The official ``SignedOrderV2``.
    """

    token_id: str
    side: Side
    amounts: Amounts
    neg_risk: bool
    order_hash: str
    expiration: int
    raw: Any

    @property
    def price(self) -> Decimal:
        """The implied price: pUSD per share."""
        return Decimal(self.amounts.pusd) / Decimal(self.amounts.shares)

    @property
    def salt(self) -> int:
        """The order's salt."""
        return int(self.raw.salt)

    @property
    def builder_code(self) -> str:
        """The signed ``builder`` field (``0x`` + 64 zeros when no builder is credited)."""
        return str(self.raw.builder)

    @property
    def signature(self) -> str:
        """The order signature (``0x`` hex)."""
        return str(self.raw.signature)

    def payload(
        self,
        owner: str,
        order_type: OrderType,
        *,
        post_only: bool = False,
        defer_exec: bool = False,
    ) -> dict[str, Any]:
        """The ``POST /order`` body object (official ``order_to_json_v2``).

        Args:
            owner: The API key (not an address).
            order_type: GTC, GTD, FOK or FAK.
            post_only: Reject instead of crossing (GTC/GTD only).
            defer_exec: Do not wait for settlement.
        """
        from py_clob_client_v2.order_utils.model.order_data_v2 import order_to_json_v2

        body: dict[str, Any] = order_to_json_v2(
            self.raw, owner, order_type.value, post_only, defer_exec
        )
        return body


def sign_order(
    signer: Signer,
    *,
    chain_id: int,
    token_id: str,
    amounts: Amounts,
    signature_type: SignatureType,
    funder: str | None,
    neg_risk: bool,
    salt: int,
    timestamp_ms: int,
    expiration: int = 0,
    builder_code: str = BYTES32_ZERO,
    metadata: str = BYTES32_ZERO,
) -> SignedOrder:
    """Sign a V2 order for the standard or neg-risk exchange (EIP-712 domain version "2").

    Args:
        signer: The official ``Signer`` for the key.
        chain_id: 137 or 80002.
        token_id: The outcome token.
        amounts: Exact amounts.
        signature_type: 0 EOA, 1 proxy, 2 Safe, 3 deposit wallet.
        funder: The maker (funds holder); the EOA when ``None``.
        neg_risk: Sign for the neg-risk exchange.
        salt: The order salt.
        timestamp_ms: Build time in milliseconds (the V2 uniqueness source).
        expiration: Unix seconds, 0 for none (not signed; GTD only).
        builder_code: bytes32 builder code.
        metadata: bytes32 metadata.

    Raises:
        SigningError: The signer does not match the signature type's rules.
    """
    from py_clob_client_v2.order_utils.exchange_order_builder_v2 import ExchangeOrderBuilderV2
    from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2
    from py_clob_client_v2.order_utils.model.side import Side as WireSide
    from py_clob_client_v2.order_utils.model.signature_type_v2 import SignatureTypeV2

    contracts = contracts_for(chain_id)
    exchange = contracts.neg_risk_exchange if neg_risk else contracts.exchange
    eoa = str(signer.address())
    maker = funder or eoa
    if signature_type is SignatureType.POLY_1271 and funder is None:
        raise SigningError(
            "signature type 3 (deposit wallet) signs as the wallet: set PM_FUNDER_ADDRESS to the "
            "deposit wallet's address"
        )
    order_signer = maker if signature_type is SignatureType.POLY_1271 else eoa
    builder = ExchangeOrderBuilderV2(
        exchange, chain_id, signer, generate_salt=lambda: str(salt), domain_version="2"
    )
    data = OrderDataV2(
        maker=maker,
        tokenId=token_id,
        makerAmount=str(amounts.maker_amount),
        takerAmount=str(amounts.taker_amount),
        side=WireSide.BUY if amounts.side is Side.BUY else WireSide.SELL,
        signer=order_signer,
        signatureType=SignatureTypeV2(int(signature_type)),
        timestamp=str(timestamp_ms),
        metadata=metadata,
        builder=builder_code,
        expiration=str(expiration),
    )
    try:
        raw = builder.build_signed_order(data)
        order_hash = builder.build_order_hash(builder.build_order_typed_data(raw))
    except ValueError as exc:
        raise SigningError(
            f"could not sign the order: {exc} (signature type {int(signature_type)}, "
            f"signer {eoa}, maker {maker})"
        ) from None
    return SignedOrder(
        token_id=token_id,
        side=amounts.side,
        amounts=amounts,
        neg_risk=neg_risk,
        order_hash=order_hash,
        expiration=expiration,
        raw=raw,
    )
