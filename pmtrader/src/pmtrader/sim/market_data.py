"""Market data and market-channel events of ``Exchange``: books, tops, last trades, history.

Bound into ``Exchange`` in ``exchange.py``. Books are kept in YES terms; every function here that
shows a NO token mirrors it (a YES bid at p is a NO ask at 1 - p), so the two books a client sees
are always exact mirror images.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pmtrader.sim.catalogue import Market
from pmtrader.sim.events import (
    BestBidAsk,
    BookSnapshotRequest,
    LastTradePrice,
    LevelChange,
    MarketResolved,
    PriceChange,
    TickSizeChange,
    UserTradeEvent,
)
from pmtrader.sim.matching import PRICE_SCALE, Side
from pmtrader.sim.records import BookSnapshot, PricePoint, Trade

if TYPE_CHECKING:
    from pmtrader.sim.exchange import Exchange

__all__ = ["best_bid_ask", "book", "last_trade", "price_history"]

_EXTREME_HIGH = 9_600
_EXTREME_LOW = 400
_FINE_TICK = 10


def book(self: Exchange, token_id: str) -> BookSnapshot:
    """The token's book: bids ascending, asks descending (best LAST, as production sends).

    Raises:
        UnknownMarket: the token is not in the catalogue.
    """
    market = self._market_of(token_id)
    book = self._books[market.condition_id]
    yes_bids = book.levels(Side.BUY)
    yes_asks = book.levels(Side.SELL)
    if token_id == market.yes_token:
        bids = list(reversed(yes_bids))
        asks = list(reversed(yes_asks))
    else:
        bids = [(PRICE_SCALE - p, s) for p, s in reversed(yes_asks)]
        asks = [(PRICE_SCALE - p, s) for p, s in reversed(yes_bids)]
    last = self._last_trade.get(token_id)
    return BookSnapshot(
        market=market.condition_id,
        asset_id=token_id,
        timestamp_ms=self._clock.now_ms(),
        bids=tuple(bids),
        asks=tuple(asks),
        min_order_size=market.min_order_size,
        tick_size=market.tick,
        neg_risk=market.neg_risk,
        last_trade_price=None if last is None else last[0],
    )


def best_bid_ask(self: Exchange, token_id: str) -> tuple[int | None, int | None]:
    """``(best bid, best ask)`` of one token in 1e-4 units (None when a side is empty)."""
    market = self._market_of(token_id)
    book = self._books[market.condition_id]
    bid, ask = book.best_bid(), book.best_ask()
    if token_id == market.yes_token:
        return bid, ask
    return (
        None if ask is None else PRICE_SCALE - ask,
        None if bid is None else PRICE_SCALE - bid,
    )


def last_trade(self: Exchange, token_id: str) -> tuple[int, Side] | None:
    """Price and taker side of the token's last trade, or None before the first one."""
    self._market_of(token_id)
    return self._last_trade.get(token_id)


def price_history(
    self: Exchange, token_id: str, start_s: int, end_s: int, fidelity_min: int = 1
) -> list[PricePoint]:
    """Price points between ``start_s`` and ``end_s`` (unix seconds), one per fidelity bucket.

    The seeded 30-day hourly history is followed by the last trade price of every minute
    with trades since the exchange started; the NO token's history is the YES mirror.
    """
    market = self._market_of(token_id)
    points = list(market.history) + self._prints.get(market.condition_id, [])
    bucket = max(fidelity_min, 1) * 60
    chosen: dict[int, tuple[int, int]] = {}
    for t, p in points:
        if start_s <= t <= end_s:
            chosen[t // bucket] = (t, p)
    mirror = token_id != market.yes_token
    return [PricePoint(t, PRICE_SCALE - p if mirror else p) for t, p in sorted(chosen.values())]


def level_events(self: Exchange, market: Market, touched: set[tuple[Side, int]], now: int) -> None:
    if not touched:
        return
    book = self._book_of(market)
    bid, ask = book.best_bid(), book.best_ask()
    no_bid = None if ask is None else PRICE_SCALE - ask
    no_ask = None if bid is None else PRICE_SCALE - bid
    changes: list[LevelChange] = []
    for side, price in sorted(touched):
        size = book.level_size(side, price)
        changes.append(LevelChange(market.yes_token, side, price, size, bid, ask))
        changes.append(
            LevelChange(market.no_token, side.opposite, PRICE_SCALE - price, size, no_bid, no_ask)
        )
    self._emit(PriceChange(market.condition_id, tuple(changes), now))


def top_events(
    self: Exchange, market: Market, before: tuple[int | None, int | None], now: int
) -> None:
    book = self._book_of(market)
    bid, ask = book.best_bid(), book.best_ask()
    if (bid, ask) == before:
        return
    self._emit(BestBidAsk(market.condition_id, market.yes_token, bid, ask, now))
    self._emit(
        BestBidAsk(
            market.condition_id,
            market.no_token,
            None if ask is None else PRICE_SCALE - ask,
            None if bid is None else PRICE_SCALE - bid,
            now,
        )
    )


def record_print(self: Exchange, market: Market, yes_price: int, now: int) -> None:
    minute = now // 60_000
    prints = self._prints.setdefault(market.condition_id, [])
    point = (minute * 60, yes_price)
    if prints and prints[-1][0] == point[0]:
        prints[-1] = point
    else:
        prints.append(point)
    self._dirty_prints.add((market.condition_id, point[0]))


def auto_tick(self: Exchange, market: Market, now: int) -> None:
    """Finer tick past 0.96 / below 0.04 for markets quoted in cents; back when it returns."""
    if market.base_tick != 100:
        return
    last = self._last_trade.get(market.yes_token)
    if last is None:
        return
    price = last[0]
    extreme = price > _EXTREME_HIGH or price < _EXTREME_LOW
    wanted = _FINE_TICK if extreme else market.base_tick
    if wanted != market.tick:
        self._change_tick(market, wanted, now)


def change_tick(self: Exchange, market: Market, tick: int, now: int) -> None:
    old = market.tick
    market.tick = tick
    self._dirty_markets.add(market.condition_id)
    for token in market.token_ids:
        self._emit(TickSizeChange(market.condition_id, token, old, tick, now))


def trade_events(self: Exchange, trade: Trade, now: int) -> None:
    owners = dict.fromkeys([trade.owner, *(m.owner for m in trade.maker_orders)])
    for owner in owners:
        self._emit(UserTradeEvent.of(owner, trade, now))


def emit_trade_prints(self: Exchange, market: Market, trades: list[Trade], now: int) -> None:
    for trade in trades:
        self._emit(
            LastTradePrice(
                market.condition_id,
                trade.asset_id,
                trade.price,
                trade.side,
                trade.size,
                trade.fee_rate_bps,
                now,
                trade.transaction_hash,
            )
        )
    self._emit(BookSnapshotRequest(market.condition_id, market.token_ids, now))


def resolved_event(self: Exchange, market: Market, winner: str, now: int) -> None:
    event = self.catalogue.event_of(market)
    self._emit(
        MarketResolved(
            market=market.condition_id,
            gamma_id=market.gamma_id,
            question=market.question,
            slug=market.slug,
            description=market.description,
            token_ids=market.token_ids,
            outcomes=market.outcomes,
            winning_asset_id=winner,
            winning_outcome=market.outcome_of(winner),
            event_id=event.id,
            event_slug=event.slug,
            event_title=event.title,
            timestamp_ms=now,
        )
    )
