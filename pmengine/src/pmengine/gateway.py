"""Gateways: where signed orders go. The dry-run gateway never sends anything anywhere.

A gateway signs an approved request (computing the order hash locally, before anything is sent),
submits it, cancels, and answers the reconciliation questions (open orders, trades, balance).
The dry-run gateway holds no key and no HTTP client at all: it fills orders against the live book
the engine keeps, through :mod:`pmtrader.sim.matching`, the same matching code the local exchange
and the backtester use (the synchronous venue behind it is :mod:`pmengine.dryrun`, compiled with
the hot path).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from pmengine.book import Book
from pmengine.dryrun import DryFill, DryOrder, DryRunVenue
from pmengine.order import OrderRequest


@dataclass(frozen=True)
class SignedOrder:
    """An order ready to send: its locally computed hash and the exact payload to post."""

    order_hash: str
    payload: str
    token_id: str
    side: int
    price: int
    size: int
    post_only: bool = False
    order_type: str = "GTC"

    @property
    def immediate(self) -> bool:
        """FOK/FAK: fill now (all, or what is there) and never rest."""
        return self.order_type in ("FOK", "FAK")


@dataclass(frozen=True)
class VenueFill:
    """One fill of one of our orders, as the venue (or the dry-run gateway) reports it.

    ``failed``: the venue marked the fill's trade FAILED (its settlement never happened), so a
    booked fill with this id is to be reversed and an unbooked one never booked.
    """

    fill_id: str
    order_hash: str
    token_id: str
    side: int
    price: int
    size: int
    fee: int
    ts_ms: int
    failed: bool = False


@dataclass(frozen=True)
class VenueOrder:
    """One of our orders as the venue sees it."""

    order_hash: str
    token_id: str
    side: int
    price: int
    size: int
    filled: int
    status: str  # LIVE | MATCHED | CANCELED | ...


@dataclass
class SubmitResult:
    """The venue's answer to a submit: ``live``, ``matched``, ``delayed`` or ``rejected``."""

    order_hash: str
    status: str
    error: str = ""
    fills: list[VenueFill] = field(default_factory=list)
    done: bool = False  # an immediate (FAK/FOK) order: whatever did not fill is gone


class Gateway(Protocol):
    """What the engine needs from a venue connection."""

    name: str

    async def start(self) -> None:
        """Connect (no I/O happens in constructors)."""

    async def close(self) -> None:
        """Disconnect."""

    def sign(self, req: OrderRequest, *, tick: int, neg_risk: bool, now_ms: int) -> SignedOrder:
        """Build and sign an order; the hash is known before sending."""

    async def submit(self, order: SignedOrder) -> SubmitResult:
        """Send a signed order (raises ``AmbiguousSubmitError`` when the outcome is unknown)."""

    async def cancel(self, order_hashes: list[str]) -> list[str]:
        """Cancel orders; return the hashes the venue confirmed cancelled."""

    async def cancel_all(self) -> list[str]:
        """Cancel every open order of this account."""

    async def get_order(self, order_hash: str) -> VenueOrder | None:
        """Ask the venue for an order by hash (``None``: it has never seen it)."""

    async def open_orders(self) -> list[VenueOrder]:
        """Every open order of this account."""

    async def trades_since(self, after_ms: int) -> list[VenueFill]:
        """Our fills after a time (for reconciliation)."""

    async def balance(self) -> int:
        """pUSD balance in base units."""

    async def token_balances(self, tokens: list[str]) -> dict[str, int]:
        """Conditional-token balances in base units."""

    async def heartbeat(self) -> None:
        """Keep resting orders alive (the venue cancels them when heartbeats stop)."""


