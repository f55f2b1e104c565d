"""Market: price history, depth and ladder per outcome, recent trades, rules, rewards, and an
order ticket that previews with the SDK and asks for confirmation before anything is sent."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

import streamlit as st

from pmtrader.errors import PmtraderError
from pmtrader.models.clob import Market, OrderType
from pmtrader.models.gamma import GammaMarket
from pmtrader.preview import OrderPreview
from pmtrader.ui import _charts, _data

__all__ = ["Ticket", "parse_ticket_number", "render"]

_INTERVALS: Final = ("1h", "6h", "1d", "1w", "max")


@dataclass(frozen=True, slots=True)
class Ticket:
    """An order as the ticket describes it, waiting for confirmation.

    Attributes:
        token_id: The outcome token.
        outcome: The outcome's name (for people).
        side: ``BUY`` or ``SELL``.
        kind: ``limit`` or ``market``.
        order_type: GTC, GTD, FOK or FAK.
        price: Limit price (limit), or the worst acceptable price (market, optional).
        quantity: Shares (limit, and market SELL) or pUSD (market BUY).
        post_only: Post-only (GTC/GTD limits only).
        expiration: Unix seconds for GTD.
    """

    token_id: str
    outcome: str
    side: str
    kind: str
    order_type: OrderType
    price: Decimal | None
    quantity: Decimal
    post_only: bool
    expiration: int | None


def parse_ticket_number(text: str, what: str, *, optional: bool = False) -> Decimal | None:
    """Parse a price or size typed into the ticket, exactly (never through a float).

    Raises:
        ValueError: Not a positive decimal number; the message says which field.
    """
    text = text.strip()
    if not text:
        if optional:
            return None
        raise ValueError(f"{what} is required")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{what} must be a number like 0.52, got {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{what} must be a positive number, got {text!r}")
    return value


def _pick_market() -> GammaMarket | None:
    slug = st.query_params.get("market") or st.session_state.get("market_slug")
    markets: list[GammaMarket] = []
    with _data.guard("markets"):
        markets = _data.gamma_markets(
            active_only=True, tag_id=None, end_before=None, min_liquidity=None
        )
    slugs = [m.slug for m in markets]
    if slug and slug not in slugs:
        slugs.insert(0, slug)
    if not slugs:
        st.info("No market to show.")
        return None
    chosen = st.sidebar.selectbox(
        "Market",
        slugs,
        index=slugs.index(slug) if slug in slugs else 0,
        format_func=lambda s: next((m.question for m in markets if m.slug == s), s),
        key=f"mt_pick_{slug}",
    )
    if chosen != st.query_params.get("market"):
        st.query_params["market"] = chosen
    st.session_state["market_slug"] = chosen
    found: GammaMarket | None = None
    with _data.guard(f"market {chosen}"):
        found = _data.gamma_market(chosen)
    return found


def _outcomes(market: GammaMarket) -> list[tuple[str, str]]:
    return list(zip(market.outcomes, market.clob_token_ids, strict=False))


@st.fragment(run_every=5)
def _live_book(market: GammaMarket, token_id: str, outcome: str) -> None:
    with _data.guard("order book"):
        book = _data.book(token_id)
        cols = st.columns(4)
        cols[0].metric("best bid", str(book.best_bid or "—"))
        cols[1].metric("best ask", str(book.best_ask or "—"))
        cols[2].metric("spread", str(book.spread or "—"))
        cols[3].metric("last trade", str(book.last_trade_price or "—"))
        depth, ladder = st.columns([3, 2])
        depth.plotly_chart(_charts.depth_figure(book, f"Depth: {outcome}"), key=f"depth_{token_id}")
        ladder.dataframe(
            _charts.ladder_rows(book, depth=8), hide_index=True, width="stretch", height=320
        )


@st.fragment(run_every=10)
def _trades(market: GammaMarket) -> None:
    with _data.guard("recent trades"):
        events = _data.trade_events(market.condition_id)[:30]
        rows = [
            {
                "time": time.strftime(
                    "%H:%M:%S", time.gmtime(int(str(e.get("match_time", "0") or 0)))
                ),
                "outcome": e.get("outcome", ""),
                "side": e.get("side", ""),
                "price": str(e.get("price", "")),
                "size": str(e.get("size", "")),
            }
            for e in events
        ]
        if rows:
            st.dataframe(rows, hide_index=True, width="stretch")
        else:
            st.caption("No trades yet.")


def _rewards(clob: Market | None) -> None:
    rewards = clob.rewards if clob is not None else None
    if rewards is None or not rewards.max_spread:
        st.caption("This market pays no liquidity rewards.")
        return
    rates = ", ".join(f"{r.get('rewards_daily_rate', '?')}/day" for r in (rewards.rates or []))
    st.markdown(
        f"Max spread **{rewards.max_spread}¢** from the adjusted midpoint · min size "
        f"**{rewards.min_size}** shares" + (f" · pool {rates}" if rates else "")
    )


def _ticket_form(market: GammaMarket, clob: Market | None) -> Ticket | None:
    outcomes = _outcomes(market)
    with st.form("ticket"):
        cols = st.columns(3)
        outcome = cols[0].selectbox("Outcome", [o for o, _ in outcomes], key="tk_outcome")
        side = cols[1].segmented_control("Side", ["BUY", "SELL"], default="BUY", key="tk_side")
        kind = cols[2].segmented_control(
            "Order", ["limit", "market"], default="limit", key="tk_kind"
        )
        cols = st.columns(3)
        order_type = cols[0].selectbox("Time in force", ["GTC", "GTD", "FOK", "FAK"], key="tk_tif")
        price_text = cols[1].text_input(
            "Price (limit; worst price for market)", key="tk_price", placeholder="0.50"
        )
        qty_text = cols[2].text_input(
            "Size (shares; pUSD for a market BUY)", key="tk_qty", placeholder="10"
        )
        cols = st.columns(3)
        post_only = cols[0].checkbox("Post-only", key="tk_post_only")
        gtd_minutes = cols[1].number_input(
            "GTD: expires in (minutes)", min_value=2, value=60, key="tk_gtd"
        )
        if clob is not None:
            cols[2].caption(f"tick {clob.minimum_tick_size} · min size {clob.minimum_order_size}")
        if not st.form_submit_button("Preview order", type="primary"):
            return None
    try:
        is_limit = kind != "market"
        price = parse_ticket_number(price_text, "price", optional=not is_limit)
        quantity = parse_ticket_number(qty_text, "size")
    except ValueError as exc:
        st.error(str(exc))
        return None
    assert quantity is not None  # not optional
    tif = OrderType(order_type)
    if not is_limit and tif not in (OrderType.FOK, OrderType.FAK):
        st.error("A market order is FOK (all or nothing) or FAK (fill what is there).")
        return None
    token = dict(outcomes)[outcome]
    return Ticket(
        token_id=token,
        outcome=outcome,
        side=side or "BUY",
        kind=kind or "limit",
        order_type=tif,
        price=price,
        quantity=quantity,
        post_only=post_only,
        expiration=int(time.time()) + 60 * int(gtd_minutes) if tif is OrderType.GTD else None,
    )


def _preview(ticket: Ticket) -> OrderPreview:
    client = _data.public_client()
    if ticket.kind == "limit":
        assert ticket.price is not None
        return client.orders.preview_order(
            ticket.token_id,
            ticket.side,
            price=ticket.price,
            size=ticket.quantity,
            order_type=ticket.order_type,
        )
    return client.orders.preview_market_order(
        ticket.token_id,
        ticket.side,
        amount=ticket.quantity,
        price=ticket.price,
        order_type=ticket.order_type,
    )


def _plain(value: Decimal) -> str:
    """An exact decimal without trailing zeros (``12``, ``0.5``, ``0.000123``)."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _show_preview(ticket: Ticket, preview: OrderPreview) -> None:
    unit = "pUSD" if ticket.side == "BUY" else "shares"
    what = (
        f"{ticket.side} {ticket.quantity} {ticket.outcome} @ {ticket.price}"
        if ticket.kind == "limit"
        else f"market {ticket.side} {ticket.quantity} {unit} of {ticket.outcome}"
    )
    st.markdown(f"**{what}** · {ticket.order_type}" + (" · post-only" if ticket.post_only else ""))
    cols = st.columns(5)
    cols[0].metric("fills now", _plain(preview.shares))
    cols[1].metric(
        "avg price", "—" if preview.average_price is None else f"{preview.average_price:.4f}"
    )
    cols[2].metric("cost" if ticket.side == "BUY" else "proceeds", _plain(preview.cost))
    cols[3].metric("taker fee", _plain(preview.fee))
    cols[4].metric("rests", _plain(preview.resting_shares) if preview.rests else "0")
    if ticket.post_only and preview.crosses:
        st.warning("Post-only: this order would cross the book, so the venue will reject it.")


