"""A ``book`` snapshot's sides as raw JSON: exact parsing, and what changed since the last one.

The venue re-sends a token's whole book after every trade, and a trade changes a level or two
of 20-50 a side. Parsing every level again each time costs more than the rest of the decode, so
:meth:`pmtrader.book.Book.apply_snapshot_wire` keeps each side's raw JSON and its levels indexed
by their exact JSON text (``b'"price":"0.48","size":"100"'``), and only parses the levels whose
text is new. From the cheapest (and most frequent) case to the general one:

* :func:`resized`: a trade at the best level (last on the wire) changed only its size. One
  prefix comparison (``startswith`` through a memoryview: no copy of the side) and a canonical
  level read from its bytes; the book then updates one size in place.
* :func:`side_changes`: the last level replaced or gone, or the first one (far from the top:
  an order joined or left behind the book), each found with one prefix or suffix comparison.
* Anything else splits the side into level texts; a dict lookup and a set difference (both in
  C) say which texts are new and which are gone.

Measured on the venue-like feed of ``benchmarks/bench_ws_decode.py`` and kept out: a binary
search over level boundaries for changes inside the book, diffing only the half of the side that
changed, in-order comparison of the texts instead of hashing them, and keeping level offsets.
Each does less in C but more bytecode, and came out slower than the split.

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

Anything unusual (not compact, a piece that does not parse, a repeated level) returns ``None``
and too many new levels :data:`TOO_MANY`; the caller then takes the full parse, which is the
reference and says what is wrong.

When nearly every level changes every frame (a quoter repricing its whole ladder), trying the
diff and building the index are wasted work on top of the full parse. So after a diff answers
:data:`TOO_MANY` (and only then: any other give-up costs one frame), the book parses its next
:data:`DIFF_BACKOFF` snapshots with :func:`parse_levels` (no index, no diff), builds the index
on the last of them and tries the diff again on the one after: the worst case then costs about
the full parse, and a feed that calms down is back on the diff within :data:`DIFF_BACKOFF` + 1
frames.
"""

from __future__ import annotations

from typing import Final

import msgspec

from pmtrader._wire_units import (
    _PRICE_HEADS,
    _SIZE_BYTES_MEMO,
    _remember,
    parse_price,
    parse_size,
)
from pmtrader.errors import FeedDecodeError
from pmtrader.wire import PriceLevel, level_columns