class DryRunGateway:
    """Fills orders locally against the engine's live books; never sends a mutating request.

    The asynchronous face of :class:`pmengine.dryrun.DryRunVenue` (compiled with the hot path),
    which holds the resting orders and fills them through :mod:`pmtrader.sim.matching`.

    Args:
        books: how to find the engine's current book of a token.
        cash: the simulated pUSD balance to start with (base units).
        clock: milliseconds now (UTC).
    """

    name = "dry-run"

    def __init__(
        self, books: Callable[[str], Book | None], *, cash: int, clock: Callable[[], int]
    ) -> None:
        self._books = books
        self._cash = cash
        self._clock = clock
        self.venue = DryRunVenue()
        self.heartbeats = 0

    @property
    def submitted(self) -> int:
        """How many orders were submitted."""
        return self.venue.submitted

    async def start(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Nothing to disconnect."""

    def sign(self, req: OrderRequest, *, tick: int, neg_risk: bool, now_ms: int) -> SignedOrder:
        """Build an unsigned stand-in order whose hash is unique within the run and across runs.

        Nothing is signed (no key is loaded in dry-run); the payload records what a live order
        would have carried, for the journal.
        """
        o = self.venue.sign(req, now_ms)
        return SignedOrder(
            o.order_hash,
            o.payload(),
            o.token_id,
            o.side,
            o.price,
            o.size,
            o.post_only,
            o.order_type,
        )

    async def submit(self, order: SignedOrder) -> SubmitResult:
        """Match at once against the book; rest the remainder locally."""
        return self.submit_now(order)

    def submit_now(self, order: SignedOrder) -> SubmitResult:
        """The synchronous core of :meth:`submit`."""
        dry = DryOrder(
            order.order_hash,
            order.token_id,
            order.side,
            order.price,
            order.size,
            post_only=order.post_only,
            order_type=order.order_type,
        )
        res = self.venue.submit(dry, self._books(order.token_id), self._clock())
        return SubmitResult(order.order_hash, res.status, res.error, _fills(res.fills), res.done)

    def on_book(self, token_id: str) -> list[VenueFill]:
        """Fill resting orders that the moving book now crosses."""
        book = self._books(token_id)
        if book is None or not self.venue.crossed_by(book):
            return []
        return _fills(self.venue.on_book(book, self._clock()))

    def on_trade(self, token_id: str, price: int, size: int) -> list[VenueFill]:
        """A trade printed through a resting order's price: that order would have filled."""
        if not self.venue.has_resting(token_id):
            return []
        return _fills(self.venue.on_trade(token_id, price, size, self._clock()))

    async def cancel(self, order_hashes: list[str]) -> list[str]:
        """Forget resting orders."""
        return self.cancel_now(order_hashes)

    def cancel_now(self, order_hashes: list[str]) -> list[str]:
        """The synchronous core of :meth:`cancel`."""
        return [h for h in order_hashes if self.venue.cancel(h)]

    async def cancel_all(self) -> list[str]:
        """Forget every resting order."""
        return self.venue.cancel_all()

    async def get_order(self, order_hash: str) -> VenueOrder | None:
        """A resting order, if it is one."""
        o = self.venue.get(order_hash)
        if o is None:
            return None
        return VenueOrder(
            order_hash, o.token_id, o.side, o.price, o.size, o.size - o.remaining, "LIVE"
        )

    async def open_orders(self) -> list[VenueOrder]:
        """Every resting order."""
        out = []
        for h in list(self.venue.resting):
            found = await self.get_order(h)
            if found is not None:
                out.append(found)
        return out

    async def trades_since(self, after_ms: int) -> list[VenueFill]:
        """Dry-run fills are reported as they happen; there is no history to ask for."""
        return []

    async def balance(self) -> int:
        """The simulated starting balance (the engine moves cash with its own fills)."""
        return self._cash

    async def token_balances(self, tokens: list[str]) -> dict[str, int]:
        """Dry-run holds no venue positions; the journal's are the truth."""
        return {}

    async def heartbeat(self) -> None:
        """Counted, not sent."""
        self.heartbeats += 1


def _fills(found: Iterable[DryFill]) -> list[VenueFill]:
    return [
        VenueFill(f.fill_id, f.order_hash, f.token_id, f.side, f.price, f.size, f.fee, f.ts_ms)
        for f in found
    ]
