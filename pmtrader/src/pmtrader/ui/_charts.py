"""Plotly figures for the dashboard: price history, depth, ladder, P&L over time.

Prices and sizes arrive as ``Decimal``; they become floats only here, for drawing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final

import plotly.graph_objects as go

from pmtrader.models.clob import OrderBook, PricePoint

__all__ = ["depth_figure", "history_figure", "ladder_rows", "series_figure"]

_BID = "#2e9e5b"
_ASK = "#d9534f"
_LAYOUT = {"margin": {"l": 10, "r": 10, "t": 36, "b": 10}, "height": 320}


def history_figure(points: Sequence[PricePoint], title: str) -> go.Figure:
    """A line of price against time (UTC)."""
    fig = go.Figure(
        go.Scatter(
            x=[datetime.fromtimestamp(p.t, UTC) for p in points],
            y=[float(p.p) for p in points],
            mode="lines",
            line={"shape": "hv", "color": "#3b7dd8"},
            name="price",
        )
    )
    fig.update_layout(title=title, yaxis={"range": [0, 1], "tickformat": ".2f"}, **_LAYOUT)
    return fig


def _cumulative(levels: Sequence[tuple[Decimal, Decimal]]) -> tuple[list[float], list[float]]:
    xs: list[float] = []
    ys: list[float] = []
    total = Decimal(0)
    for price, size in levels:
        total += size
        xs.append(float(price))
        ys.append(float(total))
    return xs, ys


#: How far either side of the touch the depth chart shows.
_WINDOW: Final = Decimal("0.12")


def _window(book: OrderBook) -> list[float]:
    bid, ask = book.best_bid, book.best_ask
    if bid is None and ask is None:
        return [0.0, 1.0]
    low = (bid if bid is not None else ask or Decimal(0)) - _WINDOW
    high = (ask if ask is not None else bid or Decimal(1)) + _WINDOW
    return [float(max(low, Decimal(0))), float(min(high, Decimal(1)))]


def depth_figure(book: OrderBook, title: str) -> go.Figure:
    """Cumulative shares on each side of the book, stepping outward from the midpoint."""
    window = _window(book)
    bids = _cumulative([(lv.price, lv.size) for lv in book.bids_best_first()])
    asks = _cumulative([(lv.price, lv.size) for lv in book.asks_best_first()])
    centre = float(book.mid) if book.mid is not None else None
    fig = go.Figure()
    for (xs, ys), name, colour, edge in (
        (bids, "bids", _BID, window[0]),
        (asks, "asks", _ASK, window[1]),
    ):
        if not xs:
            continue
        # Start at the middle with nothing, step out level by level, run on to the edge.
        start = centre if centre is not None else xs[0]
        fig.add_trace(
            go.Scatter(
                x=[start, *xs, edge],
                y=[0.0, *ys, ys[-1]],
                name=name,
                mode="lines",
                fill="tozeroy",
                line={"shape": "hv", "color": colour},
            )
        )
    fig.update_layout(
        title=title,
        xaxis={"title": "price", "range": _window(book), "tickformat": ".2f"},
        yaxis={"title": "shares (cumulative)"},
        legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
        **_LAYOUT,
    )
    return fig


def ladder_rows(book: OrderBook, depth: int = 10) -> list[dict[str, str]]:
    """The top ``depth`` levels of each side, asks above bids, as table rows (exact strings)."""
    asks = book.asks_best_first()[:depth]
    bids = book.bids_best_first()[:depth]
    rows = [{"side": "ask", "price": str(lv.price), "size": str(lv.size)} for lv in reversed(asks)]
    rows += [{"side": "bid", "price": str(lv.price), "size": str(lv.size)} for lv in bids]
    return rows


def series_figure(
    times_ms: Sequence[int], series: dict[str, Sequence[float]], title: str
) -> go.Figure:
    """Several lines over the same time axis (engine P&L and exposure)."""
    xs = [datetime.fromtimestamp(t / 1000, UTC) for t in times_ms]
    fig = go.Figure()
    for name, ys in series.items():
        fig.add_trace(go.Scatter(x=xs, y=list(ys), mode="lines", line={"shape": "hv"}, name=name))
    fig.update_layout(title=title, yaxis={"title": "pUSD"}, **_LAYOUT)
    return fig
