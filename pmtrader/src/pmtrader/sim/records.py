"""Domain records of the local exchange and their production wire shapes.

Records hold integers (prices in 1e-4, amounts in 1e-6 base units); ``to_wire()`` turns them into
the JSON objects Polymarket sends (field names and casing of ``protocol.md`` §1.7 and §3.3), with
amounts as exact decimal strings. The server serialises what ``to_wire()`` returns and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pmtrader.book import book_hash
from pmtrader.sim.matching import AMOUNT_SCALE, PRICE_SCALE, Side

__all__ = [
    "ApiCreds",
    "ApiKeyRecord",
    "BalanceAllowance",
    "BookSnapshot",
    "CancelResult",
    "MakerFill",
    "OrderRecord",
    "PlaceResult",
    "Position",
    "PricePoint",
    "SignedOrder",
    "Trade",
    "fmt_amount",
    "fmt_price",
]

ZERO32 = "0x" + "0" * 64


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in {"-0", ""} else text


def fmt_amount(base_units: int) -> str:
    """Base units (1e-6) as a plain decimal string without trailing zeros: 4980000 → ``"4.98"``."""
    return _plain(Decimal(base_units) / AMOUNT_SCALE)


def fmt_price(price: int) -> str:
    """A 1e-4 price as a plain decimal string: 5200 → ``"0.52"``, 9990 → ``"0.999"``."""
    return _plain(Decimal(price) / PRICE_SCALE)


def side_name(side: Side) -> str:
    """``"BUY"`` or ``"SELL"``, as the wire spells sides."""
    return "BUY" if side is Side.BUY else "SELL"


@dataclass(frozen=True, slots=True)
class ApiCreds:
    """L2 credentials handed to a client. ``repr`` hides the secret and passphrase."""

    api_key: str
    secret: str = field(repr=False)
    passphrase: str = field(repr=False)

    def to_wire(self) -> dict[str, str]:
        """``{"apiKey", "secret", "passphrase"}`` as ``/auth/api-key`` returns them."""
        return {"apiKey": self.api_key, "secret": self.secret, "passphrase": self.passphrase}


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A registered API key: who owns it and the secret material the server verifies with."""

    api_key: str
    address: str
    nonce: int
    secret: str = field(repr=False)
    passphrase: str = field(repr=False)
    created_ms: int = 0

    @property
    def creds(self) -> ApiCreds:
        """The credentials for this key."""
        return ApiCreds(self.api_key, self.secret, self.passphrase)


@dataclass(frozen=True, slots=True)
class SignedOrder:
    """The decoded V2 order a client posted (signature already verified by the server).

    Amounts are base units; ``side`` is 0/1; ``timestamp`` is milliseconds and ``expiration``
    seconds, as on the wire.
    """

    salt: int
    maker: str
    signer: str
    token_id: str
    maker_amount: int
    taker_amount: int
    side: Side
    signature_type: int = 0
    timestamp: int = 0
    expiration: int = 0
    metadata: str = ZERO32
    builder: str = ZERO32
    signature: str = "0x"

    @property
    def size(self) -> int:
        """Shares the order trades: takerAmount for a BUY, makerAmount for a SELL."""
        return self.taker_amount if self.side is Side.BUY else self.maker_amount


