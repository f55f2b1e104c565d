"""The recording format: Parquet round trips exactly; malformed files are clear errors."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pmstrat.errors import DataError
from pmstrat.recording import (
    ARROW_SCHEMA,
    MARKETS_KEY,
    EventBuilder,
    read_parquet,
    write_parquet,
)
from pmstrat.synthetic import SyntheticConfig, generate

from pmstrat import MarketInfo


def test_a_stream_round_trips_through_parquet_exactly(tmp_path: Path) -> None:
    stream = generate(SyntheticConfig(markets=2, ticks=200), seed=1)
    path = write_parquet(stream, tmp_path / "rec.parquet")
    assert not (tmp_path / "rec.parquet.partial").exists()
    back = read_parquet(path)
    assert back.markets == stream.markets
    assert back.tokens == stream.tokens
    for name in ("ts_ms", "kind", "token", "side", "price", "size"):
        assert np.array_equal(getattr(back, name), getattr(stream, name)), name
    assert pq.read_schema(path).remove_metadata() == ARROW_SCHEMA


def test_the_builder_writes_what_a_recorder_sees(tmp_path: Path) -> None:
    market = MarketInfo("0xc1", ("111", "222"), slug="m")
    b = EventBuilder([market])
    b.snapshot(1_000, "111", bids=[(4900, 10_000_000)], asks=[(5100, 5_000_000)])
    b.trade(1_500, "111", 0, 5100, 1_000_000)
    b.book(1_500, "111", 1, 5100, 4_000_000)
    b.tick(2_000, "111", 10)
    b.resolve(3_000, "111", 10_000)
    back = read_parquet(write_parquet(b.build(), tmp_path / "b.parquet"))
    assert back.kind.tolist() == [2, 0, 0, 1, 0, 3, 4]
    assert back.size.tolist() == [0, 10_000_000, 5_000_000, 1_000_000, 4_000_000, 0, 0]
    with pytest.raises(DataError, match="belongs to none"):
        b.book(1, "999", 0, 1, 1)


def test_missing_or_foreign_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no recording at"):
        read_parquet(tmp_path / "nope.parquet")
    junk = tmp_path / "junk.parquet"
    junk.write_text("not parquet")
    with pytest.raises(DataError, match="cannot read"):
        read_parquet(junk)
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"ts_ms": [1], "price": [2]}), other)
    with pytest.raises(DataError, match="missing columns kind, side, size, token"):
        read_parquet(other)
    stream = generate(SyntheticConfig(markets=1, ticks=20), seed=1)
    bare = tmp_path / "bare.parquet"
    pq.write_table(stream.to_arrow().replace_schema_metadata({}), bare)
    with pytest.raises(DataError, match=MARKETS_KEY.decode()):
        read_parquet(bare)


def test_out_of_order_rows_are_refused(tmp_path: Path) -> None:
    stream = generate(SyntheticConfig(markets=1, ticks=20), seed=1)
    table = stream.to_arrow()
    reversed_table = table.take(pa.array(list(range(len(stream) - 1, -1, -1))))
    path = tmp_path / "rev.parquet"
    pq.write_table(reversed_table.replace_schema_metadata(table.schema.metadata), path)
    with pytest.raises(DataError, match="not in time order"):
        read_parquet(path)


def test_book_snapshots_replay_both_tokens_at_each_update() -> None:
    from pmstrat.recording import book_snapshots

    market = MarketInfo("0xc1", ("111", "222"), slug="m")
    b = EventBuilder([market])
    b.snapshot(1_000, "111", bids=[(4900, 10_000_000)], asks=[(5100, 5_000_000)])
    b.snapshot(1_000, "222", bids=[(4900, 5_000_000)], asks=[(5100, 10_000_000)])
    b.trade(1_500, "111", 0, 5100, 1_000_000)  # a trade alone changes no book
    b.book(2_000, "111", 1, 5100, 4_000_000)
    b.book(2_000, "111", 0, 4800, 7_000_000)
    pairs = list(book_snapshots(b.build(), market))
    assert [(yes.ts_ms, yes.bids, yes.asks) for yes, _ in pairs] == [
        (1_000, ((4900, 10_000_000),), ((5100, 5_000_000),)),
        (2_000, ((4900, 10_000_000), (4800, 7_000_000)), ((5100, 4_000_000),)),
    ]
    assert pairs[-1][1].asks == ((5100, 10_000_000),)
    with pytest.raises(DataError, match="no events for market"):
        list(book_snapshots(b.build(), MarketInfo("0xc9", ("9", "8"), slug="x")))


def test_rows_read_back_as_typed_events() -> None:
    from pmstrat.recording import BookClear, LevelSet, Resolution, TickChange, TradePrint

    market = MarketInfo("0xc1", ("111", "222"), slug="m")
    b = EventBuilder([market])
    b.snapshot(1_000, "111", bids=[(4900, 10_000_000)], asks=[])
    b.trade(1_500, "111", 0, 5100, 1_000_000)
    b.tick(2_000, "222", 10)
    b.resolve(3_000, "111", 10_000)
    assert list(b.build().events()) == [
        BookClear(1_000, "111"),
        LevelSet(1_000, "111", 0, 4900, 10_000_000),
        TradePrint(1_500, "111", 0, 5100, 1_000_000),
        TickChange(2_000, "222", 10),
        Resolution(3_000, "111", 10_000),
    ]
