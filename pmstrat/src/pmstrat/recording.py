"""The market-data recording format shared by the backtester and the engine's recorder.

One recording is one Parquet file: a table of events plus the markets as file metadata. The
engine's recorder writes it; ``pmstrat backtest --data PATH`` reads it; the synthetic generator
produces the same columns in memory, so every input reaches the backtester in one shape.

Columns (one row per event, in time order; rows sharing ``ts_ms`` form one atomic update):

==========  ==========  ====================================================================
column      type        meaning
==========  ==========  ====================================================================
ts_ms       int64       UTC milliseconds
kind        int8        ``BOOK`` 0, ``TRADE`` 1, ``CLEAR`` 2, ``TICK`` 3, ``RESOLVE`` 4
token       string      token id (dictionary-encoded in the file)
side        int8        0 bid/BUY, 1 ask/SELL (the aggressor for ``TRADE``), -1 when unused
price       int32       1e-4 units (new tick for ``TICK``, payout per share for ``RESOLVE``)
size        int64       base units: a ``BOOK`` row's new aggregate level size (0 removes the
                        level); a ``TRADE`` row's traded shares; 0 otherwise
==========  ==========  ====================================================================

``BOOK`` rows are level *sets* (the venue's ``price_change`` semantics), so a full snapshot is a
``CLEAR`` row followed by one ``BOOK`` row per level. Within one timestamp, writers put level
removals and reductions before additions, so the book never looks crossed between rows.

File metadata key ``pmstrat.markets`` holds the markets as a JSON list of ``MarketInfo``
(``msgspec`` encoding); ``pmstrat.schema`` holds ``SCHEMA_VERSION``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from pmstrat.context import MarketInfo, OrderBookSnapshot
from pmstrat.errors import DataError

SCHEMA_VERSION = "1"
BOOK = 0
TRADE = 1
CLEAR = 2
TICK = 3
RESOLVE = 4
KIND_NAMES = ("BOOK", "TRADE", "CLEAR", "TICK", "RESOLVE")
NO_SIDE = -1

MARKETS_KEY = b"pmstrat.markets"
SCHEMA_KEY = b"pmstrat.schema"

ARROW_SCHEMA = pa.schema(
    [
        pa.field("ts_ms", pa.int64(), nullable=False),
        pa.field("kind", pa.int8(), nullable=False),
        pa.field("token", pa.dictionary(pa.int32(), pa.string()), nullable=False),
        pa.field("side", pa.int8(), nullable=False),
        pa.field("price", pa.int32(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),
    ]
)
"""The Arrow schema of a recording (what ``write_parquet`` writes and ``read_parquet`` checks)."""


class LevelSet(msgspec.Struct, frozen=True, gc=False):
    """A ``BOOK`` row: the level at ``price`` on ``side`` (0 bid, 1 ask) now holds ``size``."""

    ts_ms: int
    token: str
    side: int
    price: int
    size: int


class TradePrint(msgspec.Struct, frozen=True, gc=False):
    """A ``TRADE`` row: ``size`` shares traded at ``price``; ``side`` is the aggressor's."""

    ts_ms: int
    token: str
    side: int
    price: int
    size: int


class BookClear(msgspec.Struct, frozen=True, gc=False):
    """A ``CLEAR`` row: the token's book is empty (a snapshot's levels follow)."""

    ts_ms: int
    token: str


class TickChange(msgspec.Struct, frozen=True, gc=False):
    """A ``TICK`` row: the token's tick is now ``tick`` (1e-4 units)."""

    ts_ms: int
    token: str
    tick: int


class Resolution(msgspec.Struct, frozen=True, gc=False):
    """A ``RESOLVE`` row: each share of the token pays ``payout`` (1e-4 units: 10_000 or 0)."""

    ts_ms: int
    token: str
    payout: int


MarketEvent = LevelSet | TradePrint | BookClear | TickChange | Resolution
"""One recording row as a typed value (:meth:`EventStream.events`)."""

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
I16 = npt.NDArray[np.int16]
I8 = npt.NDArray[np.int8]


