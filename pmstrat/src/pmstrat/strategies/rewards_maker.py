"""``rewards_maker``: two-sided quotes inside the liquidity-rewards band, skewed by inventory.

Polymarket pays makers whose orders rest within ``max_spread`` of the midpoint, more the closer
they are and far more when they quote both sides (protocol notes §6). This strategy keeps one
YES bid and one "ask" on each rewarded market, ``distance`` from the mid and at least the
rewards minimum size. The ask is a NO bid at ``1 - ask`` (the same economic side, and it needs
no YES inventory) unless it holds enough YES to sell. Inventory pushes both quotes away from
the side it already holds; quotes are re-placed only when the desired price moves by at least
``requote_ticks``, so queue position is not thrown away on every tick.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from pmstrat.context import Context, MarketInfo, OpenOrder
from pmstrat.dsl import ScreenHit, Watch, strategy
from pmstrat.rewards import adjusted_mid_x2, book_quotes, q_min, quotes_score
from pmstrat.signal import Buy, Cancel, Sell, Side, Signal
from pmstrat.units import PRICE_SCALE, amount_units


def _pays(market: MarketInfo) -> bool:
    return market.pays_rewards


class RewardsMaker:
    """Quote both sides of every rewarded market inside its band (see the module docstring)."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.distance: int = params["distance"]
        self.size = amount_units(params["size"])
        self.skew: int = params["skew"]
        self.max_inventory = amount_units(params["max_inventory"])
        self.requote: int = params["requote_ticks"]

    def on_tick(self, ctx: Context) -> list[Signal]:
        out: list[Signal] = []
        for market in ctx.markets:
            out += self._quote(ctx, market)
        return out

    def on_stop(self, ctx: Context) -> list[Signal]:
        return [Cancel(token=t) for t in ctx.tokens() if ctx.open_orders(t)]

    def _desired(self, ctx: Context, market: MarketInfo) -> tuple[int, int, int] | None:
        """``(yes_bid, yes_ask, size)`` to quote now, or None to stand aside."""
        book = ctx.book(market.yes)
        if book is None:
            return None
        mid_x2 = adjusted_mid_x2(book, market.rewards_min_size)
        if mid_x2 is None:
            return None
        tick = book.tick
        # Stay strictly inside the band, on the tick grid.
        distance = min(self.distance, market.rewards_max_spread - tick)
        inventory = ctx.position(market.yes).size - ctx.position(market.no).size
        shift = self.skew * inventory // max(self.size, 1)
        bid = (mid_x2 - 2 * distance - 2 * shift) // (2 * tick) * tick
        ask = -(-(mid_x2 + 2 * distance - 2 * shift) // (2 * tick)) * tick
        bid = min(bid, mid_x2 // 2 // tick * tick)
        ask = max(ask, -(-mid_x2 // 2 // tick) * tick)
        if ask <= bid:
            ask = bid + tick
        size = max(self.size, market.rewards_min_size, market.min_size)
        return bid, ask, size

    def _quote(self, ctx: Context, market: MarketInfo) -> list[Signal]:
        desired = self._desired(ctx, market)
        yes_orders = ctx.open_orders(market.yes)
        no_orders = ctx.open_orders(market.no)
        if desired is None:
            return [
                Cancel(token=t) for t, o in ((market.yes, yes_orders), (market.no, no_orders)) if o
            ]
        bid, ask, size = desired
        tick = market.tick
        out: list[Signal] = []
        inventory = ctx.position(market.yes).size - ctx.position(market.no).size
        held_yes = ctx.position(market.yes).size
        # Side one: a YES bid, unless YES inventory is already at the cap.
        want_bid = 0 < bid < PRICE_SCALE and inventory < self.max_inventory
        out += self._keep(
            market.yes, Side.BUY, bid if want_bid else None, size=size, tick=tick, orders=yes_orders
        )
        # Side two: sell YES when held, else bid NO at the complement of the ask.
        want_ask = 0 < ask < PRICE_SCALE and -inventory < self.max_inventory
        if held_yes >= size:
            out += self._keep(
                market.yes,
                Side.SELL,
                ask if want_ask else None,
                size=size,
                tick=tick,
                orders=yes_orders,
            )
            out += self._keep(market.no, Side.BUY, None, size=size, tick=tick, orders=no_orders)
        else:
            out += self._keep(market.yes, Side.SELL, None, size=size, tick=tick, orders=yes_orders)
            no_price = PRICE_SCALE - ask
            out += self._keep(
                market.no,
                Side.BUY,
                no_price if want_ask else None,
                size=size,
                tick=tick,
                orders=no_orders,
            )
        return out

    def _keep(
        self,
        token: str,
        side: Side,
        price: int | None,
        *,
        size: int,
        tick: int,
        orders: list[OpenOrder],
    ) -> list[Signal]:
        """Signals that leave exactly one order at ``price`` on this token and side."""
        mine = [o for o in orders if o.side == side]
        out: list[Signal] = []
        keep: OpenOrder | None = None
        for order in mine:
            close = price is not None and abs(order.price - price) < self.requote * tick
            if keep is None and close:
                keep = order
            else:
                out.append(Cancel(order_id=order.order_id))
        if keep is None and price is not None:
            if side == Side.BUY:
                out.append(Buy(token, price, size, post_only=True, tag="rewards"))
            else:
                out.append(Sell(token, price, size, post_only=True, tag="rewards"))
        return out


def screen(ctx: Context) -> Iterator[ScreenHit]:
    """Rank rewarded markets by pool per unit of competing liquidity in the band."""
    for market in ctx.markets:
        if not market.pays_rewards:
            continue
        yes = ctx.book(market.yes)
        if yes is None:
            continue
        mid_x2 = adjusted_mid_x2(yes, market.rewards_min_size)
        if mid_x2 is None:
            continue
        q = quotes_score(
            book_quotes(yes, ctx.book(market.no)),
            mid_x2=mid_x2,
            max_spread=market.rewards_max_spread,
            min_size=market.rewards_min_size,
        )
        competition = q_min(*q, mid_x2 / (2 * PRICE_SCALE))
        pool = market.rewards_daily_rate / 1_000_000
        yield ScreenHit(
            strategy="rewards_maker",
            market=market,
            token=market.yes,
            score=pool / (1.0 + competition),
            note=(
                f"pool ${pool:,.0f}/day, band {market.rewards_max_spread_cents}c, "
                f"competing Q {competition:,.0f}"
            ),
        )


rewards_maker = strategy(
    name="rewards_maker",
    params={
        "distance": (int, 100, (0, 1000)),
        "size": (Decimal, Decimal("60"), (Decimal("1"), Decimal("100000"))),
        "skew": (int, 50, (0, 1000)),
        "max_inventory": (Decimal, Decimal("300"), (Decimal("0"), Decimal("1000000"))),
        "requote_ticks": (int, 2, (1, 100)),
    },
    markets=_pays,
    watch=Watch.TOP,
    screen=screen,
    description="Two-sided quotes inside the liquidity-rewards band, skewed by inventory.",
)(RewardsMaker)

__all__ = ["RewardsMaker", "rewards_maker", "screen"]
