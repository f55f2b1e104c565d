"""Account commands: ``positions``, ``balance``, ``keys``, ``doctor``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import typer
from rich.table import Table

from pmtrader.cli._common import (
    JsonFlag,
    console,
    emit_json,
    fmt,
    handle_errors,
    make_client,
    save_credentials,
    state,
    use_json,
)
from pmtrader.client import Client
from pmtrader.doctor import CheckStatus
from pmtrader.models.clob import AssetType

__all__ = ["position_rows", "register"]

_SCALE = Decimal(1_000_000)


def position_rows(client: Client) -> list[dict[str, Any]]:
    """The funder's positions, each marked to the current mid (P&L against the average price)."""
    positions = [p for p in client.data.get_positions(client.funder) if p.size > 0]
    # Books, not /midpoints: the venue answers 404 for a one-sided book, which has no mid.
    books = client.books.get_order_books([p.asset for p in positions]) if positions else []
    mids = {b.asset_id: b.mid for b in books}
    rows = []
    for p in positions:
        mid = mids.get(p.asset)
        value = None if mid is None else (p.size * mid)
        pnl = None if mid is None or p.avg_price is None else (mid - p.avg_price) * p.size
        rows.append(
            {
                "slug": p.slug,
                "title": p.title,
                "outcome": p.outcome,
                "token_id": p.asset,
                "size": p.size,
                "avg_price": p.avg_price,
                "mid": mid,
                "value": value,
                "pnl": pnl,
            }
        )
    return rows


@handle_errors
def positions_cmd(
    json_out: JsonFlag = False,
) -> None:
    """List your positions with mark-to-mid value and P&L."""
    use_json(json_out)
    with make_client(need_key=True) as client:
        rows = position_rows(client)
    if state().json:
        emit_json(rows)
        return
    if not rows:
        console.print("No positions.")
        return
    table = Table(title=f"{len(rows)} positions (marked to mid)", title_justify="left")
    for col in ("market", "outcome", "size", "avg", "mid", "value", "P&L"):
        table.add_column(
            col,
            justify="left" if col in ("market", "outcome") else "right",
            overflow="fold",
        )
    total = Decimal(0)
    for r in rows:
        pnl = r["pnl"]
        total += pnl or 0
        color = "green" if pnl is not None and pnl >= 0 else "red"
        table.add_row(
            r["slug"] or r["title"],
            r["outcome"],
            fmt(r["size"]),
            fmt(r["avg_price"]),
            fmt(r["mid"]),
            fmt(r["value"], 2) if r["value"] is not None else "-",
            f"[{color}]{fmt(pnl, 2)}[/{color}]" if pnl is not None else "-",
        )
    console.print(table)
    console.print(f"total P&L {fmt(total, 2)} pUSD")


@handle_errors
def balance_cmd(
    json_out: JsonFlag = False,
) -> None:
    """Show the funder's pUSD balance and allowances (as the CLOB sees them)."""
    use_json(json_out)
    with make_client(need_key=True, need_creds=True) as client:
        ba = client.account.get_balance_allowance(AssetType.COLLATERAL)
        data: dict[str, Any] = {
            "address": client.address,
            "funder": client.funder,
            "balance": Decimal(ba.balance) / _SCALE,
            "allowances": {k: Decimal(v) / _SCALE for k, v in ba.allowances.items()},
        }
    if state().json:
        emit_json(data)
        return
    console.print(f"funder  {data['funder']}")
    console.print(f"balance [bold]{fmt(data['balance'], 2)}[/bold] pUSD")
    for spender, amount in data["allowances"].items():
        shown = "unlimited" if amount > Decimal(10) ** 30 else f"{fmt(amount, 2)} pUSD"
        console.print(f"  allowance {spender}: {shown}")


@handle_errors
def keys_cmd(
    json_out: JsonFlag = False,
) -> None:
    """Create or derive your API key and store it in a 0600 file (the secret is never shown)."""
    use_json(json_out)
    with make_client(need_key=True) as client:
        creds = client.account.create_or_derive_api_key()
        path = save_credentials(client.settings, client.address, creds)
    if state().json:
        emit_json({"address": client.address, "api_key": creds.key, "stored_in": str(path)})
        return
    console.print(f"API key {creds.key} for {client.address}")
    console.print(f"secret and passphrase stored in {path} (mode 0600)")


@handle_errors
def doctor_cmd(
    json_out: JsonFlag = False,
) -> None:
    """Check the account end to end and say exactly what to fix."""
    use_json(json_out)
    with make_client(need_key=True) as client:
        report = client.doctor()
    if state().json:
        emit_json(
            {
                "ok": report.ok,
                "checks": [
                    {"name": c.name, "status": c.status.value, "detail": c.detail, "fix": c.fix}
                    for c in report.checks
                ],
            }
        )
    else:
        table = Table(title="account doctor", title_justify="left")
        table.add_column("check")
        table.add_column("status")
        table.add_column("detail")
        table.add_column("fix")
        style = {CheckStatus.OK: "green", CheckStatus.WARN: "yellow", CheckStatus.FAIL: "red"}
        for c in report.checks:
            s = style[c.status]
            table.add_row(c.name, f"[{s}]{c.status.value}[/{s}]", c.detail, c.fix)
        console.print(table)
        console.print("[green]ready to trade[/green]" if report.ok else "[red]not ready[/red]")
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the account commands to ``app``."""
    app.command("positions", rich_help_panel="Account")(positions_cmd)
    app.command("balance", rich_help_panel="Account")(balance_cmd)
    app.command("keys", rich_help_panel="Account")(keys_cmd)
    app.command("doctor", rich_help_panel="Account")(doctor_cmd)
