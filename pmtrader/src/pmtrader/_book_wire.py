"""A ``book`` snapshot's sides as raw JSON: exact parsing, and what changed since the last one.

The venue re-sends a token's whole book after every trade, and a trade changes a level or two
of 20-50 a side. Turning every level string into an integer again each time costs more than the
rest of the decode, so :meth:`pmtrader.book.Book.apply_snapshot_wire` keeps each side's levels
indexed by their exact JSON text (``b'"price":"0.48","size":"100"'``) and only parses the
levels whose text is new. The split into level texts and the set difference run in C.

Why it stays exact: a level text is only ever reused for the very text it was parsed from, and a
text is parsed by msgspec as one complete ``{"price", "size"}`` object (a split inside a string
cannot parse, so such a side falls back to the full parse, which reports it). Anything unusual
(whitespace between levels, a repeated level, too many changes) takes the full parse.
"""

from __future__ import annotations

from itertools import filterfalse, islice
from typing import Final

import msgspec

from pmtrader._wire_units import PRICE_SCALE, parse_price, parse_size
from pmtrader.errors import FeedDecodeError
from pmtrader.wire import PriceLevel, level_columns

__all__ = [
    "MAX_CHANGES",
    "UNCHANGED",
    "SideChanges",
    "SideIndex",
    "checked_removals",
    "parse_side",
    "side_changes",
    "swap",
    "unswap",
]

#: Level text (between the braces) -> exact ``(price, size)`` in 1e-4 / 1e-6 units.
SideIndex = dict[bytes, tuple[int, int]]
#: Levels new in a side (text, price, size), and the texts no longer in it.
SideChanges = tuple[list[tuple[bytes, int, int]], list[bytes]]

#: Past this many new level texts on one side, one msgspec pass over the side is cheaper.
MAX_CHANGES: Final = 8

_LEVELS: Final = msgspec.json.Decoder(list[PriceLevel])
_LEVEL: Final = msgspec.json.Decoder(PriceLevel)


def _split(raw: bytes) -> list[bytes] | None:
    """The level texts of a compact side (``[{...},{...}]``), or ``None`` if not compact."""
    if raw == b"[]":
        return []
    if raw[:2] == b"[{" and raw[-2:] == b"}]":
        return raw[2:-2].split(b"},{")
    return None


def parse_side(raw: bytes) -> tuple[list[int], list[int], SideIndex | None]:
    """Every level of one side as exact prices and sizes, plus its index when it can have one.

    Raises:
        FeedDecodeError: The side is not a JSON list of ``{"price", "size"}`` objects.
        ValueError: A price or size is not a plain decimal, or is finer than its unit.
    """
    try:
        levels = _LEVELS.decode(raw)
    except msgspec.DecodeError as exc:
        raise FeedDecodeError(
            f"book side is not a list of price/size levels: {exc}", event_type="book"
        ) from exc
    prices, sizes = level_columns(levels)
    texts = _split(raw)
    # Every value parsed as a decimal, so no string holds "},{": each split is a level boundary,
    # and equal counts mean every boundary was split.
    if texts is None or len(texts) != len(levels):
        return prices, sizes, None
    index = dict(zip(texts, zip(prices, sizes, strict=True), strict=True))
    return prices, sizes, index if len(index) == len(texts) else None


def side_changes(index: SideIndex, raw: bytes) -> SideChanges | None:
    """The levels of ``raw`` not in ``index`` (parsed) and the texts of ``index`` not in ``raw``.

    ``None`` when the side must take the full parse: not compact, a repeated level text, more
    than :data:`MAX_CHANGES` new texts, or a new text that is not a valid level (the full parse
    then says what is wrong).
    """
    if raw[:2] == b"[{" and raw[-2:] == b"}]":
        texts = raw[2:-2].split(b"},{")
    elif raw == b"[]":
        texts = []
    else:
        return None
    # Both passes run in C: one dict lookup per level, then one set difference.
    new = list(islice(filterfalse(index.__contains__, texts), MAX_CHANGES + 1))
    if len(new) > MAX_CHANGES:
        return None
    gone = list(index.keys() - texts) if len(texts) - len(new) != len(index) else []
    if len(index) - len(gone) + len(new) != len(texts):
        return None  # a level text repeats
    added: list[tuple[bytes, int, int]] = []
    for text in new:
        try:
            level = _LEVEL.decode(b"{" + text + b"}")
            added.append((text, parse_price(level.price), parse_size(level.size)))
        except (msgspec.DecodeError, ValueError):
            return None
    return added, gone


#: The changes of a side whose raw JSON did not change.
UNCHANGED: Final[SideChanges] = ([], [])


def checked_removals(
    index: SideIndex, changes: SideChanges, occ: bytearray
) -> list[tuple[bytes, int, int]] | None:
    """The levels a side's changes remove, or ``None`` if its new levels would be invalid."""
    added, removed = changes
    if not added:
        return [(text, *index[text]) for text in removed]  # removals cannot break a side
    gone = [(text, *index[text]) for text in removed]
    freed = {price for _, price, _ in gone}
    seen: set[int] = set()
    for _, price, size in added:
        if not 0 < price < PRICE_SCALE or size <= 0 or price in seen:
            return None
        if occ[price] and price not in freed:
            return None  # the price is already a level the snapshot keeps: a repeat
        seen.add(price)
    return gone


def swap(
    index: SideIndex,
    changes: SideChanges,
    gone: list[tuple[bytes, int, int]],
    occ: bytearray,
    sizes: list[int],
) -> None:
    """Apply a side's checked changes to its index, occupancy and sizes."""
    for text, price, _ in gone:
        del index[text]
        occ[price] = 0
    for text, price, size in changes[0]:
        index[text] = (price, size)
        occ[price] = 1
        sizes[price] = size


def unswap(
    index: SideIndex,
    changes: SideChanges,
    gone: list[tuple[bytes, int, int]],
    occ: bytearray,
    sizes: list[int],
) -> None:
    """Undo :func:`swap`."""
    for text, price, _ in changes[0]:
        del index[text]
        occ[price] = 0
    for text, price, size in gone:
        index[text] = (price, size)
        occ[price] = 1
        sizes[price] = size
