"""Plotly figures for the dashboard: price history, depth, ladder, P&L over time.

Prices and sizes arrive as ``Decimal``; they become floats only here, for drawing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

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


def depth_figure(book: OrderBook, title: str) -> go.Figure:
    """Cumulative shares on each side of the book, best level outward."""
    bids = _cumulative([(lv.price, lv.size) for lv in book.bids_best_first()])
    asks = _cumulative([(lv.price, lv.size) for lv in book.asks_best_first()])
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=bids[0], y=bids[1], name="bids", fill="tozeroy", line={"shape": "hv", "color": _BID}
        )
    )
    fig.add_trace(
        go.Scatter(
            x=asks[0], y=asks[1], name="asks", fill="tozeroy", line={"shape": "hv", "color": _ASK}
        )
    )
    fig.update_layout(
        title=title,
        xaxis={"title": "price", "range": [0, 1], "tickformat": ".2f"},
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
