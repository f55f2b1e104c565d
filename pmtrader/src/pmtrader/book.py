"""The L2 order book of one token, and the venue's book hash.

Two things live here:

* :func:`book_hash`, the SHA-1 that Polymarket puts in a book's ``hash`` field, computed exactly
  like the official client's ``generate_orderbook_summary_hash`` so that the local exchange and
  the SDK agree byte for byte with ``py-clob-client-v2``.
* :class:`Book`, an L2 book with integer internals, built to be fast when interpreted.

Units (the toolkit's): prices are integers in 1e-4 (``PRICE_SCALE = 10_000``; a
0.01 tick is 100), sizes are integers in 1e-6 shares (``AMOUNT_SCALE = 1_000_000``). Decimal
views exist for people; nothing here ever holds a float.

Why an array and not a sorted map: every price lies on a grid of 10,001 points (0 to 1 in 1e-4
steps), so each side keeps a list of sizes indexed by price, a ``bytearray`` saying which prices
are occupied (authoritative: a size entry means something only where its price is occupied, so
a snapshot rewrites its own levels, not the grid), and the best level. Setting a level is two
stores and one compare; only when the best level empties does the side look for the next one,
and it does so with ``bytearray.find``/``rfind``, which scan in C. Reading the top of book is an
attribute load.
``benchmarks/bench_book.py`` measures this against a ``SortedDict`` book.

Invariants of :class:`Book`:

* Every level has ``0 < price < PRICE_SCALE`` (the venue accepts orders strictly inside (0, 1))
  and ``size > 0``; a size of 0 removes the level. Anything else raises
  :class:`~pmtrader.errors.BookIntegrityError` and leaves the book unchanged.
* After :meth:`Book.apply_snapshot` the book is never crossed: a snapshot whose best bid is at or
  above its best ask is refused whole (no half-applied state).
* Deltas are applied as the venue sends them, even if they leave the book crossed for a moment:
  the venue reports one token's levels one change at a time and a later change in the same
  event usually uncrosses it, so refusing a delta would desynchronise the book for good. A
  crossed book is never repaired by guessing which side is wrong; :attr:`Book.crossed` says so,
  and :class:`~pmtrader.ws_market.MarketStream` checks it (and the venue's ``best_bid`` and
  ``best_ask``) after each event and resynchronises the token from a fresh snapshot when the
  book is inconsistent.
  Note that a YES bid plus a NO bid above 1 is not a cross: each token has its own book.
* ``stale`` is set by the stream when the feed can no longer be trusted (silence, disconnect,
  inconsistency) and cleared only by a fresh snapshot. Readers that trade must check it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal

import msgspec

from pmtrader._book_wire import (
    DIFF_BACKOFF,
    Change,
    SideChanges,
    SideIndex,
    parse_levels,
    parse_side,
    resized,
    side_changes,
)
from pmtrader._wire_units import (
    AMOUNT_SCALE,
    PRICE_SCALE,
    format_price,
    format_size,
    parse_price,
    parse_prices,
    parse_size,
    parse_sizes,
)
from pmtrader.errors import BookIntegrityError

__all__ = [
    "AMOUNT_SCALE",
    "PRICE_SCALE",
    "Book",
    "BookSide",
    "Walk",
    "book_hash",
    "format_price",
    "format_size",
    "parse_price",
    "parse_prices",
    "parse_size",
    "parse_sizes",
]


#: The side of the book, in the venue's words: ``"BUY"`` is the bids, ``"SELL"`` the asks.
BookSide = Literal["BUY", "SELL"]

_PRICE_DECIMALS: Final = 4
_SIZE_DECIMALS: Final = 6
_GRID: Final = PRICE_SCALE + 1
# Empty-side sentinels: the same values the venue sends as best_bid/best_ask of an empty side.
_NO_BID: Final = 0
_NO_ASK: Final = PRICE_SCALE
_ZEROS: Final = [0] * _GRID
_EMPTY: Final = bytes(_GRID)


def _occupancy(name: str, prices: list[int], sizes: list[int]) -> bytearray:
    """The occupancy array of one snapshot side, or a :class:`BookIntegrityError` saying why not.

    The common case costs C builtins (``min``, ``max``, ``set``) and one store per level.
    """
    occ = bytearray(_EMPTY)
    if not prices and not sizes:
        return occ
    if (
        len(prices) == len(sizes)
        and min(prices) > 0
        and max(prices) < PRICE_SCALE
        and min(sizes) > 0
        and len(set(prices)) == len(prices)
    ):
        for price in prices:
            occ[price] = 1
        return occ
    if len(prices) != len(sizes):
        raise BookIntegrityError(
            f"snapshot {name}s have {len(prices)} prices but {len(sizes)} sizes"
        )
    seen: set[int] = set()
    for price, size in zip(prices, sizes, strict=True):
        if not 0 < price < PRICE_SCALE:
            raise BookIntegrityError(
                f"snapshot {name} price {price} is outside (0, {PRICE_SCALE}) 1e-4 units"
            )
        if size <= 0:
            raise BookIntegrityError(
                f"snapshot {name} at price {format_price(price)} has size {size}; "
                "snapshot levels must be positive"
            )
        if price in seen:
            raise BookIntegrityError(
                f"snapshot repeats the {name} level at price {format_price(price)}"
            )
        seen.add(price)
    raise AssertionError("unreachable: the fast checks failed but no level is invalid")


def _checked(changes: SideChanges, occ: bytearray) -> bool:
    """Whether a side's new levels are valid once its gone levels are removed (no mutation)."""
    added, gone = changes
    if len(added) == 1 and len(gone) == 1 and added[0][1] == gone[0][1]:
        return added[0][2] > 0  # one level resized: the usual change
    freed = {price for _, price, _ in gone}
    seen: set[int] = set()
    for _, price, size in added:
        if not 0 < price < PRICE_SCALE or size <= 0 or price in seen:
            return False
        if occ[price] and price not in freed:
            return False  # the price is already a level the snapshot keeps: a repeat
        seen.add(price)
    return True


