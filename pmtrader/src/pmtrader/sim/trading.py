"""Order placement, matching, settlement and cancels: methods of ``Exchange``.

They live here, by concept, and are bound into ``Exchange`` in ``exchange.py``; read that
module's docstring for the book, settlement and reservation model.

Admission order (each check raises ``OrderRejected`` with production's message before anything
changes): order type and post-only combination → API key → duplicate id → known token → market
accepting orders → positive amounts → tick grid (GTC/GTD) or worst-price limit (FOK/FAK) → minimum
size (resting types) → GTD expiration → balance and allowance net of open orders → post-only
crossing → FOK fully fillable / FAK anything fillable. Only then does the order touch the book.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import TYPE_CHECKING

from pmtrader.sim import admission
from pmtrader.sim.catalogue import Market
from pmtrader.sim.errors import OrderRejected
from pmtrader.sim.events import UserOrderEvent
from pmtrader.sim.ledger import COLLATERAL, CONDITIONAL, FEE_COLLECTOR
from pmtrader.sim.matching import PRICE_SCALE, Fill, OrderBook, Side
from pmtrader.sim.records import (
    CancelResult,
    MakerFill,
    OrderRecord,
    PlaceResult,
    SignedOrder,
    Trade,
)

if TYPE_CHECKING:
    from pmtrader.sim.exchange import Exchange

__all__ = ["cancel", "cancel_all", "cancel_market", "place", "run_delayed"]

FOK_MESSAGE = "order couldn't be fully filled. FOK orders are fully filled or killed."
FAK_MESSAGE = (
    "no orders found to match with FAK order. FAK orders are partially filled or killed if no "
    "match is found."
)


def _balance_error(kind: str, have: int, need: int) -> OrderRejected:
    return OrderRejected(
        f"not enough balance / allowance: the {kind} is not enough -> {kind}: {have}, "
        f"order amount: {need}"
    )


def place(
    self: Exchange,
    order: SignedOrder,
    *,
    order_id: str,
    owner_key: str,
    order_type: str,
    post_only: bool,
    defer_exec: bool = False,
) -> PlaceResult:
    """Admit, match and (for GTC/GTD) rest one order; return production's POST /order result.

    Args:
        order: the decoded, signature-verified V2 order.
        order_id: its id (the server uses the EIP-712 order hash).
        owner_key: the API key from the body's ``owner`` (already checked against the headers).
        order_type: ``GTC``, ``GTD``, ``FOK`` or ``FAK``.
        post_only: reject instead of crossing (GTC/GTD only).
        defer_exec: accepted for wire compatibility; the sim always matches at once and reports
            settlement hashes immediately, so it changes nothing.

    Returns:
        ``PlaceResult`` with status ``matched`` (traded at placement), or ``live`` (rests).

    Raises:
        OrderRejected: with Polymarket's message; nothing changed.
    """
    del defer_exec
    now = self._clock.now_ms()
    kind = order_type.upper()
    if kind not in admission.ORDER_TYPES:
        raise OrderRejected("Invalid order payload", order_id=order_id)
    if post_only and kind not in ("GTC", "GTD"):
        raise OrderRejected(
            "invalid post-only order: only GTC and GTD order types are allowed", order_id=order_id
        )
    key = self._keys.get(owner_key)
    if key is None:
        raise OrderRejected("the order owner has to be the owner of the API KEY", order_id=order_id)
    if order_id in self._orders:
        raise OrderRejected(f"order {order_id} is invalid. Duplicated.", order_id=order_id)
    market = self.catalogue.market_by_token(order.token_id)
    if market is None:
        raise OrderRejected("Invalid token id", order_id=order_id)
    if market.closed:
        raise OrderRejected("the market is not yet ready to process new orders", order_id=order_id)
    if order.maker_amount <= 0 or order.taker_amount <= 0:
        raise OrderRejected("Invalid order payload", order_id=order_id)
    price = admission.limit_price(order, order_type=kind, tick=market.tick, order_id=order_id)
    resting = kind in ("GTC", "GTD")
    if resting:
        admission.check_size(order, min_size=market.min_order_size, order_id=order_id)
    if kind == "GTD":
        if order.expiration * 1000 < now + admission.GTD_MIN_LEAD_MS:
            raise OrderRejected("invalid expiration", order_id=order_id)
    elif order.expiration != 0:
        raise OrderRejected("invalid expiration", order_id=order_id)

    maker = order.maker
    is_yes = order.token_id == market.yes_token
    spender = self._exchange_for(market)
    if order.side is Side.BUY:
        need = order.maker_amount + admission.fee_amount(market.fees, order.taker_amount, price)
        have = self.available_pusd(maker)
        if need > have:
            raise _balance_error("balance", max(have, 0), need)
        allowance = self.ledger.allowance(maker, COLLATERAL, spender)
        if allowance < need:
            raise _balance_error("allowance", allowance, need)
    else:
        need = order.maker_amount
        have = self.available_tokens(maker, order.token_id)
        if need > have:
            raise _balance_error("balance", max(have, 0), need)
        allowance = self.ledger.allowance(maker, CONDITIONAL, spender)
        if allowance < need:
            raise _balance_error("allowance", allowance, need)

    book = self._book_of(market)
    book_side = order.side if is_yes else order.side.opposite
    book_price = price if is_yes else PRICE_SCALE - price
    if post_only:
        opposite = book.best_ask() if book_side is Side.BUY else book.best_bid()
        crosses = opposite is not None and (
            opposite <= book_price if book_side is Side.BUY else opposite >= book_price
        )
        if crosses:
            raise OrderRejected("invalid post-only order: order crosses book", order_id=order_id)
    delayed = market.match_delay_ms > 0 and _marketable(book, book_side, book_price)
    if kind in ("FOK", "FAK") and not delayed:
        failure = _kill_reason(self, market, order.maker, order.side, kind, order, is_yes)
        if failure:
            raise OrderRejected(failure, order_id=order_id)

    # ---- admitted: from here on the order changes state ----
    record = OrderRecord(
        id=order_id,
        owner=owner_key,
        maker_address=maker,
        market=market.condition_id,
        asset_id=order.token_id,
        outcome=market.outcome_of(order.token_id),
        side=order.side,
        price=price,
        original_size=order.size,
        order_type=kind,
        created_ms=now,
        expiration=order.expiration,
        maker_amount=order.maker_amount,
        taker_amount=order.taker_amount,
        signature_type=order.signature_type,
        post_only=post_only,
    )
    self._orders[order_id] = record
    self._dirty_orders.add(order_id)
    self._emit(UserOrderEvent.of("PLACEMENT", record, now))
    if delayed:
        # Production holds marketable orders on delayed markets (live sports) for a few
        # seconds; the funds stay reserved meanwhile and ``advance`` matches them when due.
        record.status = "DELAYED"
        self._lock(record, need)
        self._open_by_key.setdefault(owner_key, set()).add(order_id)
        heapq.heappush(self._delayed, (now + market.match_delay_ms, order_id))
        self._flush()
        return PlaceResult(order_id, "delayed", 0, 0, (), ())
    return _execute(self, market, record, now)


def _marketable(book: OrderBook, book_side: Side, book_price: int) -> bool:
    opposite = book.best_ask() if book_side is Side.BUY else book.best_bid()
    if opposite is None:
        return False
    return opposite <= book_price if book_side is Side.BUY else opposite >= book_price


def _walk_params(
    self: Exchange, maker: str, side: Side, kind: str, amounts: tuple[int, int]
) -> tuple[int | None, int | None]:
    """``(max_size, max_cost)`` for the book walk: BUYs never spend more than is available."""
    maker_amount, taker_amount = amounts
    if side is Side.SELL:
        return maker_amount, None
    budget = self.available_pusd(maker)
    if kind in ("GTC", "GTD"):
        return taker_amount, budget
    return None, min(maker_amount, budget)


def _kill_reason(  # noqa: PLR0917 - internal, mirrors the order's fields
    self: Exchange,
    market: Market,
    maker: str,
    side: Side,
    kind: str,
    order: SignedOrder | OrderRecord,
    is_yes: bool,
) -> str:
    """Production's message if a FOK cannot fill completely or a FAK not at all, else ``""``."""
    price = order.price if isinstance(order, OrderRecord) else None
    if price is None:
        assert isinstance(order, SignedOrder)
        price = admission.limit_price(order, order_type=kind, tick=market.tick, order_id="")
    book_side = side if is_yes else side.opposite
    book_price = price if is_yes else PRICE_SCALE - price
    max_size, max_cost = _walk_params(
        self, maker, side, kind, (order.maker_amount, order.taker_amount)
    )
    shares, _ = self._book_of(market).fillable(
        book_side, book_price, max_size=max_size, max_cost=max_cost, complement=not is_yes
    )
    size = order.taker_amount if side is Side.BUY else order.maker_amount
    if kind == "FOK" and shares < size:
        return FOK_MESSAGE
    if kind == "FAK" and shares == 0:
        return FAK_MESSAGE
    return ""


