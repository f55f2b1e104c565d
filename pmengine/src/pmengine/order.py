"""The order lifecycle, keyed by the order hash computed locally before sending (mypyc-compiled).

States::

    INTENT → SIGNED → SUBMITTED → LIVE → PARTIALLY_FILLED → FILLED
                         │  ╲        ╲          ╲
                         │   UNKNOWN   CANCELLED | EXPIRED
                         └→ REJECTED

``UNKNOWN`` is the state after an ambiguous submit (timeout, connection reset): the engine asks the
venue for the order by its hash and never signs the intent again. An intent is a strategy's
request; while it has a working order, the same intent is refused, so no intent ever has two live
orders.
"""

from __future__ import annotations

from typing import Final, final

from pmengine.errors import DuplicateIntentError, IllegalTransitionError
from pmengine.units import BUY, notional_ceil

try:
    from mypy_extensions import mypyc_attr
except ImportError:  # pmengine does not depend on it: the decorator only means something to mypyc
    from pmengine._mypyc import mypyc_attr

INTENT: Final = "INTENT"
SIGNED: Final = "SIGNED"
SUBMITTED: Final = "SUBMITTED"
UNKNOWN: Final = "UNKNOWN"
LIVE: Final = "LIVE"
PARTIALLY_FILLED: Final = "PARTIALLY_FILLED"
FILLED: Final = "FILLED"
CANCELLED: Final = "CANCELLED"
REJECTED: Final = "REJECTED"
EXPIRED: Final = "EXPIRED"

TERMINAL_STATES: Final = frozenset({FILLED, CANCELLED, REJECTED, EXPIRED})
ALL_STATES: Final = frozenset(
    {
        INTENT,
        SIGNED,
        SUBMITTED,
        UNKNOWN,
        LIVE,
        PARTIALLY_FILLED,
        FILLED,
        CANCELLED,
        REJECTED,
        EXPIRED,
    }
)

# Which state may follow which. Fills can race the submit acknowledgement, so SUBMITTED and
# UNKNOWN may go straight to a fill state.
_ALLOWED: Final = {
    INTENT: frozenset({SIGNED, REJECTED}),
    SIGNED: frozenset({SUBMITTED, REJECTED, CANCELLED}),
    SUBMITTED: frozenset({LIVE, PARTIALLY_FILLED, FILLED, REJECTED, UNKNOWN, CANCELLED, EXPIRED}),
    UNKNOWN: frozenset({SUBMITTED, LIVE, PARTIALLY_FILLED, FILLED, REJECTED, CANCELLED, EXPIRED}),
    LIVE: frozenset({PARTIALLY_FILLED, FILLED, CANCELLED, EXPIRED}),
    PARTIALLY_FILLED: frozenset({PARTIALLY_FILLED, FILLED, CANCELLED, EXPIRED}),
    FILLED: frozenset(),
    CANCELLED: frozenset(),
    REJECTED: frozenset(),
    EXPIRED: frozenset(),
}


# Orders and requests hold only strings and numbers, so they can never be part of a reference
# cycle: compiled, they stay out of the cycle collector's lists (mypyc's ``acyclic``), and a
# request, short-lived, is allocated from a one-instance free list.
@final
@mypyc_attr(acyclic=True)
class Order:
    """One order: what was asked, what the venue did with it, and where it is in its life."""

    order_hash: str
    intent_id: str
    strategy: str
    token_id: str
    side: int
    price: int
    size: int
    filled: int
    state: str
    created_ms: int
    updated_ms: int
    reason: str
    cancel_requested: bool
    payload: str

    def __init__(
        self,
        order_hash: str,
        intent_id: str,
        *,
        strategy: str,
        token_id: str,
        side: int,
        price: int,
        size: int,
        created_ms: int,
        state: str = INTENT,
        filled: int = 0,
        payload: str = "",
    ) -> None:
        self.order_hash = order_hash
        self.intent_id = intent_id
        self.strategy = strategy
        self.token_id = token_id
        self.side = side
        self.price = price
        self.size = size
        self.filled = filled
        self.state = state
        self.created_ms = created_ms
        self.updated_ms = created_ms
        self.reason = ""
        self.cancel_requested = False
        self.payload = payload

    @property
    def remaining(self) -> int:
        """Size (base units) still able to fill."""
        if self.state in TERMINAL_STATES:
            return 0
        return self.size - self.filled

    @property
    def is_working(self) -> bool:
        """Whether the order may still fill (not terminal)."""
        return self.state not in TERMINAL_STATES

    def reserved_cash(self) -> int:
        """Cash a working BUY can still spend (base units, rounded up); 0 for SELLs."""
        if self.side != BUY:
            return 0
        return notional_ceil(self.price, self.remaining)

    def __repr__(self) -> str:
        return (
            f"Order({self.order_hash[:12]}… {self.state} {self.strategy} {self.token_id[:10]} "
            f"side={self.side} price={self.price} size={self.size} filled={self.filled})"
        )