class EventStream:
    """A columnar stream of market events for a set of markets (see the module docstring).

    Tokens are stored as small integer codes into ``tokens`` so the columns stay numeric; the
    backtester converts each column to a Python list once and iterates those.

    Attributes:
        markets: the markets the events belong to.
        tokens: token ids; ``token`` column values index this list.
        ts_ms, kind, token, side, price, size: the columns, equal length.
    """

    __slots__ = ("kind", "markets", "price", "side", "size", "token", "tokens", "ts_ms")

    def __init__(
        self,
        *,
        markets: Sequence[MarketInfo],
        tokens: Sequence[str],
        ts_ms: I64,
        kind: I8,
        token: I16,
        side: I8,
        price: I32,
        size: I64,
    ) -> None:
        lengths = {len(ts_ms), len(kind), len(token), len(side), len(price), len(size)}
        if len(lengths) != 1:
            raise DataError(f"event columns differ in length: {sorted(lengths)}")
        self.markets = tuple(markets)
        self.tokens = tuple(tokens)
        self.ts_ms = ts_ms
        self.kind = kind
        self.token = token
        self.side = side
        self.price = price
        self.size = size

    def __len__(self) -> int:
        return len(self.ts_ms)

    def check(self) -> None:
        """Raise ``DataError`` unless timestamps ascend, kinds and codes are valid, sizes >= 0."""
        if len(self) and bool(np.any(np.diff(self.ts_ms) < 0)):
            raise DataError("events are not in time order (ts_ms must not decrease)")
        if len(self) and (int(self.kind.min()) < BOOK or int(self.kind.max()) > RESOLVE):
            raise DataError("unknown event kind (expected 0..4)")
        if len(self) and (int(self.token.min()) < 0 or int(self.token.max()) >= len(self.tokens)):
            raise DataError("token codes out of range")
        if len(self) and int(self.size.min()) < 0:
            raise DataError("negative sizes in the size column")
        known = {t for m in self.markets for t in m.tokens}
        missing = [t for t in self.tokens if t not in known]
        if missing:
            raise DataError(f"events for tokens of no listed market: {missing[:3]}")

    @property
    def start_ms(self) -> int:
        """Timestamp of the first event (0 for an empty stream)."""
        return int(self.ts_ms[0]) if len(self) else 0

    @property
    def end_ms(self) -> int:
        """Timestamp of the last event (0 for an empty stream)."""
        return int(self.ts_ms[-1]) if len(self) else 0

    def events(self) -> Iterator[MarketEvent]:
        """Yield every row as a typed event (for people and tools; replays use the columns)."""
        tokens = self.tokens
        rows = zip(
            self.ts_ms.tolist(),
            self.kind.tolist(),
            self.token.tolist(),
            self.side.tolist(),
            self.price.tolist(),
            self.size.tolist(),
            strict=True,
        )
        for ts, kind, code, side, price, size in rows:
            token = tokens[code]
            if kind == BOOK:
                yield LevelSet(ts, token, side, price, size)
            elif kind == TRADE:
                yield TradePrint(ts, token, side, price, size)
            elif kind == CLEAR:
                yield BookClear(ts, token)
            elif kind == TICK:
                yield TickChange(ts, token, price)
            else:
                yield Resolution(ts, token, price)

    def head(self, n: int) -> EventStream:
        """The first ``n`` events (views, no copy)."""
        return EventStream(
            markets=self.markets,
            tokens=self.tokens,
            ts_ms=self.ts_ms[:n],
            kind=self.kind[:n],
            token=self.token[:n],
            side=self.side[:n],
            price=self.price[:n],
            size=self.size[:n],
        )

    def to_arrow(self) -> pa.Table:
        """The stream as an Arrow table with ``ARROW_SCHEMA`` and the markets in its metadata."""
        codes = pa.array(self.token.astype(np.int32), type=pa.int32())
        tokens = pa.DictionaryArray.from_arrays(codes, pa.array(list(self.tokens), pa.string()))
        table = pa.Table.from_arrays(
            [
                pa.array(self.ts_ms, pa.int64()),
                pa.array(self.kind, pa.int8()),
                tokens,
                pa.array(self.side, pa.int8()),
                pa.array(self.price, pa.int32()),
                pa.array(self.size, pa.int64()),
            ],
            schema=ARROW_SCHEMA,
        )
        return table.replace_schema_metadata(
            {MARKETS_KEY: msgspec.json.encode(list(self.markets)), SCHEMA_KEY: SCHEMA_VERSION}
        )

    @classmethod
    def from_arrow(cls, table: pa.Table, *, source: str = "table") -> EventStream:
        """Build a stream from an Arrow table written with ``ARROW_SCHEMA``.

        Raises:
            DataError: a column is missing or mistyped, or the markets metadata is absent.
        """
        names = set(table.column_names)
        needed = set(ARROW_SCHEMA.names)
        if not needed <= names:
            missing = ", ".join(sorted(needed - names))
            raise DataError(f"{source} is not a pmstrat recording: missing columns {missing}")
        meta = table.schema.metadata or {}
        if MARKETS_KEY not in meta:
            raise DataError(f"{source} has no '{MARKETS_KEY.decode()}' metadata (the markets)")
        try:
            markets = msgspec.json.decode(meta[MARKETS_KEY], type=list[MarketInfo])
        except msgspec.DecodeError as exc:
            raise DataError(f"{source}: bad markets metadata: {exc}") from exc
        token_col = table.column("token").combine_chunks()
        if pa.types.is_dictionary(token_col.type):
            tokens = [str(t) for t in token_col.dictionary.to_pylist()]
            codes = token_col.indices.to_numpy(zero_copy_only=False).astype(np.int16)
        else:
            raw = [str(t) for t in token_col.to_pylist()]
            tokens = list(dict.fromkeys(raw))
            index = {t: i for i, t in enumerate(tokens)}
            codes = np.array([index[t] for t in raw], dtype=np.int16)

        def col(name: str, dtype: type[np.generic]) -> npt.NDArray[np.generic]:
            try:
                arr = table.column(name).to_numpy()
            except pa.ArrowInvalid as exc:
                raise DataError(f"{source}: column {name} has nulls") from exc
            out: npt.NDArray[np.generic] = arr.astype(dtype, copy=False)
            return out

        stream = cls(
            markets=markets,
            tokens=tokens,
            ts_ms=col("ts_ms", np.int64),  # type: ignore[arg-type]  # astype fixes the dtype
            kind=col("kind", np.int8),  # type: ignore[arg-type]  # astype fixes the dtype
            token=codes,
            side=col("side", np.int8),  # type: ignore[arg-type]  # astype fixes the dtype
            price=col("price", np.int32),  # type: ignore[arg-type]  # astype fixes the dtype
            size=col("size", np.int64),  # type: ignore[arg-type]  # astype fixes the dtype
        )
        stream.check()
        return stream


