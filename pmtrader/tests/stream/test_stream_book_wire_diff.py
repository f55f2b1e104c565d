"""Reading only what changed in a ``book`` frame gives exactly what parsing the whole frame gives.

``Book.apply_snapshot_wire`` compares each side with the one it last applied and parses only the
levels that changed (``pmtrader._book_wire``: a resized best level, the last or the first level,
the texts between the runs both sides share). These tests replay evolving feeds (a trade or two
between frames, as the venue re-sends whole books) in every spelling JSON allows, with frames
the venue must never send mixed in, and check every frame against a fresh book that parses the
whole frame: the same levels, top of book, timestamp and hash, or the same error (type and
message) with the book left exactly as it was.
"""

from __future__ import annotations

import random

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pmtrader._book_wire import DIFF_BACKOFF, MAX_CHANGES, SideIndex
from pmtrader.book import AMOUNT_SCALE, PRICE_SCALE, Book, format_price, format_size
from pmtrader.errors import BookIntegrityError, FeedDecodeError
from pmtrader.wire import RawBookEvent, decode_market_raw

# One level as the test keeps it: price (1e-4), size (1e-6) and how it is spelled on the wire.
Level = list[int]
# Spellings JSON allows for the same level, the canonical one first.
CANONICAL, PADDED, SPACED, KEYS_SWAPPED, ESCAPED, EXTRA_KEY, BARE_DOT = range(7)
# Spellings that make the frame invalid: each must give the full parse's error.
NEGATIVE, EXPONENT, TOO_FINE, NO_SIZE, NUMBER, SPLIT_IN_STRING = range(7, 13)
VALID_STYLES = range(7)
INVALID_STYLES = range(7, 13)


def _spell(price: int, size: int, style: int) -> str:
    p, s = format_price(price), format_size(size)
    if style == PADDED:
        p, s = (p + "0" if "." in p else p + ".0"), (s + "0" if "." in s else s + ".000")
    elif style == ESCAPED:
        p = p[:-1] + f"\\u{ord(p[-1]):04x}"
    elif style == BARE_DOT:
        p, s = p.removeprefix("0") if p.startswith("0.") else p, s if "." in s else s + "."
    elif style == NEGATIVE:
        s = "-" + s
    elif style == EXPONENT:
        s = s.split(".")[0] + "e0"
    elif style == TOO_FINE:
        s = s + ("0000001" if "." not in s else "0000001"[len(s.split(".")[1]) :])
    if style == SPACED:
        return f'{{"price": "{p}", "size": "{s}"}}'
    if style == KEYS_SWAPPED:
        return f'{{"size":"{s}","price":"{p}"}}'
    if style == EXTRA_KEY:
        return f'{{"price":"{p}","size":"{s}","note":"}},{{"}}'
    if style == NO_SIZE:
        return f'{{"price":"{p}"}}'
    if style == NUMBER:
        return f'{{"price":{p},"size":"{s}"}}'
    if style == SPLIT_IN_STRING:
        # A level whose extra string holds a whole level: splitting on "},{" cuts inside it.
        return f'{{"price":"{p}","size":"{s}","x":"}},{{\\"price\\":\\"0.5\\",\\"size\\":\\"1\\""}}'
    return f'{{"price":"{p}","size":"{s}"}}'


def _side(levels: list[Level], sep: str = ",") -> bytes:
    return ("[" + sep.join(_spell(*level) for level in levels) + "]").encode()


def _state(book: Book) -> tuple[object, ...]:
    return (
        book.levels("BUY"),
        book.levels("SELL"),
        book.bid,
        book.bid_size,
        book.ask,
        book.ask_size,
        book.timestamp,
        book.hash,
        book.stale,
    )


def _outcome(
    book: Book, bids: bytes | msgspec.Raw, asks: bytes | msgspec.Raw, n: int
) -> tuple[object, ...]:
    """What applying the frame gives: the book's state, or the error and the untouched state."""
    before = _state(book)
    try:
        book.apply_snapshot_wire(bids, asks, timestamp=n, hash=f"h{n}")
    except (BookIntegrityError, FeedDecodeError, ValueError) as exc:
        assert _state(book) == before, "a refused frame changed the book"
        return ("refused", type(exc), str(exc))
    return ("applied", _state(book))


def _check(book: Book, bids: bytes, asks: bytes, n: int) -> None:
    expected = _outcome(Book("tok"), bids, asks, n)  # a fresh book parses the whole frame
    assert _outcome(book, bids, asks, n) == expected, (bids, asks)


_size = st.one_of(
    st.sampled_from([AMOUNT_SCALE, 5 * AMOUNT_SCALE, 250 * AMOUNT_SCALE, 10_000]),
    st.integers(500, 10_000_000).map(lambda cents: cents * 10_000),
    st.integers(1, 50_000_000_000),
)