@final
class OrderBookkeeper:
    """Every order the engine knows, by hash, and the latest order of each intent."""

    orders: dict[str, Order]
    by_intent: dict[str, Order]
    live: dict[str, Order]

    def __init__(self) -> None:
        self.orders = {}
        self.by_intent = {}
        # The working orders only, kept in step with every state change, so that risk checks
        # cost O(open orders), not O(history).
        self.live = {}

    def _track(self, order: Order) -> None:
        if order.is_working:
            self.live[order.order_hash] = order
        elif order.order_hash in self.live:
            del self.live[order.order_hash]

    def working_for_intent(self, intent_id: str) -> Order | None:
        """The intent's working order, if it has one."""
        order = self.by_intent.get(intent_id)
        if order is None or not order.is_working:
            return None
        return order

    def add(self, order: Order) -> None:
        """Track a new order.

        Raises:
            DuplicateIntentError: the intent already has a working order, or the hash is known.
        """
        if self.working_for_intent(order.intent_id) is not None:
            if order.order_hash in self.orders:
                raise DuplicateIntentError(f"order {order.order_hash} is already tracked")
            raise DuplicateIntentError(f"intent {order.intent_id} already has a working order")
        # One probe both checks the hash is new and tracks the order.
        if self.orders.setdefault(order.order_hash, order) is not order:
            raise DuplicateIntentError(f"order {order.order_hash} is already tracked")
        self.by_intent[order.intent_id] = order
        self._track(order)

    def restore(self, order: Order) -> None:
        """Track an order loaded from the journal (no duplicate check: the journal is truth)."""
        self.orders[order.order_hash] = order
        latest = self.by_intent.get(order.intent_id)
        if order.is_working or latest is None or latest.order_hash == order.order_hash:
            # (a newer copy of the intent's latest order replaces the one held)
            self.by_intent[order.intent_id] = order
        self._track(order)

    def get(self, order_hash: str) -> Order | None:
        """The order with this hash, if known."""
        return self.orders.get(order_hash)

    def transition(self, order_hash: str, state: str, now_ms: int, reason: str = "") -> Order:
        """Move an order to ``state``.

        Raises:
            IllegalTransitionError: unknown order or a transition the lifecycle forbids.
        """
        order = self.orders.get(order_hash)
        if order is None:
            raise IllegalTransitionError(f"unknown order {order_hash}")
        self.move(order, state, now_ms, reason)
        return order

    def move(self, order: Order, state: str, now_ms: int, reason: str = "") -> None:
        """:meth:`transition` of an order already in hand (one of :attr:`orders`).

        Raises:
            IllegalTransitionError: a transition the lifecycle forbids.
        """
        old = order.state
        if state == old and state != PARTIALLY_FILLED:
            return
        if state not in _ALLOWED[old]:
            raise IllegalTransitionError(f"order {order.order_hash}: {old} → {state} not allowed")
        order.state = state
        order.updated_ms = now_ms
        if reason:
            order.reason = reason
        # Terminal states lead nowhere, so only a move into one changes what is working.
        if state in TERMINAL_STATES and order.order_hash in self.live:
            del self.live[order.order_hash]

    def close_filled(self, order_hash: str, state: str, now_ms: int, reason: str) -> None:
        """End a partly filled order that the venue no longer holds (reconciliation)."""
        order = self.orders[order_hash]
        order.state = state
        order.updated_ms = now_ms
        order.reason = reason
        self._track(order)

    def apply_fill(self, order_hash: str, size: int, now_ms: int) -> Order:
        """Add a fill of ``size`` base units; the order becomes partially filled or filled.

        Fills beyond the order's size (price improvement on a marketable BUY gives more shares)
        are counted and close the order.

        Raises:
            IllegalTransitionError: unknown order, non-positive size, or a terminal order that is
                not ``FILLED``/``CANCELLED`` (a late fill of a cancelled order still counts).
        """
        order = self.orders.get(order_hash)
        if order is None:
            raise IllegalTransitionError(f"fill for unknown order {order_hash}")
        self.fill(order, size, now_ms)
        return order

    def fill(self, order: Order, size: int, now_ms: int) -> None:
        """:meth:`apply_fill` of an order already in hand (one of :attr:`orders`).

        Raises:
            IllegalTransitionError: a non-positive size.
        """
        if size <= 0:
            raise IllegalTransitionError(f"fill size must be positive, got {size}")
        order.filled += size
        order.updated_ms = now_ms
        if order.state in TERMINAL_STATES:
            # A fill that raced a cancel: the quantity is real, the state stays terminal.
            return
        order.state = FILLED if order.filled >= order.size else PARTIALLY_FILLED
        self._track(order)

    def working(self) -> list[Order]:
        """All orders that may still fill, oldest first."""
        return list(self.live.values())

    def working_count(self) -> int:
        """How many orders may still fill."""
        return len(self.live)

    def forget_terminal(self, keep: int) -> None:
        """Drop terminal orders beyond the most recent ``keep`` (bounded memory)."""
        terminal = [o for o in self.orders.values() if not o.is_working]
        if len(terminal) <= keep:
            return
        terminal.sort(key=_updated)
        for order in terminal[: len(terminal) - keep]:
            del self.orders[order.order_hash]
            latest = self.by_intent.get(order.intent_id)
            if latest is not None and latest.order_hash == order.order_hash:
                del self.by_intent[order.intent_id]


def _updated(order: Order) -> int:
    return order.updated_ms


@final
@mypyc_attr(acyclic=True, free_list_len=1)
class OrderRequest:
    """What a strategy asks for, in integers, before risk and signing."""

    strategy: str
    intent_id: str
    token_id: str
    side: int
    price: int
    size: int
    post_only: bool
    created_ms: int
    order_type: str

    def __init__(
        self,
        strategy: str,
        intent_id: str,
        *,
        token_id: str,
        side: int,
        price: int,
        size: int,
        post_only: bool = False,
        created_ms: int = 0,
        order_type: str = "GTC",
    ) -> None:
        self.strategy = strategy
        self.intent_id = intent_id
        self.token_id = token_id
        self.side = side
        self.price = price
        self.size = size
        self.post_only = post_only
        self.created_ms = created_ms
        self.order_type = order_type

    def __repr__(self) -> str:
        return (
            f"OrderRequest({self.strategy} {self.intent_id} {self.token_id[:10]} side={self.side} "
            f"price={self.price} size={self.size})"
        )
