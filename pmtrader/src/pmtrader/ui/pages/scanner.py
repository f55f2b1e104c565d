"""Scanner: the command line's cliffs and expiring-market scans, ranked by :mod:`pmtrader.scan`."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Final

import streamlit as st

from pmtrader.scan import (
    Cliff,
    ExpiringOpportunity,
    OutcomeHistory,
    expiring_candidates,
    find_cliffs,
    find_expiring,
    rank_expiring,
)
from pmtrader.ui import _data

__all__ = ["render", "scan_cliffs", "scan_expiring"]

_WINDOWS: Final = {"1h": 3600, "6h": 6 * 3600, "1d": 86_400, "1w": 7 * 86_400}
_EXPIRY: Final = {"24h": 86_400, "48h": 2 * 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400}


@_data.cached(ttl=60)
def scan_cliffs(window: str, min_move: Decimal) -> list[Cliff]:
    """Fetch every open market's first-outcome history and rank the cliffs (as ``scan cliffs``)."""
    client = _data.public_client()
    series: list[OutcomeHistory] = []
    for m in client.gamma.iter_markets(closed=False):
        if not m.clob_token_ids:
            continue
        # Binary markets: the other outcome mirrors the first, as in the CLI.
        token = m.clob_token_ids[0]
        outcome = m.outcomes[0] if m.outcomes else "0"
        points = client.books.get_prices_history(token, interval=window).history
        series.append(OutcomeHistory(m.slug, m.question, outcome, token, points))
    return find_cliffs(series, window_s=_WINDOWS[window], min_move=min_move)


@_data.cached(ttl=60)
def scan_expiring(
    within_s: int, min_price: Decimal, min_liquidity: Decimal
) -> list[ExpiringOpportunity]:
    """Rank near-certain outcomes of markets ending soon (as ``scan expiring``)."""
    client = _data.public_client()
    now = datetime.now(UTC)
    markets = list(client.gamma.iter_markets(closed=False))
    picks = expiring_candidates(
        markets, now=now, within_s=within_s, min_price=min_price, min_liquidity=min_liquidity
    )
    scored = [
        rank_expiring(
            market,
            index,
            client.books.get_order_book(market.clob_token_ids[index]),
            now=now,
            min_price=min_price,
        )
        for market, index in picks
    ]
    return find_expiring(scored)


def _decimal(text: str, what: str) -> Decimal | None:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        st.error(f"{what} must be a number, got {text!r}")
        return None
    if not value.is_finite() or value < 0:
        st.error(f"{what} must be zero or more, got {text!r}")
        return None
    return value


def _cliffs_tab() -> None:
    cols = st.columns(3)
    window = cols[0].selectbox("Window", list(_WINDOWS), key="sc_window")
    move = _decimal(cols[1].text_input("Min move", "0.15", key="sc_move"), "Min move")
    limit = cols[2].number_input("Rows", 1, 200, 20, key="sc_cliff_rows")
    if move is None:
        return
    # One price-history request per open market: run it when asked, then keep it live.
    if st.button("Run the cliffs scan", key="sc_cliffs_run"):
        st.session_state["sc_cliffs_on"] = True
    if not st.session_state.get("sc_cliffs_on"):
        st.caption("Fetches every open market's price history; press the button to run it.")
        return
    with _data.guard("cliffs scan"), st.spinner("Reading price histories…"):
        cliffs = scan_cliffs(window, move)[: int(limit)]
        if not cliffs:
            st.info(f"No market moved {move} or more within {window}.")
            return
        st.dataframe(
            [
                {
                    "market": c.question,
                    "outcome": c.outcome,
                    "from": str(c.price_from),
                    "to": str(c.price_to),
                    "move": f"{c.move:+}",
                    "since": datetime.fromtimestamp(c.from_ts, UTC),
                }
                for c in cliffs
            ],
            hide_index=True,
            width="stretch",
        )


def _expiring_tab() -> None:
    cols = st.columns(4)
    within = cols[0].selectbox("Ending within", list(_EXPIRY), index=3, key="sc_within")
    floor = _decimal(cols[1].text_input("Min price", "0.95", key="sc_min_price"), "Min price")
    liq = _decimal(cols[2].text_input("Min liquidity", "500", key="sc_min_liq"), "Min liquidity")
    limit = cols[3].number_input("Rows", 1, 200, 20, key="sc_exp_rows")
    if floor is None or liq is None:
        return
    with _data.guard("expiring scan"), st.spinner("Reading order books…"):
        rows = scan_expiring(_EXPIRY[within], floor, liq)[: int(limit)]
        if not rows:
            st.info(f"No outcome at {floor}+ in markets ending within {within}.")
            return
        st.dataframe(
            [
                {
                    "market": r.question,
                    "outcome": r.outcome,
                    "ask": str(r.ask),
                    "size@ask": str(r.ask_size),
                    "behind": str(r.depth_behind),
                    "gap": "" if r.gap is None else str(r.gap),
                    "spread": "" if r.spread is None else str(r.spread),
                    "days": f"{r.days_to_end:.2f}",
                    "return": f"{r.return_to_payout * 100:.2f}%",
                    "per day": f"{r.return_per_day * 100:.3f}%",
                }
                for r in rows
            ],
            hide_index=True,
            width="stretch",
        )
        st.caption("behind: shares within 2¢ above the ask; a thin touch with a gap is a trap")


def render() -> None:
    """Draw the Scanner page."""
    st.header("Scanner")
    st.caption("The same scans and ranking as `pmtrader scan cliffs` and `pmtrader scan expiring`.")
    expiring, cliffs = st.tabs(["Expiring", "Cliffs"])
    with expiring:
        _expiring_tab()
    with cliffs:
        _cliffs_tab()
