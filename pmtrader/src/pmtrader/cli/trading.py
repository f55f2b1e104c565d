"""Trading commands: ``buy``, ``sell``, ``orders``, ``cancel``, ``trades``.

Every order goes the same way: check and sign it locally (tick, minimum size, time in force),
preview it against the live book, check the funder's balance, show all of that, ask (unless
``--yes``), then post it once. ``--dry-run`` stops after showing the signed payload. Any failed
check stops before anything is sent.
"""

from __future__ import annotations

import re
import time
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from pmtrader.chain import contracts_for
from pmtrader.cli._common import (
    JsonFlag,
    Outcome,
    console,
    emit_json,
    err_console,
    fail,
    fmt,
    handle_errors,
    make_client,
    outcome_of,
    resolve_market,
    state,
    use_json,
)
from pmtrader.client import Client
from pmtrader.models.clob import AssetType, OrderResponse, OrderType, Side
from pmtrader.models.gamma import GammaMarket
from pmtrader.preview import OrderPreview
from pmtrader.signing import SignedOrder

__all__ = ["OrderRequest", "parse_decimal", "parse_duration", "place_order", "register"]

_SCALE = Decimal(1_000_000)
_CENT = Decimal("0.01")
_PRICE_UNIT = Decimal("0.0001")
_MICRO = Decimal("0.000001")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


class TimeInForce(StrEnum):
    """Order types the venue knows."""

    GTC = "GTC"
    GTD = "GTD"
    FOK = "FOK"
    FAK = "FAK"


