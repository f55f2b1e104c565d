"""pmtrader.sim: a local exchange that speaks Polymarket's CLOB V2 protocol.

The core is synchronous and free of I/O except for the optional SQLite store:

* ``matching.OrderBook``: integer price-time priority book for one token (reused by the
  backtester and the engine's dry-run gateway);
* ``Exchange``: markets, API keys, order admission with production's error strings,
  complementary YES/NO matching (mint/merge), settlement and fees, cancels, trade statuses
  (MATCHED → MINED → CONFIRMED, injectable FAILED), GTD expiry, an opt-in matching delay,
  resolution and redemption, the heartbeat dead-man switch, events for the websockets, and
  SQLite persistence (``Exchange.open(state_dir, ...)``);
* ``Catalogue``: the seeded markets and their history; ``Flow``: seeded background traders;
* ``ManualClock``/``ScaledClock``: sim time;
* ``pmtrader.sim.testkit``: helpers that build orders the way the official client does.

The server (``pmtrader sim serve``) wraps ``Exchange`` in Polymarket's REST and websocket API.
"""

from pmtrader.sim.catalogue import Catalogue, Event, FeeParams, Market, RewardParams
from pmtrader.sim.clock import Clock, ManualClock, ScaledClock
from pmtrader.sim.errors import (
    ApiKeyError,
    HeartbeatRejected,
    OrderRejected,
    SimError,
    StateError,
    UnknownMarket,
)
from pmtrader.sim.events import (
    BestBidAsk,
    BookSnapshotRequest,
    EventSink,
    LastTradePrice,
    LevelChange,
    MarketResolved,
    PriceChange,
    SimEvent,
    TickSizeChange,
    UserOrderEvent,
    UserTradeEvent,
)
from pmtrader.sim.exchange import Exchange
from pmtrader.sim.flow import Flow, FlowConfig
from pmtrader.sim.ledger import Ledger, LedgerError
from pmtrader.sim.matching import (
    AMOUNT_SCALE,
    PRICE_SCALE,
    Fill,
    OrderBook,
    RestingOrder,
    Side,
)
from pmtrader.sim.records import (
    ApiCreds,
    ApiKeyRecord,
    BalanceAllowance,
    BookSnapshot,
    CancelResult,
    MakerFill,
    OrderRecord,
    PlaceResult,
    Position,
    PricePoint,
    SignedOrder,
    Trade,
)
from pmtrader.sim.store import Store

__all__ = [
    "AMOUNT_SCALE",
    "PRICE_SCALE",
    "ApiCreds",
    "ApiKeyError",
    "ApiKeyRecord",
    "BalanceAllowance",
    "BestBidAsk",
    "BookSnapshot",
    "BookSnapshotRequest",
    "CancelResult",
    "Catalogue",
    "Clock",
    "Event",
    "EventSink",
    "Exchange",
    "FeeParams",
    "Fill",
    "Flow",
    "FlowConfig",
    "HeartbeatRejected",
    "LastTradePrice",
    "Ledger",
    "LedgerError",
    "LevelChange",
    "MakerFill",
    "ManualClock",
    "Market",
    "MarketResolved",
    "OrderBook",
    "OrderRecord",
    "OrderRejected",
    "PlaceResult",
    "Position",
    "PriceChange",
    "PricePoint",
    "RestingOrder",
    "RewardParams",
    "ScaledClock",
    "Side",
    "SignedOrder",
    "SimError",
    "SimEvent",
    "StateError",
    "Store",
    "TickSizeChange",
    "Trade",
    "UnknownMarket",
    "UserOrderEvent",
    "UserTradeEvent",
]
