"""The dry-run venue: resting orders, crossing checks and fills, synchronous (mypyc-compiled).

This is the venue a dry-run engine trades against, without I/O and without a clock (times come in
as arguments). It signs nothing: an order's hash is a stand-in id (a random run id and a sequence
number, so it is unique within the run by construction, and across runs, as the journal needs),
and the payload a live order would have carried is written out when the journal asks for it. It
rests what does not fill, and it fills

* an order that crosses the engine's live book, through :mod:`pmtrader.sim.matching` (the same
  matching code the local exchange and the backtester use), against the levels of the opposite
  side that its limit price can reach;
* a resting order that a trade prints through, at the order's own price, up to the printed size.

:class:`pmengine.gateway.DryRunGateway` wraps it as an asynchronous gateway for the engine, and
:class:`pmengine.replay.ReplayDriver` calls it directly. Resting orders are kept per token, in
arrival order, with the token's highest resting bid and lowest resting offer, so a book change
that crosses nothing costs two comparisons.
"""

from __future__ import annotations

import secrets
from json.encoder import encode_basestring_ascii
from typing import Final, final

from pmtrader.sim.matching import OrderBook, Side

from pmengine.book import Book
from pmengine.order import OrderRequest
from pmengine.units import BUY, side_name

try:
    from mypy_extensions import mypyc_attr
except ImportError:  # pmengine does not depend on it: the decorator only means something to mypyc
    from pmengine._mypyc import mypyc_attr

#: A fill-or-kill order: all of it now, or nothing.
FOK: Final = "FOK"
#: A fill-and-kill order: what is there now, the rest is cancelled.
FAK: Final = "FAK"

REJECT_POST_ONLY: Final = "invalid post-only order: crosses"
REJECT_FOK: Final = "FOK order not fully fillable"
REJECT_IMMEDIATE: Final = "no match for immediate order"

#: An order hash is "0x", the venue's 46-hex-digit run id, then the 18 decimal digits of this plus
#: the order's sequence number: 66 characters, like a real order hash, with no formatting call.
SEQ_BASE: Final = 10**17

#: No resting BUY / SELL on a token: below / above every price a book can hold (and small
#: enough to stay a native int when compiled: mypyc's short ints stop just under 2**62).
NO_BUY: Final = -1
NO_SELL: Final = 1 << 60


# Dry-run orders, fills and answers hold only strings, numbers and fills, so they can never be
# part of a reference cycle: compiled, they stay out of the cycle collector's lists (mypyc's
# ``acyclic``; a resting order is found through its token, never linked back to it). An amend
# frees one dry-run order just before it makes the next: a one-instance free list serves it.
@final
@mypyc_attr(acyclic=True, free_list_len=1)
class DryOrder:
    """A dry-run order: its stand-in hash, what it asks for, and what of it still rests.

    ``salt``, ``ts_ms`` and ``intent_id`` are what :meth:`payload` records besides the order's
    terms (0, 0 and ``""`` for an order the venue did not sign itself).
    """

    order_hash: str
    token_id: str
    side: int
    price: int
    size: int
    remaining: int
    post_only: bool
    order_type: str
    salt: int
    ts_ms: int
    intent_id: str

    def __init__(
        self,
        order_hash: str,
        token_id: str,
        side: int,
        price: int,
        size: int,
        *,
        post_only: bool = False,
        order_type: str = "GTC",
        salt: int = 0,
        ts_ms: int = 0,
        intent_id: str = "",
    ) -> None:
        self.order_hash = order_hash
        self.token_id = token_id
        self.side = side
        self.price = price
        self.size = size
        self.remaining = size
        self.post_only = post_only
        self.order_type = order_type
        self.salt = salt
        self.ts_ms = ts_ms
        self.intent_id = intent_id

    @property
    def immediate(self) -> bool:
        """FOK/FAK: fill now (all, or what is there) and never rest."""
        return self.order_type in (FOK, FAK)

    def crosses(self, book: Book) -> bool:
        """Whether the book's opposite side reaches this order's limit price."""
        if self.side == BUY:
            return 0 <= book.best_ask <= self.price
        return 0 <= self.price <= book.best_bid

    def payload(self) -> str:
        """The JSON a live order would have carried (for the journal; nothing is signed)."""
        return (
            f'{{"dryRun":true,"salt":{self.salt},"tokenId":"{self.token_id}",'
            f'"side":"{side_name(self.side)}","price":{self.price},"size":{self.size},'
            f'"timestamp":"{self.ts_ms}","intent":{json_string(self.intent_id)}}}'
        )


@final
@mypyc_attr(acyclic=True)
class DryFill:
    """One dry-run fill of one of our orders (the fee is always 0: nothing reaches a venue)."""

    seq: int
    order_hash: str
    token_id: str
    side: int
    price: int
    size: int
    fee: int
    ts_ms: int

    def __init__(
        self,
        seq: int,
        order_hash: str,
        *,
        token_id: str,
        side: int,
        price: int,
        size: int,
        ts_ms: int,
    ) -> None:
        self.seq = seq
        self.order_hash = order_hash
        self.token_id = token_id
        self.side = side
        self.price = price
        self.size = size
        self.fee = 0
        self.ts_ms = ts_ms

    @property
    def fill_id(self) -> str:
        """The fill's id, unique within the venue's run (``dry-<n>``)."""
        return f"dry-{self.seq}"