def write_parquet(stream: EventStream, path: str | Path) -> Path:
    """Write a recording; returns the path. Writes to a temporary name then renames it, so a
    crash never leaves a half-written file under the final name."""
    target = Path(path)
    tmp = target.with_name(target.name + ".partial")
    pq.write_table(stream.to_arrow(), tmp, compression="zstd")
    tmp.replace(target)
    return target


def read_parquet(path: str | Path) -> EventStream:
    """Read a recording written by :func:`write_parquet` or the engine's recorder.

    Raises:
        DataError: the file is missing, unreadable, or not in this schema.
    """
    source = Path(path)
    if not source.is_file():
        raise DataError(f"no recording at {source}; pass a Parquet file written by the recorder")
    try:
        table = pq.read_table(source)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"cannot read {source} as Parquet: {exc}") from exc
    return EventStream.from_arrow(table, source=str(source))


class EventBuilder:
    """Append events row by row, then freeze them into an ``EventStream`` (for recorders).

    Example:
        >>> b = EventBuilder([market])
        >>> b.book(1000, market.yes, 0, 5200, 10_000_000)
        >>> stream = b.build()
    """

    def __init__(self, markets: Sequence[MarketInfo]) -> None:
        self.markets = tuple(markets)
        self._index: dict[str, int] = {}
        self._tokens: list[str] = []
        for market in self.markets:
            for token in market.tokens:
                if token not in self._index:
                    self._index[token] = len(self._tokens)
                    self._tokens.append(token)
        self._rows: list[tuple[int, int, int, int, int, int]] = []

    def add(self, ts_ms: int, kind: int, token: str, *, side: int, price: int, size: int) -> None:
        """Append one raw row (see the column table in the module docstring)."""
        code = self._index.get(token)
        if code is None:
            raise DataError(f"token {token} belongs to none of the builder's markets")
        self._rows.append((ts_ms, kind, code, side, price, size))

    def book(self, ts_ms: int, token: str, side: int, price: int, size: int) -> None:
        """Set the aggregate size of one level (0 removes it)."""
        self.add(ts_ms, BOOK, token, side=side, price=price, size=size)

    def trade(self, ts_ms: int, token: str, side: int, price: int, size: int) -> None:
        """Record a trade: ``side`` is the aggressor's side."""
        self.add(ts_ms, TRADE, token, side=side, price=price, size=size)

    def snapshot(
        self,
        ts_ms: int,
        token: str,
        bids: Sequence[tuple[int, int]],
        asks: Sequence[tuple[int, int]],
    ) -> None:
        """Replace a token's whole book: a ``CLEAR`` row, then one ``BOOK`` row per level."""
        self.add(ts_ms, CLEAR, token, side=NO_SIDE, price=0, size=0)
        for price, size in bids:
            self.add(ts_ms, BOOK, token, side=0, price=price, size=size)
        for price, size in asks:
            self.add(ts_ms, BOOK, token, side=1, price=price, size=size)

    def tick(self, ts_ms: int, token: str, tick: int) -> None:
        """Record a tick-size change (new tick in 1e-4 units)."""
        self.add(ts_ms, TICK, token, side=NO_SIDE, price=tick, size=0)

    def resolve(self, ts_ms: int, token: str, payout: int) -> None:
        """Record resolution: ``payout`` per share in 1e-4 units (10_000 wins, 0 loses)."""
        self.add(ts_ms, RESOLVE, token, side=NO_SIDE, price=payout, size=0)

    def __len__(self) -> int:
        return len(self._rows)

    def build(self) -> EventStream:
        """Freeze the rows (stably sorted by time) into an ``EventStream``."""
        rows = sorted(self._rows, key=lambda r: r[0])
        cols = list(zip(*rows, strict=True)) if rows else [()] * 6
        stream = EventStream(
            markets=self.markets,
            tokens=self._tokens,
            ts_ms=np.array(cols[0], dtype=np.int64),
            kind=np.array(cols[1], dtype=np.int8),
            token=np.array(cols[2], dtype=np.int16),
            side=np.array(cols[3], dtype=np.int8),
            price=np.array(cols[4], dtype=np.int32),
            size=np.array(cols[5], dtype=np.int64),
        )
        stream.check()
        return stream


