"""The typed events on the engine's one queue (the engine's ``tokio::select!`` arms).

Market data, venue answers, timers and control commands all become one of these and are
handled by one dispatcher, so engine state has exactly one writer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pmengine.gateway import SubmitResult, VenueFill, VenueOrder


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """A full book of one token (on subscribe, after a resync, or from REST polling)."""

    token_id: str
    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]
    ts_ms: int
    tick: int = 0
    min_size: int = 0
    recv_ns: int = 0


@dataclass(frozen=True, slots=True)
class LevelChange:
    """One price level of one token changed (size 0 removes it)."""

    token_id: str
    side: int
    price: int
    size: int
    ts_ms: int
    recv_ns: int = 0


@dataclass(frozen=True, slots=True)
class TradePrint:
    """A trade printed on a token (anyone's)."""

    token_id: str
    price: int
    size: int
    side: int
    ts_ms: int
    recv_ns: int = 0


@dataclass(frozen=True, slots=True)
class TickSizeChange:
    """The venue changed a token's tick size."""

    token_id: str
    tick: int


@dataclass(frozen=True, slots=True)
class MarketResolved:
    """A market resolved: ``winner`` pays 1 pUSD a share, the other tokens nothing."""

    tokens: tuple[str, ...]
    winner: str


@dataclass(frozen=True, slots=True)
class FeedStale:
    """The market feed went silent or dropped: its books can no longer be trusted."""

    tokens: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class FillEvent:
    """One of our orders filled."""

    fill: VenueFill


@dataclass(frozen=True, slots=True)
class SubmitAck:
    """The answer to a submit (``result``), or why there is none (``error``, ``ambiguous``)."""

    order_hash: str
    result: SubmitResult | None
    error: str = ""
    ambiguous: bool = False
    sent_ns: int = 0


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """What the venue says about one of our orders (from a lookup by hash or the user feed)."""

    order_hash: str
    venue: VenueOrder | None
    resubmit: bool = False


@dataclass(frozen=True, slots=True)
class CancelAck:
    """The venue confirmed these orders cancelled."""

    order_hashes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Timer:
    """The periodic timer (every ``TICK_INTERVAL_MS``)."""

    now_ms: int


@dataclass(frozen=True, slots=True)
class Kill:
    """Kill switch: HALTED, cancel everything, submit nothing."""

    source: str


@dataclass(frozen=True, slots=True)
class Resume:
    """``pmengine resume`` cleared the kill switch."""

    source: str


@dataclass(frozen=True, slots=True)
class Shutdown:
    """Stop: strategies' on_stop, cancel all, flush the journal, exit."""

    reason: str = "signal"


@dataclass(slots=True)
class Batch:
    """Market events gathered in one dispatcher pass (internal)."""

    changes: dict[str, int] = field(default_factory=dict)
    first_recv_ns: int = 0


Event = (
    BookSnapshot
    | LevelChange
    | TradePrint
    | TickSizeChange
    | MarketResolved
    | FeedStale
    | FillEvent
    | SubmitAck
    | OrderUpdate
    | CancelAck
    | Timer
    | Kill
    | Resume
    | Shutdown
)