__all__ = [
    "DIFF_BACKOFF",
    "MAX_CHANGES",
    "TOO_MANY",
    "Change",
    "Level",
    "Resize",
    "SideChanges",
    "SideIndex",
    "parse_levels",
    "parse_side",
    "resized",
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
#: What :func:`side_changes` answers when more than :data:`MAX_CHANGES` level texts are new.
TOO_MANY: Final = "too many"
#: Snapshots parsed in full, without an index, after a diff gave up (see the module docstring).
DIFF_BACKOFF: Final = 16

_LEVELS: Final = msgspec.json.Decoder(list[PriceLevel])
_LEVEL: Final = msgspec.json.Decoder(PriceLevel)
_PRICE_KEY: Final = b'"price":"'
# A Final alias: the compiled build reads it from a static instead of looking the builtin up.
_memoryview: Final = memoryview
_SIZE_KEY: Final = b'","size":"'


def parse_levels(raw: bytes | msgspec.Raw) -> tuple[list[int], list[int]]:
    """Every level of one side as exact prices and sizes, without an index (the diff is off).

    Raises:
        FeedDecodeError: The side is not a JSON list of ``{"price", "size"}`` objects.
        ValueError: A price or size is not a plain decimal, or is finer than its unit.
    """
    return level_columns(_decode_levels(raw))


def _decode_levels(raw: bytes | msgspec.Raw) -> list[PriceLevel]:
    """One side's levels as msgspec read them; the typed error if it is not a list of levels."""
    try:
        # Annotated: the build that compiles this module sees msgspec untyped (Any).
        levels: list[PriceLevel] = _LEVELS.decode(raw)
    except msgspec.DecodeError as exc:
        raise FeedDecodeError(
            f"book side is not a list of price/size levels: {exc}", event_type="book"
        ) from exc
    return levels


def parse_side(raw: bytes) -> tuple[list[int], list[int], SideIndex | None]:
    """Every level of one side as exact prices and sizes, plus its index when it can have one.

    Raises:
        FeedDecodeError: The side is not a JSON list of ``{"price", "size"}`` objects.
        ValueError: A price or size is not a plain decimal, or is finer than its unit.
    """
    levels = _decode_levels(raw)
    prices, sizes = level_columns(levels)
    count = len(levels)
    if not count:
        return prices, sizes, {} if raw == b"[]" else None
    # Four strings a level and nothing else: no string can hold "},{", so the split below cuts
    # exactly between levels when it gives one piece per level.
    if raw[:2] != b"[{" or raw[-2:] != b"}]" or raw.count(b'"') != 8 * count:
        return prices, sizes, None
    texts = _texts(raw)
    if len(texts) != count:
        return prices, sizes, None
    index = dict(zip(texts, zip(prices, sizes, strict=True), strict=True))
    return prices, sizes, index if len(index) == count else None


#: A level whose size alone changed: ``(old text, new text, price, new size)``.
Resize = tuple[bytes, bytes, int, int]


def resized(
    index: SideIndex, old: bytes, raw: bytes, prices: dict[bytes, int] = _PRICE_HEADS
) -> Resize | None:
    """The usual change alone: the last level (the best) traded, its size changed, nothing else.

    Returns ``(old text, new text, price, new size)`` with a positive size at the same price,
    or ``None`` for any other change (:func:`side_changes` then says what it is). ``raw`` is
    the old side up to the last level's text, then one canonical level
    (``"price":"0.48","size":"310.5"``, whose price was seen before), then ``}]``: a valid side
    whose only new level replaces the old last one. Kept to a few C calls: it runs on most
    frames. ``prices`` is a default argument: a local lookup.
    """
    cut = old.rfind(b"},{") + 3
    if raw.startswith(_memoryview(old)[:cut]) and raw[-2:] == b"}]":
        text = raw[cut:-2]
        head, _, tail = text.partition(_SIZE_KEY)
        price = prices.get(head)
        if price is not None and tail[-1:] == b'"':
            whole, dot, frac = tail[:-1].partition(b".")
            if whole.isdigit() and len(frac) <= 6 and (frac.isdigit() or not dot):
                gone = old[cut:-2]
                before = index.get(gone)
                if before is not None and before[0] == price:
                    size = int(whole + frac.ljust(6, b"0"))
                    if size:
                        return gone, text, price, size
    return None


def side_changes(
    index: SideIndex, old: bytes, raw: bytes, resize: Resize | None = None
) -> SideChanges | str | None:
    """The levels of ``raw`` not in ``old`` (parsed) and those of ``old`` not in ``raw``.

    ``old`` is the side ``index`` was built for and differs from ``raw``; ``resize`` is what
    :func:`resized` found, if anything. :data:`TOO_MANY` when more than :data:`MAX_CHANGES`
    texts are new (the caller takes the full parse and stops diffing for a while); ``None``
    when the side must take the full parse for any other reason: not compact, a repeated level
    text, or a new text that is not a valid level (the full parse then says what is wrong).
    The levels are not checked against the book here (the caller does).
    """
    if resize is not None:
        gone, text, price, size = resize
        was = index[gone]
        return [(text, price, size)], [(gone, was[0], was[1])]
    if index:
        # The last level's text starts at ``cut`` (after its "{").
        cut = old.rfind(b"},{") + 3
        view = _memoryview(old)
        if raw.startswith(view[:cut]):
            # All levels but the last are as they were: a trade at the best level.
            text = raw[cut:-2]
            if raw[-2:] == b"}]" and b"},{" not in text:
                level = _parse_piece(text)
                if level is None:
                    return None
                gone = old[cut:-2]
                was = index[gone]
                return [(text, level[0], level[1])], [(gone, was[0], was[1])]
        elif (
            cut > 2 and len(raw) == cut - 1 and raw[-1:] == b"]" and raw.startswith(view[: cut - 2])
        ):
            # The last level is gone, nothing else changed: the best level traded away.
            gone = old[cut:-2]
            was = index[gone]
            return [], [(gone, was[0], was[1])]
        else:
            # All levels but the first are as they were: the far level changed, or an order
            # joined or left behind the book. The first level's text ends at ``end``.
            end = old.find(b"},{")
            if end > 0 and raw.endswith(view[end + 2 :]):
                head = raw[: len(raw) - len(old) + end + 2]
                if head[:2] == b"[{" and head[-2:] == b"},":
                    texts = head[2:-2].split(b"},{")
                elif head == b"[":
                    texts = []
                else:
                    return None
                if len(texts) <= MAX_CHANGES:
                    added: list[Change] = []
                    for text in texts:
                        level = _parse_piece(text)
                        if level is None:
                            return None
                        added.append((text, level[0], level[1]))
                    gone = old[2:end]
                    was = index[gone]
                    return added, [(gone, was[0], was[1])]
    if raw[:2] == b"[{" and raw[-2:] == b"}]":
        texts = _texts(raw)
    elif raw == b"[]":
        texts = []
    else:
        return None
    # The texts not in the index, stopping past MAX_CHANGES. A plain loop: as fast as
    # islice(filterfalse(index.__contains__, ...)) interpreted (that calls a method wrapper
    # per level), and a native loop of dict lookups when compiled.
    new: list[bytes] = []
    for text in texts:
        if text not in index:
            new.append(text)
            if len(new) > MAX_CHANGES:
                return TOO_MANY
    # One set difference, in C, and always the full one: a count alone cannot tell "nothing
    # gone" from "one level gone and another listed twice".
    gone_texts = index.keys() - texts
    if len(index) - len(gone_texts) + len(new) != len(texts):
        return None  # a known level text repeats (a new one repeating is a repeated price)
    added = []
    for text in new:
        level = _parse_piece(text)
        if level is None:
            return None
        added.append((text, level[0], level[1]))
    removed: list[Change] = []
    for text in gone_texts:
        was = index[text]
        removed.append((text, was[0], was[1]))
    return added, removed


def _texts(raw: bytes) -> list[bytes]:
    """The level texts of a compact side (``[{...},{...}]``): split, then trim the two ends
    (cheaper than copying the side without its brackets first)."""
    texts = raw.split(b"},{")
    texts[0] = texts[0][2:]
    texts[-1] = texts[-1][:-2]
    return texts


def _parse_piece(
    piece: bytes,
    prices: dict[bytes, int] = _PRICE_HEADS,
    sizes: dict[bytes, int] = _SIZE_BYTES_MEMO,
) -> Level | None:
    """One level's text (between its braces) in exact units; ``None`` if it is not a level.

    The canonical spelling (``"price":"0.48","size":"310.5"``) is read from the bytes: the
    price through a memo of price heads (``"price":"0.48``, filled by :func:`_parse_other`,
    which checks them), the size with one ``int()``. Anything else takes
    :func:`_parse_other`. The memos are default arguments: a local lookup on the hot path.
    """
    head, _, tail = piece.partition(_SIZE_KEY)
    price = prices.get(head)
    if price is not None and tail[-1:] == b'"':
        text = tail[:-1]
        size = sizes.get(text)
        if size is not None:
            return price, size
        whole, dot, frac = text.partition(b".")
        if whole.isdigit() and len(frac) <= 6 and (frac.isdigit() or not dot):
            size = int(whole + frac.ljust(6, b"0"))
            _remember(sizes, text, size)
            return price, size
    return _parse_other(piece)


def _parse_other(piece: bytes) -> Level | None:
    """:func:`_parse_piece` for a price not seen yet, or any spelling but the canonical one."""
    head, key, tail = piece.partition(_SIZE_KEY)
    if key and head[:9] == _PRICE_KEY and tail[-1:] == b'"':
        whole, dot, frac = head[9:].partition(b".")
        if whole.isdigit() and len(frac) <= 4 and (frac.isdigit() or not dot):
            price = int(whole + frac.ljust(4, b"0"))
            _remember(_PRICE_HEADS, head, price)
            whole, dot, frac = tail[:-1].partition(b".")
            if whole.isdigit() and len(frac) <= 6 and (frac.isdigit() or not dot):
                return price, int(whole + frac.ljust(6, b"0"))
    try:
        level = _LEVEL.decode(b"{" + piece + b"}")
        return parse_price(level.price), parse_size(level.size)
    except (msgspec.DecodeError, ValueError):
        return None
