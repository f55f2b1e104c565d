"""The synthetic generator: seeded, uncrossed, mirrored YES/NO books, and the venue's quirks."""

import numpy as np
import pytest
from pmstrat.errors import DataError
from pmstrat.recording import BOOK, CLEAR, RESOLVE, TICK, TRADE, EventStream
from pmstrat.synthetic import SyntheticConfig, generate
from pmstrat.units import PRICE_SCALE


def _columns(stream: EventStream) -> list[np.ndarray]:
    return [stream.ts_ms, stream.kind, stream.token, stream.side, stream.price, stream.size]


def _books_by_ts(
    stream: EventStream,
) -> dict[int, dict[int, tuple[dict[int, int], dict[int, int]]]]:
    """Every token's book after each timestamp, replayed naively from the rows."""
    books: dict[int, tuple[dict[int, int], dict[int, int]]] = {
        code: ({}, {}) for code in range(len(stream.tokens))
    }
    out: dict[int, dict[int, tuple[dict[int, int], dict[int, int]]]] = {}
    rows = zip(*(c.tolist() for c in _columns(stream)), strict=True)
    for ts, kind, code, side, price, size in rows:
        if kind == BOOK:
            if size:
                books[code][side][price] = size
            else:
                del books[code][side][price]
        elif kind == CLEAR:
            books[code] = ({}, {})
        out[ts] = {c: (dict(b[0]), dict(b[1])) for c, b in books.items()}
    return out


def test_same_seed_same_stream_and_another_seed_differs() -> None:
    config = SyntheticConfig(markets=2, ticks=300)
    a, b, c = generate(config, seed=7), generate(config, seed=7), generate(config, seed=8)
    for x, y in zip(_columns(a), _columns(b), strict=True):
        assert np.array_equal(x, y)
    assert a.markets == b.markets
    assert a.markets != c.markets
    assert not np.array_equal(a.price, c.price[: len(a.price)]) or len(a) != len(c)


def test_books_are_never_crossed_and_no_mirrors_yes() -> None:
    stream = generate(SyntheticConfig(markets=1, ticks=400, vol=0.08), seed=21)
    yes, no = 0, 1
    for books in _books_by_ts(stream).values():
        yes_bids, yes_asks = books[yes]
        if yes_bids and yes_asks:
            assert max(yes_bids) < min(yes_asks)
        assert books[no][0] == {PRICE_SCALE - p: s for p, s in yes_asks.items()}
        assert books[no][1] == {PRICE_SCALE - p: s for p, s in yes_bids.items()}


def test_prices_sit_on_the_tick_and_the_tick_turns_fine_near_the_extremes() -> None:
    stream = generate(SyntheticConfig(markets=3, ticks=1500, vol=0.08), seed=4)
    ticks = dict.fromkeys(range(len(stream.tokens)), 100)
    switches = 0
    rows = zip(*(c.tolist() for c in _columns(stream)), strict=True)
    for _, kind, code, _, price, size in rows:
        if kind == TICK:
            ticks[code] = price
            switches += 1
        elif kind == BOOK and size:
            assert price % ticks[code] == 0
            assert 0 < price < PRICE_SCALE
            assert size % 10_000 == 0  # whole hundredths of a share
    assert switches > 0
    fine_levels = stream.price[(stream.kind == BOOK) & (stream.price % 100 != 0)]
    assert len(fine_levels) > 0
    # Fine prices only appear near the extremes (the touch within 0.04 of 0 or 1, plus depth).
    assert bool(np.all((fine_levels < 700) | (fine_levels > 9300)))


def test_spreads_widen_and_books_thin_into_expiry() -> None:
    config = SyntheticConfig(markets=1, ticks=2000, vol=0.002, jump_rate=0.0)
    stream = generate(config, seed=9)
    by_ts = _books_by_ts(stream)
    stamps = sorted(by_ts)

    def spread_and_depth(stamps: list[int]) -> list[tuple[int, int]]:
        out = []
        for ts in stamps:
            bids, asks = by_ts[ts][0]
            if bids and asks:
                out.append((min(asks) - max(bids), sum(bids.values()) + sum(asks.values())))
        return out

    early = spread_and_depth(stamps[10:200])
    late = spread_and_depth(stamps[-200:-5])
    assert len(early) > 100
    assert len(late) > 100
    assert np.mean([s for s, _ in late]) > np.mean([s for s, _ in early])
    assert np.mean([d for _, d in late]) < np.mean([d for _, d in early])


def test_resolution_clears_the_books_and_pays_one_outcome() -> None:
    stream = generate(SyntheticConfig(markets=4, ticks=200), seed=2)
    resolve = stream.kind == RESOLVE
    assert int(resolve.sum()) == 8
    payouts = stream.price[resolve].reshape(4, 2)  # YES then NO for each market
    assert set(payouts.flatten().tolist()) <= {0, PRICE_SCALE}
    assert bool(np.all(payouts.sum(axis=1) == PRICE_SCALE))  # exactly one outcome pays
    assert int((stream.kind == CLEAR).sum()) == 8
    assert int((stream.kind == TRADE).sum()) > 0
    assert stream.markets[0].end_ms == stream.end_ms


def test_impossible_configurations_are_refused() -> None:
    with pytest.raises(DataError, match="at least 1 market and 2 ticks"):
        generate(SyntheticConfig(ticks=1))
    with pytest.raises(DataError, match="gap_prob"):
        generate(SyntheticConfig(gap_prob=1.5))
