"""Models of the CLOB REST responses (``https://clob.polymarket.com``), production field names.

Prices and sizes are exact :class:`~decimal.Decimal`; base-unit amounts (balances, allowances)
are ``int``. Where the venue uses terse or camelCase names the attribute is snake_case and the
production name is its alias (``ClobMarketInfo.min_tick_size`` is ``mts`` on the wire);
:meth:`~pmtrader.models._base.Model.to_wire` gives the production shape back.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import Field

from pmtrader.book import book_hash
from pmtrader.errors import BookIntegrityError, ValidationError
from pmtrader.models._base import IntStr, Model, OptDecimal, OptIntStr

__all__ = [
    "TICK_SIZES",
    "ApiKeys",
    "AssetType",
    "BalanceAllowance",
    "BanStatus",
    "CancelResponse",
    "ClobMarketInfo",
    "ClobRewards",
    "ClobToken",
    "FeeDetails",
    "Heartbeat",
    "LastTradePrice",
    "MakerOrder",
    "Market",
    "MarketToken",
    "MarketsPage",
    "OpenOrder",
    "OrderBook",
    "OrderResponse",
    "OrderType",
    "PriceHistory",
    "PriceLevel",
    "PricePoint",
    "Side",
    "Trade",
    "parse_choice",
]

E = TypeVar("E", bound=enum.StrEnum)

#: The tick sizes the venue uses, as the exact strings the official builder keys on.
TICK_SIZES: tuple[str, ...] = ("0.1", "0.01", "0.005", "0.0025", "0.001", "0.0001")


class Side(enum.StrEnum):
    """Order side as the JSON carries it (signed as 0 = BUY, 1 = SELL)."""

    BUY = "BUY"
    SELL = "SELL"


class OrderType(enum.StrEnum):
    """Time in force: rest until cancelled or a date, or fill now (all or what is there)."""

    GTC = "GTC"
    GTD = "GTD"
    FOK = "FOK"
    FAK = "FAK"


def parse_choice(kind: type[E], value: object, what: str) -> E:
    """``value`` as a member of the string enum ``kind``, case-insensitively.

    Raises:
        ValidationError: ``value`` is none of the members; the message lists them.
    """
    if isinstance(value, kind):
        return value
    try:
        return kind(str(value).upper())
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise ValidationError(f"{what} must be one of {choices}; got {value!r}") from None


class AssetType(enum.StrEnum):
    """What a balance or allowance is of: pUSD, a CTF outcome token, or a V2 position."""

    COLLATERAL = "COLLATERAL"
    CONDITIONAL = "CONDITIONAL"
    CONDITIONAL_V2 = "CONDITIONAL-V2"


class PriceLevel(Model):
    """One price level of a book: the total size resting at a price."""

    price: Decimal
    size: Decimal


class OrderBook(Model):
    """``GET /book``: one token's book as the venue sends it.

    ``bids`` are ascending and ``asks`` descending, so the best level of each is **last**
    (the wire order, kept because the hash covers it). Use :attr:`best_bid`, :attr:`best_ask`,
    :meth:`bids_best_first` rather than indexing.
    """

    market: str
    asset_id: str
    timestamp: str
    hash: str = ""
    bids: list[PriceLevel] = Field(default_factory=list)
    asks: list[PriceLevel] = Field(default_factory=list)
    min_order_size: Decimal = Decimal(0)
    tick_size: Decimal = Decimal("0.01")
    neg_risk: bool = False
    last_trade_price: OptDecimal = None

    @property
    def best_bid(self) -> Decimal | None:
        """The highest bid price, or ``None`` when there are no bids."""
        return max((level.price for level in self.bids), default=None)

    @property
    def best_ask(self) -> Decimal | None:
        """The lowest ask price, or ``None`` when there are no asks."""
        return min((level.price for level in self.asks), default=None)

    @property
    def mid(self) -> Decimal | None:
        """The midpoint of best bid and best ask, or ``None`` if a side is empty."""
        bid, ask = self.best_bid, self.best_ask
        if bid is None or ask is None:
            return None
        return (bid + ask) / 2

    @property
    def spread(self) -> Decimal | None:
        """Best ask minus best bid, or ``None`` if a side is empty."""
        bid, ask = self.best_bid, self.best_ask
        if bid is None or ask is None:
            return None
        return ask - bid

    @property
    def timestamp_ms(self) -> int:
        """The book's timestamp in milliseconds since the epoch."""
        return int(self.timestamp)

    def bids_best_first(self) -> list[PriceLevel]:
        """Bids from the highest price down."""
        return sorted(self.bids, key=lambda level: level.price, reverse=True)

    def asks_best_first(self) -> list[PriceLevel]:
        """Asks from the lowest price up."""
        return sorted(self.asks, key=lambda level: level.price)

    def depth(self, side: Side | str, *, within: Decimal | None = None) -> Decimal:
        """Total shares on one side, optionally only within ``within`` of the best price.

        Args:
            side: ``BUY`` for the bids (what a seller hits), ``SELL`` for the asks.
            within: A price distance from the best level (e.g. ``Decimal("0.02")``).

        Returns:
            The summed size in shares.
        """
        levels = self.bids_best_first() if Side(side) is Side.BUY else self.asks_best_first()
        if not levels:
            return Decimal(0)
        best = levels[0].price
        return sum(
            (lv.size for lv in levels if within is None or abs(lv.price - best) <= within),
            Decimal(0),
        )

    def computed_hash(self) -> str:
        """The venue's SHA-1 of this book's contents (see :func:`pmtrader.book.book_hash`)."""
        return book_hash(
            self.market,
            self.asset_id,
            self.timestamp,
            [(str(lv.price), str(lv.size)) for lv in self.bids],
            [(str(lv.price), str(lv.size)) for lv in self.asks],
            str(self.min_order_size),
            str(self.tick_size),
            self.neg_risk,
            "" if self.last_trade_price is None else str(self.last_trade_price),
        )

    def hash_matches(self) -> bool:
        """Whether :attr:`hash` is the venue's hash of the book's contents."""
        return self.computed_hash() == self.hash

    def verify(self) -> OrderBook:
        """Return the book if its hash checks out.

        Raises:
            BookIntegrityError: The hash does not match: the book was altered or mis-parsed.
        """
        if not self.hash_matches():
            raise BookIntegrityError(
                f"book for token {self.asset_id} at {self.timestamp}: hash {self.hash!r} does "
                f"not match its contents ({self.computed_hash()!r}); fetch a fresh book"
            )
        return self


