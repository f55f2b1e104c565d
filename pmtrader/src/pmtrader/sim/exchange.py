"""The local exchange's façade: markets, API keys, orders, matching, settlement, time.

``Exchange`` is synchronous and single-threaded: the server calls it from its event loop and fans
out the events it emits. It trusts the server to have verified signatures, HMAC headers and that
the order's signer belongs to the API key; it enforces everything else with Polymarket's own error
strings (``OrderRejected``) and leaves the ledger untouched when it refuses.

Books: one ``OrderBook`` per binary market, kept in YES terms. A YES order rests at its price on
its own side; a NO order at price q rests on the OPPOSITE side at ``1 - q`` (a NO bid is a YES
ask). So a BUY YES meets a BUY NO when prices sum to at least 1 (both pay, a complete set is
minted), a SELL YES meets a SELL NO (a complete set is merged), and the NO book served to clients
is always the exact mirror of the YES book. Neg-risk events are several such binary markets.

Settlement of a fill: every party's leg is independent — a buyer pays its cost and receives the
shares, a seller gives the shares and receives its cost, each in its own token's price terms
(YES cost = ``Fill.cost``, NO cost = ``size - Fill.cost``). The market's pool absorbs the
difference: +size on a mint, -size on a merge, 0 on a transfer. Fees (``admission.fee_amount``)
are taken in pUSD: a BUY taker pays them on top of its cost, a SELL taker out of its proceeds;
makers pay only when the market's fees are not taker-only.

Reservations: an open BUY reserves its remaining cost (plus the maker fee when makers pay), an open
SELL its remaining shares; the balance check of a new order is against balance minus reservations,
so the same pUSD can never back two orders and no fill can overdraw an account.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections import deque
from pathlib import Path
from typing import Any

from pmtrader.sim import admission, lifecycle, market_data, trading
from pmtrader.sim.catalogue import Catalogue, Market
from pmtrader.sim.clock import Clock
from pmtrader.sim.errors import (
    ApiKeyError,
    SimError,
    StateError,
    UnknownMarket,
)
from pmtrader.sim.events import (
    EventSink,
    SimEvent,
    UserOrderEvent,
)
from pmtrader.sim.ledger import (
    COLLATERAL,
    CONDITIONAL,
    EXCHANGE_V2,
    NEG_RISK_EXCHANGE_V2,
    Ledger,
)
from pmtrader.sim.matching import PRICE_SCALE, OrderBook, Side, notional
from pmtrader.sim.records import (
    ApiCreds,
    ApiKeyRecord,
    BalanceAllowance,
    OrderRecord,
    Position,
    Trade,
)
from pmtrader.sim.store import Store

__all__ = ["CONFIRM_AFTER_MS", "HEARTBEAT_TIMEOUT_MS", "MINE_AFTER_MS", "Exchange"]

HEARTBEAT_TIMEOUT_MS = 10_000
"""After this long without an accepted heartbeat, all of the key's open orders are cancelled."""
MINE_AFTER_MS = 2_000
"""A trade goes MATCHED → MINED this long (sim time) after the match."""
CONFIRM_AFTER_MS = 6_000
"""… and MINED → CONFIRMED this long after the match."""

TICKS = (1, 10, 25, 50, 100, 1000)


