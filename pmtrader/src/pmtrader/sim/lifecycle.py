"""Time and operator actions of ``Exchange``: trade settlement statuses, GTD expiry, market
resolution and redemption, the heartbeat dead-man switch, tick-size changes, failed trades
(whose settlement is unwound: see ``fail_trade``).

Bound into ``Exchange`` in ``exchange.py``. ``advance(now_ms)`` is idempotent for a given time and
cheap when nothing is due (a few comparisons), so the server can call it on every timer tick.
"""

from __future__ import annotations

import heapq
from decimal import Decimal
from typing import TYPE_CHECKING, TypeVar

from pmtrader.sim.errors import HeartbeatRejected, SimError, UnknownMarket
from pmtrader.sim.ledger import COLLATERAL, FEE_COLLECTOR, MAX_ALLOWANCE, Ledger
from pmtrader.sim.matching import AMOUNT_SCALE, PRICE_SCALE, Side, notional

if TYPE_CHECKING:
    from pmtrader.sim.catalogue import Market
    from pmtrader.sim.exchange import Exchange
    from pmtrader.sim.records import Trade

__all__ = ["advance", "fail_trade", "heartbeat", "resolve", "set_match_delay", "set_tick_size"]

_TERMINAL = ("CONFIRMED", "FAILED")


def advance(self: Exchange, now_ms: int) -> None:
    """Apply everything due by ``now_ms``: trade statuses, GTD expiry, heartbeats, end dates.

    Trades go MATCHED → MINED after ``MINE_AFTER_MS`` and → CONFIRMED after ``CONFIRM_AFTER_MS``
    (user ``trade`` events each time); GTD orders past their expiration are cancelled; a key whose
    heartbeat lapsed more than ``HEARTBEAT_TIMEOUT_MS`` ago has all its orders cancelled; markets
    past their end date resolve (YES wins when its mid is at least 0.5; in a neg-risk event the
    outcome with the highest mid wins).
    """
    from pmtrader.sim.exchange import CONFIRM_AFTER_MS, MINE_AFTER_MS
    from pmtrader.sim.trading import run_delayed

    run_delayed(self, now_ms)
    while self._pending:
        trade = self._pending[0]
        if trade.status in _TERMINAL:
            self._pending.popleft()
            continue
        if trade.status == "MATCHED" and now_ms >= trade.match_ms + MINE_AFTER_MS:
            _set_status(self, trade.id, "MINED", now_ms)
            continue
        if trade.status == "MINED" and now_ms >= trade.match_ms + CONFIRM_AFTER_MS:
            _set_status(self, trade.id, "CONFIRMED", now_ms)
            self._pending.popleft()
            continue
        break
    while self._expiries and self._expiries[0][0] <= now_ms:
        _, order_id = heapq.heappop(self._expiries)
        record = self._orders.get(order_id)
        if record is not None and record.status == "LIVE":
            self.cancel(record.owner, [order_id])
    for key, (_, deadline) in list(self._heartbeats.items()):
        if now_ms > deadline:
            del self._heartbeats[key]
            self._dirty_heartbeats.add(key)
            self.cancel_all(key)
    for event in self.catalogue.events:
        due = [m for m in event.markets if not m.closed and m.end_ms <= now_ms]
        if not due:
            continue
        if event.neg_risk:
            open_markets = [m for m in event.markets if not m.closed]
            winner = max(open_markets, key=lambda m: _mid(self, m))
            self.resolve(winner.condition_id, winner.yes_token)
        for market in due:
            if not market.closed:
                yes_wins = _mid(self, market) >= PRICE_SCALE // 2
                self.resolve(market.condition_id, market.yes_token if yes_wins else market.no_token)
    self._flush()


def _mid(self: Exchange, market: Market) -> int:
    bid, ask = self.best_bid_ask(market.yes_token)
    if bid is not None and ask is not None:
        return (bid + ask) // 2
    last = self._last_trade.get(market.yes_token)
    return market.initial_mid if last is None else last[0]


