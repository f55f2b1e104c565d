"""Markets: search and filter the venue's markets, sort them, open one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final

import streamlit as st

from pmtrader.models.gamma import GammaMarket
from pmtrader.scan import market_end
from pmtrader.ui import _data

__all__ = ["filter_markets", "market_rows", "render"]

_ENDING: Final = {"any time": None, "1 day": 1, "7 days": 7, "30 days": 30, "90 days": 90}


def filter_markets(markets: list[GammaMarket], query: str) -> list[GammaMarket]:
    """Markets whose question or slug holds every word of ``query`` (case-insensitive)."""
    words = query.lower().split()
    return [m for m in markets if all(w in f"{m.question} {m.slug}".lower() for w in words)]


def _num(value: Decimal | None) -> float | None:
    # Display only: the table sorts numbers, and nothing here reaches an order.
    return None if value is None else float(value)


def market_rows(markets: list[GammaMarket]) -> list[dict[str, object]]:
    """One table row per market: prices, volume, liquidity, spread, end."""
    rows: list[dict[str, object]] = []
    for m in markets:
        end = market_end(m)
        yes = m.outcome_prices[0] if m.outcome_prices else None
        rows.append(
            {
                "question": m.question,
                "yes": _num(yes),
                "bid": _num(m.best_bid),
                "ask": _num(m.best_ask),
                "spread": _num(m.spread),
                "volume 24h": _num(m.volume24hr),
                "volume": _num(m.volume_num),
                "liquidity": _num(m.liquidity_num),
                "ends": end,
                "slug": m.slug,
            }
        )
    return rows


def render() -> None:
    """Draw the Markets page."""
    st.header("Markets")
    with st.container(horizontal=True):
        query = st.text_input("Search", placeholder="words in the question", key="mk_query")
        active_only = st.toggle("Active only", value=True, key="mk_active")
    cols = st.columns(3)
    tag_names: dict[str, str | None] = {"all tags": None}
    with _data.guard("tags"):
        tag_names.update({t.label or t.slug: t.id for t in _data.tags()})
    tag = cols[0].selectbox("Tag", list(tag_names), key="mk_tag")
    ending = cols[1].selectbox("Ending within", list(_ENDING), key="mk_ending")
    min_liq = cols[2].number_input(
        "Min liquidity (pUSD)", min_value=0, value=0, step=1000, key="mk_liq"
    )
    days = _ENDING[ending]
    end_before = (
        None
        if days is None
        else (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    markets: list[GammaMarket] = []
    with _data.guard("markets"), st.spinner("Loading markets…"):
        markets = _data.gamma_markets(
            active_only=active_only,
            tag_id=tag_names[tag],
            end_before=end_before,
            min_liquidity=str(int(min_liq)) if min_liq else None,
        )
    shown = filter_markets(markets, query)
    st.caption(f"{len(shown)} of {len(markets)} markets · click a row to open it")
    event = st.dataframe(
        market_rows(shown),
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key="mk_table",
        column_config={
            "question": st.column_config.TextColumn("market", width="large"),
            "yes": st.column_config.NumberColumn("yes", format="%.3f"),
            "bid": st.column_config.NumberColumn(format="%.3f"),
            "ask": st.column_config.NumberColumn(format="%.3f"),
            "spread": st.column_config.NumberColumn(format="%.3f"),
            "volume 24h": st.column_config.NumberColumn(format="compact"),
            "volume": st.column_config.NumberColumn(format="compact"),
            "liquidity": st.column_config.NumberColumn(format="compact"),
            "ends": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
            "slug": None,
        },
    )
    selected = event.selection.rows
    if selected:
        from pmtrader.ui._nav import open_market

        open_market(shown[selected[0]].slug)
    with st.form("mk_open", border=False), st.container(horizontal=True):
        choice = st.selectbox(
            "Open a market",
            [m.slug for m in shown],
            format_func=lambda s: next((m.question for m in shown if m.slug == s), s),
            key="mk_open_choice",
        )
        if st.form_submit_button("Open market") and choice:
            from pmtrader.ui._nav import open_market

            open_market(choice)