def parse_duration(text: str) -> int:
    """Seconds in ``30s``, ``15m``, ``1h``, ``2d`` or ``1w``."""
    match = _DURATION.match(text.lower())
    if not match:
        fail(f"Cannot read the duration {text!r}; write it like 90s, 15m, 1h, 2d or 1w.")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def parse_decimal(text: str, what: str) -> Decimal:
    """An exact decimal from the command line (never a float)."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        fail(f"{what} must be a number like 0.42, got {text!r}.")
    if not value.is_finite() or value <= 0:
        fail(f"{what} must be a positive number, got {text!r}.")
    return value


class OrderRequest:
    """What the user asked for, before anything is signed."""

    def __init__(
        self,
        *,
        side: Side,
        price: Decimal | None,
        size: Decimal | None,
        amount: Decimal | None,
        order_type: TimeInForce | None,
        expires_s: int | None,
        post_only: bool,
        fit_balance: bool = False,
    ) -> None:
        if amount is not None and size is not None:
            fail("Give either --price and --size (limit order) or --amount (market order).")
        if amount is None and (price is None or size is None):
            fail("A limit order needs --price and --size; a market order needs --amount.")
        self.side = side
        self.price = price
        self.size = size
        self.amount = amount
        self.market_order = amount is not None
        default = TimeInForce.FOK if self.market_order else TimeInForce.GTC
        if expires_s is not None and order_type is None:
            order_type = TimeInForce.GTD
        self.order_type = order_type or default
        if self.market_order and self.order_type not in (TimeInForce.FOK, TimeInForce.FAK):
            fail("A market order (--amount) is FOK or FAK; use --price and --size for GTC/GTD.")
        if self.order_type is TimeInForce.GTD and expires_s is None:
            fail("A GTD order needs --expires (e.g. --expires 1h).")
        if expires_s is not None and self.order_type is not TimeInForce.GTD:
            fail("--expires applies to GTD orders only.")
        if post_only and self.order_type not in (TimeInForce.GTC, TimeInForce.GTD):
            fail("--post-only applies to GTC and GTD orders only.")
        if fit_balance and side is not Side.BUY:
            fail("--fit-balance applies to BUY orders only (a SELL spends shares, not pUSD).")
        self.expires_s = expires_s
        self.post_only = post_only
        self.fit_balance = fit_balance


def _sign(client: Client, token: str, req: OrderRequest) -> SignedOrder:
    balance = None
    if req.fit_balance:
        funds = client.account.get_balance_allowance(AssetType.COLLATERAL)
        balance = Decimal(funds.balance) / _SCALE
    if req.market_order:
        assert req.amount is not None
        order = client.orders.create_market_order(
            token,
            req.side,
            amount=req.amount,
            price=req.price,
            order_type=req.order_type.value,
            balance=balance,
        )
        if balance is not None:  # preview and confirm the amount the balance left room for
            req.amount = Decimal(order.amounts.pusd) / _SCALE
        return order
    assert req.price is not None
    assert req.size is not None
    expiration = None
    if req.expires_s is not None:
        # The venue refuses a GTD expiring within a minute; its threshold counts from receipt.
        expiration = int(time.time()) + 60 + req.expires_s
    order = client.orders.create_order(
        token,
        req.side,
        price=req.price,
        size=req.size,
        order_type=req.order_type.value,
        expiration=expiration,
        post_only=req.post_only,
        balance=balance,
    )
    if balance is not None:  # preview and confirm the size the balance left room for
        req.size = Decimal(order.amounts.shares) / _SCALE
    return order


def _preview(client: Client, token: str, req: OrderRequest) -> OrderPreview:
    if req.market_order:
        assert req.amount is not None
        return client.orders.preview_market_order(
            token, req.side, amount=req.amount, price=req.price, order_type=req.order_type.value
        )
    assert req.price is not None
    assert req.size is not None
    return client.orders.preview_order(
        token, req.side, price=req.price, size=req.size, order_type=req.order_type.value
    )


def _check_funds(
    client: Client, token: str, req: OrderRequest, order: SignedOrder, fee: Decimal
) -> None:
    env = client.settings.env
    if req.side is Side.BUY:
        need = Decimal(order.amounts.pusd) / _SCALE + fee
        funds = client.account.get_balance_allowance(AssetType.COLLATERAL)
        have = Decimal(funds.balance) / _SCALE
        if have < need:
            short = need - have
            fix = (
                f"pmtrader sim fund {client.funder} {fmt(short.quantize(_CENT) + _CENT)}"
                if env == "sim"
                else f"deposit at least {fmt(short)} pUSD to {client.funder}"
            )
            fail(
                f"Not enough pUSD: this order needs {fmt(need)} and {client.funder} has "
                f"{fmt(have)} (short {fmt(short)}). Fix: {fix}. Nothing was sent."
            )
        # The exchange that settles the order pulls pUSD from the funder: it needs an allowance.
        contracts = contracts_for(client.settings.chain_id)
        role, spender = (
            ("neg-risk exchange", contracts.neg_risk_exchange)
            if order.neg_risk
            else ("exchange", contracts.exchange)
        )
        allowed = Decimal(funds.allowance_for(spender)) / _SCALE
        if allowed < need:
            fail(
                f"pUSD allowance too small: the {role} {spender} may spend {fmt(allowed)} pUSD "
                f"of {client.funder} and this order needs {fmt(need)}. Fix: approve pUSD for "
                f"{spender} from {client.funder} (polymarket.com does it on your first trade); "
                "`pmtrader doctor` checks every allowance. Nothing was sent."
            )
    else:
        need = Decimal(order.amounts.shares) / _SCALE
        have = (
            Decimal(client.account.get_balance_allowance(AssetType.CONDITIONAL, token).balance)
            / _SCALE
        )
        if have < need:
            fail(
                f"Not enough shares to sell: this order sells {fmt(need)} and {client.funder} "
                f"holds {fmt(have)}. See `pmtrader positions`. Nothing was sent."
            )


def preview_table(
    market: GammaMarket, outcome: Outcome, req: OrderRequest, p: OrderPreview
) -> Table:
    """The preview, as people read it."""
    verb = "BUY" if req.side is Side.BUY else "SELL"
    what = (
        f"{verb} {fmt(req.amount)} {'pUSD of' if req.side is Side.BUY else 'shares of'}"
        if req.market_order
        else f"{verb} {fmt(req.size)} @ {fmt(req.price)}"
    )
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim")
    grid.add_column()
    grid.add_row("order", f"[bold]{what} {outcome.name}[/bold] ({req.order_type.value})")
    grid.add_row("market", f"{market.question} [dim]{market.slug}[/dim]")
    grid.add_row(
        "fills now",
        f"{fmt(p.shares)} shares"
        # The average is a quotient (cost / shares): show it to the price grid's finest unit.
        + (f" at avg {fmt(p.average_price.quantize(_PRICE_UNIT))}" if p.average_price else ""),
    )
    grid.add_row("worst price", fmt(p.worst_price))
    grid.add_row("cost" if req.side is Side.BUY else "proceeds", f"{fmt(p.cost)} pUSD")
    grid.add_row("fee", f"{fmt(p.fee)} pUSD")
    grid.add_row("total", f"{fmt(p.total)} pUSD")
    if p.rests:
        grid.add_row(
            "rests", f"{fmt(p.resting_shares)} shares stay on the book at {fmt(p.limit_price)}"
        )
    grid.add_row("crosses", "yes (takes liquidity)" if p.crosses else "no (maker only)")
    return grid


def preview_json(p: OrderPreview) -> dict[str, Any]:
    """The preview as stable JSON."""
    return {
        "side": p.side.value,
        "order_type": p.order_type.value,
        "limit_price": p.limit_price,
        "shares": p.shares,
        "cost": p.cost,
        "fee": p.fee,
        "total": p.total,
        "average_price": None if p.average_price is None else p.average_price.quantize(_MICRO),
        "worst_price": p.worst_price,
        "crosses": p.crosses,
        "rests": p.rests,
        "resting_shares": p.resting_shares,
        "fills_completely": p.fills_completely,
    }


def place_order(
    client: Client,
    market: GammaMarket,
    outcome: Outcome,
    req: OrderRequest,
    *,
    confirm: bool,
    dry_run: bool,
    ask: Any = None,
) -> OrderResponse | None:
    """Sign, preview, check funds, confirm and post one order; ``None`` if not sent.

    Args:
        client: A client with a key (and L2 credentials unless ``dry_run``).
        market: The market.
        outcome: The outcome to trade.
        req: The order.
        confirm: Ask before sending.
        dry_run: Show the signed payload and send nothing.
        ask: ``ask(question) -> bool`` for the confirmation (default: ``typer.confirm``).
    """
    order = _sign(client, outcome.token_id, req)  # tick, size, TIF checked here; nothing sent
    preview = _preview(client, outcome.token_id, req)
    as_json = state().json
    if not as_json:
        console.print(preview_table(market, outcome, req, preview))
    if dry_run:
        creds = client.api_credentials
        payload = order.payload(
            creds.key if creds else "<your API key>",
            OrderType(req.order_type.value),
            post_only=req.post_only,
        )
        if as_json:
            emit_json({"preview": preview_json(preview), "payload": payload, "sent": False})
        else:
            console.print("[bold]Signed payload (dry run, not sent):[/bold]")
            console.print_json(data=payload)
        return None
    _check_funds(client, outcome.token_id, req, order, preview.fee)
    if confirm:
        asker = ask or (lambda q: typer.confirm(q, default=False, err=True))
        if not asker("Send this order?"):
            err_console.print("Not sent.")
            return None
    response = client.orders.post_order(
        order, OrderType(req.order_type.value), post_only=req.post_only
    )
    if as_json:
        emit_json(
            {
                "order_id": response.order_id or order.order_hash,
                "status": response.status,
                "success": response.success,
                "error": response.error_msg,
                "preview": preview_json(preview),
                "sent": True,
            }
        )
    elif response.success:
        console.print(
            f"[green]Order {response.status or 'accepted'}[/green]: "
            f"{response.order_id or order.order_hash}"
        )
    else:
        fail(f"The venue did not take the order: {response.error_msg or response.status}")
    return response


def _order_cmd(side: Side) -> Any:
    @handle_errors
    def command(  # noqa: PLR0917 - typer maps each keyword parameter to one --option
        ref: Annotated[str, typer.Argument(help="Slug, condition id or URL.", metavar="MARKET")],
        outcome: Annotated[
            str, typer.Option("--outcome", "-o", help="Outcome, e.g. YES (any case).")
        ],
        price: Annotated[
            str | None,
            typer.Option(help="Limit price, e.g. 0.42 (on the tick grid).", metavar="PRICE"),
        ] = None,
        size: Annotated[
            str | None, typer.Option(help="Shares for a limit order.", metavar="SHARES")
        ] = None,
        amount: Annotated[
            str | None,
            typer.Option(
                help="Market order: pUSD to spend (buy) or shares to sell (sell).",
                metavar="AMOUNT",
            ),
        ] = None,
        order_type: Annotated[
            TimeInForce | None, typer.Option("--type", help="Time in force.")
        ] = None,
        expires: Annotated[
            str | None, typer.Option(help="GTD lifetime, e.g. 1h or 30m.", metavar="DURATION")
        ] = None,
        post_only: Annotated[
            bool, typer.Option("--post-only", help="Never take liquidity (GTC/GTD).")
        ] = False,
        fit_balance: Annotated[
            bool,
            typer.Option(
                "--fit-balance",
                help="BUY: shrink the order so that it and its fees fit in your pUSD balance.",
            ),
        ] = False,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Send without asking.")] = False,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Sign and show the payload; send nothing.")
        ] = False,
        json_out: JsonFlag = False,
    ) -> None:
        use_json(json_out)
        req = OrderRequest(
            side=side,
            price=None if price is None else parse_decimal(price, "--price"),
            size=None if size is None else parse_decimal(size, "--size"),
            amount=None if amount is None else parse_decimal(amount, "--amount"),
            order_type=order_type,
            expires_s=None if expires is None else parse_duration(expires),
            post_only=post_only,
            fit_balance=fit_balance,
        )
        with make_client(need_key=True, need_creds=not dry_run) as client:
            market = resolve_market(client, ref)
            out = outcome_of(market, outcome)
            place_order(client, market, out, req, confirm=not yes, dry_run=dry_run)

    verb = "Buy" if side is Side.BUY else "Sell"
    command.__doc__ = (
        f"{verb} an outcome: a limit order (--price, --size) or a market order (--amount).\n\n"
        "Shows the preview (fills, worst price, cost, fee, rests or crosses) and asks before "
        "sending unless --yes; --dry-run signs and shows the exact payload without sending."
    )
    return command


def order_row(o: Any) -> dict[str, Any]:
    """The stable JSON shape of an open order."""
    return {
        "id": o.id,
        "market": o.market,
        "token_id": o.asset_id,
        "outcome": o.outcome,
        "side": o.side.value,
        "price": o.price,
        "original_size": o.original_size,
        "size_matched": o.size_matched,
        "status": o.status,
        "order_type": o.order_type,
        "created_at": o.created_at,
        "expiration": o.expiration,
    }


@handle_errors
def orders_cmd(
    market: Annotated[str | None, typer.Option(help="Only this market (slug, id or URL).")] = None,
    json_out: JsonFlag = False,
) -> None:
    """List your open orders."""
    use_json(json_out)
    with make_client(need_key=True, need_creds=True) as client:
        condition = resolve_market(client, market).condition_id if market else None
        rows = [order_row(o) for o in client.orders.get_open_orders(market=condition)]
    if state().json:
        emit_json(rows)
        return
    if not rows:
        console.print("No open orders.")
        return
    table = Table(title=f"{len(rows)} open orders", title_justify="left")
    for col in ("id", "outcome", "side", "price", "size", "filled", "type"):
        table.add_column(
            col,
            justify="right" if col in ("price", "size", "filled") else "left",
            overflow="fold",
        )
    for r in rows:
        table.add_row(
            r["id"],
            r["outcome"],
            r["side"],
            fmt(r["price"]),
            fmt(r["original_size"]),
            fmt(r["size_matched"]),
            r["order_type"],
        )
    console.print(table)


@handle_errors
def cancel_cmd(
    order_ids: Annotated[
        list[str] | None, typer.Argument(help="Order ids to cancel.", metavar="ORDER_ID...")
    ] = None,
    all_orders: Annotated[bool, typer.Option("--all", help="Cancel every open order.")] = False,
    market: Annotated[str | None, typer.Option(help="Cancel every order in this market.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Cancel orders by id, all of them (--all), or all in one market (--market)."""
    use_json(json_out)
    chosen = sum([bool(order_ids), all_orders, market is not None])
    if chosen != 1:
        fail("Say what to cancel: ORDER_ID…, --all, or --market SLUG (one of them).")
    with make_client(need_key=True, need_creds=True) as client:
        if all_orders:
            result = client.orders.cancel_all()
        elif market is not None:
            cid = resolve_market(client, market).condition_id
            result = client.orders.cancel_market_orders(market=cid)
        else:
            assert order_ids
            result = client.orders.cancel_orders(order_ids)
    if state().json:
        emit_json({"canceled": result.canceled, "not_canceled": result.not_canceled})
        return
    console.print(f"Canceled {len(result.canceled)} order(s).")
    for oid in result.canceled:
        console.print(f"  {oid}")
    for oid, why in result.not_canceled.items():
        err_console.print(f"[yellow]not canceled[/yellow] {oid}: {why}")
    if result.not_canceled:
        raise typer.Exit(1)