def _set_status(self: Exchange, trade_id: str, status: str, now_ms: int) -> None:
    trade = self._trades[trade_id]
    trade.status = status
    trade.last_update_ms = now_ms
    self._dirty_trades.add(trade_id)
    self._trade_events(trade, now_ms)


def fail_trade(self: Exchange, trade_id: str) -> None:
    """Mark a not-yet-confirmed trade FAILED and unwind its settlement (operator fault injection).

    The trade goes RETRYING, then FAILED, each with its user ``trade`` event, as production's
    MATCHED → … → RETRYING → FAILED.

    On Polygon a FAILED trade's settlement transaction never landed: no token and no pUSD moved.
    The sim settles at match time, so failing a trade reverses exactly what
    ``trading._settle`` and ``trading._charge_taker`` moved for it, atomically: each party's pUSD
    and shares (maker and taker, in their own token's terms, with the same rounding), the
    market's complete-set pool, the maker's and the taker's fees (back from the fee collector),
    and the pUSD allowance the fill used up (a transfer that never happened spends none). The
    average cost and realized P&L of each touched holding are recomputed from the holding's
    trades without this one. Everything is persisted in the flush that marks the trade FAILED.

    The orders keep their ``size_matched`` and status: the protocol notes (``protocol.md``,
    ``protocol-v1-gamma-rewards.md``) describe FAILED only as a terminal trade status and say
    nothing about reopening the orders, so only balances are unwound. An open order whose
    reservation the unwinding leaves unbacked (a SELL of shares that were never delivered, a
    BUY of pUSD that was given back) is cancelled, as the venue cancels orders whose balance
    went away.

    Raises:
        SimError: unknown trade; already CONFIRMED/FAILED; its market has resolved (the shares
            were redeemed); or the unwinding would make a balance negative because the shares
            or pUSD it delivered have moved on (fail the later trades first). Nothing changed.
    """
    trade = self._trades.get(trade_id)
    if trade is None:
        raise SimError(f"trade {trade_id} not found")
    if trade.status in _TERMINAL:
        raise SimError(f"trade {trade_id} is already {trade.status}")
    market = self.catalogue.market(trade.market)
    if market is None:
        raise SimError(f"trade {trade_id} belongs to no known market")
    if market.closed:
        raise SimError(
            f"trade {trade_id} is in resolved market {market.condition_id}: its shares were "
            "redeemed, so its settlement can no longer fail"
        )
    legs = _legs(market, trade)
    pusd, shares, pool, refunds = _unwinding(trade, legs)
    _check_unwinding(self, trade_id, market.condition_id, pusd, shares, pool)
    # ---- checked: from here on nothing can fail half-way ----
    for address, delta in pusd.items():
        self.ledger.move_pusd(address, delta)
    for (address, token), delta in shares.items():
        self.ledger.move_token(address, token, delta)
    self.ledger.pool_move(market.condition_id, pool)
    spender = self._exchange_for(market)
    for address, amount in refunds.items():
        allowance = self.ledger.allowance(address, COLLATERAL, spender)
        if allowance < MAX_ALLOWANCE:  # unlimited stayed unlimited: nothing was used up
            self.ledger.set_allowance(address, COLLATERAL, spender, allowance + amount)
    now = self._clock.now_ms()
    # As on Polygon: the settlement is retried, then given up (a user event for each status).
    _set_status(self, trade_id, "RETRYING", now)
    _set_status(self, trade_id, "FAILED", now)
    for (address, token), delta in shares.items():
        _rebuild_basis(self, address, token, delta)
    _cancel_unbacked(self, {address for address, _ in shares} | set(pusd), now)
    self._flush()


_K = TypeVar("_K")


def _add(table: dict[_K, int], key: _K, delta: int) -> None:
    table[key] = table.get(key, 0) + delta


# A settlement leg: (address, token, side, shares, pUSD cost) as ``trading._leg`` moved it.
_Leg = tuple[str, str, Side, int, int]