def _swap(
    index: SideIndex, gone: list[Change], added: list[Change], occ: bytearray, sizes: list[int]
) -> None:
    """Take ``gone`` levels out of a side and put ``added`` in (swapped, it undoes itself)."""
    for text, price, _ in gone:
        del index[text]
        occ[price] = 0
    for text, price, size in added:
        index[text] = (price, size)
        occ[price] = 1
        sizes[price] = size


def _price_decimal(units: int) -> Decimal:
    return Decimal(format_price(units))


def _size_decimal(base_units: int) -> Decimal:
    return Decimal(format_size(base_units))


#: One book level as it appears on the wire: a mapping with ``price`` and ``size`` strings, or a
#: ``(price, size)`` pair of strings.
WireLevel = Mapping[str, str] | tuple[str, str]


def _wire_levels(levels: Iterable[WireLevel]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for level in levels:
        if isinstance(level, tuple):
            price, size = level
        else:
            price, size = level["price"], level["size"]
        out.append({"price": price, "size": size})
    return out


def book_hash(  # noqa: PLR0917 - positional order is the venue's key order, as specified
    market: str,
    asset_id: str,
    timestamp: str,
    bids: Iterable[WireLevel],
    asks: Iterable[WireLevel],
    min_order_size: str,
    tick_size: str,
    neg_risk: bool,
    last_trade_price: str,
) -> str:
    """Return the venue's hash of a book summary (40 lower-case hex digits, no ``0x``).

    The recipe is the official client's: SHA-1 over compact JSON (``","``/``":"`` separators, no
    ASCII escaping) of the summary with its keys in the venue's order and ``hash`` set to ``""``.
    Strings are hashed exactly as given, so pass the wire strings (``"0.48"``, not ``"0.4800"``),
    with levels in wire order (bids ascending, asks descending).

    Args:
        market: The condition id.
        asset_id: The token id.
        timestamp: Milliseconds since the epoch, as the wire string.
        bids: Bid levels, ascending by price (best last).
        asks: Ask levels, descending by price (best last).
        min_order_size: The market's minimum order size string.
        tick_size: The tick size string (``"0.01"`` ...).
        neg_risk: Whether the market is a neg-risk market.
        last_trade_price: The last trade price string (``""`` when none).

    Returns:
        The SHA-1 hex digest.
    """
    payload = {
        "market": market,
        "asset_id": asset_id,
        "timestamp": timestamp,
        "hash": "",
        "bids": _wire_levels(bids),
        "asks": _wire_levels(asks),
        "min_order_size": min_order_size,
        "tick_size": tick_size,
        "neg_risk": neg_risk,
        "last_trade_price": last_trade_price,
    }
    serialized = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha1(serialized.encode("utf-8")).hexdigest()  # noqa: S324 - venue's recipe, not security


@dataclass(frozen=True, slots=True)
class Walk:
    """What taking liquidity from one side of a book would give, level by level.

    Attributes:
        worst_price: The last (worst) price touched, 1e-4 units; 0 when nothing was taken.
        shares: Shares taken, 1e-6 base units.
        notional: Exact cost of those shares in 1e-10 pUSD (share base units times price units);
            :attr:`cost` is the same figure as a Decimal.
        levels: How many price levels were touched.
        complete: Whether the book held enough to take the whole amount.
    """

    worst_price: int
    shares: int
    notional: int
    levels: int
    complete: bool

    @property
    def cost(self) -> Decimal:
        """The exact pUSD cost (or proceeds) of the shares taken."""
        return Decimal(self.notional).scaleb(-(_PRICE_DECIMALS + _SIZE_DECIMALS)).normalize()

    @property
    def average_price(self) -> Decimal | None:
        """The volume-weighted average price, or ``None`` when nothing was taken."""
        if not self.shares:
            return None
        return (Decimal(self.notional) / Decimal(self.shares)).scaleb(-_PRICE_DECIMALS)


class Book:
    """The L2 book of one token, from a snapshot plus level deltas.

    Prices are 1e-4 units and sizes 1e-6 base units (integers); ``side`` is ``"BUY"`` for the
    bids and ``"SELL"`` for the asks, as on the wire. See the module docstring for the
    invariants (never crossed after a snapshot; deltas applied as sent; ``stale`` flag).

    The top of book is kept in plain attributes (read them; never assign them), because on an
    interpreted hot path an attribute load is several times cheaper than a method call:

    Attributes:
        bid: Best bid price, 1e-4 units; 0 when there are no bids (the venue's ``best_bid``).
        bid_size: Size at the best bid, 1e-6 base units; 0 when there are no bids.
        ask: Best ask price, 1e-4 units; 10_000 when there are no asks (the venue's ``best_ask``
            of ``"1"``).
        ask_size: Size at the best ask, 1e-6 base units; 0 when there are no asks.
        timestamp: Milliseconds since the epoch of the last snapshot or event applied.
        hash: The venue's hash of the last snapshot (``""`` before one).
        stale: True until a snapshot arrives and whenever the feed cannot be trusted.

    Args:
        asset_id: The token id this book is for.
        market: The condition id of the token's market.
        tick_size: The market's tick in 1e-4 units (0.01 is 100).
    """

    __slots__ = (
        "_ask_occ",
        "_ask_sizes",
        "_bid_occ",
        "_bid_sizes",
        "_wire",
        "_wire_backoff",
        "ask",
        "ask_size",
        "asset_id",
        "bid",
        "bid_size",
        "hash",
        "market",
        "stale",
        "tick_size",
        "timestamp",
    )

    def __init__(self, asset_id: str = "", *, market: str = "", tick_size: int = 100) -> None:
        self.asset_id = asset_id
        self.market = market
        self.tick_size = tick_size
        self.timestamp = 0
        self.hash = ""
        self.stale = True
        self._bid_sizes = list(_ZEROS)
        self._ask_sizes = list(_ZEROS)
        self._bid_occ = bytearray(_EMPTY)
        self._ask_occ = bytearray(_EMPTY)
        # The last wire snapshot while the book still equals it: the sides as passed, as bytes,
        # and their level indexes.
        self._wire: (
            tuple[bytes | msgspec.Raw, bytes | msgspec.Raw, bytes, bytes, SideIndex, SideIndex]
            | None
        ) = None
        # Snapshots left to parse in full, without an index, since a diff gave up (0: the diff
        # is on; see pmtrader._book_wire). Tests read it to see the switch happen.
        self._wire_backoff = 0
        self.bid = _NO_BID
        self.bid_size = 0
        self.ask = _NO_ASK
        self.ask_size = 0

    def __repr__(self) -> str:
        return (
            f"Book(asset_id={self.asset_id!r}, best_bid={self.best_bid_price}, "
            f"best_ask={self.best_ask_price}, levels={self.level_count('BUY')}/"
            f"{self.level_count('SELL')}, stale={self.stale})"
        )

    # -- updates ---------------------------------------------------------------------------------

    def apply_snapshot(
        self,
        bids: Iterable[tuple[int, int]],
        asks: Iterable[tuple[int, int]],
        timestamp: int,
        hash: str = "",
    ) -> None:
        """Replace the whole book with a snapshot and mark it fresh.

        Levels may come in any order (the venue sends bids ascending, asks descending). The
        snapshot is checked completely before anything changes.

        Args:
            bids: ``(price, size)`` bid levels in 1e-4 / 1e-6 units.
            asks: ``(price, size)`` ask levels.
            timestamp: The snapshot's time, milliseconds since the epoch.
            hash: The venue's hash of the snapshot, kept for comparison with REST.

        Raises:
            BookIntegrityError: A price is outside (0, 1), a size is not positive, a price
                repeats on one side, or the snapshot is crossed. The book is left unchanged.
        """
        bid_levels = list(bids)
        ask_levels = list(asks)
        self.apply_snapshot_columns(
            [p for p, _ in bid_levels],
            [s for _, s in bid_levels],
            [p for p, _ in ask_levels],
            [s for _, s in ask_levels],
            timestamp=timestamp,
            hash=hash,
        )

    def apply_snapshot_columns(
        self,
        bid_prices: list[int],
        bid_sizes: list[int],
        ask_prices: list[int],
        ask_sizes: list[int],
        *,
        timestamp: int,
        hash: str = "",
    ) -> None:
        """:meth:`apply_snapshot` from parallel lists of prices and sizes (the decoder's shape).

        The checks run in C builtins (``min``, ``max``, ``set``) and the copy is one
        store per level, which keeps a 100-level snapshot cheap on a busy feed.

        Raises:
            BookIntegrityError: As :meth:`apply_snapshot`; the book is left unchanged.
        """
        bid_occ = _occupancy("bid", bid_prices, bid_sizes)
        ask_occ = _occupancy("ask", ask_prices, ask_sizes)
        best_bid = max(bid_prices) if bid_prices else _NO_BID
        best_ask = min(ask_prices) if ask_prices else _NO_ASK
        if best_bid >= best_ask:
            raise BookIntegrityError(
                f"snapshot is crossed: best bid {format_price(best_bid)} >= best ask "
                f"{format_price(best_ask)}; resubscribe for a fresh snapshot"
            )
        # Checked: nothing below can fail. The size lists are reused (the occupancy arrays say
        # which entries are live), so a snapshot costs its own levels, not the 10,001-point grid.
        # Plain loops: CPython specialises list stores, which beats map(list.__setitem__, ...).
        sizes = self._bid_sizes
        for price, size in zip(bid_prices, bid_sizes, strict=True):
            sizes[price] = size
        sizes = self._ask_sizes
        for price, size in zip(ask_prices, ask_sizes, strict=True):
            sizes[price] = size
        self._bid_occ, self._ask_occ = bid_occ, ask_occ
        self._wire = None
        self.bid = best_bid
        self.bid_size = self._bid_sizes[best_bid] if best_bid else 0
        self.ask = best_ask
        self.ask_size = self._ask_sizes[best_ask] if best_ask != _NO_ASK else 0
        self.timestamp = timestamp
        self.hash = hash
        self.stale = False

    def apply_snapshot_wire(
        self,
        bids: bytes | msgspec.Raw,
        asks: bytes | msgspec.Raw,
        *,
        timestamp: int,
        hash: str = "",
    ) -> None:
        """:meth:`apply_snapshot` from the raw JSON of a ``book`` event's ``bids`` and ``asks``.

        The decoder's fast path (:class:`pmtrader.wire.RawBookEvent` keeps the sides raw: pass
        ``event.bids`` as it is, or as ``bytes``). When the book still equals the previous wire
        snapshot, only the levels that changed are parsed and applied (see
        :mod:`pmtrader._book_wire`); otherwise every level is. After a diff gives up (nearly
        every level changed), the next ``DIFF_BACKOFF`` snapshots skip the diff and its index
        and take the full parse, then the diff is tried again. Either way the result and the
        checks are exactly those of :meth:`apply_snapshot_columns`.

        Raises:
            BookIntegrityError: As :meth:`apply_snapshot`; the book is left unchanged.
            FeedDecodeError: A side is not a JSON list of ``{"price", "size"}`` objects.
            ValueError: A price or size is not a plain decimal, or is finer than its unit.
        """
        wire = self._wire
        if wire is not None:
            seen_bids, seen_asks, old_bids, old_asks, bid_index, ask_index = wire
            # A side as it was is one equality check of what the caller passed (a msgspec.Raw
            # against the last one needs no copy); a side that differs is read as bytes.
            same_bids = bids == seen_bids
            same_asks = asks == seen_asks
            bid_bytes = old_bids if same_bids else bytes(bids)
            ask_bytes = old_asks if same_asks else bytes(asks)
            same_bids = same_bids or bid_bytes == old_bids
            same_asks = same_asks or ask_bytes == old_asks
            # The usual frame: each side is byte for byte the last one, or a trade changed the
            # size of its best level (last on the wire) and nothing else.
            bid_resize = None if same_bids else resized(bid_index, old_bids, bid_bytes)
            ask_resize = None if same_asks else resized(ask_index, old_asks, ask_bytes)
            if (same_bids or bid_resize is not None) and (same_asks or ask_resize is not None):
                if bid_resize is not None:
                    gone, text, price, size = bid_resize
                    del bid_index[gone]
                    bid_index[text] = (price, size)
                    self._bid_sizes[price] = size
                    if price == self.bid:
                        self.bid_size = size
                if ask_resize is not None:
                    gone, text, price, size = ask_resize
                    del ask_index[gone]
                    ask_index[text] = (price, size)
                    self._ask_sizes[price] = size
                    if price == self.ask:
                        self.ask_size = size
                self._wire = (bids, asks, bid_bytes, ask_bytes, bid_index, ask_index)
                self.timestamp = timestamp
                self.hash = hash
                self.stale = False
                return
            # Anything else: the levels new and gone on each side (None: no change).
            bid_changes = ask_changes = None
            usable, too_many = True, False
            if not same_bids:
                changes = side_changes(bid_index, old_bids, bid_bytes, bid_resize)
                if isinstance(changes, str):
                    usable, too_many = False, True
                else:
                    bid_changes = changes
                    usable = changes is not None
            if usable and not same_asks:
                changes = side_changes(ask_index, old_asks, ask_bytes, ask_resize)
                if isinstance(changes, str):
                    usable, too_many = False, True
                else:
                    ask_changes = changes
                    usable = changes is not None
            if usable and self._apply_changes(bid_index, bid_changes, ask_index, ask_changes):
                self._wire = (bids, asks, bid_bytes, ask_bytes, bid_index, ask_index)
                self.timestamp = timestamp
                self.hash = hash
                self.stale = False
                return
            # Nearly every level changed: parse in full without an index for the next few
            # snapshots rather than pay for the diff, the index and the parse again.
            backoff = DIFF_BACKOFF if too_many else 0
        else:
            backoff = self._wire_backoff - 1 if self._wire_backoff else 0
        if backoff:
            bid_prices, bid_sizes = parse_levels(bids)
            ask_prices, ask_sizes = parse_levels(asks)
            self.apply_snapshot_columns(
                bid_prices, bid_sizes, ask_prices, ask_sizes, timestamp=timestamp, hash=hash
            )
            self._wire_backoff = backoff
            return
        bid_bytes, ask_bytes = bytes(bids), bytes(asks)
        bid_prices, bid_sizes, new_bid_index = parse_side(bid_bytes)
        ask_prices, ask_sizes, new_ask_index = parse_side(ask_bytes)
        self.apply_snapshot_columns(
            bid_prices, bid_sizes, ask_prices, ask_sizes, timestamp=timestamp, hash=hash
        )
        self._wire_backoff = 0
        if new_bid_index is not None and new_ask_index is not None:
            self._wire = (bids, asks, bid_bytes, ask_bytes, new_bid_index, new_ask_index)

    def _apply_changes(
        self,
        bid_index: SideIndex,
        bid_changes: SideChanges | None,
        ask_index: SideIndex,
        ask_changes: SideChanges | None,
    ) -> bool:
        """Apply both sides' level changes if the result is a valid, uncrossed book.

        ``None`` is a side that did not change. Returns False with nothing changed otherwise
        (the caller's full parse then raises).
        """
        bid_occ, ask_occ = self._bid_occ, self._ask_occ
        if (bid_changes is not None and not _checked(bid_changes, bid_occ)) or (
            ask_changes is not None and not _checked(ask_changes, ask_occ)
        ):
            return False
        bid, ask = self.bid, self.ask
        if bid_changes is not None:
            added, gone = bid_changes
            _swap(bid_index, gone, added, bid_occ, self._bid_sizes)
            if len(added) != 1 or len(gone) != 1 or added[0][1] != gone[0][1]:
                bid = bid_occ.rfind(1)
                bid = bid if bid > 0 else _NO_BID
        if ask_changes is not None:
            added, gone = ask_changes
            _swap(ask_index, gone, added, ask_occ, self._ask_sizes)
            if len(added) != 1 or len(gone) != 1 or added[0][1] != gone[0][1]:
                ask = ask_occ.find(1)
                ask = ask if ask > 0 else _NO_ASK
        if bid >= ask:
            if bid_changes is not None:
                _swap(bid_index, bid_changes[0], bid_changes[1], bid_occ, self._bid_sizes)
            if ask_changes is not None:
                _swap(ask_index, ask_changes[0], ask_changes[1], ask_occ, self._ask_sizes)
            return False
        self.bid = bid
        self.bid_size = self._bid_sizes[bid] if bid else 0
        self.ask = ask
        self.ask_size = self._ask_sizes[ask] if ask != _NO_ASK else 0
        return True

    def apply_level(self, side: BookSide, price: int, size: int) -> None:
        """Set the total size resting at one price (0 removes the level).

        This is the hot path: it checks only what could corrupt the arrays, and keeps
        :attr:`bid`/:attr:`bid_size`/:attr:`ask`/:attr:`ask_size` current so that reading the
        top of book costs an attribute load.

        Raises:
            BookIntegrityError: The price is outside (0, 1) or the size is negative.
        """
        # Literals, not the module constants: a global load per delta is measurable here.
        if price <= 0 or price >= 10_000 or size < 0:
            raise BookIntegrityError(
                f"level {side} price={price} size={size} is invalid: prices are 1e-4 units "
                "strictly inside (0, 10000) and sizes are non-negative 1e-6 units"
            )
        self._wire = None
        if side == "BUY":
            self._bid_sizes[price] = size
            if size:
                self._bid_occ[price] = 1
                if price >= self.bid:
                    self.bid = price
                    self.bid_size = size
            else:
                self._bid_occ[price] = 0
                if price == self.bid:
                    # The next bid is below the old best; rfind answers -1 on an empty side.
                    best = self._bid_occ.rfind(1, 0, price)
                    if best > 0:
                        self.bid, self.bid_size = best, self._bid_sizes[best]
                    else:
                        self.bid = self.bid_size = 0
        elif side == "SELL":
            self._ask_sizes[price] = size
            if size:
                self._ask_occ[price] = 1
                if price <= self.ask:
                    self.ask = price
                    self.ask_size = size
            else:
                self._ask_occ[price] = 0
                if price == self.ask:
                    best = self._ask_occ.find(1, price + 1)
                    if best > 0:
                        self.ask, self.ask_size = best, self._ask_sizes[best]
                    else:
                        self.ask, self.ask_size = 10_000, 0
        else:
            raise BookIntegrityError(f"side {side!r} is neither 'BUY' (bids) nor 'SELL' (asks)")

    def clear(self) -> None:
        """Empty both sides and mark the book stale (it no longer mirrors the venue)."""
        self._bid_occ = bytearray(_EMPTY)
        self._ask_occ = bytearray(_EMPTY)
        self._wire = None
        self.bid = self.bid_size = self.ask_size = 0
        self.ask = _NO_ASK
        self.hash = ""
        self.stale = True

    # -- integer reads (hot path) ----------------------------------------------------------------

    def best_bid(self) -> tuple[int, int] | None:
        """The best bid as ``(price, size)``, or ``None`` when there are no bids."""
        return (self.bid, self.bid_size) if self.bid else None

    def best_ask(self) -> tuple[int, int] | None:
        """The best ask as ``(price, size)``, or ``None`` when there are no asks."""
        return (self.ask, self.ask_size) if self.ask != _NO_ASK else None

    def spread(self) -> int | None:
        """Best ask minus best bid in 1e-4 units, or ``None`` unless both sides have levels."""
        if not self.bid or self.ask == _NO_ASK:
            return None
        return self.ask - self.bid

    def mid(self) -> Decimal | None:
        """The exact midpoint of best bid and best ask, or ``None`` unless both sides exist.

        A Decimal because the midpoint of two 1e-4 prices can need a fifth decimal.
        """
        if not self.bid or self.ask == _NO_ASK:
            return None
        return (Decimal(self.bid + self.ask) / 2).scaleb(-_PRICE_DECIMALS)

    @property
    def crossed(self) -> bool:
        """Whether the best bid is at or above the best ask (only possible mid-delta)."""
        return bool(self.bid) and self.ask != _NO_ASK and self.bid >= self.ask

    def size_at(self, side: BookSide, price: int) -> int:
        """The size resting at ``price`` on ``side`` (0 when none)."""
        if not 0 <= price <= PRICE_SCALE or not self._occ(side)[price]:
            return 0
        return self._sizes(side)[price]

    def level_count(self, side: BookSide) -> int:
        """How many price levels ``side`` holds."""
        return self._occ(side).count(1)

    def depth(self, side: BookSide, n: int) -> list[tuple[int, int]]:
        """The best ``n`` levels of ``side``, best first, as ``(price, size)``."""
        sizes = self._sizes(side)
        occ = self._occ(side)
        out: list[tuple[int, int]] = []
        if side == "BUY":
            price = self.bid
            while price > 0 and len(out) < n:
                out.append((price, sizes[price]))
                price = occ.rfind(1, 0, price)
        else:
            price = self.ask
            while 0 < price < PRICE_SCALE and len(out) < n:
                out.append((price, sizes[price]))
                price = occ.find(1, price + 1)
        return out

    def levels(self, side: BookSide, *, best_first: bool = False) -> list[tuple[int, int]]:
        """Every level of ``side`` as ``(price, size)``.

        Args:
            side: ``"BUY"`` for bids, ``"SELL"`` for asks.
            best_first: Order best level first. By default the venue's order is used (bids
                ascending, asks descending: best **last**), which is what the official client's
                market-price walk and the book hash expect.
        """
        best = self.depth(side, PRICE_SCALE)
        return best if best_first else best[::-1]

    def walk(
        self, side: BookSide, amount: int, *, by: Literal["shares", "cost"] = "shares"
    ) -> Walk:
        """Take liquidity from ``side``, best level first, and say what it would give.

        A buy order walks the asks (``side="SELL"``); a sell order walks the bids.

        Args:
            side: The book side to take from.
            amount: Shares in 1e-6 base units (``by="shares"``), or pUSD in 1e-6 base units to
                spend (``by="cost"``, the official client's market-buy amount).
            by: What ``amount`` counts.

        Returns:
            The worst price touched, shares and exact cost, and whether the amount was filled.
            A cost walk never spends more than ``amount``: at the last level it takes the
            whole base units of shares that still fit.
        """
        if amount < 0:
            raise ValueError(f"walk amount must be non-negative, got {amount}")
        shares = notional = touched = worst = 0
        budget = amount * PRICE_SCALE  # pUSD base units → 1e-10 pUSD, the notional's unit
        remaining = amount
        for price, size in self.depth(side, PRICE_SCALE):
            if by == "shares":
                if remaining <= 0:
                    break
                take = min(size, remaining)
                remaining -= take
            else:
                if budget - notional < price:
                    break
                take = min(size, (budget - notional) // price)
            shares += take
            notional += take * price
            touched += 1
            worst = price
            if by == "cost" and take < size:
                break
        complete = remaining <= 0 if by == "shares" else budget - notional < max(worst, 1)
        if by == "cost" and not shares:
            complete = amount == 0
        return Walk(worst, shares, notional, touched, complete)

    # -- Decimal views (for people and API edges) ------------------------------------------------

    @property
    def best_bid_price(self) -> Decimal | None:
        """The best bid price as a Decimal, or ``None``."""
        return _price_decimal(self.bid) if self.bid else None

    @property
    def best_ask_price(self) -> Decimal | None:
        """The best ask price as a Decimal, or ``None``."""
        return _price_decimal(self.ask) if self.ask != _NO_ASK else None

    @property
    def best_bid_size(self) -> Decimal | None:
        """Shares resting at the best bid, as a Decimal, or ``None``."""
        best = self.best_bid()
        return _size_decimal(best[1]) if best else None

    @property
    def best_ask_size(self) -> Decimal | None:
        """Shares resting at the best ask, as a Decimal, or ``None``."""
        best = self.best_ask()
        return _size_decimal(best[1]) if best else None

    @property
    def spread_price(self) -> Decimal | None:
        """The spread as a Decimal, or ``None`` unless both sides exist."""
        spread = self.spread()
        return None if spread is None else _price_decimal(spread)

    @property
    def tick_size_price(self) -> Decimal:
        """The tick size as a Decimal (``Decimal("0.01")``)."""
        return _price_decimal(self.tick_size)

    def wire_levels(self, side: BookSide) -> list[dict[str, str]]:
        """``side`` in the venue's order and shape (``[{"price": "0.48", "size": "1200"}]``).

        Prices and sizes are the shortest exact decimal strings, which is how the local
        exchange writes them; hashing these reproduces its hash.
        """
        return [
            {"price": format_price(price), "size": format_size(size)}
            for price, size in self.levels(side)
        ]

    # -- helpers ---------------------------------------------------------------------------------

    def _sizes(self, side: BookSide) -> list[int]:
        if side == "BUY":
            return self._bid_sizes
        if side == "SELL":
            return self._ask_sizes
        raise BookIntegrityError(f"side {side!r} is neither 'BUY' (bids) nor 'SELL' (asks)")

    def _occ(self, side: BookSide) -> bytearray:
        if side == "BUY":
            return self._bid_occ
        if side == "SELL":
            return self._ask_occ
        raise BookIntegrityError(f"side {side!r} is neither 'BUY' (bids) nor 'SELL' (asks)")
