"""What ``make demo`` shows: the live terminal view, the closing summary and the HTML report."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table

PRICE_SCALE = 10_000
AMOUNT_SCALE = 1_000_000


def _shares(units: int) -> str:
    return f"{units / AMOUNT_SCALE:,.2f}"


def render_view(s: dict[str, Any]) -> RenderableType:
    """The live view: state line, positions, open orders and the latest fills."""
    slugs: dict[str, str] = s["slugs"]
    strategies = ", ".join(f"{n}: {st}" for n, st in sorted(s["strategies"].items())) or "starting"
    p50 = "-" if s["p50_ms"] is None else f"{s['p50_ms']:.2f} ms"
    head = (
        f"[bold]{s['elapsed_s']:.0f}/{s['seconds']:g} s[/bold]   risk: [bold]{s['trading_state']}"
        f"[/bold]   exposure {s['exposure']:,.2f} pUSD   feed age {s['staleness_s']:.1f} s   "
        f"denials {s['denials']}\n"
        f"orders [bold]{s['orders']}[/bold] {dict(sorted(s['orders_by_state'].items()))}   "
        f"fills [bold]{s['fills']}[/bold]   fees {s['fees']} pUSD   "
        f"realized [bold]{s['realized_pnl']}[/bold]   unrealized [bold]"
        f"{s['unrealized_pnl']}[/bold] pUSD   tick→decision p50 {p50}\n"
        f"strategies: {strategies}"
    )
    positions = Table("market", "token", "shares", title="positions", expand=True)
    for token, qty in sorted(s["positions"].items()):
        positions.add_row(slugs.get(token, "?"), token[:12] + "…", f"{qty:,}")
    orders = Table("strategy", "market", "side", "price", "size", "filled", title="open orders")
    for strategy, token, side, price, size, filled in s["working"][-10:]:
        orders.add_row(
            strategy,
            slugs.get(token, token[:10]),
            "BUY" if side == 0 else "SELL",
            f"{price / PRICE_SCALE:.4f}",
            _shares(size),
            _shares(filled),
        )
    fills = Table("time", "market", "side", "price", "shares", title="latest fills")
    for ts, token, side, price, size in s["recent_fills"]:
        fills.add_row(
            f"{ts // 1000 % 86_400 // 3600:02d}:{ts // 60_000 % 60:02d}:{ts // 1000 % 60:02d}",
            slugs.get(token, token[:10]),
            "BUY" if side == 0 else "SELL",
            f"{price / PRICE_SCALE:.4f}",
            _shares(size),
        )
    return Group(
        Panel(head, title="pmt demo: pmengine live through pmproxy"), positions, orders, fills
    )


def summary_lines(s: dict[str, Any]) -> list[str]:
    """The closing summary and what to do next, for people."""
    low, high = s["rewards_per_day_range_pusd"]
    routes = ", ".join(f"{r} {n}" for r, n in sorted(s["proxy_requests_by_route"].items()))
    p50, p99 = s["tick_to_decision_p50_ms"], s["tick_to_decision_p99_ms"]
    latency = "no decisions" if p50 is None else f"p50 {p50:.3f} ms, p99 {p99:.3f} ms"
    run = s["run_dir"]
    lines = [
        "",
        f"pmt demo summary ({s['seconds']} s of trading, {s['elapsed_s']} s in all"
        + (f", interrupted by {s['interrupted']}" if s["interrupted"] else "")
        + ")",
        f"  markets              {', '.join(s['markets'])}",
        f"  orders               {s['orders']}  by state {s['orders_by_state']}",
        f"                       by strategy {s['orders_by_strategy']}",
        f"  fills                {s['fills']}",
        f"  fees                 {s['fees_pusd']} pUSD",
        f"  realized P&L         {s['realized_pnl_pusd']} pUSD",
        f"  unrealized P&L       {s['unrealized_pnl_pusd']} pUSD (marked to the exchange's mid)",
        f"  liquidity rewards    {s['rewards_per_day_pusd']} pUSD/day estimated "
        f"(range {low}-{high}; {s['rewards_scored_samples']}/{s['rewards_samples']} samples "
        "scored, pmstrat.rewards)",
        f"  tick→decision        {latency} over {s['decisions']} decisions",
        f"  risk                 {s['trading_state']}, {s['risk_denials']} denials",
        f"  proxy requests       {s['proxy_requests']} ({routes})",
        f"  positions            {len(s['positions'])} tokens; engine == exchange: "
        f"{s['positions_match']}",
        f"  report               {s['report']}",
        "",
        "Next:",
        "  the dashboard on this run's state (restart the exchange from it, use the demo key):",
        f"    uv run --frozen pmtrader sim serve --seed 7 --port 8700 --state-dir {run}/exchange &",
        f"    PM_PRIVATE_KEY=$(cat {run}/wallet.key) make ui",
        f"  the engine's view:  uv run --frozen pmengine status --state-dir {run}/engine",
        "  production:         unset PMT_ENV (and PMT_SIM_URL); export PM_PRIVATE_KEY=0x…",
        "                      (plus PM_FUNDER_ADDRESS and PM_SIGNATURE_TYPE for a proxy or Safe",
        "                      wallet), optionally PMPROXY_URL=https://your-pmproxy; then begin",
        "                      with pmengine --dry-run --markets SLUG --strategy rewards_maker",
    ]
    return lines


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def write_report(
    path: Path, s: dict[str, Any], timeline: list[tuple[float, int, int, float, float]]
) -> Path:
    """One self-contained HTML page (plotly inlined, works offline): numbers and charts."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("Orders and fills", "P&L (pUSD)"), horizontal_spacing=0.1
    )
    xs = [t[0] for t in timeline]
    fig.add_trace(go.Scatter(x=xs, y=[t[1] for t in timeline], name="orders"), row=1, col=1)
    fig.add_trace(go.Scatter(x=xs, y=[t[2] for t in timeline], name="fills"), row=1, col=1)
    fig.add_trace(go.Scatter(x=xs, y=[t[3] for t in timeline], name="realized"), row=1, col=2)
    fig.add_trace(go.Scatter(x=xs, y=[t[4] for t in timeline], name="unrealized"), row=1, col=2)
    fig.update_xaxes(title_text="seconds")
    fig.update_layout(height=420)
    numbers = [
        (k.replace("_", " "), str(v))
        for k, v in s.items()
        if k not in ("positions", "exchange_positions", "proxy_requests_by_route")
    ]
    positions = [
        (token, f"engine {qty} / exchange {s['exchange_positions'].get(token, '0')}")
        for token, qty in s["positions"].items()
    ]
    routes = [(r, str(n)) for r, n in sorted(s["proxy_requests_by_route"].items())]
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>pmt demo report</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin-bottom:1.5em}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}"
        "th{background:#f4f4f4}</style></head><body>"
        "<h1>pmt demo: pmengine live through pmproxy on the local exchange</h1>"
        + fig.to_html(include_plotlyjs=True, full_html=False)
        + "<h2>Summary</h2>"
        + _table(numbers)
        + "<h2>Positions (shares)</h2>"
        + _table(positions)
        + "<h2>Proxy requests by route</h2>"
        + _table(routes)
        + "</body></html>"
    )
    path.write_text(page, encoding="utf-8")
    return path