def _execute(self: Exchange, market: Market, record: OrderRecord, now: int) -> PlaceResult:
    """Match an admitted order, settle its fills, rest what is left (GTC/GTD) and report."""
    book = self._book_of(market)
    is_yes = record.asset_id == market.yes_token
    book_side = record.side if is_yes else record.side.opposite
    book_price = record.price if is_yes else PRICE_SCALE - record.price
    max_size, max_cost = _walk_params(
        self,
        record.maker_address,
        record.side,
        record.order_type,
        (record.maker_amount, record.taker_amount),
    )
    top_before = (book.best_bid(), book.best_ask())
    fills = book.match(
        book_side, book_price, max_size=max_size, max_cost=max_cost, complement=not is_yes
    )
    touched = {(book_side.opposite, f.price) for f in fills}
    settled = [_settle(self, market, record, fill, now) for fill in fills]
    trades = [trade for trade, _ in settled]
    making, taking = _charge_taker(self, market, record, settled)

    if record.order_type in ("GTC", "GTD"):
        wanted = record.original_size - record.size_matched
        if wanted > 0:
            _rest(self, market, record, book_side=book_side, book_price=book_price, wanted=wanted)
            touched.add((book_side, book_price))
    if record.status == "LIVE" and record.open_size == 0:
        record.status = "MATCHED" if record.size_matched else "CANCELED"
        self._finished.append(record.id)
    if trades:
        self._emit(UserOrderEvent.of("UPDATE", record, now))
    self._level_events(market, touched, now)
    self._top_events(market, top_before, now)
    if trades:
        self._emit_trade_prints(market, trades, now)
        for trade in trades:
            self._trade_events(trade, now)
        self._auto_tick(market, now)
    self._flush()
    return PlaceResult(
        order_id=record.id,
        status="matched" if trades else "live",
        making=making,
        taking=taking,
        trade_ids=tuple(t.id for t in trades),
        transaction_hashes=tuple(dict.fromkeys(t.transaction_hash for t in trades)),
    )