@handle_errors
def trades_cmd(
    market: Annotated[str | None, typer.Option(help="Only this market (slug, id or URL).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most recent trades to show.")] = 50,
    json_out: JsonFlag = False,
) -> None:
    """List your trades, most recent first."""
    use_json(json_out)
    with make_client(need_key=True, need_creds=True) as client:
        condition = resolve_market(client, market).condition_id if market else None
        trades = client.orders.get_trades(market=condition)
    trades = sorted(trades, key=lambda t: t.match_time, reverse=True)[:limit]
    rows: list[dict[str, Any]] = [
        {
            "id": t.id,
            "market": t.market,
            "token_id": t.asset_id,
            "outcome": t.outcome,
            "side": t.side.value,
            "price": t.price,
            "size": t.size,
            "status": t.status,
            "match_time": t.match_time,
            "role": t.trader_side,
        }
        for t in trades
    ]
    if state().json:
        emit_json(rows)
        return
    if not rows:
        console.print("No trades.")
        return
    table = Table(title=f"{len(rows)} trades", title_justify="left")
    for col in ("time", "outcome", "side", "price", "size", "role", "status"):
        table.add_column(col, justify="right" if col in ("price", "size") else "left")
    for r in rows:
        table.add_row(
            str(r["match_time"]),
            r["outcome"],
            r["side"],
            fmt(r["price"]),
            fmt(r["size"]),
            r["role"],
            r["status"],
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the trading commands to ``app``."""
    app.command("buy", rich_help_panel="Trade")(_order_cmd(Side.BUY))
    app.command("sell", rich_help_panel="Trade")(_order_cmd(Side.SELL))
    app.command("orders", rich_help_panel="Trade")(orders_cmd)
    app.command("cancel", rich_help_panel="Trade")(cancel_cmd)
    app.command("trades", rich_help_panel="Trade")(trades_cmd)
