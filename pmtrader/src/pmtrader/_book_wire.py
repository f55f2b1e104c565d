"""A ``book`` snapshot's sides as raw JSON: exact parsing, and what changed since the last one.

The venue re-sends a token's whole book after every trade, and a trade changes a level or two
of 20-50 a side. Parsing every level again each time costs more than the rest of the decode, so
:meth:`pmtrader.book.Book.apply_snapshot_wire` keeps each side's raw JSON and its levels indexed
by their exact JSON text (``b'"price":"0.48","size":"100"'``), and only parses the levels whose
text is new:

* The usual change, a trade at the best level (last on the wire), is found with one ``bytes``
  comparison: the side is the old one up to its last level. Likewise a best level traded away.
* Any other change splits the side into level texts; a dict lookup and a set difference (both
  in C) say which texts are new and which are gone.

Why it stays exact:

* A side gets an index only when its level texts are certain: it is compact
  (``[{...},{...}]``), holds exactly four strings per level (two keys, two values: no string
  and no extra key can hold ``},{``), and splitting it on ``},{`` gives one piece per level
  msgspec decoded. So every indexed text is one complete ``{"price", "size"}`` object.
* A new side is accepted only as ``[{t1},{t2},...]`` where every ``t`` is an indexed text or
  was parsed on its own as one complete level (a split inside a string leaves an unterminated
  string, which cannot parse), so it is a valid JSON list of exactly those levels.
* A canonical piece (``"price":"0.48","size":"100"``: those keys, digits and at most one dot)
  is read straight from its bytes, which is what decoding that JSON gives; any other spelling
  goes through msgspec and the same unit parsers as the full parse.

Anything unusual (not compact, a piece that does not parse, a repeated level, too many new
levels) returns ``None`` and the caller takes the full parse, which is the reference and says
what is wrong.
"""

from __future__ import annotations

from itertools import filterfalse, islice
from typing import Final

import msgspec

from pmtrader._wire_units import (
    _PRICE_BYTES_MEMO,
    _SIZE_BYTES_MEMO,
    _remember,
    parse_price,
    parse_size,
)
from pmtrader.errors import FeedDecodeError
from pmtrader.wire import PriceLevel, level_columns

__all__ = [
    "MAX_CHANGES",
    "Change",
    "Level",
    "SideChanges",
    "SideIndex",
    "parse_side",
    "side_changes",
]

#: One level in exact units: ``(price, size)``, 1e-4 and 1e-6.
Level = tuple[int, int]
#: Level text (between the braces) -> exact ``(price, size)``.
SideIndex = dict[bytes, Level]
#: One level with its text: ``(text, price, size)``.
Change = tuple[bytes, int, int]
#: The levels new in a side and the levels gone from it.
SideChanges = tuple[list[Change], list[Change]]

#: Past this many new level texts on one side, one msgspec pass over the side is cheaper.
MAX_CHANGES: Final = 8

_LEVELS: Final = msgspec.json.Decoder(list[PriceLevel])
_LEVEL: Final = msgspec.json.Decoder(PriceLevel)
_PRICE_KEY: Final = b'"price":"'
_SIZE_KEY: Final = b'","size":"'


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
    count = len(levels)
    if not count:
        return prices, sizes, {} if raw == b"[]" else None
    # Four strings a level and nothing else: no string can hold "},{", so the split below cuts
    # exactly between levels when it gives one piece per level.
    if raw[:2] != b"[{" or raw[-2:] != b"}]" or raw.count(b'"') != 8 * count:
        return prices, sizes, None
    texts = raw[2:-2].split(b"},{")
    if len(texts) != count:
        return prices, sizes, None
    index = dict(zip(texts, zip(prices, sizes, strict=True), strict=True))
    return prices, sizes, index if len(index) == count else None


def side_changes(index: SideIndex, old: bytes, raw: bytes) -> SideChanges | None:
    """The levels of ``raw`` not in ``old`` (parsed) and those of ``old`` not in ``raw``.

    ``old`` is the side ``index`` was built for and differs from ``raw``. ``None`` when the
    side must take the full parse: not compact, a repeated level text, more than
    :data:`MAX_CHANGES` new texts, or a new text that is not a valid level (the full parse then
    says what is wrong). The levels are not checked against the book here (the caller does).
    """
    if index:
        # The last level's text starts at ``cut`` (after its "{").
        cut = old.rfind(b"},{") + 3
        if raw[:cut] == old[:cut]:
            # All levels but the last are as they were: a trade at the best level.
            text = raw[cut:-2]
            if raw[-2:] == b"}]" and b"},{" not in text:
                level = _parse_piece(text)
                if level is None:
                    return None
                gone = old[cut:-2]
                return [(text, *level)], [(gone, *index[gone])]
        elif (
            cut > 2
            and len(raw) == cut - 1
            and raw[-1:] == b"]"
            and raw[: cut - 2] == old[: cut - 2]
        ):
            # The last level is gone, nothing else changed: the best level traded away.
            gone = old[cut:-2]
            return [], [(gone, *index[gone])]
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
    gone_texts = index.keys() - texts if len(texts) - len(new) != len(index) else ()
    if len(index) - len(gone_texts) + len(new) != len(texts):
        return None  # a level text repeats
    added: list[Change] = []
    for text in new:
        level = _parse_piece(text)
        if level is None:
            return None
        added.append((text, *level))
    return added, [(text, *index[text]) for text in gone_texts]


def _parse_piece(piece: bytes) -> Level | None:
    """One level's text (between its braces) in exact units; ``None`` if it is not a level.

    The canonical spelling is read from the bytes; any other spelling is decoded by msgspec
    and parsed like the full parse would.
    """
    if piece[:9] == _PRICE_KEY and piece[-1:] == b'"':
        price_text, key, size_text = piece[9:-1].partition(_SIZE_KEY)
        if key:
            price = _PRICE_BYTES_MEMO.get(price_text)
            if price is None:
                whole, dot, frac = price_text.partition(b".")
                if whole.isdigit() and len(frac) <= 4 and (frac.isdigit() or not dot):
                    price = int(whole + frac.ljust(4, b"0"))
                    _remember(_PRICE_BYTES_MEMO, price_text, price)
            size = _SIZE_BYTES_MEMO.get(size_text)
            if size is None:
                whole, dot, frac = size_text.partition(b".")
                if whole.isdigit() and len(frac) <= 6 and (frac.isdigit() or not dot):
                    size = int(whole + frac.ljust(6, b"0"))
                    _remember(_SIZE_BYTES_MEMO, size_text, size)
            if price is not None and size is not None:
                return price, size
    try:
        level = _LEVEL.decode(b"{" + piece + b"}")
        return parse_price(level.price), parse_size(level.size)
    except (msgspec.DecodeError, ValueError):
        return None
