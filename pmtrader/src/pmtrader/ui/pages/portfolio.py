"""Portfolio: balance, positions marked to the midpoint, open orders (cancel one or all), trades."""

from __future__ import annotations

from decimal import Decimal
from typing import Final

import streamlit as st

from pmtrader.errors import PmtraderError
from pmtrader.models.data import Position
from pmtrader.ui import _data

__all__ = ["mark_to_mid", "render"]

_MICRO: Final = Decimal("0.000001")
_AMOUNT_SCALE: Final = Decimal(1_000_000)


def mark_to_mid(position: Position, mid: Decimal | None) -> Decimal | None:
    """Unrealised P&L of a position at the midpoint: ``size * (mid - avg_price)``, to 1e-6."""
    if mid is None or position.avg_price is None:
        return None
    return (position.size * (mid - position.avg_price)).quantize(_MICRO)


@st.fragment(run_every=10)
def _live(address: str) -> None:
    account = _data.trading_account()
    assert account is not None  # render() checked
    client = account.client
    with _data.guard("balance"):
        balance = client.account.get_balance_allowance()
        st.metric("pUSD balance", f"{Decimal(balance.balance) / _AMOUNT_SCALE:,.6f}")
    st.subheader("Positions")
    with _data.guard("positions"):
        positions = [p for p in client.data.get_positions(address) if p.size]
        mids = client.books.get_midpoints([p.asset for p in positions]) if positions else {}
        rows = []
        for p in positions:
            mid = mids.get(p.asset)
            pnl = mark_to_mid(p, mid)
            rows.append(
                {
                    "market": p.title or p.slug,
                    "outcome": p.outcome,
                    "size": str(p.size),
                    "avg price": "" if p.avg_price is None else str(p.avg_price),
                    "mid": "" if mid is None else str(mid),
                    "P&L at mid": "" if pnl is None else str(pnl),
                }
            )
        if rows:
            st.dataframe(rows, hide_index=True, width="stretch")
        else:
            st.caption("No positions.")
    st.subheader("Open orders")
    with _data.guard("open orders"):
        orders = client.orders.get_open_orders()
        if not orders:
            st.caption("No open orders.")
        for order in orders:
            cols = st.columns([5, 1])
            cols[0].text(
                f"{order.side} {order.original_size - order.size_matched}/{order.original_size} "
                f"{order.outcome} @ {order.price} · {order.order_type} · {order.id[:14]}…"
            )
            if cols[1].button("Cancel", key=f"pf_cancel_{order.id}"):
                with _data.guard("cancel"):
                    client.orders.cancel_order(order.id)
                    st.rerun()
        if orders and st.button("Cancel all", key="pf_cancel_all", type="primary"):
            with _data.guard("cancel all"):
                client.orders.cancel_all()
                st.rerun()
    st.subheader("Trades")
    with _data.guard("trades"):
        trades = client.orders.get_trades()
        if trades:
            st.dataframe(
                [
                    {
                        "time": t.match_time,
                        "side": t.side.value,
                        "outcome": t.outcome,
                        "price": str(t.price),
                        "size": str(t.size),
                        "status": t.status,
                        "role": t.trader_side,
                    }
                    for t in trades[:200]
                ],
                hide_index=True,
                width="stretch",
            )
        else:
            st.caption("No trades yet.")


def render() -> None:
    """Draw the Portfolio page."""
    st.header("Portfolio")
    try:
        with st.spinner("Opening the account…"):
            account = _data.trading_account()
    except PmtraderError as exc:
        st.error(f"account: {exc}")
        return
    if account is None:
        st.info(
            "No key configured. Set PM_PRIVATE_KEY (and PM_FUNDER_ADDRESS for a proxy or Safe "
            "wallet) and restart pmtrader-ui, or run it with --env sim."
        )
        return
    if account.throwaway:
        st.info(
            f"No key configured, so on the local exchange this session trades as a throwaway "
            f"wallet **{account.client.address}**, funded with {_data.SIM_WALLET_FUNDS} pUSD. "
            "It is forgotten when the browser session ends."
        )
    else:
        st.caption(f"Funder {account.client.funder}")
    _live(account.client.funder)
