"""Saving and restoring an ``Exchange`` through its ``Store`` (one transaction per flush).

``flush`` writes the rows an operation changed; ``restore`` rebuilds the in-memory exchange from
them: accounts, keys, orders (re-resting LIVE ones in their original queue order so the books come
back identical), trades (pending ones resume their status clock), market run-time state, trade
prints and heartbeats.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import TYPE_CHECKING, Any

from pmtrader.sim.matching import PRICE_SCALE, Side
from pmtrader.sim.records import ApiKeyRecord, OrderRecord, Trade

if TYPE_CHECKING:
    from pmtrader.sim.exchange import Exchange
    from pmtrader.sim.store import Store

__all__ = ["flush", "restore"]


def flush(exchange: Exchange, store: Store) -> None:
    """Write every row changed since the last flush, in one transaction."""
    ex = exchange
    puts: list[tuple[str, str, Any]] = [
        ("account", key, ex.ledger.account_state(key)) for key in ex.ledger.dirty
    ]
    puts.extend(
        ("holding", f"{key}|{token}", ex.ledger.holding_state(key, token))
        for key, token in ex.ledger.dirty_holdings
    )
    puts.extend(("order", oid, ex._orders[oid].to_state()) for oid in ex._dirty_orders)
    puts.extend(("trade", tid, ex._trades[tid].to_state()) for tid in ex._dirty_trades)
    for cid in ex._dirty_markets:
        market = ex.catalogue.market(cid)
        assert market is not None
        last = {
            t: [ex._last_trade[t][0], int(ex._last_trade[t][1])]
            for t in market.token_ids
            if t in ex._last_trade
        }
        puts.append(
            (
                "market",
                cid,
                {
                    "tick": market.tick,
                    "closed": market.closed,
                    "winner": market.winner,
                    "last": last,
                    "delay": market.match_delay_ms,
                },
            )
        )
    for key in ex._dirty_keys:
        record = ex._keys[key]
        puts.append(
            (
                "key",
                key,
                {
                    "address": record.address,
                    "nonce": record.nonce,
                    "secret": record.secret,
                    "passphrase": record.passphrase,
                    "created_ms": record.created_ms,
                },
            )
        )
    for cid, t in ex._dirty_prints:
        prints = ex._prints.get(cid, [])
        price = next((p for tt, p in reversed(prints) if tt == t), None)
        if price is not None:
            puts.append(("print", f"{cid}|{t}", price))
    deletes = [("key", key) for key in ex._deleted_keys]
    deletes.extend(("order", oid) for oid in ex._forgotten_orders)
    deletes.extend(("trade", tid) for tid in ex._forgotten_trades)
    for key in ex._dirty_heartbeats:
        beat = ex._heartbeats.get(key)
        if beat is None:
            deletes.append(("heartbeat", key))
        else:
            puts.append(("heartbeat", key, list(beat)))
    if not puts and not deletes:
        return
    puts.append(("meta", "exchange", ex._meta()))
    store.write(puts, deletes)


def restore(exchange: Exchange, store: Store, meta: dict[str, Any]) -> None:
    """Rebuild ``exchange`` (freshly constructed on the same seed) from ``store``."""
    ex = exchange
    ex._counter = int(meta["counter"])
    ex.ledger.funded = int(meta["funded"])
    for cid, amount in meta["pools"].items():
        ex.ledger.pools[cid] = int(amount)
    for key, state in store.load("account").items():
        ex.ledger.load_account(key, state)
    for row_id, state in store.load("holding").items():
        key, token = row_id.split("|", 1)
        ex.ledger.load_holding(key, token, state)
    for key, state in store.load("key").items():
        key_record = ApiKeyRecord(
            api_key=key,
            address=state["address"],
            nonce=int(state["nonce"]),
            secret=state["secret"],
            passphrase=state["passphrase"],
            created_ms=int(state["created_ms"]),
        )
        ex._keys[key] = key_record
        ex._key_index[(key_record.address.lower(), key_record.nonce)] = key
    for cid, state in store.load("market").items():
        market = ex.catalogue.market(cid)
        if market is None:
            continue
        market.tick = int(state["tick"])
        market.closed = bool(state["closed"])
        market.winner = state["winner"]
        market.match_delay_ms = int(state.get("delay", 0))
        for token, (price, side) in state["last"].items():
            ex._last_trade[token] = (int(price), Side(side))
    for key, (beat_id, deadline) in store.load("heartbeat").items():
        ex._heartbeats[key] = (str(beat_id), int(deadline))
    prints: dict[str, list[tuple[int, int]]] = {}
    for row_id, price in store.load("print").items():
        cid, t = row_id.rsplit("|", 1)
        prints.setdefault(cid, []).append((int(t), int(price)))
    ex._prints = {cid: sorted(points) for cid, points in prints.items()}
    orders = [OrderRecord.from_state(s) for s in store.load("order").values()]
    for record in sorted(orders, key=lambda o: o.created_ms):
        ex._orders[record.id] = record
        if record.status != "LIVE":
            ex._finished.append(record.id)
    for record in sorted((o for o in orders if o.status == "LIVE"), key=lambda o: o.book_seq):
        market = ex.catalogue.market_by_token(record.asset_id)
        assert market is not None
        is_yes = record.asset_id == market.yes_token
        side = record.side if is_yes else record.side.opposite
        price = record.price if is_yes else PRICE_SCALE - record.price
        book = ex._books[market.condition_id]
        book.add(record.id, record.owner, side, price, record.open_size)
        resting = book.order(record.id)
        assert resting is not None
        record.book_seq = resting.seq
        reserved, record.reserved = record.reserved, 0
        ex._lock(record, reserved)
        ex._open_by_key.setdefault(record.owner, set()).add(record.id)
        if record.order_type == "GTD":
            heapq.heappush(ex._expiries, (record.expiration * 1000, record.id))
    trades = sorted(
        (Trade.from_state(s) for s in store.load("trade").values()), key=lambda t: t.match_ms
    )
    for trade in trades:
        ex._trades[trade.id] = trade
        ex._trade_log.append(trade)
        for owner in dict.fromkeys([trade.owner, *(m.owner for m in trade.maker_orders)]):
            ex._trades_by_key.setdefault(owner, deque()).append(trade)
        if trade.status not in ("CONFIRMED", "FAILED"):
            ex._pending.append(trade)
    for record in orders:
        if record.status == "DELAYED":
            market = ex.catalogue.market_by_token(record.asset_id)
            assert market is not None
            reserved, record.reserved = record.reserved, 0
            ex._lock(record, reserved)
            ex._open_by_key.setdefault(record.owner, set()).add(record.id)
            heapq.heappush(ex._delayed, (record.created_ms + market.match_delay_ms, record.id))
    ex._clear_dirty()
    # Book sequence numbers restart in a new process: rewrite the live orders with their new
    # numbers at the next flush (same transaction as the next change), so queue order survives
    # any number of restarts.
    ex._dirty_orders.update(o.id for o in orders if o.status == "LIVE")