def _send(ticket: Ticket) -> None:
    account = _data.trading_account()
    if account is None:
        st.error("Set PM_PRIVATE_KEY to trade (or run with --env sim).")
        return
    orders = account.client.orders
    if ticket.kind == "limit":
        assert ticket.price is not None
        response = orders.create_and_post_order(
            ticket.token_id,
            ticket.side,
            price=ticket.price,
            size=ticket.quantity,
            order_type=ticket.order_type,
            expiration=ticket.expiration,
            post_only=ticket.post_only,
        )
    else:
        response = orders.create_and_post_market_order(
            ticket.token_id,
            ticket.side,
            amount=ticket.quantity,
            price=ticket.price,
            order_type=ticket.order_type,
        )
    if response.success:
        st.session_state["tk_result"] = f"Order {response.order_id} {response.status}"
    else:
        st.session_state["tk_result"] = f"Refused: {response.error_msg}"


def _ticket(market: GammaMarket, clob: Market | None) -> None:
    st.subheader("Order ticket")
    account_note = st.empty()
    new = _ticket_form(market, clob)
    if new is not None:
        st.session_state["tk_pending"] = new
        st.session_state.pop("tk_result", None)
    pending = st.session_state.get("tk_pending")
    if isinstance(pending, Ticket) and pending.token_id in market.clob_token_ids:
        with st.container(border=True):
            try:
                with st.spinner("Previewing…"):
                    _show_preview(pending, _preview(pending))
                previewed = True
            except PmtraderError as exc:
                st.error(f"preview: {exc}")
                previewed = False
            cols = st.columns(2)
            # Nothing is sent without a preview the trader has seen.
            if previewed and cols[0].button("Confirm and send", type="primary", key="tk_confirm"):
                st.session_state.pop("tk_pending", None)
                try:
                    with st.spinner("Sending…"):
                        _send(pending)
                except PmtraderError as exc:
                    st.session_state["tk_result"] = f"Refused: {exc}"
                st.rerun()
            if cols[1].button("Discard", key="tk_discard"):
                st.session_state.pop("tk_pending", None)
                st.rerun()
    result = st.session_state.get("tk_result")
    if isinstance(result, str):
        (st.error if result.startswith("Refused") else st.success)(result)
    _open_orders(market, account_note)


