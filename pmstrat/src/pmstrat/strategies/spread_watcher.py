"""``spread_watcher``: quote inside the spread while it is wide, step aside when it narrows.

A wide spread on a liquid market is usually a gap someone will close: stepping one tick inside
both sides earns most of it when both fill. The strategy keeps a YES bid one tick above the best
bid and a NO bid at the complement of one tick below the best ask while the spread is at least
``min_spread_ticks``, and cancels both once it narrows. It is the engine's ``--spread-watcher``.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from pmstrat.context import Context, OrderBookSnapshot
from pmstrat.dsl import ScreenHit, Watch, strategy
from pmstrat.signal import Buy, Cancel, Signal
from pmstrat.units import PRICE_SCALE, amount_units


def _wide(book: OrderBookSnapshot | None, min_ticks: int) -> tuple[int, int] | None:
    if book is None or book.best_bid is None or book.best_ask is None:
        return None
    if book.best_ask - book.best_bid < min_ticks * book.tick:
        return None
    return book.best_bid, book.best_ask


def screen(ctx: Context) -> Iterator[ScreenHit]:
    """Rank markets by how wide their YES spread is."""
    min_ticks: int = ctx.params["min_spread_ticks"]
    for market in ctx.markets:
        book = ctx.book(market.yes)
        found = _wide(book, min_ticks)
        if found is None or book is None:
            continue
        bid, ask = found
        yield ScreenHit(
            strategy="spread_watcher",
            market=market,
            token=market.yes,
            score=(ask - bid) / book.tick,
            note=f"spread {(ask - bid) / 100:.1f}c ({bid / PRICE_SCALE}/{ask / PRICE_SCALE})",
        )


@strategy(
    name="spread_watcher",
    params={
        "min_spread_ticks": (int, 4, (2, 200)),
        "size": (Decimal, Decimal("10"), (Decimal("1"), Decimal("100000"))),
        "max_position": (Decimal, Decimal("100"), (Decimal("1"), Decimal("1000000"))),
    },
    watch=Watch.TOP,
    screen=screen,
)
def spread_watcher(ctx: Context) -> list[Signal]:
    """Quote one tick inside wide spreads; cancel when they narrow."""
    min_ticks: int = ctx.params["min_spread_ticks"]
    size = amount_units(ctx.params["size"])
    cap = amount_units(ctx.params["max_position"])
    out: list[Signal] = []
    for market in ctx.markets:
        yes, no = market.tokens
        book = ctx.book(yes)
        found = _wide(book, min_ticks)
        resting = ctx.open_orders(yes) + ctx.open_orders(no) if ctx.orders else []
        if found is None or book is None:
            out += [Cancel(order_id=o.order_id) for o in resting]
            continue
        if resting:
            continue  # already inside this spread
        bid, ask = found
        tick = book.tick
        qty = max(size, market.min_size)
        if ctx.position(yes).size + qty <= cap:
            out.append(Buy(yes, bid + tick, qty, post_only=True, tag="inside"))
        if ctx.position(no).size + qty <= cap:
            out.append(Buy(no, PRICE_SCALE - (ask - tick), qty, post_only=True, tag="inside"))
    return out


__all__ = ["screen", "spread_watcher"]