@dataclass(slots=True)
class OrderRecord:
    """An order the exchange accepted, in the owner's token terms (``price`` of its own token)."""

    id: str
    owner: str
    maker_address: str
    market: str
    asset_id: str
    outcome: str
    side: Side
    price: int
    original_size: int
    order_type: str
    created_ms: int
    expiration: int
    maker_amount: int
    taker_amount: int
    signature_type: int = 0
    post_only: bool = False
    size_matched: int = 0
    status: str = "LIVE"
    associate_trades: list[str] = field(default_factory=list)
    reserved: int = 0
    open_size: int = 0
    book_seq: int = 0

    @property
    def remaining(self) -> int:
        """Shares still resting in the book (0 once matched, cancelled or expired)."""
        return self.open_size if self.status == "LIVE" else 0

    def to_wire(self) -> dict[str, Any]:
        """The OpenOrder shape of ``/data/order/{id}`` and ``/data/orders``."""
        return {
            "id": self.id,
            "status": self.status,
            "owner": self.owner,
            "maker_address": self.maker_address,
            "market": self.market,
            "asset_id": self.asset_id,
            "side": side_name(self.side),
            "original_size": fmt_amount(self.original_size),
            "size_matched": fmt_amount(self.size_matched),
            "price": fmt_price(self.price),
            "associate_trades": list(self.associate_trades),
            "outcome": self.outcome,
            "created_at": self.created_ms // 1000,
            "expiration": str(self.expiration),
            "order_type": self.order_type,
        }

    def to_state(self) -> dict[str, Any]:
        """Every field as JSON-safe values (persistence)."""
        return {
            "id": self.id,
            "owner": self.owner,
            "maker_address": self.maker_address,
            "market": self.market,
            "asset_id": self.asset_id,
            "outcome": self.outcome,
            "side": int(self.side),
            "price": self.price,
            "original_size": self.original_size,
            "order_type": self.order_type,
            "created_ms": self.created_ms,
            "expiration": self.expiration,
            "maker_amount": self.maker_amount,
            "taker_amount": self.taker_amount,
            "signature_type": self.signature_type,
            "post_only": self.post_only,
            "size_matched": self.size_matched,
            "status": self.status,
            "associate_trades": list(self.associate_trades),
            "reserved": self.reserved,
            "open_size": self.open_size,
            "book_seq": self.book_seq,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> OrderRecord:
        """Rebuild from ``to_state()``."""
        values = dict(state)
        values["side"] = Side(values["side"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class MakerFill:
    """One maker order's part of a trade, in the maker's token terms."""

    order_id: str
    owner: str
    maker_address: str
    matched_amount: int
    price: int
    asset_id: str
    outcome: str
    side: Side
    fee: int
    fee_rate_bps: int

    def to_wire(self) -> dict[str, Any]:
        """The ``maker_orders[]`` entry of a trade."""
        return {
            "order_id": self.order_id,
            "owner": self.owner,
            "maker_address": self.maker_address,
            "matched_amount": fmt_amount(self.matched_amount),
            "price": fmt_price(self.price),
            "fee_rate_bps": str(self.fee_rate_bps),
            "asset_id": self.asset_id,
            "outcome": self.outcome,
            "side": side_name(self.side),
        }


@dataclass(slots=True)
class Trade:
    """One match of a taker order against one maker order, in the taker's terms.

    ``fee`` is what the taker paid; each ``MakerFill.fee`` what that maker paid. Statuses move
    MATCHED → MINED → CONFIRMED (or FAILED on operator command) as sim time passes.
    """

    id: str
    taker_order_id: str
    market: str
    asset_id: str
    outcome: str
    side: Side
    size: int
    price: int
    fee: int
    fee_rate_bps: int
    status: str
    match_ms: int
    last_update_ms: int
    owner: str
    maker_address: str
    transaction_hash: str
    maker_orders: list[MakerFill]
    bucket_index: int = 0

    def involves(self, key: str) -> bool:
        """Whether this API key is the taker or one of the makers."""
        return self.owner == key or any(m.owner == key for m in self.maker_orders)

    def involves_address(self, address: str) -> bool:
        """Whether this address is the taker's or a maker's funder."""
        low = address.lower()
        return self.maker_address.lower() == low or any(
            m.maker_address.lower() == low for m in self.maker_orders
        )

    def to_wire(self, viewer: str | None = None) -> dict[str, Any]:
        """The ``/data/trades`` item; ``trader_side`` is MAKER when ``viewer`` is a maker key."""
        trader_side = "TAKER" if viewer is None or viewer == self.owner else "MAKER"
        return {
            "id": self.id,
            "taker_order_id": self.taker_order_id,
            "market": self.market,
            "asset_id": self.asset_id,
            "side": side_name(self.side),
            "size": fmt_amount(self.size),
            "fee_rate_bps": str(self.fee_rate_bps),
            "price": fmt_price(self.price),
            "status": self.status,
            "match_time": str(self.match_ms // 1000),
            "last_update": str(self.last_update_ms // 1000),
            "outcome": self.outcome,
            "bucket_index": self.bucket_index,
            "owner": self.owner,
            "maker_address": self.maker_address,
            "maker_orders": [m.to_wire() for m in self.maker_orders],
            "transaction_hash": self.transaction_hash,
            "trader_side": trader_side,
        }

    def to_state(self) -> dict[str, Any]:
        """Every field as JSON-safe values (persistence)."""
        return {
            "id": self.id,
            "taker_order_id": self.taker_order_id,
            "market": self.market,
            "asset_id": self.asset_id,
            "outcome": self.outcome,
            "side": int(self.side),
            "size": self.size,
            "price": self.price,
            "fee": self.fee,
            "fee_rate_bps": self.fee_rate_bps,
            "status": self.status,
            "match_ms": self.match_ms,
            "last_update_ms": self.last_update_ms,
            "owner": self.owner,
            "maker_address": self.maker_address,
            "transaction_hash": self.transaction_hash,
            "bucket_index": self.bucket_index,
            "maker_orders": [
                [
                    m.order_id,
                    m.owner,
                    m.maker_address,
                    m.matched_amount,
                    m.price,
                    m.asset_id,
                    m.outcome,
                    int(m.side),
                    m.fee,
                    m.fee_rate_bps,
                ]
                for m in self.maker_orders
            ],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Trade:
        """Rebuild from ``to_state()``."""
        values = dict(state)
        values["side"] = Side(values["side"])
        values["maker_orders"] = [
            MakerFill(m[0], m[1], m[2], m[3], m[4], m[5], m[6], Side(m[7]), m[8], m[9])
            for m in values["maker_orders"]
        ]
        return cls(**values)


@dataclass(frozen=True, slots=True)
class PlaceResult:
    """Outcome of ``Exchange.place`` (only successes; rejections raise ``OrderRejected``).

    ``making``/``taking`` are what the order gave and got at placement, in base units (BUY: pUSD
    spent incl. fees / shares received; SELL: shares sold / pUSD received net of fees).
    """

    order_id: str
    status: str
    making: int
    taking: int
    trade_ids: tuple[str, ...]
    transaction_hashes: tuple[str, ...]
    success: bool = True
    error_msg: str = ""

    def to_wire(self) -> dict[str, Any]:
        """The ``POST /order`` response body."""
        matched = bool(self.trade_ids)
        return {
            "success": self.success,
            "errorMsg": self.error_msg,
            "orderID": self.order_id,
            "status": self.status,
            "makingAmount": fmt_amount(self.making) if matched else "",
            "takingAmount": fmt_amount(self.taking) if matched else "",
            "tradeIDs": list(self.trade_ids),
            "transactionsHashes": list(self.transaction_hashes),
        }


@dataclass(frozen=True, slots=True)
class CancelResult:
    """Ids cancelled and the reason each other id was not."""

    canceled: tuple[str, ...]
    not_canceled: dict[str, str]

    def to_wire(self) -> dict[str, Any]:
        """``{"canceled": [...], "not_canceled": {id: reason}}``."""
        return {"canceled": list(self.canceled), "not_canceled": dict(self.not_canceled)}


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """A token's book as production sends it: bids ascending, asks descending (best LAST)."""

    market: str
    asset_id: str
    timestamp_ms: int
    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]
    min_order_size: int
    tick_size: int
    neg_risk: bool
    last_trade_price: int | None

    def to_wire(self) -> dict[str, Any]:
        """The ``/book`` body, ``hash`` included (production's SHA-1 recipe, ``book_hash``)."""
        bids = [{"price": fmt_price(p), "size": fmt_amount(s)} for p, s in self.bids]
        asks = [{"price": fmt_price(p), "size": fmt_amount(s)} for p, s in self.asks]
        timestamp = str(self.timestamp_ms)
        min_size = fmt_amount(self.min_order_size)
        tick = fmt_price(self.tick_size)
        last = "" if self.last_trade_price is None else fmt_price(self.last_trade_price)
        digest = book_hash(
            self.market, self.asset_id, timestamp, bids, asks, min_size, tick, self.neg_risk, last
        )
        return {
            "market": self.market,
            "asset_id": self.asset_id,
            "timestamp": timestamp,
            "hash": digest,
            "bids": bids,
            "asks": asks,
            "min_order_size": min_size,
            "tick_size": tick,
            "neg_risk": self.neg_risk,
            "last_trade_price": last,
        }


@dataclass(frozen=True, slots=True)
class BalanceAllowance:
    """``/balance-allowance``: balance and allowance per spender, in base units."""

    balance: int
    allowances: dict[str, int]

    def to_wire(self) -> dict[str, Any]:
        """``{"balance": "<base units>", "allowances": {spender: "<base units>"}}``."""
        return {
            "balance": str(self.balance),
            "allowances": {k: str(v) for k, v in self.allowances.items()},
        }


@dataclass(frozen=True, slots=True)
class PricePoint:
    """One point of a price history: time in unix seconds, price in 1e-4 units."""

    t: int
    price: int

    def to_wire(self) -> dict[str, Any]:
        """``{"t": seconds, "p": number}`` as ``/prices-history`` sends it (charts only)."""
        return {"t": self.t, "p": float(Decimal(self.price) / PRICE_SCALE)}


@dataclass(frozen=True, slots=True)
class Position:
    """A holding of one token: shares, average entry price and realised P&L (base units)."""

    address: str
    asset_id: str
    market: str
    outcome: str
    size: int
    avg_price: int
    total_bought: int
    realized_pnl: int