def _legs(market: Market, trade: Trade) -> list[_Leg]:
    """Each party's leg of a trade, recomputed exactly as ``trading._settle`` computed it.

    The fill's cost is the YES notional at the YES book price, rounded in the resting maker's
    favour (up when the taker is on the bid side of the YES book); a NO leg costs
    ``size - yes_cost``. Makers first, then the taker: the order ``_settle`` moved them in.
    """
    taker_yes = trade.asset_id == market.yes_token
    yes_price = trade.price if taker_yes else PRICE_SCALE - trade.price
    taker_book_side = trade.side if taker_yes else trade.side.opposite
    round_up = taker_book_side is Side.BUY
    legs: list[_Leg] = []
    for maker in trade.maker_orders:
        yes_cost = notional(maker.matched_amount, yes_price, round_up=round_up)
        maker_cost = (
            yes_cost if maker.asset_id == market.yes_token else (maker.matched_amount - yes_cost)
        )
        legs.append(
            (maker.maker_address, maker.asset_id, maker.side, maker.matched_amount, maker_cost)
        )
    yes_cost = notional(trade.size, yes_price, round_up=round_up)
    taker_cost = yes_cost if taker_yes else trade.size - yes_cost
    legs.append((trade.maker_address, trade.asset_id, trade.side, trade.size, taker_cost))
    return legs


def _unwinding(
    trade: Trade, legs: list[_Leg]
) -> tuple[dict[str, int], dict[tuple[str, str], int], int, dict[str, int]]:
    """The reverse of a trade's settlement: pUSD and share deltas, pool delta, allowance refunds."""
    pusd: dict[str, int] = {}
    shares: dict[tuple[str, str], int] = {}
    refunds: dict[str, int] = {}
    pool = 0
    add = _add
    for address, token, side, size, cost in legs:
        if side is Side.BUY:  # it paid ``cost`` and received the shares: give back, take back
            add(pusd, address.lower(), cost)
            add(shares, (address.lower(), token), -size)
            add(refunds, address.lower(), cost)
            pool -= cost
        else:
            add(shares, (address.lower(), token), size)
            add(pusd, address.lower(), -cost)
            pool += cost
    for maker in trade.maker_orders:
        if maker.fee:
            add(pusd, maker.maker_address.lower(), maker.fee)
            add(pusd, FEE_COLLECTOR.lower(), -maker.fee)
    if trade.fee:  # what ``_charge_taker`` charged for this trade (its cut already applied)
        add(pusd, trade.maker_address.lower(), trade.fee)
        add(pusd, FEE_COLLECTOR.lower(), -trade.fee)
        if trade.side is Side.BUY:
            add(refunds, trade.maker_address.lower(), trade.fee)
    return pusd, shares, pool, {a: v for a, v in refunds.items() if v > 0}


def _check_unwinding(  # noqa: PLR0917 - one check over the four parts of the unwinding
    self: Exchange,
    trade_id: str,
    condition_id: str,
    pusd: dict[str, int],
    shares: dict[tuple[str, str], int],
    pool: int,
) -> None:
    """Refuse, before anything moves, an unwinding that would overdraw a balance or the pool."""
    for address, delta in pusd.items():
        if self.ledger.pusd(address) + delta < 0:
            raise SimError(
                f"cannot fail trade {trade_id}: {address} no longer holds the "
                f"{Decimal(-delta) / AMOUNT_SCALE} pUSD it received from it; fail the trades "
                "that spent it first"
            )
    for (address, token), delta in shares.items():
        if self.ledger.token(address, token) + delta < 0:
            raise SimError(
                f"cannot fail trade {trade_id}: {address} no longer holds the "
                f"{Decimal(-delta) / AMOUNT_SCALE} shares of {token} it received from it; fail the "
                "trades that sold them first"
            )
    if self.ledger.pools.get(condition_id, 0) + pool < 0:
        raise SimError(
            f"cannot fail trade {trade_id}: the complete sets it minted have been merged since"
        )