class Exchange:
    """A Polymarket-compatible exchange in memory, optionally persisted to SQLite.

    Surface, by concern: markets and market data (``markets``, ``market``, ``market_by_token``,
    ``book``, ``best_bid_ask``, ``last_trade``, ``price_history``); API keys (``create_api_key``,
    ``derive_api_key``, ``api_key``, ``api_keys``, ``delete_api_key``); the ledger (``fund``,
    ``set_allowance``, ``balance_allowance``, ``available_pusd``, ``positions``); orders
    (``place``, ``cancel``, ``cancel_all``, ``cancel_market``, ``order``, ``open_orders``,
    ``trades``); time and the operator (``advance``, ``heartbeat``, ``resolve``,
    ``set_tick_size``, ``set_match_delay``, ``fail_trade``); events (``subscribe``).
    Every mutating call persists its changes in one transaction before it returns.

    Args:
        catalogue: the markets (``Catalogue.generate(seed, start_ms)``); the exchange mutates
            their run-time fields (tick, closed, winner).
        clock: sim time source (``ScaledClock`` for a server, ``ManualClock`` in tests).
        initial_balance: pUSD base units credited to each new API-key owner.
        seed: makes ids, keys and hashes deterministic.
        store: where to persist every change; ``None`` keeps everything in memory. The
            constructor does no I/O: use ``Exchange.open`` to load from a state directory.
        retain_orders: finished (matched, cancelled) orders kept for queries and duplicate
            checks; older ones are forgotten (and deleted from the store) so a sim that runs for
            days with background flow stays in bounded memory. Open orders are always kept.
        retain_trades: likewise for confirmed or failed trades.
    """

    def __init__(
        self,
        catalogue: Catalogue,
        *,
        clock: Clock,
        initial_balance: int,
        seed: int,
        store: Store | None = None,
        retain_orders: int = 50_000,
        retain_trades: int = 50_000,
    ) -> None:
        self.catalogue = catalogue
        self.ledger = Ledger()
        self._clock = clock
        self._initial_balance = initial_balance
        self._seed = seed
        self._store = store
        self._books: dict[str, OrderBook] = {m.condition_id: OrderBook() for m in catalogue.markets}
        self._orders: dict[str, OrderRecord] = {}
        self._open_by_key: dict[str, set[str]] = {}
        self._trades: dict[str, Trade] = {}
        self._trades_by_key: dict[str, deque[Trade]] = {}
        self._trade_log: deque[Trade] = deque()
        self._finished: deque[str] = deque()
        self._retain_orders = retain_orders
        self._retain_trades = retain_trades
        self._forgotten_orders: set[str] = set()
        self._forgotten_trades: set[str] = set()
        self._pending: deque[Trade] = deque()
        self._expiries: list[tuple[int, str]] = []
        self._delayed: list[tuple[int, str]] = []
        self._keys: dict[str, ApiKeyRecord] = {}
        self._key_index: dict[tuple[str, int], str] = {}
        self._locked_pusd: dict[str, int] = {}
        self._locked_tokens: dict[tuple[str, str], int] = {}
        self._last_trade: dict[str, tuple[int, Side]] = {}
        self._prints: dict[str, list[tuple[int, int]]] = {}
        self._heartbeats: dict[str, tuple[str, int]] = {}
        self._subscribers: list[EventSink] = []
        self._counter = 0
        self._dirty_orders: set[str] = set()
        self._dirty_trades: set[str] = set()
        self._dirty_markets: set[str] = set()
        self._dirty_keys: set[str] = set()
        self._deleted_keys: set[str] = set()
        self._dirty_prints: set[tuple[str, int]] = set()
        self._dirty_heartbeats: set[str] = set()

    # construction ------------------------------------------------------------------------------
    @classmethod
    def create(cls, *, seed: int, clock: Clock, initial_balance: int) -> Exchange:
        """An in-memory exchange with the seeded catalogue starting now."""
        catalogue = Catalogue.generate(seed, clock.now_ms())
        return cls(catalogue, clock=clock, initial_balance=initial_balance, seed=seed)

    @classmethod
    def open(cls, state_dir: Path, *, seed: int, clock: Clock, initial_balance: int) -> Exchange:
        """Open (or create) the exchange persisted in ``state_dir``; books come back identical.

        Raises:
            StateError: the directory cannot be used or was created with another seed.
        """
        store = Store(state_dir)
        store.open()
        meta = store.load("meta").get("exchange")
        if meta is not None and meta["seed"] != seed:
            store.close()
            raise StateError(
                f"{state_dir} holds an exchange created with seed {meta['seed']}, not {seed}; "
                "use that seed or another --state-dir"
            )
        start_ms = clock.now_ms() if meta is None else int(meta["start_ms"])
        exchange = cls(
            Catalogue.generate(seed, start_ms),
            clock=clock,
            initial_balance=initial_balance,
            seed=seed,
            store=store,
        )
        if meta is None:
            store.write([("meta", "exchange", exchange._meta())])
        else:
            from pmtrader.sim.persist import restore

            restore(exchange, store, meta)
        return exchange

    def close(self) -> None:
        """Flush and close the store, if any."""
        if self._store is not None:
            self._flush()
            self._store.close()

    def _meta(self) -> dict[str, Any]:
        return {
            "seed": self._seed,
            "start_ms": self.catalogue.start_ms,
            "counter": self._counter,
            "funded": self.ledger.funded,
            "pools": dict(self.ledger.pools),
        }

    # events ------------------------------------------------------------------------------------
    def subscribe(self, callback: EventSink) -> None:
        """Call ``callback(event)`` synchronously for every event from now on."""
        self._subscribers.append(callback)

    def unsubscribe(self, callback: EventSink) -> None:
        """Stop calling ``callback`` (no error if it was not subscribed)."""
        if callback in self._subscribers:
            self._subscribers.remove(callback)

    def _emit(self, event: SimEvent) -> None:
        for callback in list(self._subscribers):
            callback(event)

    # ids ---------------------------------------------------------------------------------------
    def _digest(self, *parts: object) -> bytes:
        text = "|".join(str(p) for p in (self._seed, *parts))
        return hashlib.sha256(text.encode()).digest()

    def _next(self, kind: str) -> bytes:
        self._counter += 1
        return self._digest(kind, self._counter)

    def new_order_id(self) -> str:
        """A fresh ``0x`` + 64-hex id for orders placed by the sim itself (background flow)."""
        return "0x" + self._next("order").hex()

    # markets -----------------------------------------------------------------------------------
    def markets(self) -> list[Market]:
        """Every market, in catalogue order (events, then outcomes)."""
        return list(self.catalogue.markets)

    def market(self, condition_id: str) -> Market | None:
        """The market with this condition id, or None."""
        return self.catalogue.market(condition_id)

    def market_by_token(self, token_id: str) -> Market | None:
        """The market trading this token, or None."""
        return self.catalogue.market_by_token(token_id)

    def _market_of(self, token_id: str) -> Market:
        market = self.catalogue.market_by_token(token_id)
        if market is None:
            raise UnknownMarket("No orderbook exists for the requested token id")
        return market

    def tick_size(self, token_id: str) -> int:
        """Current minimum tick of the token's market, in 1e-4 units."""
        return self._market_of(token_id).tick

    book = market_data.book
    best_bid_ask = market_data.best_bid_ask
    last_trade = market_data.last_trade
    price_history = market_data.price_history

    # api keys ----------------------------------------------------------------------------------
    def _derive(self, address: str, nonce: int) -> ApiKeyRecord:
        secret_key = f"pmtrader-sim|{self._seed}".encode()
        base = f"{address.lower()}|{nonce}".encode()
        parts = [
            hmac.new(secret_key, base + tag, hashlib.sha256).digest() for tag in (b"k", b"s", b"p")
        ]
        return ApiKeyRecord(
            api_key=str(uuid.UUID(bytes=parts[0][:16], version=4)),
            address=address,
            nonce=nonce,
            secret=base64.urlsafe_b64encode(parts[1]).decode(),
            passphrase=parts[2].hex(),
            created_ms=self._clock.now_ms(),
        )

    def _register(self, record: ApiKeyRecord) -> None:
        self._keys[record.api_key] = record
        self._key_index[(record.address.lower(), record.nonce)] = record.api_key
        self._dirty_keys.add(record.api_key)
        self._deleted_keys.discard(record.api_key)
        if not self.ledger.has_account(record.address):
            self.ledger.open_account(record.address, initial_balance=self._initial_balance)

    def create_api_key(self, address: str, nonce: int = 0) -> ApiCreds:
        """Create the key for ``(address, nonce)``; a new owner gets the initial balance.

        Raises:
            ApiKeyError: ``Could not create api key`` if that (address, nonce) has a key already.
        """
        if (address.lower(), nonce) in self._key_index:
            raise ApiKeyError("Could not create api key")
        record = self._derive(address, nonce)
        self._register(record)
        self._flush()
        return record.creds

    def derive_api_key(self, address: str, nonce: int = 0) -> ApiCreds:
        """Return the key of ``(address, nonce)``: always the same creds for a given seed.

        Unlike production (which refuses when no key exists), deriving also registers the key,
        so derive-only clients work against a fresh sim.
        """
        existing = self._key_index.get((address.lower(), nonce))
        if existing is not None:
            return self._keys[existing].creds
        record = self._derive(address, nonce)
        self._register(record)
        self._flush()
        return record.creds

    def api_key(self, key: str) -> ApiKeyRecord | None:
        """The record of an API key (address, secret, passphrase), or None."""
        return self._keys.get(key)

    def api_keys(self, address: str) -> list[str]:
        """Every API key of one address."""
        low = address.lower()
        return [k for k, r in self._keys.items() if r.address.lower() == low]

    def delete_api_key(self, key: str) -> None:
        """Delete a key (its open orders stay; they belong to the address's book).

        Raises:
            ApiKeyError: ``Could not delete API key`` for an unknown key.
        """
        record = self._keys.pop(key, None)
        if record is None:
            raise ApiKeyError("Could not delete API key")
        self._key_index.pop((record.address.lower(), record.nonce), None)
        self._heartbeats.pop(key, None)
        self._dirty_heartbeats.add(key)
        self._deleted_keys.add(key)
        self._dirty_keys.discard(key)
        self._flush()

    # ledger ------------------------------------------------------------------------------------
    def fund(self, address: str, amount: int) -> int:
        """Credit ``amount`` pUSD base units to an address (operator); return its balance."""
        if not self.ledger.has_account(address):
            self.ledger.open_account(address, initial_balance=0)
        balance = self.ledger.fund(address, amount)
        self._flush()
        return balance

    def set_allowance(self, address: str, asset_type: str, spender: str, amount: int) -> None:
        """Set an allowance (operator; models an on-chain approve)."""
        self.ledger.set_allowance(address, asset_type, spender, amount)
        self._flush()

    def balance_allowance(
        self, address: str, asset_type: str, token_id: str | None = None
    ) -> BalanceAllowance:
        """``/balance-allowance`` for an address: pUSD or one token, with allowances.

        Raises:
            SimError: ``Invalid asset type`` or, for CONDITIONAL, an unknown token.
        """
        kind = asset_type.upper()
        if kind == COLLATERAL:
            return BalanceAllowance(
                self.ledger.pusd(address), self.ledger.allowances_of(address, COLLATERAL)
            )
        if kind in (CONDITIONAL, "CONDITIONAL-V2"):
            if not token_id:
                raise SimError("Invalid token id")
            self._market_of(token_id)
            return BalanceAllowance(
                self.ledger.token(address, token_id),
                self.ledger.allowances_of(address, CONDITIONAL),
            )
        raise SimError("Invalid asset type")

    def available_pusd(self, address: str) -> int:
        """pUSD not reserved by open BUY orders."""
        return self.ledger.pusd(address) - self._locked_pusd.get(address.lower(), 0)

    def available_tokens(self, address: str, token_id: str) -> int:
        """Shares not reserved by open SELL orders."""
        key = (address.lower(), token_id)
        return self.ledger.token(address, token_id) - self._locked_tokens.get(key, 0)

    def positions(self, address: str) -> list[Position]:
        """Non-zero token holdings of an address with average price and realised P&L."""
        out: list[Position] = []
        for token_id, size in sorted(self.ledger.holdings(address).items()):
            market = self._market_of(token_id)
            basis, bought, _, realized = self.ledger.basis_of(address, token_id)
            avg = basis * PRICE_SCALE // size if size else 0
            out.append(
                Position(
                    address,
                    token_id,
                    market.condition_id,
                    market.outcome_of(token_id),
                    size,
                    avg,
                    bought,
                    realized,
                )
            )
        return out

    # orders: see pmtrader.sim.trading for placement, matching and cancels -----------------------
    place = trading.place
    cancel = trading.cancel
    cancel_all = trading.cancel_all
    cancel_market = trading.cancel_market

    def order(self, order_id: str) -> OrderRecord | None:
        """Any order this exchange accepted (open, matched or cancelled), or None."""
        return self._orders.get(order_id)

    def open_orders(
        self,
        owner_key: str,
        *,
        market: str | None = None,
        asset_id: str | None = None,
        order_id: str | None = None,
    ) -> list[OrderRecord]:
        """The key's LIVE orders, oldest first, optionally filtered."""
        result = []
        for oid in self._open_by_key.get(owner_key, set()):
            record = self._orders[oid]
            if market and record.market.lower() != market.lower():
                continue
            if asset_id and record.asset_id != asset_id:
                continue
            if order_id and oid != order_id:
                continue
            result.append(record)
        return sorted(result, key=lambda r: (r.created_ms, r.book_seq))

    def trades(
        self,
        owner_key: str | None = None,
        *,
        address: str | None = None,
        market: str | None = None,
        asset_id: str | None = None,
        after: int | None = None,
        before: int | None = None,
        id: str | None = None,
    ) -> list[Trade]:
        """Trades of an API key (as taker or maker) or of an address, newest first.

        ``after``/``before`` are unix seconds on the match time, as the REST filters.
        """
        if owner_key is not None:
            pool = list(self._trades_by_key.get(owner_key, ()))
        elif address is not None:
            pool = [t for t in self._trades.values() if t.involves_address(address)]
        else:
            pool = list(self._trades.values())
        out = []
        for trade in pool:
            if id and trade.id != id:
                continue
            if market and trade.market.lower() != market.lower():
                continue
            if (
                asset_id
                and trade.asset_id != asset_id
                and not any(m.asset_id == asset_id for m in trade.maker_orders)
            ):
                continue
            if after is not None and trade.match_ms // 1000 < after:
                continue
            if before is not None and trade.match_ms // 1000 > before:
                continue
            out.append(trade)
        out.reverse()  # newest first also within one millisecond: the sort below is stable
        return sorted(out, key=lambda t: t.match_ms, reverse=True)

    def trade(self, trade_id: str) -> Trade | None:
        """One trade by id, or None."""
        return self._trades.get(trade_id)

    # time, heartbeats, operator: see pmtrader.sim.lifecycle --------------------------------------
    advance = lifecycle.advance
    heartbeat = lifecycle.heartbeat
    resolve = lifecycle.resolve
    set_tick_size = lifecycle.set_tick_size
    set_match_delay = lifecycle.set_match_delay
    fail_trade = lifecycle.fail_trade

    # internal helpers shared by trading/lifecycle ------------------------------------------------
    def _book_of(self, market: Market) -> OrderBook:
        return self._books[market.condition_id]

    def _exchange_for(self, market: Market) -> str:
        return NEG_RISK_EXCHANGE_V2 if market.neg_risk else EXCHANGE_V2

    _level_events = market_data.level_events
    _top_events = market_data.top_events
    _record_print = market_data.record_print
    _auto_tick = market_data.auto_tick
    _change_tick = market_data.change_tick
    _trade_events = market_data.trade_events
    _emit_trade_prints = market_data.emit_trade_prints
    _resolved_event = market_data.resolved_event

    def _lock(self, record: OrderRecord, amount: int) -> None:
        """Set an open order's reservation to ``amount`` (pUSD for BUY, shares for SELL)."""
        delta = amount - record.reserved
        record.reserved = amount
        addr = record.maker_address.lower()
        if record.side is Side.BUY:
            self._locked_pusd[addr] = self._locked_pusd.get(addr, 0) + delta
        else:
            key = (addr, record.asset_id)
            self._locked_tokens[key] = self._locked_tokens.get(key, 0) + delta

    def _reservation(self, market: Market, side: Side, price: int, shares: int) -> int:
        if side is Side.SELL:
            return shares
        fee = 0 if market.fees.taker_only else admission.fee_amount(market.fees, shares, price)
        return notional(shares, price, round_up=True) + fee

    def _close_order(self, record: OrderRecord, status: str, now: int) -> None:
        """Take an order out of its book and release its reservation."""
        market = self._market_of(record.asset_id)
        self._book_of(market).cancel(record.id)
        self._lock(record, 0)
        record.status = status
        record.open_size = 0
        self._open_by_key.get(record.owner, set()).discard(record.id)
        self._dirty_orders.add(record.id)
        self._finished.append(record.id)
        self._emit(UserOrderEvent.of("CANCELLATION", record, now))

    def _forget_old(self) -> None:
        """Drop the oldest finished orders and settled trades beyond the retention limits."""
        while len(self._finished) > self._retain_orders:
            order_id = self._finished.popleft()
            record = self._orders.get(order_id)
            if record is not None and record.status != "LIVE":
                del self._orders[order_id]
                self._dirty_orders.discard(order_id)
                self._forgotten_orders.add(order_id)
        while len(self._trade_log) > self._retain_trades:
            trade = self._trade_log[0]
            if trade.status not in ("CONFIRMED", "FAILED"):
                break
            self._trade_log.popleft()
            del self._trades[trade.id]
            self._dirty_trades.discard(trade.id)
            self._forgotten_trades.add(trade.id)
            for owner in dict.fromkeys([trade.owner, *(m.owner for m in trade.maker_orders)]):
                mine = self._trades_by_key.get(owner)
                if mine and mine[0] is trade:
                    mine.popleft()

    def _flush(self) -> None:
        """Write everything changed since the last flush in one transaction."""
        self._forget_old()
        if self._store is None:
            self._clear_dirty()
            return
        from pmtrader.sim.persist import flush

        flush(self, self._store)
        self._clear_dirty()

    def _clear_dirty(self) -> None:
        self.ledger.dirty.clear()
        self.ledger.dirty_holdings.clear()
        self._dirty_orders.clear()
        self._dirty_trades.clear()
        self._dirty_markets.clear()
        self._dirty_keys.clear()
        self._deleted_keys.clear()
        self._dirty_prints.clear()
        self._dirty_heartbeats.clear()
        self._forgotten_orders.clear()
        self._forgotten_trades.clear()

    def check(self) -> None:
        """Assert every invariant (books uncrossed, conservation, reservations); for tests."""
        for book in self._books.values():
            book.check()
        self.ledger.check([(m.condition_id, m.yes_token, m.no_token) for m in self.markets()])
        locked_p: dict[str, int] = {}
        locked_t: dict[tuple[str, str], int] = {}
        for record in self._orders.values():
            if record.status not in ("LIVE", "DELAYED"):
                assert record.reserved == 0
                continue
            addr = record.maker_address.lower()
            if record.side is Side.BUY:
                locked_p[addr] = locked_p.get(addr, 0) + record.reserved
            else:
                locked_t[(addr, record.asset_id)] = (
                    locked_t.get((addr, record.asset_id), 0) + record.reserved
                )
        assert {k: v for k, v in self._locked_pusd.items() if v} == locked_p
        assert {k: v for k, v in self._locked_tokens.items() if v} == locked_t
        for addr, amount in locked_p.items():
            assert self.ledger.pusd(addr) >= amount, (addr, amount)
        for (addr, token), amount in locked_t.items():
            assert self.ledger.token(addr, token) >= amount, (addr, token, amount)