def run_delayed(self: Exchange, now_ms: int) -> None:
    """Match the delayed orders that are due (called by ``advance``).

    A due order is matched against the book as it is now; a FOK that can no longer fill
    completely, or a FAK that finds nothing, ends ``UNMATCHED`` with its funds released.
    """
    while self._delayed and self._delayed[0][0] <= now_ms:
        _, order_id = heapq.heappop(self._delayed)
        record = self._orders.get(order_id)
        if record is None or record.status != "DELAYED":
            continue
        market = self._market_of(record.asset_id)
        self._lock(record, 0)
        record.status = "LIVE"
        self._open_by_key.get(record.owner, set()).discard(order_id)
        is_yes = record.asset_id == market.yes_token
        if market.closed:
            reason = "CANCELED_MARKET_RESOLVED"
        elif record.order_type in ("FOK", "FAK"):
            kill = _kill_reason(
                self, market, record.maker_address, record.side, record.order_type, record, is_yes
            )
            reason = "UNMATCHED" if kill else ""
        else:
            reason = ""
        if reason:
            record.status = reason
            self._dirty_orders.add(order_id)
            self._finished.append(order_id)
            self._emit(UserOrderEvent.of("CANCELLATION", record, now_ms))
            continue
        _execute(self, market, record, now_ms)
    self._flush()


