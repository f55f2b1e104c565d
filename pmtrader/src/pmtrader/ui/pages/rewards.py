"""Rewards: markets paying liquidity rewards, and what a quoting policy would earn there
(pmstrat's rewards simulator, imported only when the page runs: pmstrat depends on pmtrader)."""

from __future__ import annotations

import time
from decimal import Decimal, InvalidOperation
from typing import Final

import streamlit as st

from pmtrader.errors import PmtraderError
from pmtrader.models.gamma import GammaMarket
from pmtrader.models.rewards import RewardsMarket
from pmtrader.ui import _data

__all__ = ["render"]

_MAX_ROWS: Final = 200


def _estimate(slug: str, distance_cents: Decimal, size: Decimal, two_sided: bool) -> None:
    try:
        from pmstrat.errors import PmstratError
        from pmstrat.rewards import RewardsSimulator, SymmetricPolicy
        from pmstrat.units import amount_decimal, amount_units, price_units
        from pmstrat.venue import fetch_books, fetch_market
    except ImportError:
        st.info("Install pmstrat (`pip install pmstrat`) to estimate rewards for a policy.")
        return
    client = _data.public_client()
    try:
        with st.spinner("Reading the market and its book…"):
            market = fetch_market(client, slug)
            books = fetch_books(client, list(market.tokens), now_ms=time.time_ns() // 1_000_000)
        size_units = max(amount_units(size), market.rewards_min_size)
        policy = SymmetricPolicy(
            distance=price_units(distance_cents / 100), size=size_units, two_sided=two_sided
        )
        pairs = [(books[market.yes], books.get(market.no))] if market.yes in books else []
        estimate = RewardsSimulator(market, policy).run(pairs)
    except (PmstratError, PmtraderError) as exc:
        st.error(f"estimate: {exc}")
        return
    cols = st.columns(3)
    cols[0].metric("expected pUSD / day", str(amount_decimal(estimate.per_day)))
    cols[1].metric("lower bound", str(amount_decimal(estimate.per_day_low)))
    cols[2].metric("upper bound", str(amount_decimal(estimate.per_day_high)))
    st.caption(
        f"pool {amount_decimal(market.rewards_daily_rate)} pUSD/day · band "
        f"{market.rewards_max_spread_cents}¢ · min size {amount_decimal(market.rewards_min_size)}"
        f" · your share {estimate.mean_share:.2%} of the scored liquidity"
    )
    st.caption(estimate.note)


def _daily(market: RewardsMarket) -> Decimal:
    return sum((c.rate_per_day for c in market.rewards_config), Decimal(0))


def render() -> None:
    """Draw the Rewards page."""
    st.header("Liquidity rewards")
    listed: list[RewardsMarket] = []
    names: dict[str, GammaMarket] = {}
    with _data.guard("rewards markets"), st.spinner("Loading rewards markets…"):
        listed = sorted(_data.rewards_markets(), key=lambda m: (-_daily(m), m.condition_id))
        listed = listed[:_MAX_ROWS]
        names = _data.gamma_by_condition(tuple(m.condition_id for m in listed))
    if not listed:
        st.info("No market pays liquidity rewards right now.")
        return
    rows: list[dict[str, str | None]] = []
    for m in listed:
        gamma = names.get(m.condition_id.lower())
        rows.append(
            {
                "market": gamma.question if gamma else (m.question or m.condition_id),
                "max spread (¢)": str(m.rewards_max_spread),
                "min size": str(m.rewards_min_size),
                "pUSD / day": str(_daily(m)),
                "competitiveness": None
                if m.market_competitiveness is None
                else str(m.market_competitiveness),
            }
        )
    if all(row["competitiveness"] is None for row in rows):
        for row in rows:
            del row["competitiveness"]
    st.dataframe(rows, hide_index=True, width="stretch")
    st.subheader("Estimate a quoting policy")
    # In the table's order: the richest pools first.
    known = [names.get(m.condition_id.lower()) for m in listed]
    slugs = {g.slug: g.question for g in known if g is not None and g.slug}
    with st.form("rw_form"):
        slug = st.selectbox(
            "Market", list(slugs), format_func=lambda s: slugs.get(s, s), key="rw_market"
        )
        cols = st.columns(3)
        distance_text = cols[0].text_input("Distance from mid (¢)", "1", key="rw_distance")
        size_text = cols[1].text_input("Shares per quote", "100", key="rw_size")
        two_sided = cols[2].checkbox("Two-sided", value=True, key="rw_two_sided")
        submitted = st.form_submit_button("Estimate", type="primary")
    if not submitted or not slug:
        return
    try:
        distance = Decimal(distance_text)
        size = Decimal(size_text)
    except InvalidOperation:
        st.error("Distance and size must be numbers, like 1 and 100.")
        return
    if not distance.is_finite() or not size.is_finite() or distance < 0 or size <= 0:
        st.error("Distance must be zero or more and size positive.")
        return
    _estimate(slug, distance, size, two_sided)