def _open_orders(market: GammaMarket, note: st.delta_generator.DeltaGenerator) -> None:
    try:
        account = _data.trading_account()
    except PmtraderError as exc:
        st.error(f"account: {exc}")
        return
    if account is None:
        note.info("Read-only: set PM_PRIVATE_KEY to trade from here.")
        return
    if account.throwaway:
        note.caption(
            f"Trading as a throwaway wallet {account.client.address} funded with "
            f"{_data.SIM_WALLET_FUNDS} pUSD on the local exchange."
        )
    with _data.guard("open orders"):
        orders = account.client.orders.get_open_orders(market=market.condition_id)
        st.markdown(f"**Your open orders here** ({len(orders)})")
        for order in orders:
            cols = st.columns([4, 1])
            cols[0].text(
                f"{order.side} {order.original_size - order.size_matched} {order.outcome} "
                f"@ {order.price} · {order.order_type} · {order.id[:12]}…"
            )
            if cols[1].button("Cancel", key=f"mt_cancel_{order.id}"):
                with _data.guard("cancel"):
                    account.client.orders.cancel_order(order.id)
                    st.rerun()


def render() -> None:
    """Draw the Market page."""
    market = _pick_market()
    if market is None:
        return
    clob: Market | None = None
    with _data.guard("CLOB market"):
        clob = _data.clob_market(market.condition_id)
    st.header(market.question)
    outcomes = _outcomes(market)
    if not outcomes:
        st.info("This market has no order book.")
        return
    tabs = st.tabs([o for o, _ in outcomes])
    for tab, (outcome, token) in zip(tabs, outcomes, strict=True):
        with tab:
            history, live = st.columns([2, 3])
            with history:
                interval = st.segmented_control(
                    "Interval",
                    _INTERVALS,
                    default="1d",
                    key=f"mt_iv_{token}",
                    label_visibility="collapsed",
                )
                with _data.guard("price history"):
                    points = _data.price_history(token, interval or "1d")
                    st.plotly_chart(
                        _charts.history_figure(points, f"{outcome}: price ({interval})"),
                        key=f"hist_{token}",
                    )
            with live:
                _live_book(market, token, outcome)
    left, right = st.columns([3, 2])
    with left:
        _ticket(market, clob)
    with right:
        st.subheader("Recent trades")
        _trades(market)
        st.subheader("Rules")
        st.write(market.description or "No rules text.")
        if market.end_date:
            st.caption(f"Ends {market.end_date}")
        st.subheader("Liquidity rewards")
        _rewards(clob)