class MarketToken(Model):
    """One outcome token of a CLOB market."""

    token_id: str
    outcome: str = ""
    price: Decimal | None = None
    winner: bool = False


class ClobRewards(Model):
    """A market's liquidity-rewards terms (``max_spread`` is in cents)."""

    rates: list[dict[str, Any]] | None = None
    min_size: Decimal | None = None
    max_spread: Decimal | None = None


class Market(Model):
    """A CLOB market (``GET /markets`` item, ``GET /markets/{condition_id}``)."""

    condition_id: str
    question_id: str = ""
    question: str = ""
    description: str = ""
    market_slug: str = ""
    end_date_iso: str | None = None
    game_start_time: str | None = None
    active: bool = True
    closed: bool = False
    archived: bool = False
    accepting_orders: bool = True
    accepting_order_timestamp: str | None = None
    enable_order_book: bool = True
    minimum_order_size: Decimal = Decimal(0)
    minimum_tick_size: Decimal = Decimal("0.01")
    neg_risk: bool = False
    neg_risk_market_id: str = ""
    neg_risk_request_id: str = ""
    seconds_delay: int = 0
    maker_base_fee: Decimal = Decimal(0)
    taker_base_fee: Decimal = Decimal(0)
    icon: str = ""
    image: str = ""
    rewards: ClobRewards | None = None
    tokens: list[MarketToken] = Field(default_factory=list)
    tags: list[str] | None = None


class MarketsPage(Model):
    """One page of ``GET /markets``: the next cursor is ``LTE=`` on the last page."""

    limit: int = 0
    count: int = 0
    next_cursor: str = "LTE="
    data: list[Market] = Field(default_factory=list)


class ClobToken(Model):
    """A token entry of ``/clob-markets``: id ``t`` and outcome ``o``."""

    token_id: str = Field(alias="t")
    outcome: str = Field(default="", alias="o")


class FeeDetails(Model):
    """A market's platform fee: ``fee = shares * rate * (p * (1 - p)) ** exponent`` in pUSD."""

    rate: Decimal = Field(default=Decimal(0), alias="r")
    exponent: int = Field(default=1, alias="e")
    taker_only: bool = Field(default=True, alias="to")

    def fee(self, shares: Decimal, price: Decimal) -> Decimal:
        """The fee in pUSD for ``shares`` traded at ``price`` (unrounded)."""
        return shares * self.rate * (price * (1 - price)) ** self.exponent


