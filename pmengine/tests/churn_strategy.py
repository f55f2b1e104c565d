"""``churn``: a test-only strategy that trades as often as the risk throttle allows.

The reliability tests need hundreds of fills in a minute, with realized P&L that depends on
partial closes: on every top-of-book change and every 200 ms it takes liquidity on each
token of its markets with a FAK order, buying while the position is small and alternately
selling part of it back once it holds enough. One order per token at a time, and a fresh tag
per order so that every intent is new (an intent that ever gets two orders is a bug).
``churn_seconds`` says how long one process trades from its first call (-1: for ever, 0: not
at all), so that a test can let the engine go quiet and compare its open orders with the
exchange's.

The engine process imports it as ``churn_strategy:Churn`` (the tests put this folder on its
``PYTHONPATH``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pmstrat.context import Context
from pmstrat.dsl import Watch, strategy
from pmstrat.signal import Buy, OrderType, Sell, Signal
from pmstrat.units import amount_units

#: the venue takes sizes in hundredths of a share
_LOT = 10_000


@strategy(
    name="churn",
    params={
        "churn_size": (Decimal, Decimal("5"), (Decimal("1"), Decimal("1000"))),
        "churn_cap": (Decimal, Decimal("20"), (Decimal("1"), Decimal("10000"))),
        "churn_seconds": (float, -1.0, (-1.0, 86_400.0)),
    },
    watch=Watch.TOP | Watch.TIMER,
    interval_ms=200,
)
class Churn:
    """Buy and sell back each token of its markets with FAK orders, round after round."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.size = amount_units(params["churn_size"])
        self.cap = amount_units(params["churn_cap"])
        self.seconds: float = params["churn_seconds"]  # how long to trade; -1: for ever
        self.calls = 0
        self.started_ms = -1

    def on_tick(self, ctx: Context) -> list[Signal]:
        out: list[Signal] = []
        if self.started_ms < 0:
            self.started_ms = ctx.now_ms
        if 0 <= self.seconds * 1000 <= ctx.now_ms - self.started_ms:
            return out
        for market, token in ((m, t) for m in ctx.markets for t in m.tokens):
            book = ctx.book(token)
            if book is None or ctx.open_orders(token):
                continue
            self.calls += 1
            held = ctx.position(token).size
            sell = held >= self.cap or (held >= self.size and self.calls % 2 == 0)
            tag = f"churn-{ctx.now_ms}-{self.calls}"
            if sell and book.best_bid is not None:
                qty = min(self.size, held, book.best_bid_size)
                qty -= qty % _LOT
                if qty >= market.min_size:
                    out.append(Sell(token, book.best_bid, qty, order_type=OrderType.FAK, tag=tag))
            elif not sell and book.best_ask is not None:
                qty = min(self.size, book.best_ask_size)
                qty -= qty % _LOT
                if qty >= market.min_size:
                    out.append(Buy(token, book.best_ask, qty, order_type=OrderType.FAK, tag=tag))
        return out