def _rest(
    self: Exchange,
    market: Market,
    record: OrderRecord,
    *,
    book_side: Side,
    book_price: int,
    wanted: int,
) -> None:
    """Rest the unmatched part, reserving its cost; shrink it if rounding left too little."""
    reserve = self._reservation(market, record.side, record.price, wanted)
    if record.side is Side.BUY:
        have = self.available_pusd(record.maker_address)
        while wanted > 0 and reserve > have:
            # Only reachable through sub-unit rounding of earlier fills (or a maker fee that
            # grew): give up just enough shares to cover the shortfall; converges in a few steps.
            shortfall = reserve - have
            wanted -= max(1, shortfall * PRICE_SCALE // record.price)
            reserve = self._reservation(market, record.side, record.price, max(wanted, 0))
    if wanted <= 0:
        return
    book = self._book_of(market)
    book.add(record.id, record.owner, book_side, book_price, wanted)
    resting = book.order(record.id)
    record.book_seq = 0 if resting is None else resting.seq
    record.open_size = wanted
    self._lock(record, reserve)
    self._open_by_key.setdefault(record.owner, set()).add(record.id)
    if record.order_type == "GTD":
        heapq.heappush(self._expiries, (record.expiration * 1000, record.id))


def _leg(  # noqa: PLR0917 - one settlement leg; called twice per fill on the hot path
    self: Exchange, market: Market, address: str, token: str, side: Side, size: int, cost: int
) -> int:
    """Move one party's shares and pUSD; return its contribution to the market pool."""
    if side is Side.BUY:
        self.ledger.move_pusd(address, -cost)
        self.ledger.move_token(address, token, size)
        self.ledger.record_buy(address, token, size, cost)
        self.ledger.spend_allowance(address, self._exchange_for(market), cost)
        return cost
    self.ledger.move_token(address, token, -size)
    self.ledger.move_pusd(address, cost)
    self.ledger.record_sell(address, token, size, cost)
    return -cost


def _settle(
    self: Exchange, market: Market, taker: OrderRecord, fill: Fill, now: int
) -> tuple[Trade, int]:
    """Settle one fill (both legs, pool, maker fee); return the trade and the taker's cost."""
    maker = self._orders[fill.maker_order_id]
    size = fill.size
    yes_cost = fill.cost
    taker_yes = taker.asset_id == market.yes_token
    maker_yes = maker.asset_id == market.yes_token
    taker_cost = yes_cost if taker_yes else size - yes_cost
    maker_cost = yes_cost if maker_yes else size - yes_cost
    maker_price = fill.price if maker_yes else PRICE_SCALE - fill.price
    taker_price = fill.price if taker_yes else PRICE_SCALE - fill.price

    # release the maker's reservation for the filled part before moving its funds
    maker.open_size = fill.maker_remaining
    maker.size_matched += size
    self._lock(maker, self._reservation(market, maker.side, maker.price, fill.maker_remaining))
    pool = _leg(self, market, maker.maker_address, maker.asset_id, maker.side, size, maker_cost)
    pool += _leg(self, market, taker.maker_address, taker.asset_id, taker.side, size, taker_cost)
    self.ledger.pool_move(market.condition_id, pool)

    maker_fee = 0
    if not market.fees.taker_only:
        maker_fee = admission.fee_amount(market.fees, size, maker_price)
        if maker.side is Side.SELL:
            maker_fee = min(maker_fee, maker_cost)
        maker_fee = min(maker_fee, self.available_pusd(maker.maker_address))
        self.ledger.move_pusd(maker.maker_address, -maker_fee)
        self.ledger.move_pusd(FEE_COLLECTOR, maker_fee)
    if fill.maker_remaining == 0:
        maker.status = "MATCHED"
        self._finished.append(maker.id)
        self._open_by_key.get(maker.owner, set()).discard(maker.id)
    self._dirty_orders.add(maker.id)

    bps = admission.fee_rate_bps(market.fees)
    digest = self._next("trade")
    trade = Trade(
        id=str(_uuid(digest)),
        taker_order_id=taker.id,
        market=market.condition_id,
        asset_id=taker.asset_id,
        outcome=taker.outcome,
        side=taker.side,
        size=size,
        price=taker_price,
        fee=admission.fee_amount(market.fees, size, taker_price),
        fee_rate_bps=bps,
        status="MATCHED",
        match_ms=now,
        last_update_ms=now,
        owner=taker.owner,
        maker_address=taker.maker_address,
        transaction_hash="0x" + self._digest("tx", digest.hex()).hex(),
        maker_orders=[
            MakerFill(
                maker.id,
                maker.owner,
                maker.maker_address,
                size,
                maker_price,
                maker.asset_id,
                maker.outcome,
                maker.side,
                maker_fee,
                bps if not market.fees.taker_only else 0,
            )
        ],
    )
    taker.size_matched += size
    taker.associate_trades.append(trade.id)
    maker.associate_trades.append(trade.id)
    self._trades[trade.id] = trade
    self._trade_log.append(trade)
    self._pending.append(trade)
    self._dirty_trades.add(trade.id)
    for owner in dict.fromkeys([taker.owner, maker.owner]):
        self._trades_by_key.setdefault(owner, deque()).append(trade)
    self._last_trade[market.yes_token] = (
        fill.price,
        taker.side if taker_yes else taker.side.opposite,
    )
    self._last_trade[market.no_token] = (
        PRICE_SCALE - fill.price,
        taker.side if not taker_yes else taker.side.opposite,
    )
    self._record_print(market, fill.price, now)
    self._dirty_markets.add(market.condition_id)
    self._emit(UserOrderEvent.of("UPDATE", maker, now))
    return trade, taker_cost


def _charge_taker(
    self: Exchange, market: Market, taker: OrderRecord, settled: list[tuple[Trade, int]]
) -> tuple[int, int]:
    """Charge the taker's fees (capped so no balance goes negative); return making/taking."""
    if not settled:
        return 0, 0
    trades = [trade for trade, _ in settled]
    shares = sum(t.size for t in trades)
    cost = sum(c for _, c in settled)
    wanted = sum(t.fee for t in trades)
    if taker.side is Side.BUY:
        cap = self.available_pusd(taker.maker_address)
    else:
        cap = min(cost, self.ledger.pusd(taker.maker_address))
    charged = min(wanted, max(cap, 0))
    excess = wanted - charged
    for trade in reversed(trades):
        if excess <= 0:
            break
        cut = min(trade.fee, excess)
        trade.fee -= cut
        excess -= cut
    if charged:
        self.ledger.move_pusd(taker.maker_address, -charged)
        self.ledger.move_pusd(FEE_COLLECTOR, charged)
        if taker.side is Side.BUY:
            self.ledger.spend_allowance(taker.maker_address, self._exchange_for(market), charged)
    if taker.side is Side.BUY:
        return cost + charged, shares
    return shares, cost - charged


def _uuid(digest: bytes) -> str:
    import uuid

    return str(uuid.UUID(bytes=digest[:16], version=4))


def cancel(self: Exchange, owner_key: str, order_ids: list[str]) -> CancelResult:
    """Cancel some of the key's orders; say why each other id was not cancelled."""
    now = self._clock.now_ms()
    canceled: list[str] = []
    not_canceled: dict[str, str] = {}
    touched: dict[str, set[tuple[Side, int]]] = {}
    tops: dict[str, tuple[int | None, int | None]] = {}
    for oid in dict.fromkeys(order_ids):
        record = self._orders.get(oid)
        if record is None or record.owner != owner_key:
            not_canceled[oid] = "order not found"
            continue
        if record.status not in ("LIVE", "DELAYED"):
            not_canceled[oid] = "already canceled or matched"
            continue
        market = self._market_of(record.asset_id)
        book = self._book_of(market)
        tops.setdefault(market.condition_id, (book.best_bid(), book.best_ask()))
        resting = book.order(oid)
        if resting is not None:
            touched.setdefault(market.condition_id, set()).add((resting.side, resting.price))
        self._close_order(record, "CANCELED", now)
        canceled.append(oid)
    for condition_id, levels in touched.items():
        changed = self.catalogue.market(condition_id)
        assert changed is not None
        self._level_events(changed, levels, now)
        self._top_events(changed, tops[condition_id], now)
    self._flush()
    return CancelResult(tuple(canceled), not_canceled)


def cancel_all(self: Exchange, owner_key: str) -> CancelResult:
    """Cancel every open order of the key."""
    return cancel(self, owner_key, [r.id for r in self.open_orders(owner_key)])


def cancel_market(
    self: Exchange, owner_key: str, market: str | None = None, asset_id: str | None = None
) -> CancelResult:
    """Cancel the key's open orders in one market and/or token (empty strings mean unset)."""
    ids = [
        r.id for r in self.open_orders(owner_key, market=market or None, asset_id=asset_id or None)
    ]
    return cancel(self, owner_key, ids)
