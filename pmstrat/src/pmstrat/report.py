"""Reports of a backtest: a rich summary table for the terminal and an HTML page (plotly).

The HTML page holds four panels: equity, drawdown, the YES price path with the strategy's fills
on it, and the P&L split. plotly is imported only when a page is written.
"""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from pmstrat.recording import BOOK, EventStream
from pmstrat.results import BacktestResult
from pmstrat.units import AMOUNT_SCALE, PRICE_SCALE, amount_decimal

_SPLIT = ("spread_capture", "inventory", "fees", "rewards", "resolution")


def summary_table(result: BacktestResult, *, title: str | None = None) -> Table:
    """The headline numbers of one run as a rich table (money in exact pUSD)."""
    table = Table(title=title or f"backtest: {result.strategy}", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    pnl = result.pnl
    m = result.metrics
    rows: list[tuple[str, str]] = [
        ("P&L (pUSD)", f"{amount_decimal(pnl.total):,}"),
        *(
            (f"  {name.replace('_', ' ')}", f"{amount_decimal(getattr(pnl, name)):,}")
            for name in _SPLIT
        ),
        ("final cash", f"{amount_decimal(result.cash):,}"),
        ("Sharpe (annualised)", f"{m.sharpe:.2f}"),
        ("max drawdown", f"{amount_decimal(m.max_drawdown):,} ({m.max_drawdown_pct:.2%})"),
        ("hit rate", f"{m.hit_rate:.1%} of {len(result.trades)} closes"),
        ("orders / fills / rejected", f"{result.orders} / {m.fills} / {len(result.rejections)}"),
        ("volume (pUSD)", f"{amount_decimal(m.volume):,}"),
        ("events / strategy calls", f"{m.events:,} / {m.calls:,}"),
        ("replay speed", f"{result.events_per_second:,.0f} events/s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    if result.params:
        table.add_row("parameters", ", ".join(f"{k}={v}" for k, v in sorted(result.params.items())))
    if result.rewards_note:
        table.caption = result.rewards_note
    return table


def _price_path(stream: EventStream, token: str) -> tuple[list[int], list[float]]:
    """Midpoint of ``token`` after each timestamp where it had both sides."""
    code = stream.tokens.index(token)
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    xs: list[int] = []
    ys: list[float] = []
    rows = zip(
        stream.ts_ms.tolist(),
        stream.kind.tolist(),
        stream.token.tolist(),
        stream.side.tolist(),
        stream.price.tolist(),
        stream.size.tolist(),
        strict=True,
    )
    for ts, kind, c, side, price, size in rows:
        if c != code:
            continue
        if kind == BOOK:
            book = bids if side == 0 else asks
            if size:
                book[price] = size
            else:
                book.pop(price, None)
        elif kind == 2:
            bids.clear()
            asks.clear()
        if bids and asks:
            mid = (max(bids) + min(asks)) / (2 * PRICE_SCALE)
            if xs and xs[-1] == ts:
                ys[-1] = mid
            else:
                xs.append(ts)
                ys.append(mid)
    return xs, ys


def write_html(result: BacktestResult, stream: EventStream, path: str | Path) -> Path:
    """Write the four-panel HTML report of ``result`` on ``stream``; return its path."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=2,
        cols=2,
        subplot_titles=("Equity (pUSD)", "Drawdown (pUSD)", "Price and fills", "P&L split (pUSD)"),
    )
    times = [t / 1000 for t in result.equity_ts]
    equity = [e / AMOUNT_SCALE for e in result.equity]
    peak = 0.0
    drawdown = []
    for value in equity:
        peak = max(peak, value)
        drawdown.append(value - peak)
    fig.add_trace(go.Scatter(x=times, y=equity, name="equity"), row=1, col=1)
    fig.add_trace(go.Scatter(x=times, y=drawdown, name="drawdown", fill="tozeroy"), row=1, col=2)
    if stream.markets:
        market = stream.markets[0]
        xs, ys = _price_path(stream, market.yes)
        fig.add_trace(
            go.Scatter(x=[x / 1000 for x in xs], y=ys, name=f"{market.slug} YES mid"), row=2, col=1
        )
        for side, colour in (("BUY", "green"), ("SELL", "red")):
            fills = [f for f in result.fills if f.token == market.yes and f.side == side]
            fig.add_trace(
                go.Scatter(
                    x=[f.ts_ms / 1000 for f in fills],
                    y=[f.price / PRICE_SCALE for f in fills],
                    mode="markers",
                    marker={"color": colour, "size": 7},
                    name=f"{side.lower()} fills",
                ),
                row=2,
                col=1,
            )
    split = [getattr(result.pnl, name) / AMOUNT_SCALE for name in _SPLIT]
    fig.add_trace(go.Bar(x=list(_SPLIT), y=split, name="P&L split"), row=2, col=2)
    fig.update_layout(
        title=f"{result.strategy}: P&L {amount_decimal(result.pnl.total)} pUSD",
        height=800,
        showlegend=True,
    )
    target = Path(path)
    fig.write_html(target, include_plotlyjs=True, full_html=True)  # works offline
    return target