def _initial(rng: random.Random) -> tuple[list[Level], list[Level]]:
    mid = rng.randrange(3_000, 7_000) // 100 * 100
    bids = [[mid - 100 * k - rng.choice((0, 0, 10)), 0, CANONICAL] for k in range(1, 12)]
    asks = [[mid + 100 * k + rng.choice((0, 0, 10)), 0, CANONICAL] for k in range(0, 11)]
    for level in bids + asks:
        level[1] = rng.choice((5, 10, 100)) * AMOUNT_SCALE + rng.randrange(3) * 10_000
    bids.sort()
    asks.sort(reverse=True)
    return bids, asks


def _mutate(data: st.DataObject, side: list[Level], best_last_is_max: bool) -> None:
    """One trade-like change to a side, kept in wire order (best level last)."""
    op = data.draw(st.sampled_from(["resize_best", "resize", "remove", "insert", "restyle"]))
    if op == "insert" or not side:
        price = data.draw(st.integers(1, PRICE_SCALE - 1))
        if all(level[0] != price for level in side):
            side.append([price, data.draw(_size), CANONICAL])
            side.sort(key=lambda level: level[0], reverse=not best_last_is_max)
        return
    at = len(side) - 1 if op == "resize_best" else data.draw(st.integers(0, len(side) - 1))
    if op in {"resize_best", "resize"}:
        side[at][1] = data.draw(_size)
    elif op == "remove":
        del side[at]
    else:
        side[at][2] = data.draw(st.sampled_from(VALID_STYLES))


def _adversarial(data: st.DataObject, bids: list[Level], asks: list[Level]) -> tuple[bytes, bytes]:
    """This frame only: the sides spelled or broken in a way the fast path must not get wrong."""
    bad = data.draw(
        st.sampled_from(
            [
                "same_text_both_sides",
                "duplicate_text",
                "duplicate_price",
                "reordered",
                "whitespace",
                "invalid_value",
                "zero_size",
                "out_of_range",
                "crossed",
                "trailing_comma",
            ]
        )
    )
    bids, asks = [list(level) for level in bids], [list(level) for level in asks]
    target = bids if data.draw(st.booleans()) or not asks else asks
    at = data.draw(st.integers(0, max(len(target) - 1, 0)))
    if bad == "same_text_both_sides" and asks:
        bids.append(list(asks[-1]))  # the best ask's exact text as the best bid: crossed
    elif bad == "duplicate_text" and target:
        target.insert(at, list(target[at]))
    elif bad == "duplicate_price" and target:
        target.insert(at, [target[at][0], target[at][1] + 1, CANONICAL])
    elif bad == "reordered":
        random.Random(data.draw(st.integers(0, 2**32))).shuffle(target)
    elif bad == "whitespace":
        return _side(bids, ", "), _side(asks, ", ")
    elif bad == "invalid_value" and target:
        target[at][2] = data.draw(st.sampled_from(INVALID_STYLES))
    elif bad == "zero_size" and target:
        target[at][1] = 0
    elif bad == "out_of_range" and target:
        target[at][0] = data.draw(st.sampled_from([0, PRICE_SCALE]))
    elif bad == "crossed" and bids and asks:
        bids.append([asks[-1][0] + 10 if asks[-1][0] < PRICE_SCALE - 10 else 9_999, 7, CANONICAL])
    elif bad == "trailing_comma" and target:
        bid_side, ask_side = _side(bids), _side(asks)
        if target is bids:
            return bid_side[:-1] + b",]", ask_side
        return bid_side, ask_side[:-1] + b",]"
    return _side(bids), _side(asks)


def _replay(data: st.DataObject, seed: int, *, reprice_every: int = 0) -> None:
    """An evolving feed checked frame by frame; with ``reprice_every``, about one frame in that
    many also gives one side's every level a new size (a quoter repricing its whole ladder)."""
    bids, asks = _initial(random.Random(seed))
    book = Book("tok")
    for n in range(data.draw(st.integers(5, 30))):
        for _ in range(data.draw(st.integers(0, 3))):
            if data.draw(st.booleans()):
                _mutate(data, bids, best_last_is_max=True)
            else:
                _mutate(data, asks, best_last_is_max=False)
        if reprice_every and data.draw(st.integers(1, reprice_every)) == 1:
            for level in bids if data.draw(st.booleans()) else asks:
                level[1] = data.draw(_size)
        if data.draw(st.integers(0, 4)) == 0:
            frame = _adversarial(data, bids, asks)
        else:
            frame = _side(bids), _side(asks)
        _check(book, *frame, n)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32))
def test_changed_levels_read_alone_match_the_whole_frame_parsed(
    data: st.DataObject, seed: int
) -> None:
    _replay(data, seed)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32))