def _rebuild_basis(self: Exchange, address: str, token: str, delta: int) -> None:
    """Recompute one holding's cost basis and realized P&L from its trades that did not fail.

    The ledger's basis is an average cost, so it depends on the order of every trade of the
    holding: replaying them (minus the failed ones) through the ledger's own ``record_buy`` and
    ``record_sell`` gives exactly the basis the holding would have had without the failed trade.
    The replay is exact while the trade log holds the holding's whole history (``retain_trades``);
    when older trades have been forgotten the replayed shares disagree with the balance, and the
    basis is then rescaled to the shares held now (``delta`` changed them) at the same average.
    """
    scratch = Ledger()
    key = address.lower()
    complete = True
    for trade in self._trade_log:
        if trade.status == "FAILED":
            continue
        market = self.catalogue.market(trade.market)
        if market is None:
            continue
        for addr, tok, side, size, cost in _legs(market, trade):
            if addr.lower() != key or tok != token:
                continue
            if side is Side.BUY:
                scratch.move_token(addr, tok, size)
                scratch.record_buy(addr, tok, size, cost)
            elif scratch.token(addr, tok) < size:
                complete = False  # sold shares bought before the retained history began
                break
            else:
                scratch.move_token(addr, tok, -size)
                scratch.record_sell(addr, tok, size, cost)
    held = self.ledger.token(address, token)
    holding = self.ledger.basis.setdefault(key, {})
    if complete and scratch.token(address, token) == held:
        replayed = scratch.basis.get(key, {}).get(token)
        if replayed is None:
            holding.pop(token, None)
        else:
            holding[token] = replayed
    else:
        basis = holding.get(token)
        before = held - delta
        if basis is not None and before > 0:
            basis.cost_basis = basis.cost_basis * held // before
    self.ledger.dirty_holdings.add((key, token))


def _cancel_unbacked(self: Exchange, addresses: set[str], now: int) -> None:
    """Cancel open orders whose reservation the unwinding left without balance (newest first)."""
    for address in sorted(addresses):
        if address == FEE_COLLECTOR.lower():
            continue
        mine = sorted(
            (
                r
                for r in self._orders.values()
                if r.maker_address.lower() == address and r.status in ("LIVE", "DELAYED")
            ),
            key=lambda r: (r.created_ms, r.book_seq),
            reverse=True,
        )
        for record in mine:
            if record.side is Side.BUY:
                short = self._locked_pusd.get(address, 0) > self.ledger.pusd(address)
            else:
                key = (address, record.asset_id)
                short = self._locked_tokens.get(key, 0) > self.ledger.token(
                    address, record.asset_id
                )
            if short:
                self.cancel(record.owner, [record.id])


def heartbeat(self: Exchange, owner_key: str, heartbeat_id: str) -> str:
    """Accept a heartbeat and return the id the next one must carry.

    The first accepted send (empty id) arms the dead-man switch for all of the key's orders; each
    later send must carry the id returned by the previous one. After ``HEARTBEAT_TIMEOUT_MS``
    without an accepted send, ``advance`` cancels all the key's orders and forgets the
    registration, so any later send re-arms it.

    Raises:
        HeartbeatRejected: a wrong id while armed (carries the expected id); the deadline is
            not refreshed.
        SimError: unknown API key.
    """
    from pmtrader.sim.exchange import HEARTBEAT_TIMEOUT_MS

    if owner_key not in self._keys:
        raise SimError("Unauthorized/Invalid api key")
    now = self._clock.now_ms()
    current = self._heartbeats.get(owner_key)
    if current is not None and now > current[1]:
        # lapsed before the timer noticed: the dead-man switch fires first, then this send re-arms
        del self._heartbeats[owner_key]
        self._dirty_heartbeats.add(owner_key)
        self.cancel_all(owner_key)
        current = None
    if current is not None and heartbeat_id != current[0]:
        raise HeartbeatRejected(current[0])
    next_id = str(_uuid(self._next("heartbeat")))
    self._heartbeats[owner_key] = (next_id, now + HEARTBEAT_TIMEOUT_MS)
    self._dirty_heartbeats.add(owner_key)
    self._flush()
    return next_id


def _uuid(digest: bytes) -> str:
    import uuid

    return str(uuid.UUID(bytes=digest[:16], version=4))


