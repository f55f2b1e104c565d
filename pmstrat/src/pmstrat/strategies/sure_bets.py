"""``sure_bets``: buy the near-certain outcome of a market that ends soon, hold to resolution.

A market whose outcome is all but decided still trades below 1 until it resolves; buying at
0.97 and collecting 1.00 a few hours later is a small, fast return, as long as the price is
real (a tight spread), supported (size resting on the bid behind the touch: other buyers agree)
and the end is near (less time for a surprise). Losses are rare and large, so positions stay
small and capped per market.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from pmstrat.context import Context, MarketInfo, OrderBookSnapshot
from pmstrat.dsl import ScreenHit, Watch, strategy
from pmstrat.signal import Buy, OrderType, Side, Signal
from pmstrat.units import PRICE_SCALE, amount_units, price_units

_HOUR_MS = 3_600_000
_BID_SIDE = Side.BUY


def _candidate(
    ctx: Context, market: MarketInfo, token: str, book: OrderBookSnapshot
) -> tuple[int, int] | None:
    """``(ask, ms_to_end)`` when the token passes every filter, else None."""
    params = ctx.params
    ask = book.best_ask
    bid = book.best_bid
    if ask is None or bid is None:
        return None
    if not price_units(params["min_price"]) <= ask <= price_units(params["max_price"]):
        return None
    if ask - bid > params["max_spread_ticks"] * book.tick:
        return None
    left = market.ms_to_end(ctx.now_ms)
    if left is None or left <= 0 or left > params["max_hours_to_end"] * _HOUR_MS:
        return None
    # Support: size resting on the bid within a few ticks behind the touch.
    floor = bid - params["depth_ticks"] * book.tick
    behind = book.depth(_BID_SIDE, through=floor)
    if behind < amount_units(params["min_depth"]):
        return None
    return ask, left


def _tokens(ctx: Context) -> Iterator[tuple[MarketInfo, str, OrderBookSnapshot]]:
    for market in ctx.markets:
        for token in market.tokens:
            book = ctx.book(token)
            if book is not None:
                yield market, token, book


def screen(ctx: Context) -> Iterator[ScreenHit]:
    """Rank near-certain outcomes by return per hour left (for ``pmstrat scan``)."""
    for market, token, book in _tokens(ctx):
        found = _candidate(ctx, market, token, book)
        if found is None:
            continue
        ask, left = found
        edge = (PRICE_SCALE - ask) / ask
        hours = left / _HOUR_MS
        yield ScreenHit(
            strategy="sure_bets",
            market=market,
            token=token,
            score=edge / max(hours, 1 / 60),
            note=(
                f"{market.outcome(token)} ask {ask / PRICE_SCALE:.4f}, "
                f"{edge:.2%} to resolution in {hours:.1f}h"
            ),
        )


@strategy(
    name="sure_bets",
    params={
        "min_price": (Decimal, Decimal("0.95"), (Decimal("0.50"), Decimal("0.999"))),
        "max_price": (Decimal, Decimal("0.99"), (Decimal("0.50"), Decimal("0.9999"))),
        "max_spread_ticks": (int, 3, (1, 100)),
        "max_hours_to_end": (float, 48.0, (0.01, 24.0 * 90)),
        "depth_ticks": (int, 3, (0, 100)),
        "min_depth": (Decimal, Decimal("50"), (Decimal("0"), Decimal("1000000"))),
        "size": (Decimal, Decimal("20"), (Decimal("1"), Decimal("100000"))),
        "max_position": (Decimal, Decimal("100"), (Decimal("1"), Decimal("1000000"))),
    },
    watch=Watch.TOP,
    screen=screen,
)
def sure_bets(ctx: Context) -> list[Signal]:
    """Buy near-certain outcomes of markets ending soon; hold them to resolution."""
    params = ctx.params
    size = amount_units(params["size"])
    cap = amount_units(params["max_position"])
    out: list[Signal] = []
    cash = ctx.cash
    for market, token, book in _tokens(ctx):
        if ctx.orders and ctx.open_orders(token):
            continue  # an order is still on its way
        held = ctx.position(token).size
        if held >= cap:
            continue
        found = _candidate(ctx, market, token, book)
        if found is None:
            continue
        ask = found[0]
        qty = min(size, cap - held, book.best_ask_size)
        qty -= qty % 10_000  # the venue takes sizes in hundredths of a share
        affordable = cash * PRICE_SCALE // ask * 99 // 100  # leave room for the taker fee
        qty = min(qty, affordable - affordable % 10_000)
        if qty < market.min_size:
            continue
        cash -= qty * ask // PRICE_SCALE
        out.append(Buy(token, ask, qty, order_type=OrderType.FAK, tag="sure"))
    return out


__all__ = ["screen", "sure_bets"]