def book_snapshots(
    stream: EventStream, market: MarketInfo
) -> Iterator[tuple[OrderBookSnapshot, OrderBookSnapshot]]:
    """Replay a market's YES and NO books: one ``(yes, no)`` pair per timestamp that changed them.

    Raises:
        DataError: the stream holds no events for the market.
    """
    if market.yes not in stream.tokens:
        raise DataError(
            f"the recording has no events for market {market.slug or market.condition_id}"
        )
    codes = {stream.tokens.index(t): i for i, t in enumerate(market.tokens) if t in stream.tokens}
    books: list[tuple[dict[int, int], dict[int, int]]] = [({}, {}), ({}, {})]
    ticks = [market.tick, market.tick]
    rows = zip(
        stream.ts_ms.tolist(),
        stream.kind.tolist(),
        stream.token.tolist(),
        stream.side.tolist(),
        stream.price.tolist(),
        stream.size.tolist(),
        strict=True,
    )
    pending: int | None = None

    def pair(ts: int) -> tuple[OrderBookSnapshot, OrderBookSnapshot]:
        out = []
        for i, token in enumerate(market.tokens):
            bids, asks = books[i]
            out.append(
                OrderBookSnapshot(
                    token,
                    ts,
                    tuple(sorted(bids.items(), reverse=True)),
                    tuple(sorted(asks.items())),
                    ticks[i],
                )
            )
        return out[0], out[1]

    for ts, kind, code, side, price, size in rows:
        index = codes.get(code)
        if index is None:
            continue
        if pending is not None and ts != pending:
            yield pair(pending)
            pending = None
        if kind == BOOK:
            level = books[index][side]
            if size:
                level[price] = size
            else:
                level.pop(price, None)
            pending = ts
        elif kind == CLEAR:
            books[index] = ({}, {})
            pending = ts
        elif kind == TICK:
            ticks[index] = price
    if pending is not None:
        yield pair(pending)