def resolve(self: Exchange, condition_id: str, winning_token_id: str) -> None:
    """Resolve a market: stop trading, cancel open orders, redeem winners at 1 pUSD per share.

    Open orders end ``CANCELED_MARKET_RESOLVED``. Every holder of the winning token receives one
    pUSD per share from the market's pool, and both tokens are burnt. In a neg-risk event a YES win
    resolves every other outcome of the event to NO.

    Raises:
        UnknownMarket: the condition id or winning token does not belong to the catalogue.
        SimError: the market is already resolved.
    """
    market = self.catalogue.market(condition_id)
    if market is None:
        raise UnknownMarket("market not found")
    if winning_token_id not in market.token_ids:
        raise UnknownMarket(f"token {winning_token_id} is not an outcome of {condition_id}")
    if market.closed:
        raise SimError(f"market {condition_id} is already resolved")
    now = self._clock.now_ms()
    _resolve_one(self, market, winning_token_id, now)
    if market.neg_risk and winning_token_id == market.yes_token:
        for sibling in self.catalogue.event_of(market).markets:
            if not sibling.closed:
                _resolve_one(self, sibling, sibling.no_token, now)
    self._flush()  # the whole event resolves in one transaction


def _resolve_one(self: Exchange, market: Market, winning_token_id: str, now: int) -> None:
    book = self._book_of(market)
    touched = set()
    top_before = (book.best_bid(), book.best_ask())
    for order in book.orders():
        touched.add((order.side, order.price))
        self._close_order(self._orders[order.order_id], "CANCELED_MARKET_RESOLVED", now)
    waiting = [oid for _, oid in self._delayed if self._orders.get(oid) is not None]
    for order_id in waiting:
        record = self._orders[order_id]
        if record.market == market.condition_id and record.status == "DELAYED":
            self._close_order(record, "CANCELED_MARKET_RESOLVED", now)
    self._level_events(market, touched, now)
    self._top_events(market, top_before, now)
    market.closed = True
    market.winner = winning_token_id
    self._dirty_markets.add(market.condition_id)
    for address in self.ledger.addresses():
        for token in market.token_ids:
            shares = self.ledger.token(address, token)
            if not shares:
                continue
            payout = shares if token == winning_token_id else 0
            self.ledger.move_token(address, token, -shares)
            self.ledger.pool_move(market.condition_id, -payout)
            self.ledger.move_pusd(address, payout)
            self.ledger.record_sell(address, token, shares, payout)
    self._resolved_event(market, winning_token_id, now)


def set_tick_size(self: Exchange, token_id: str, tick: int) -> None:
    """Change the minimum tick of a token's market (both tokens) and emit ``tick_size_change``.

    Resting orders keep their prices; new GTC/GTD orders must sit on the new grid.

    Raises:
        UnknownMarket: unknown token.
        SimError: ``tick`` is not one of production's ticks (1, 10, 25, 50, 100, 1000 in 1e-4).
    """
    from pmtrader.sim.exchange import TICKS

    market = self.catalogue.market_by_token(token_id)
    if market is None:
        raise UnknownMarket("Invalid token id")
    if tick not in TICKS:
        raise SimError(
            f"tick {tick} is not a Polymarket tick size; use one of 0.1, 0.01, 0.005, 0.0025, "
            "0.001, 0.0001"
        )
    if tick != market.tick:
        self._change_tick(market, tick, self._clock.now_ms())
    self._flush()


def set_match_delay(self: Exchange, condition_id: str, delay_ms: int) -> None:
    """Hold marketable orders on a market for ``delay_ms`` before matching (0 turns it off).

    Production delays matching on some markets (live sports): such an order is answered with
    status ``delayed``, its funds stay reserved, and it is matched when the delay has passed
    (``advance``); a FOK/FAK that then cannot fill ends ``UNMATCHED``. No catalogue market has a
    delay by default, so tests and clients see immediate matching unless they ask for this.

    Raises:
        UnknownMarket: unknown condition id.
        SimError: a negative delay.
    """
    market = self.catalogue.market(condition_id)
    if market is None:
        raise UnknownMarket("market not found")
    if delay_ms < 0:
        raise SimError("a match delay cannot be negative")
    market.match_delay_ms = delay_ms
    self._dirty_markets.add(market.condition_id)
    self._flush()
