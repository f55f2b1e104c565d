"""What a strategy sees: ``Context`` and the value types it hands out.

A runner (the backtester, the engine, ``pmstrat scan``) owns one ``Context`` per strategy and
updates it in place before each call; strategies only read it. Everything a decision may depend
on is here, including the clock (``now_ms``): a strategy that reads time from the context and
nowhere else replays identically in a backtest.

All money is integer: prices in 1e-4 units, shares and pUSD in 1e-6 base units. Decimal
accessors (``*_decimal``) are for display and for people.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec

from pmstrat.signal import OrderType, Side
from pmstrat.units import AMOUNT_SCALE, PRICE_SCALE, amount_decimal, price_decimal

Level = tuple[int, int]
"""One book level: ``(price in 1e-4 units, size in base units)``."""


class MarketInfo(msgspec.Struct, frozen=True, gc=False):
    """The static facts of one binary market that a strategy needs to act on it.

    Attributes:
        condition_id: the market's condition id (``0x…``).
        tokens: the YES and NO token ids, in outcome order.
        slug: the Gamma slug, for people.
        question: the market's question, for people.
        outcomes: the outcome names, in token order.
        tick: the minimum price increment in 1e-4 units (0.01 -> 100).
        min_size: the minimum order size in base units (5 shares -> 5_000_000).
        end_ms: when the market is scheduled to end (UTC ms), if known.
        neg_risk: whether it belongs to a negative-risk event (uses the neg-risk exchange).
        rewards_max_spread: liquidity-rewards max spread ``v`` in 1e-4 units (4.5¢ -> 450);
            0 when the market pays no rewards.
        rewards_min_size: liquidity-rewards minimum order size in base units.
        rewards_daily_rate: the rewards pool per day in pUSD base units.
        fee_rate_bps: taker fee rate ``r`` in basis points (0.07 -> 700); 0 when fees are off.
        fee_exponent: the fee curve exponent ``e`` in ``shares * r * (p * (1 - p)) ** e``.
        fee_taker_only: makers pay no fee (the venue's current rule).
        active: the market accepts orders.
    """

    condition_id: str
    tokens: tuple[str, str]
    slug: str = ""
    question: str = ""
    outcomes: tuple[str, str] = ("Yes", "No")
    tick: int = 100
    min_size: int = 5 * AMOUNT_SCALE
    end_ms: int | None = None
    neg_risk: bool = False
    rewards_max_spread: int = 0
    rewards_min_size: int = 0
    rewards_daily_rate: int = 0
    fee_rate_bps: int = 0
    fee_exponent: int = 1
    fee_taker_only: bool = True
    active: bool = True

    @property
    def yes(self) -> str:
        """The YES (first outcome) token id."""
        return self.tokens[0]

    @property
    def no(self) -> str:
        """The NO (second outcome) token id."""
        return self.tokens[1]

    def complement(self, token: str) -> str:
        """Return the other outcome's token: buying YES at p is selling NO at 1 - p."""
        if token == self.tokens[0]:
            return self.tokens[1]
        if token == self.tokens[1]:
            return self.tokens[0]
        raise KeyError(f"token {token} is not part of market {self.slug or self.condition_id}")

    def outcome(self, token: str) -> str:
        """Return the outcome name of ``token`` (``"Yes"``/``"No"`` or the market's names)."""
        return self.outcomes[self.tokens.index(token)]

    def ms_to_end(self, now_ms: int) -> int | None:
        """Milliseconds until the scheduled end (negative once past), or None if unknown."""
        return None if self.end_ms is None else self.end_ms - now_ms

    @property
    def tick_decimal(self) -> Decimal:
        """The tick size as the venue writes it (``Decimal("0.01")``)."""
        return price_decimal(self.tick)

    @property
    def rewards_max_spread_cents(self) -> Decimal:
        """The rewards max spread ``v`` in cents, as Gamma publishes it (e.g. 4.5)."""
        return Decimal(self.rewards_max_spread) / 100

    @property
    def pays_rewards(self) -> bool:
        """Whether resting liquidity on this market earns liquidity rewards."""
        return self.rewards_max_spread > 0 and self.rewards_daily_rate > 0


class OrderBookSnapshot(msgspec.Struct, frozen=True, gc=False):
    """An L2 book of one token at one instant, best level first on both sides.

    Attributes:
        token: the token id.
        ts_ms: when the book looked like this (UTC ms).
        bids: ``(price, size)`` levels, highest price first.
        asks: ``(price, size)`` levels, lowest price first.
        tick: the market's tick at that instant, in 1e-4 units.
    """

    token: str
    ts_ms: int
    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()
    tick: int = 100

    @property
    def best_bid(self) -> int | None:
        """Highest bid price in 1e-4 units, or None on an empty side."""
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> int | None:
        """Lowest ask price in 1e-4 units, or None on an empty side."""
        return self.asks[0][0] if self.asks else None

    @property
    def best_bid_size(self) -> int:
        """Size at the best bid in base units (0 on an empty side)."""
        return self.bids[0][1] if self.bids else 0

    @property
    def best_ask_size(self) -> int:
        """Size at the best ask in base units (0 on an empty side)."""
        return self.asks[0][1] if self.asks else 0

    @property
    def spread(self) -> int | None:
        """Best ask minus best bid in 1e-4 units, or None if a side is empty."""
        if not self.bids or not self.asks:
            return None
        return self.asks[0][0] - self.bids[0][0]

    @property
    def mid_x2(self) -> int | None:
        """Best bid plus best ask (twice the midpoint), exact in 1e-4 units."""
        if not self.bids or not self.asks:
            return None
        return self.asks[0][0] + self.bids[0][0]

    @property
    def mid(self) -> Decimal | None:
        """The midpoint as an exact decimal price, or None if a side is empty."""
        x2 = self.mid_x2
        return None if x2 is None else Decimal(x2) / (2 * PRICE_SCALE)

    def depth(self, side: Side, *, levels: int | None = None, through: int | None = None) -> int:
        """Total size in base units on ``side``, over the first ``levels`` or up to ``through``.

        Args:
            side: ``Side.BUY`` for bids, ``Side.SELL`` for asks.
            levels: count only this many best levels.
            through: count only levels at this price or better for a taker (asks <= through,
                bids >= through).
        """
        book = self.bids if side == Side.BUY else self.asks
        if levels is not None:
            book = book[:levels]
        if through is None:
            return sum(size for _, size in book)
        if side == Side.BUY:
            return sum(size for price, size in book if price >= through)
        return sum(size for price, size in book if price <= through)

    def size_at(self, side: Side, price: int) -> int:
        """Size resting at exactly ``price`` on ``side`` (0 when there is no such level)."""
        for level_price, size in self.bids if side == Side.BUY else self.asks:
            if level_price == price:
                return size
        return 0


class Position(msgspec.Struct, frozen=True, gc=False):
    """Shares of one token held, what they cost, and what has been realised.

    Attributes:
        token: the token id.
        size: shares held, base units (never negative: the venue has no shorting; selling
            YES short is buying NO).
        cost: pUSD base units paid for the shares still held, fees included.
        realized: realised P&L in pUSD base units (sales and resolution payouts minus cost).
    """

    token: str
    size: int = 0
    cost: int = 0
    realized: int = 0

    @property
    def avg_price(self) -> Decimal | None:
        """Average cost per share, exact, or None when flat."""
        if not self.size:
            return None
        return Decimal(self.cost) / Decimal(self.size)

    @property
    def size_decimal(self) -> Decimal:
        """Shares held as an exact decimal."""
        return amount_decimal(self.size)


class OpenOrder(msgspec.Struct, frozen=True, gc=False):
    """One of the strategy's orders still resting on the book.

    Attributes:
        order_id: the venue's (or the backtester's) order id.
        token: the token id.
        side: BUY or SELL.
        price: limit price in 1e-4 units.
        size: original size in base units.
        filled: base units filled so far.
        order_type: GTC or GTD (immediate orders never rest).
        created_ms: when the venue accepted it (UTC ms).
        expires_ms: GTD expiry (UTC ms), 0 for none.
        post_only: whether it was sent post-only.
        tag: the tag of the signal that created it.
    """

    order_id: str
    token: str
    side: Side
    price: int
    size: int
    filled: int = 0
    order_type: OrderType = OrderType.GTC
    created_ms: int = 0
    expires_ms: int = 0
    post_only: bool = False
    tag: str = ""

    @property
    def remaining(self) -> int:
        """Base units still open."""
        return self.size - self.filled


class Fill(msgspec.Struct, frozen=True, gc=False):
    """One execution of one of the strategy's orders, as ``on_fill`` receives it.

    Attributes:
        order_id: which order filled.
        token: the token id.
        side: the order's side.
        price: execution price in 1e-4 units (the resting order's price).
        size: base units of shares exchanged.
        fee: pUSD base units of fee charged to the strategy (0 for makers today).
        ts_ms: when it happened (UTC ms).
        maker: True when the strategy's order was resting (it provided liquidity).
        tag: the tag of the signal that created the order.
    """

    order_id: str
    token: str
    side: Side
    price: int
    size: int
    fee: int
    ts_ms: int
    maker: bool
    tag: str = ""

    @property
    def notional(self) -> int:
        """pUSD base units exchanged for the shares, before fees (rounded down)."""
        return self.price * self.size // PRICE_SCALE


_EMPTY_BOOKS: Mapping[str, OrderBookSnapshot] = {}


class Context:
    """The strategy's view of the world at one instant; runners update it in place.

    Strategies treat every attribute as read-only. Runners reuse one instance across calls
    (creating a context per event would dominate a backtest), so a strategy must not keep a
    reference to the mutable mappings between calls; copy what it needs.

    Attributes:
        now_ms: the current time, UTC ms: the only clock a strategy may read.
        markets: the strategy's markets.
        books: the latest book snapshot per token id (may build snapshots lazily).
        positions: the position per token id (tokens never traded may be absent).
        orders: the strategy's open orders by order id.
        cash: pUSD base units available.
        params: the strategy's validated parameters by name.
        changed: the tokens whose watched state changed since the previous call.
    """

    __slots__ = (
        "_market_by_token",
        "books",
        "cash",
        "changed",
        "markets",
        "now_ms",
        "orders",
        "params",
        "positions",
    )

    def __init__(
        self,
        *,
        now_ms: int,
        markets: Sequence[MarketInfo] = (),
        books: Mapping[str, OrderBookSnapshot] = _EMPTY_BOOKS,
        positions: Mapping[str, Position] | None = None,
        orders: Mapping[str, OpenOrder] | None = None,
        cash: int = 0,
        params: Mapping[str, Any] | None = None,
        changed: Sequence[str] = (),
    ) -> None:
        self.now_ms = now_ms
        self.markets: tuple[MarketInfo, ...] = tuple(markets)
        self.books = books
        self.positions: Mapping[str, Position] = positions if positions is not None else {}
        self.orders: Mapping[str, OpenOrder] = orders if orders is not None else {}
        self.cash = cash
        self.params: Mapping[str, Any] = params if params is not None else {}
        self.changed: Sequence[str] = changed
        self._market_by_token: dict[str, MarketInfo] = {}
        self.set_markets(self.markets)

    def set_markets(self, markets: Sequence[MarketInfo]) -> None:
        """Replace the strategy's markets (runners call this when the universe changes)."""
        self.markets = tuple(markets)
        index: dict[str, MarketInfo] = {}
        for market in self.markets:
            index[market.condition_id] = market
            index[market.tokens[0]] = market
            index[market.tokens[1]] = market
        self._market_by_token = index

    @property
    def now(self) -> datetime:
        """The current time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now_ms / 1000, tz=UTC)

    def market(self, key: str) -> MarketInfo:
        """Return the market of a token id or condition id.

        Raises:
            KeyError: the key is not one of the strategy's markets.
        """
        return self._market_by_token[key]

    def book(self, token: str) -> OrderBookSnapshot | None:
        """Return the latest book of ``token``, or None if none has been seen yet."""
        return self.books.get(token)

    def position(self, token: str) -> Position:
        """Return the position in ``token`` (a flat position if it was never traded)."""
        pos = self.positions.get(token)
        return pos if pos is not None else Position(token)

    def open_orders(self, token: str | None = None, *, tag: str | None = None) -> list[OpenOrder]:
        """Return open orders, optionally only those on ``token`` and/or with ``tag``."""
        return [
            order
            for order in self.orders.values()
            if (token is None or order.token == token) and (tag is None or order.tag == tag)
        ]

    def tokens(self) -> Iterator[str]:
        """Yield every token id of the strategy's markets (YES then NO, market by market)."""
        for market in self.markets:
            yield market.tokens[0]
            yield market.tokens[1]

    def __repr__(self) -> str:
        return (
            f"Context(now_ms={self.now_ms}, markets={len(self.markets)}, "
            f"orders={len(self.orders)}, cash={self.cash})"
        )
