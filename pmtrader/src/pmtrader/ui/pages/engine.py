"""Engine: pmengine's trading state, strategies, signals, orders, fills, P&L, risk denials and
metrics, read from its journal and metrics endpoint; and its kill switch."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import streamlit as st
from prometheus_client.parser import text_string_to_metric_families

from pmtrader.ui import _charts
from pmtrader.ui._journal import (
    AMOUNT_SCALE,
    PRICE_SCALE,
    EngineSnapshot,
    JournalReadError,
    pnl_series,
    pull_kill_switch,
    read_journal,
)

__all__ = ["read_metrics", "render"]

_STATE_COLOURS = {"ACTIVE": "green", "REDUCING": "orange", "HALTED": "red"}


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def read_metrics(url: str) -> dict[str, float]:
    """The engine's gauges and counters by sample name (labels folded in), from ``/metrics``.

    Raises:
        httpx.HTTPError: The endpoint did not answer.
    """
    response = httpx.get(url, timeout=3.0)
    response.raise_for_status()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name.endswith(("_bucket", "_created")):
                continue
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return out


def _tables(snap: EngineSnapshot) -> None:
    st.subheader("Strategies")
    if snap.strategies:
        st.dataframe(
            [
                {"strategy": n, "status": s, "parameters / detail": d, "updated": _when(t)}
                for n, s, d, t in snap.strategies
            ],
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("No strategy has run yet.")
    signals, orders, fills, denials, states = st.tabs(
        ["Signals", "Orders", "Fills", "Risk rejections", "State changes"]
    )
    with signals:
        st.dataframe(
            [{"time": _when(t), "strategy": s, "signal": d} for t, s, d in snap.signals],
            hide_index=True,
            width="stretch",
        )
    with orders:
        st.dataframe(
            [
                {
                    "updated": _when(int(str(o["updated_ms"]))),
                    "strategy": o["strategy"],
                    "side": "BUY" if o["side"] == 0 else "SELL",
                    "price": str(Decimal(int(str(o["price"]))) / PRICE_SCALE),
                    "size": str(Decimal(int(str(o["size"]))) / AMOUNT_SCALE),
                    "filled": str(Decimal(int(str(o["filled"]))) / AMOUNT_SCALE),
                    "state": o["state"],
                    "reason": o["reason"],
                    "order": str(o["order_hash"])[:14],
                }
                for o in snap.orders
            ],
            hide_index=True,
            width="stretch",
        )
    with fills:
        st.dataframe(
            [
                {
                    "time": _when(t),
                    "token": tok[:14],
                    "side": "BUY" if side == 0 else "SELL",
                    "price": str(Decimal(p) / PRICE_SCALE),
                    "size": str(Decimal(sz) / AMOUNT_SCALE),
                    "fee": str(Decimal(fee) / AMOUNT_SCALE),
                }
                for t, tok, side, p, sz, fee in reversed(snap.fills[-200:])
            ],
            hide_index=True,
            width="stretch",
        )
    with denials:
        st.dataframe(
            [
                {"time": _when(t), "strategy": s, "token": tok[:14], "reason": r}
                for t, s, tok, r in snap.denials
            ],
            hide_index=True,
            width="stretch",
        )
    with states:
        st.dataframe(
            [{"time": _when(t), "state": s, "reason": r} for t, s, r in snap.state_changes],
            hide_index=True,
            width="stretch",
        )


@st.fragment(run_every=3)
def _live(state_dir: Path, metrics_url: str) -> None:
    try:
        snap = read_journal(state_dir)
    except JournalReadError as exc:
        st.warning(str(exc))
        return
    colour = _STATE_COLOURS.get(snap.state, "gray")
    cols = st.columns(4)
    cols[0].markdown(f"### :{colour}[{snap.state}]")
    if snap.kill_file:
        cols[0].caption("kill file present: run `pmengine resume` to trade again")
    times, pnl, exposure = pnl_series(snap.fills)
    cols[1].metric("realised P&L (pUSD)", f"{pnl[-1]:.6f}" if pnl else "0")
    cols[2].metric("exposure (pUSD)", f"{exposure[-1]:.6f}" if exposure else "0")
    cols[3].metric("fills", len(snap.fills))
    if times:
        st.plotly_chart(
            _charts.series_figure(
                times,
                {"realised P&L": [float(v) for v in pnl], "exposure": [float(v) for v in exposure]},
                "P&L and exposure over time",
            ),
            key="eng_pnl",
        )
    if metrics_url:
        try:
            metrics = read_metrics(metrics_url)
        except httpx.HTTPError as exc:
            st.caption(f"metrics endpoint {metrics_url}: not reachable ({exc})")
        else:
            with st.expander("Metrics", expanded=False):
                st.dataframe(
                    [{"metric": k, "value": v} for k, v in sorted(metrics.items())],
                    hide_index=True,
                    width="stretch",
                )
    _tables(snap)


def _kill_switch(state_dir: Path) -> None:
    with st.container(border=True):
        st.markdown("**Kill switch**: halt the engine, cancel all its orders, send nothing new.")
        armed = st.checkbox("I want to halt the engine", key="eng_kill_armed")
        if st.button("Halt the engine", type="primary", disabled=not armed, key="eng_kill"):
            try:
                path = pull_kill_switch(state_dir)
            except JournalReadError as exc:
                st.error(str(exc))
            else:
                st.success(f"Kill switch pulled ({path}); the engine halts within a second.")


def render() -> None:
    """Draw the Engine page."""
    st.header("Engine")
    default_dir = os.environ.get("PMENGINE_STATE_DIR", "./pmengine-state")
    port = os.environ.get("PMENGINE_METRICS_PORT", "")
    cols = st.columns(2)
    state_dir = Path(cols[0].text_input("State directory", default_dir, key="eng_dir"))
    metrics_url = cols[1].text_input(
        "Metrics endpoint",
        f"http://127.0.0.1:{port}/metrics" if port else "",
        key="eng_metrics",
        placeholder="http://127.0.0.1:9100/metrics",
    )
    _kill_switch(state_dir)
    _live(state_dir, metrics_url.strip())