@final
@mypyc_attr(acyclic=True, free_list_len=1)
class DrySubmit:
    """The venue's answer to a submit: ``live``, ``matched`` or ``rejected``, and the fills."""

    status: str
    error: str
    fills: tuple[DryFill, ...]
    done: bool

    def __init__(self, status: str, error: str, fills: tuple[DryFill, ...], done: bool) -> None:
        self.status = status
        self.error = error
        self.fills = fills
        self.done = done


@final
class TokenOrders:
    """The orders resting on one token, oldest first, with the best prices among them."""

    orders: dict[str, DryOrder]
    max_buy: int
    min_sell: int

    def __init__(self) -> None:
        self.orders = {}
        self.max_buy = NO_BUY
        self.min_sell = NO_SELL

    def add(self, order: DryOrder) -> None:
        """Rest an order (after any it crossed was filled)."""
        self.orders[order.order_hash] = order
        if order.side == BUY:
            self.max_buy = max(self.max_buy, order.price)
        else:
            self.min_sell = min(self.min_sell, order.price)

    def remove(self, order: DryOrder) -> None:
        """Stop resting an order; the best prices are found again among the rest."""
        del self.orders[order.order_hash]
        self.max_buy = NO_BUY
        self.min_sell = NO_SELL
        for other in self.orders.values():
            if other.side == BUY:
                self.max_buy = max(self.max_buy, other.price)
            else:
                self.min_sell = min(self.min_sell, other.price)

    def clear(self) -> None:
        """Forget every order."""
        self.orders.clear()
        self.max_buy = NO_BUY
        self.min_sell = NO_SELL

    def crossed_by(self, book: Book) -> bool:
        """Whether the book reaches any of these orders (the best bid or offer among them)."""
        ask = book.best_ask
        bid = book.best_bid
        return (0 <= ask <= self.max_buy) or (bid >= 0 and self.min_sell <= bid)


def json_string(text: str) -> str:
    """``json.dumps(text)``: the quoted, escaped, ASCII-only JSON string (one C call; this is the
    function ``json.dumps`` itself calls for a ``str``)."""
    return encode_basestring_ascii(text)


def _mirror(book: Book, taker: int, limit: int) -> OrderBook:
    # Only the side the taker trades against (a transiently crossed feed cannot be rested in a
    # matching book, and the other side plays no part in the fill), and on it only the levels the
    # limit price reaches: matching never trades beyond the limit, so the rest cannot change a fill.
    mirror = OrderBook()
    if taker == BUY:
        for price, size in book.asks.items():
            if price <= limit:
                mirror.add(str(price), "market", Side.SELL, price, size)
    else:
        for price, size in book.bids.items():
            if price >= limit:
                mirror.add(str(price), "market", Side.BUY, price, size)
    return mirror


