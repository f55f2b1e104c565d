"""Gateways: where signed orders go. The dry-run gateway never sends anything anywhere.

A gateway signs an approved request (computing the order hash locally, before anything is sent),
submits it, cancels, and answers the reconciliation questions (open orders, trades, balance).
The dry-run gateway holds no key and no HTTP client at all: it fills orders against the live book
the engine keeps, through :mod:`pmtrader.sim.matching`, the same matching code the local exchange
and the backtester use.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pmtrader.sim.matching import OrderBook, Side

from pmengine.book import Book
from pmengine.order import OrderRequest
from pmengine.units import BUY, side_name


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
    """One fill of one of our orders, as the venue (or the dry-run gateway) reports it."""

    fill_id: str
    order_hash: str
    token_id: str
    side: int
    price: int
    size: int
    fee: int
    ts_ms: int


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


@dataclass
class _Resting:
    order: SignedOrder
    remaining: int


class DryRunGateway:
    """Fills orders locally against the engine's live books; never sends a mutating request.

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
        self._resting: dict[str, _Resting] = {}
        self._trade_seq = itertools.count(1)
        self._salt = itertools.count(1)
        self.submitted = 0
        self.heartbeats = 0

    async def start(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Nothing to disconnect."""

    def sign(self, req: OrderRequest, *, tick: int, neg_risk: bool, now_ms: int) -> SignedOrder:
        """Build an unsigned stand-in order whose hash is unique within the run.

        Nothing is signed (no key is loaded in dry-run); the payload records what a live order
        would have carried, for the journal.
        """
        salt = next(self._salt)
        payload = (
            f'{{"dryRun":true,"salt":{salt},"tokenId":"{req.token_id}",'
            f'"side":"{side_name(req.side)}","price":{req.price},"size":{req.size},'
            f'"timestamp":"{now_ms}","intent":{json.dumps(req.intent_id)}}}'
        )
        digest = hashlib.blake2b(
            payload.encode(), digest_size=32, person=b"pmengine-dryrun"
        ).hexdigest()
        return SignedOrder(
            "0x" + digest,
            payload,
            req.token_id,
            req.side,
            req.price,
            req.size,
            req.post_only,
            req.order_type,
        )

    def _mirror(self, token_id: str, taker: int) -> OrderBook | None:
        # Only the side the taker trades against: a transiently crossed feed cannot be rested
        # in a matching book, and the other side plays no part in the fill.
        book = self._books(token_id)
        if book is None or not book.updated_ms:
            return None
        mirror = OrderBook()
        if taker == BUY:
            for price, size in book.asks.items():
                mirror.add(f"a{price}", "market", Side.SELL, price, size)
        else:
            for price, size in book.bids.items():
                mirror.add(f"b{price}", "market", Side.BUY, price, size)
        return mirror

    def _take(self, order: SignedOrder, size: int) -> list[VenueFill]:
        mirror = self._mirror(order.token_id, order.side)
        if mirror is None:
            return []
        side = Side.BUY if order.side == BUY else Side.SELL
        now = self._clock()
        return [
            VenueFill(
                f"dry-{next(self._trade_seq)}",
                order.order_hash,
                order.token_id,
                order.side,
                fill.price,
                fill.size,
                0,
                now,
            )
            for fill in mirror.match(side, order.price, max_size=size)
        ]

    def _crosses(self, order: SignedOrder) -> bool:
        book = self._books(order.token_id)
        if book is None:
            return False
        if order.side == BUY:
            return 0 <= book.best_ask <= order.price
        return 0 <= order.price <= book.best_bid

    async def submit(self, order: SignedOrder) -> SubmitResult:
        """Match at once against the book; rest the remainder locally."""
        return self.submit_now(order)

    def submit_now(self, order: SignedOrder) -> SubmitResult:
        """The synchronous core of :meth:`submit` (used by the replay benchmark)."""
        self.submitted += 1
        crosses = self._crosses(order)
        if order.post_only and crosses:
            return SubmitResult(order.order_hash, "rejected", "invalid post-only order: crosses")
        if order.order_type == "FOK":
            book = self._books(order.token_id)
            mirror = self._mirror(order.token_id, order.side) if book is not None else None
            side = Side.BUY if order.side == BUY else Side.SELL
            shares = mirror.fillable(side, order.price, max_size=order.size)[0] if mirror else 0
            if shares < order.size:
                return SubmitResult(order.order_hash, "rejected", "FOK order not fully fillable")
        fills = self._take(order, order.size) if crosses else []
        filled = sum(f.size for f in fills)
        if order.immediate:
            if not fills:
                return SubmitResult(order.order_hash, "rejected", "no match for immediate order")
            return SubmitResult(order.order_hash, "matched", fills=fills, done=True)
        if filled < order.size:
            self._resting[order.order_hash] = _Resting(order, order.size - filled)
        return SubmitResult(order.order_hash, "matched" if fills else "live", fills=fills)

    def on_book(self, token_id: str) -> list[VenueFill]:
        """Fill resting orders that the moving book now crosses."""
        out: list[VenueFill] = []
        for order_hash, rest in list(self._resting.items()):
            if rest.order.token_id != token_id or not self._crosses(rest.order):
                continue
            fills = self._take(rest.order, rest.remaining)
            rest.remaining -= sum(f.size for f in fills)
            out.extend(fills)
            if rest.remaining <= 0:
                del self._resting[order_hash]
        return out

    def on_trade(self, token_id: str, price: int, size: int) -> list[VenueFill]:
        """A trade printed through a resting order's price: that order would have filled."""
        out: list[VenueFill] = []
        left = size
        for order_hash, rest in list(self._resting.items()):
            o = rest.order
            if o.token_id != token_id or left <= 0:
                continue
            if (o.side == BUY and price < o.price) or (o.side != BUY and price > o.price):
                take = min(rest.remaining, left)
                left -= take
                rest.remaining -= take
                fill_id = f"dry-{next(self._trade_seq)}"
                out.append(
                    VenueFill(
                        fill_id, order_hash, token_id, o.side, o.price, take, 0, self._clock()
                    )
                )
                if rest.remaining <= 0:
                    del self._resting[order_hash]
        return out

    async def cancel(self, order_hashes: list[str]) -> list[str]:
        """Forget resting orders."""
        return self.cancel_now(order_hashes)

    def cancel_now(self, order_hashes: list[str]) -> list[str]:
        """The synchronous core of :meth:`cancel`."""
        return [h for h in order_hashes if self._resting.pop(h, None) is not None]

    async def cancel_all(self) -> list[str]:
        """Forget every resting order."""
        done = list(self._resting)
        self._resting.clear()
        return done

    async def get_order(self, order_hash: str) -> VenueOrder | None:
        """A resting order, if it is one."""
        rest = self._resting.get(order_hash)
        if rest is None:
            return None
        o = rest.order
        return VenueOrder(
            order_hash, o.token_id, o.side, o.price, o.size, o.size - rest.remaining, "LIVE"
        )

    async def open_orders(self) -> list[VenueOrder]:
        """Every resting order."""
        out = []
        for h in list(self._resting):
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