def test_whole_ladders_repriced_now_and_then_still_match_the_whole_frame_parsed(
    data: st.DataObject, seed: int
) -> None:
    # Each repricing makes the diff give up and the book skip it for a while (the backoff):
    # frames then land on every path, the diff, the plain parse and the parse that re-indexes.
    _replay(data, seed, reprice_every=6)


# -- the fast paths one by one, each against the whole-frame parse ------------------------------


def _feed(frames: list[tuple[list[Level], list[Level]]]) -> None:
    book = Book("tok")
    for n, (bids, asks) in enumerate(frames):
        _check(book, _side(bids), _side(asks), n)


BIDS = [[4700, 50 * AMOUNT_SCALE, 0], [4800, 7, 0], [4900, 3 * AMOUNT_SCALE, 0]]
ASKS = [[5200, 9 * AMOUNT_SCALE, 0], [5100, 2 * AMOUNT_SCALE, 0]]


def _with(side: list[Level], at: int, **change: int) -> list[Level]:
    out = [list(level) for level in side]
    for key, value in change.items():
        out[at][{"price": 0, "size": 1, "style": 2}[key]] = value
    return out


@pytest.mark.parametrize(
    ("bids", "asks"),
    [
        (_with(BIDS, 2, size=1_500_000), ASKS),  # the best bid resized
        (BIDS, _with(ASKS, 1, size=123_456_789)),  # the best ask resized
        (_with(BIDS, 2, size=1), _with(ASKS, 1, size=2)),  # both best levels resized
        (BIDS[:-1], ASKS),  # the best bid traded away
        (_with(BIDS, 0, size=77), ASKS),  # the far bid resized
        ([[4600, 11, 0], *BIDS], ASKS),  # an order joined behind the book
        (BIDS[1:], ASKS),  # the far bid left
        (_with(BIDS, 1, size=8), ASKS),  # a level inside the book resized
        ([BIDS[0], BIDS[2]], ASKS),  # a level inside the book traded away
        ([BIDS[0], [4750, 5, 0], *BIDS[1:]], ASKS),  # a level inside the book added
        (_with(_with(BIDS, 0, size=1), 2, size=2), ASKS),  # two levels far apart
        ([*BIDS, [4950, 1, 0]], ASKS),  # a new best bid
        (_with(BIDS, 2, price=4950), ASKS),  # the best bid moved
        (_with(BIDS, 2, style=PADDED), ASKS),  # the best bid respelled
        (_with(BIDS, 2, style=ESCAPED), ASKS),
        (_with(BIDS, 2, style=EXTRA_KEY), ASKS),
        ([], ASKS),  # every bid gone
        (BIDS, []),  # every ask gone
        (_with(BIDS, 2, size=0), ASKS),  # a zero size: refused
        (_with(BIDS, 2, style=NEGATIVE), ASKS),  # refused with the parser's message
        (_with(BIDS, 2, style=SPLIT_IN_STRING), ASKS),
        (_with(BIDS, 1, style=NO_SIZE), ASKS),
        (_with(BIDS, 2, price=5100), ASKS),  # crossed: refused whole
        ([*BIDS, list(ASKS[-1])], ASKS),  # the best ask's very text among the bids
        ([*BIDS, list(BIDS[-1])], ASKS),  # the best bid's text twice
        (_with(BIDS, 2, price=4800), ASKS),  # two bids at one price
    ],
)
def test_each_kind_of_change_matches_the_whole_frame_parsed(
    bids: list[Level], asks: list[Level]
) -> None:
    # Before, the change, the change again (nothing new), then back to the start.
    _feed([(BIDS, ASKS), (bids, asks), (bids, asks), (BIDS, ASKS)])


def test_a_frame_with_whitespace_between_levels_reads_the_same() -> None:
    book = Book("tok")
    book.apply_snapshot_wire(_side(BIDS), _side(ASKS), timestamp=1)
    spaced = _with(BIDS, 2, size=4)
    _check(book, _side(spaced, ", "), _side(ASKS, ", "), 2)
    _check(book, _side(spaced), _side(ASKS), 3)


def test_json_escapes_in_a_changed_level_read_as_their_characters() -> None:
    book = Book("tok")
    book.apply_snapshot_wire(_side(BIDS), _side(ASKS), timestamp=1)
    # The best bid's size spelled "\u0034" (a JSON escape for "4"): not canonical, so the changed
    # level goes through msgspec, which reads it as 4 shares.
    side = _side(_with(BIDS, 2, size=4 * AMOUNT_SCALE)).replace(b'"size":"4"', b'"size":"\\u0034"')
    assert b"\\u0034" in side
    _check(book, side, _side(ASKS), 2)
    assert (book.bid, book.bid_size) == (4900, 4 * AMOUNT_SCALE)


