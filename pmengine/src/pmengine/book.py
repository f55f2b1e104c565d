"""An integer L2 book specialised for the engine's hot path (compiled with mypyc).

Prices are 1e-4 units and sizes base units. The best bid and ask are kept up to date on every
change so that the strategy context, the risk collar and the marking of positions never scan.

This is the compiled core's state, not a second market-data client: the websocket, its
reconnects and the venue's snapshots live in pmtrader's ``MarketStream`` (with its own
``pmtrader.book.Book`` per token), and :mod:`pmengine.feed` feeds this book from that stream's
events (and from REST ``/book`` while the stream is stale), level by level in the same units.
"""

from __future__ import annotations

from typing import Final, final

from pmengine.units import BUY

NO_PRICE: Final = -1

# What :meth:`Book.update_level` changed.
LEVEL_SAME: Final = 0
LEVEL_DEEP: Final = 1
LEVEL_TOP: Final = 2


@final
class Book:
    """The L2 book of one token: price → size per side, best prices, freshness and tick."""

    token_id: str
    bids: dict[int, int]
    asks: dict[int, int]
    best_bid: int
    best_ask: int
    updated_ms: int
    tick: int
    min_size: int
    last_trade_price: int
    version: int

    def __init__(self, token_id: str, *, tick: int = 0, min_size: int = 0) -> None:
        self.token_id = token_id
        self.bids = {}
        self.asks = {}
        self.best_bid = NO_PRICE
        self.best_ask = NO_PRICE
        self.updated_ms = 0
        self.tick = tick
        self.min_size = min_size
        self.last_trade_price = NO_PRICE
        self.version = 0

    def replace(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]], ts_ms: int) -> None:
        """Replace both sides with a snapshot (levels of size 0 are dropped)."""
        self.bids = {p: s for p, s in bids if s > 0}
        self.asks = {p: s for p, s in asks if s > 0}
        self.best_bid = max(self.bids) if self.bids else NO_PRICE
        self.best_ask = min(self.asks) if self.asks else NO_PRICE
        self.updated_ms = ts_ms
        self.version += 1

    def set_level(self, side: int, price: int, size: int, ts_ms: int) -> None:
        """Set one level (size 0 removes it), keeping the best prices current."""
        if self.update_level(side, price, size, ts_ms) == LEVEL_SAME:
            self.version += 1

    def update_level(self, side: int, price: int, size: int, ts_ms: int) -> int:
        """Set one level (size 0 removes it) and say what changed.

        Returns:
            ``LEVEL_SAME`` (the level already had this size; only the time is refreshed),
            ``LEVEL_TOP`` (the level is or was the best, or the best moved) or ``LEVEL_DEEP``.
        """
        if side == BUY:
            levels = self.bids
            had = levels.get(price, 0)
            if had == size:
                self.updated_ms = ts_ms
                return LEVEL_SAME
            old_best = self.best_bid
            if size > 0:
                levels[price] = size
                self.best_bid = max(old_best, price)
            elif had > 0:
                del levels[price]
                if price == old_best:
                    self.best_bid = max(levels) if levels else NO_PRICE
            new_best = self.best_bid
        else:
            levels = self.asks
            had = levels.get(price, 0)
            if had == size:
                self.updated_ms = ts_ms
                return LEVEL_SAME
            old_best = self.best_ask
            if size > 0:
                levels[price] = size
                if old_best == NO_PRICE or price < old_best:
                    self.best_ask = price
            elif had > 0:
                del levels[price]
                if price == old_best:
                    self.best_ask = min(levels) if levels else NO_PRICE
            new_best = self.best_ask
        self.updated_ms = ts_ms
        self.version += 1
        if price in (old_best, new_best) or old_best != new_best:
            return LEVEL_TOP
        return LEVEL_DEEP

    def touch(self, ts_ms: int) -> None:
        """Record that the feed confirmed the book is current (e.g. a heartbeat or trade)."""
        self.updated_ms = ts_ms

    def mid_x2(self) -> int:
        """Twice the mid price (exact in integers), or ``NO_PRICE`` if a side is empty."""
        if self.best_bid < 0 or self.best_ask < 0:
            return NO_PRICE
        return self.best_bid + self.best_ask

    def is_two_sided(self) -> bool:
        """Whether both sides have at least one level."""
        return self.best_bid >= 0 and self.best_ask >= 0

    def depth(self, side: int, n: int) -> list[tuple[int, int]]:
        """The best ``n`` levels of a side, best first."""
        if side == BUY:
            return sorted(self.bids.items(), reverse=True)[:n]
        return sorted(self.asks.items())[:n]

    def clear(self) -> None:
        """Drop every level (the feed went stale; the next snapshot rebuilds the book)."""
        self.bids = {}
        self.asks = {}
        self.best_bid = NO_PRICE
        self.best_ask = NO_PRICE
        self.updated_ms = 0
        self.version += 1