@final
class DryRunVenue:
    """Resting dry-run orders and their fills (see the module docstring).

    Args:
        run_id: 46 lowercase hex digits that start every order hash of this venue (default:
            random, so hashes never repeat across runs sharing a journal).

    Attributes:
        resting: every resting order by hash, oldest first.
        by_token: the same orders per token.
        submitted: how many orders were submitted.
        matched_fills: fills of orders that crossed the book (through the matching code).
        print_fills: fills of resting orders that a trade printed through.
    """

    resting: dict[str, DryOrder]
    by_token: dict[str, TokenOrders]
    submitted: int
    matched_fills: int
    print_fills: int
    _prefix: str
    _salt: int
    _fill_seq: int

    def __init__(self, *, run_id: str = "") -> None:
        run = run_id or secrets.token_hex(23)
        if len(run) != 46 or run.strip("0123456789abcdef"):
            raise ValueError(f"run_id must be 46 lowercase hex digits, not {run_id!r}")
        self.resting = {}
        self.by_token = {}
        self.submitted = 0
        self.matched_fills = 0
        self.print_fills = 0
        self._prefix = "0x" + run
        self._salt = 0
        self._fill_seq = 0

    # ---- orders -----------------------------------------------------------------------------

    def sign(self, req: OrderRequest, now_ms: int) -> DryOrder:
        """Make the stand-in order for a request; its hash is unique within the run and across
        runs (nothing is signed: dry-run never loads a key)."""
        self._salt += 1
        return DryOrder(
            self._prefix + str(SEQ_BASE + self._salt),
            req.token_id,
            req.side,
            req.price,
            req.size,
            post_only=req.post_only,
            order_type=req.order_type,
            salt=self._salt,
            ts_ms=now_ms,
            intent_id=req.intent_id,
        )

    def submit(self, order: DryOrder, book: Book | None, now_ms: int) -> DrySubmit:
        """Match at once against the book; rest the remainder (never for FOK/FAK)."""
        self.submitted += 1
        crosses = book is not None and order.crosses(book)
        if order.post_only and crosses:
            return DrySubmit("rejected", REJECT_POST_ONLY, (), False)
        if order.order_type == FOK:
            shares = 0
            if book is not None and book.updated_ms:
                mirror = _mirror(book, order.side, order.price)
                side = Side.BUY if order.side == BUY else Side.SELL
                shares = mirror.fillable(side, order.price, max_size=order.size)[0]
            if shares < order.size:
                return DrySubmit("rejected", REJECT_FOK, (), False)
        # Most orders cross nothing: their answer carries the empty tuple, not a new list.
        fills: tuple[DryFill, ...] = ()
        if crosses and book is not None:
            fills = tuple(self._take(order, order.size, book, now_ms))
        if order.immediate:
            if not fills:
                return DrySubmit("rejected", REJECT_IMMEDIATE, (), False)
            return DrySubmit("matched", "", fills, True)
        for fill in fills:
            order.remaining -= fill.size
        if order.remaining > 0:
            self.resting[order.order_hash] = order
            self.orders_on(order.token_id).add(order)
        return DrySubmit("matched" if fills else "live", "", fills, False)

    def cancel(self, order_hash: str) -> bool:
        """Forget a resting order; whether it was resting."""
        order = self.resting.get(order_hash)
        if order is None:
            return False
        self._forget(order)
        return True

    def cancel_all(self) -> list[str]:
        """Forget every resting order; their hashes, oldest first."""
        done = list(self.resting)
        self.resting.clear()
        for mine in self.by_token.values():
            mine.clear()
        return done

    def get(self, order_hash: str) -> DryOrder | None:
        """A resting order, if it is one."""
        return self.resting.get(order_hash)

    def orders_on(self, token_id: str) -> TokenOrders:
        """The orders resting on a token (the same object for the venue's whole life, so a
        caller may keep it)."""
        mine = self.by_token.get(token_id)
        if mine is None:
            mine = TokenOrders()
            self.by_token[token_id] = mine
        return mine

    def has_resting(self, token_id: str) -> bool:
        """Whether any order rests on a token (only those can fill on a book change or a trade)."""
        mine = self.by_token.get(token_id)
        return mine is not None and len(mine.orders) > 0

    def crossed_by(self, book: Book) -> bool:
        """Whether the book now crosses an order resting on its token (then :meth:`on_book` has
        fills to give)."""
        mine = self.by_token.get(book.token_id)
        return mine is not None and mine.crossed_by(book)

    # ---- market data ------------------------------------------------------------------------

    def on_book(self, book: Book, now_ms: int) -> list[DryFill]:
        """Fill resting orders that the moving book now crosses, oldest first."""
        out: list[DryFill] = []
        mine = self.by_token.get(book.token_id)
        if mine is None or not mine.crossed_by(book):
            return out
        crossing = [order for order in mine.orders.values() if order.crosses(book)]
        for order in crossing:
            fills = self._take(order, order.remaining, book, now_ms)
            for fill in fills:
                order.remaining -= fill.size
                out.append(fill)
            if order.remaining <= 0:
                self._forget(order)
        return out

    def on_trade(self, token_id: str, price: int, size: int, now_ms: int) -> list[DryFill]:
        """A trade printed through resting orders' prices: those would have filled, oldest first,
        at their own prices, up to the printed size."""
        out: list[DryFill] = []
        mine = self.by_token.get(token_id)
        if mine is None:
            return out
        left = size
        done: list[DryOrder] = []
        for order in mine.orders.values():
            if left <= 0:
                break
            if (order.side == BUY and price < order.price) or (
                order.side != BUY and price > order.price
            ):
                take = order.remaining if order.remaining < left else left
                left -= take
                order.remaining -= take
                self.print_fills += 1
                self._fill_seq += 1
                out.append(
                    DryFill(
                        self._fill_seq,
                        order.order_hash,
                        token_id=token_id,
                        side=order.side,
                        price=order.price,
                        size=take,
                        ts_ms=now_ms,
                    )
                )
                if order.remaining <= 0:
                    done.append(order)
        for order in done:
            self._forget(order)
        return out

    # ---- internals --------------------------------------------------------------------------

    def _forget(self, order: DryOrder) -> None:
        del self.resting[order.order_hash]
        self.by_token[order.token_id].remove(order)

    def _take(self, order: DryOrder, size: int, book: Book, now_ms: int) -> list[DryFill]:
        out: list[DryFill] = []
        if not book.updated_ms:
            return out
        mirror = _mirror(book, order.side, order.price)
        side = Side.BUY if order.side == BUY else Side.SELL
        for fill in mirror.match(side, order.price, max_size=size):
            self.matched_fills += 1
            self._fill_seq += 1
            out.append(
                DryFill(
                    self._fill_seq,
                    order.order_hash,
                    token_id=order.token_id,
                    side=order.side,
                    price=fill.price,
                    size=fill.size,
                    ts_ms=now_ms,
                )
            )
        return out