def test_the_decoders_raw_sides_apply_as_they_are_and_mixed_with_bytes() -> None:
    """``RawBookEvent.bids`` (a ``msgspec.Raw``) needs no copy; bytes of it read the same."""

    def frame(bids: list[Level], asks: list[Level]) -> bytes:
        head = b'{"event_type":"book","asset_id":"tok","market":"0xm","bids":'
        return head + _side(bids) + b',"asks":' + _side(asks) + b',"timestamp":"7"}'

    feed = [
        (BIDS, ASKS),
        (_with(BIDS, 2, size=5), ASKS),  # the best bid resized
        (_with(BIDS, 2, size=5), ASKS),  # nothing new
        (_with(BIDS, 1, size=9), _with(ASKS, 0, size=3)),  # inside the book, both sides
        ([*BIDS, list(BIDS[-1])], ASKS),  # refused: a level twice
        (BIDS[1:], ASKS[:1]),
    ]
    book, raw_only = Book("tok"), Book("tok")
    for n, (bids, asks) in enumerate(feed):
        [event] = decode_market_raw(frame(bids, asks))
        assert isinstance(event, RawBookEvent)
        # Alternate: the Raw sides as they are, then bytes of them.
        sides = (event.bids, event.asks) if n % 2 else (bytes(event.bids), bytes(event.asks))
        expected = _outcome(Book("tok"), bytes(event.bids), bytes(event.asks), n)
        assert _outcome(book, *sides, n) == expected
        assert _outcome(raw_only, event.bids, event.asks, n) == expected


def _bid_index(book: Book) -> SideIndex | None:
    """The bids' level index (``None`` while the book skips the diff): the diff updates it in
    place, a full parse builds a new one."""
    return None if book._wire is None else book._wire[4]


def test_a_run_of_repriced_ladders_skips_the_diff_then_takes_it_again() -> None:
    """After the diff gives up (every level new), the next ``DIFF_BACKOFF`` snapshots are parsed
    whole without an index; the last of them re-indexes, and a calm feed is back on the diff.

    ``Book._wire_backoff`` (snapshots left before the diff is tried again) and ``Book._wire``
    (the index, ``None`` while skipping) are read here to see the switch happen: the results are
    checked against the whole-frame parse either way.
    """
    rng = random.Random(20260428)
    bids, asks = _initial(rng)
    assert len(bids) > MAX_CHANGES  # repricing every bid is too much for the diff
    book = Book("tok")
    frames = iter(range(1, 1_000))

    def step() -> tuple[int, SideIndex | None]:
        _check(book, _side(bids), _side(asks), next(frames))
        return book._wire_backoff, _bid_index(book)

    assert step()[0] == 0  # the first snapshot is indexed
    seen = []
    for _ in range(2 * DIFF_BACKOFF + 3):
        for level in bids:
            level[1] = rng.randrange(1, 50_000_000_000)
        backoff, index = step()
        assert (index is None) == (backoff > 0)
        seen.append(backoff)
    cycle = [*range(DIFF_BACKOFF, 0, -1), 0]  # give up, skip, re-index on the last one
    assert seen == (cycle * 3)[: len(seen)]

    # A refused frame while skipping: the same error as the whole parse, nothing changed.
    assert book._wire_backoff > 0
    backoff = book._wire_backoff
    _check(book, _side(_with(bids, 0, style=NEGATIVE)), _side(asks), next(frames))
    assert book._wire_backoff == backoff

    # The feed calms down: a trade or two a frame. Within DIFF_BACKOFF frames the book
    # re-indexes, and from then on each frame takes the diff (the index is updated in place).
    calm = 0
    while step()[0]:
        calm += 1
        bids[-1][1] += 10_000
    assert calm < DIFF_BACKOFF
    for n in range(6):
        _, before = step()
        if n % 2:
            bids[-1][1] += 10_000  # the best bid resized
        else:
            asks[n // 2][1] += 1  # an ask away from the top resized
        backoff, after = step()
        assert backoff == 0
        assert after is not None
        assert after is before


def test_a_frame_the_diff_cannot_read_does_not_stop_the_diff() -> None:
    """Only "too many levels changed" backs off: an odd spelling or a refused frame is one
    frame's full parse, and the next calm frame takes the diff again."""
    book = Book("tok")
    book.apply_snapshot_wire(_side(BIDS), _side(ASKS), timestamp=1)
    _check(book, _side(BIDS, ", "), _side(ASKS, ", "), 2)  # not compact: no index
    _check(book, _side(BIDS), _side(ASKS), 3)
    _check(book, _side([*BIDS, list(BIDS[-1])]), _side(ASKS), 4)  # refused: a level twice
    assert book._wire_backoff == 0
    index = _bid_index(book)
    assert index is not None
    _check(book, _side(_with(BIDS, 1, size=8)), _side(ASKS), 5)
    assert _bid_index(book) is index