class ClobMarketInfo(Model):
    """``GET /clob-markets/{condition_id}``: the compact facts an order needs."""

    condition_id: str = Field(default="", alias="c")
    tokens: list[ClobToken | None] = Field(default_factory=list, alias="t")
    min_tick_size: Decimal = Field(alias="mts")
    neg_risk: bool = Field(default=False, alias="nr")
    fee: FeeDetails | None = Field(default=None, alias="fd")
    min_order_size: Decimal | None = Field(default=None, alias="mos")

    @property
    def token_ids(self) -> list[str]:
        """The market's token ids, in outcome order."""
        return [token.token_id for token in self.tokens if token is not None]


class PricePoint(Model):
    """One point of a price history: ``t`` unix seconds, ``p`` price."""

    t: int
    p: Decimal


class PriceHistory(Model):
    """``GET /prices-history``."""

    history: list[PricePoint] = Field(default_factory=list)


class LastTradePrice(Model):
    """``GET /last-trade-price`` (``side`` is ``""`` when nothing has traded)."""

    token_id: str = ""
    price: OptDecimal = None
    side: str = ""


class OrderResponse(Model):
    """``POST /order`` answer (and each item of ``POST /orders``).

    ``status`` is lower-case here: ``live``, ``matched``, ``delayed``, ``unmatched``.
    """

    success: bool = True
    error_msg: str = Field(default="", alias="errorMsg")
    order_id: str | None = Field(default=None, alias="orderID")
    status: str = ""
    making_amount: OptDecimal = Field(default=None, alias="makingAmount")
    taking_amount: OptDecimal = Field(default=None, alias="takingAmount")
    trade_ids: list[str] = Field(default_factory=list, alias="tradeIDs")
    transactions_hashes: list[str] = Field(default_factory=list, alias="transactionsHashes")


class OpenOrder(Model):
    """An order as ``/data/order/{id}`` and ``/data/orders`` return it (upper-case status)."""

    id: str
    status: str = ""
    owner: str = ""
    maker_address: str = ""
    market: str = ""
    asset_id: str = ""
    side: Side
    original_size: Decimal
    size_matched: Decimal = Decimal(0)
    price: Decimal
    associate_trades: list[str] | None = None
    outcome: str = ""
    created_at: IntStr = 0
    expiration: IntStr = 0
    order_type: str = ""

    @property
    def remaining(self) -> Decimal:
        """Shares still open."""
        return self.original_size - self.size_matched


class MakerOrder(Model):
    """A maker side of a trade."""

    order_id: str
    owner: str = ""
    maker_address: str = ""
    matched_amount: Decimal
    price: Decimal
    fee_rate_bps: OptDecimal = None
    asset_id: str = ""
    outcome: str = ""
    side: str = ""


class Trade(Model):
    """A trade as ``/data/trades`` returns it (``MATCHED → MINED → CONFIRMED`` or ``FAILED``)."""

    id: str
    taker_order_id: str = ""
    market: str = ""
    asset_id: str = ""
    side: Side
    size: Decimal
    fee_rate_bps: OptDecimal = None
    price: Decimal
    status: str = ""
    match_time: str = ""
    last_update: str = ""
    outcome: str = ""
    bucket_index: int = 0
    owner: str = ""
    maker_address: str = ""
    maker_orders: list[MakerOrder] = Field(default_factory=list)
    transaction_hash: str | None = None
    trader_side: str = ""


class CancelResponse(Model):
    """Answer of every cancel endpoint: what was cancelled and why the rest was not."""

    canceled: list[str] = Field(default_factory=list)
    not_canceled: dict[str, str] = Field(default_factory=dict)


class BalanceAllowance(Model):
    """``GET /balance-allowance``: balance and allowances in 6-decimal base units."""

    balance: IntStr
    allowances: dict[str, IntStr] = Field(default_factory=dict)
    allowance: OptIntStr = None

    @property
    def balance_decimal(self) -> Decimal:
        """The balance in whole units (pUSD or shares)."""
        return Decimal(self.balance) / 1_000_000

    def allowance_for(self, spender: str) -> int:
        """The allowance granted to ``spender`` (case-insensitive), in base units."""
        for address, amount in self.allowances.items():
            if address.lower() == spender.lower():
                return amount
        return self.allowance if self.allowance is not None and not self.allowances else 0


class ApiKeys(Model):
    """``GET /auth/api-keys``."""

    api_keys: list[Any] = Field(default_factory=list, alias="apiKeys")


class BanStatus(Model):
    """``GET /auth/ban-status/closed-only``: ``True`` means only closing trades are allowed."""

    closed_only: bool = False


class Heartbeat(Model):
    """``POST /v1/heartbeats``: send ``heartbeat_id`` back on the next beat."""

    heartbeat_id: str = ""
