"""``pmtrader trade``: an interactive session for people who do not want to remember flags.

A prompt-toolkit prompt with history (kept in the config directory) and completion of commands,
market slugs and outcome names. The session holds one current market; every order goes through
the same path as ``buy``/``sell`` (sign, preview, balance check, confirm, post once).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable
from pathlib import Path

import typer
from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion, WordCompleter
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from rich.table import Table

from pmtrader.cli._common import (
    CliError,
    Outcome,
    console,
    err_console,
    fmt,
    handle_errors,
    make_client,
    outcome_of,
    outcomes,
    resolve_market,
)
from pmtrader.cli.account import position_rows
from pmtrader.cli.browse import ladder
from pmtrader.cli.trading import OrderRequest, TimeInForce, parse_decimal, place_order
from pmtrader.client import Client
from pmtrader.errors import PmtraderError
from pmtrader.models.clob import Side
from pmtrader.models.gamma import GammaMarket

__all__ = ["register"]

COMMANDS = {
    "search": "search WORDS          find open markets",
    "use": "use SLUG              make a market current",
    "book": "book [OUTCOME]        the current market's ladder",
    "buy": "buy OUTCOME PRICE SIZE   place a limit buy (asks to confirm)",
    "sell": "sell OUTCOME PRICE SIZE  place a limit sell (asks to confirm)",
    "orders": "orders                your open orders",
    "cancel": "cancel ID|all         cancel one order or all",
    "positions": "positions             positions marked to mid",
    "help": "help                  this list",
    "quit": "quit                  leave (also Ctrl-D)",
}


class _SessionCompleter(Completer):
    """Commands first; then slugs after ``use``, outcomes after ``book``/``buy``/``sell``."""

    def __init__(self, slugs: list[str]) -> None:
        self.slugs = slugs
        self.outcomes: list[str] = []

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        words = document.text_before_cursor.split()
        ending = document.text_before_cursor.endswith(" ")
        if not words or (len(words) == 1 and not ending):
            choices: list[str] = list(COMMANDS)
        elif words[0] == "use" and (len(words) == 1 or (len(words) == 2 and not ending)):
            choices = self.slugs
        elif words[0] in ("book", "buy", "sell") and (
            len(words) == 1 or (len(words) == 2 and not ending)
        ):
            choices = self.outcomes
        else:
            return
        inner = WordCompleter(choices, ignore_case=True, sentence=True)
        word = words[-1] if words and not ending else ""
        yield from inner.get_completions(Document(word), complete_event)


class TradeSession:
    """One interactive session against one client."""

    def __init__(self, client: Client, history: History) -> None:
        self.client = client
        self.market: GammaMarket | None = None
        self.order_ids: list[str] = []
        self.completer = _SessionCompleter([])
        self.prompt: PromptSession[str] = PromptSession(
            history=history, completer=self.completer, complete_while_typing=False
        )

    def _ask(self, question: str) -> bool:
        return self.prompt.prompt(f"{question} [y/N] ").strip().lower() in ("y", "yes")

    def _need_market(self) -> GammaMarket:
        if self.market is None:
            raise CliError("No market chosen: `search WORDS`, then `use SLUG`.")
        return self.market

    def _outcome(self, name: str | None) -> Outcome:
        market = self._need_market()
        return outcome_of(market, name) if name else outcomes(market)[0]

    def run(self) -> None:
        """Read commands until ``quit`` or end of input."""
        self.completer.slugs = [m.slug for m in self.client.gamma.iter_markets(closed=False)]
        console.print("pmtrader trade: type `help` for commands, `quit` to leave.")
        while True:
            label = self.market.slug if self.market else "no market"
            try:
                line = self.prompt.prompt(f"pmt ({label})> ")
            except (EOFError, KeyboardInterrupt):
                break
            try:
                words = shlex.split(line)
            except ValueError as exc:
                err_console.print(f"error: {exc}")
                continue
            if not words:
                continue
            if words[0] in ("quit", "exit"):
                break
            try:
                self.dispatch(words[0], words[1:])
            except CliError as exc:
                err_console.print(f"[red]error:[/red] {exc}")
            except PmtraderError as exc:
                from pmtrader.cli._common import _explain

                err_console.print(f"[red]error:[/red] {_explain(exc)}")
        console.print("bye")

    def dispatch(self, command: str, args: list[str]) -> None:
        """Run one command line."""
        if command == "help":
            for text in COMMANDS.values():
                console.print(f"  {text}")
        elif command == "search":
            self.search(" ".join(args))
        elif command == "use":
            if len(args) != 1:
                raise CliError("usage: use SLUG")
            self.market = resolve_market(self.client, args[0])
            self.completer.outcomes = [o.name for o in outcomes(self.market)]
            console.print(f"[bold]{self.market.question}[/bold]")
            self.show_book(None)
        elif command == "book":
            self.show_book(args[0] if args else None)
        elif command in ("buy", "sell"):
            if len(args) != 3:
                raise CliError(f"usage: {command} OUTCOME PRICE SIZE")
            self.order(Side.BUY if command == "buy" else Side.SELL, *args)
        elif command == "orders":
            self.orders()
        elif command == "cancel":
            self.cancel(args)
        elif command == "positions":
            self.positions()
        else:
            raise CliError(f"unknown command {command!r}; type `help`")

    def search(self, query: str) -> None:
        words = query.lower().split()
        found = [
            m
            for m in self.client.gamma.iter_markets(closed=False)
            if all(w in f"{m.question} {m.slug}".lower() for w in words)
        ][:15]
        if not found:
            console.print("No markets match.")
            return
        for m in found:
            prices = "  ".join(f"{o.name} {fmt(o.price)}" for o in outcomes(m))
            console.print(f"  {m.slug}  [dim]{prices}[/dim]")

    def show_book(self, name: str | None) -> None:
        out = self._outcome(name)
        book = self.client.books.get_order_book(out.token_id)
        console.print(
            ladder(
                f"{self._need_market().slug} · {out.name}",
                [(lvl.price, lvl.size) for lvl in book.bids],
                [(lvl.price, lvl.size) for lvl in book.asks],
                depth=5,
                footer=f"bid {fmt(book.best_bid)}  ask {fmt(book.best_ask)}",
            )
        )

    def order(self, side: Side, name: str, price: str, size: str) -> None:
        market = self._need_market()
        out = outcome_of(market, name)
        req = OrderRequest(
            side=side,
            price=parse_decimal(price, "price"),
            size=parse_decimal(size, "size"),
            amount=None,
            order_type=TimeInForce.GTC,
            expires_s=None,
            post_only=False,
        )
        response = place_order(
            self.client, market, out, req, confirm=True, dry_run=False, ask=self._ask
        )
        if response is not None and response.order_id:
            self.order_ids.append(response.order_id)

    def orders(self) -> None:
        open_orders = self.client.orders.get_open_orders()
        if not open_orders:
            console.print("No open orders.")
            return
        table = Table()
        for col in ("id", "outcome", "side", "price", "size", "filled"):
            table.add_column(col)
        for o in open_orders:
            table.add_row(
                o.id,
                o.outcome,
                o.side.value,
                fmt(o.price),
                fmt(o.original_size),
                fmt(o.size_matched),
            )
        console.print(table)

    def cancel(self, args: list[str]) -> None:
        if not args:
            raise CliError("usage: cancel ORDER_ID… | cancel all")
        result = (
            self.client.orders.cancel_all()
            if args == ["all"]
            else self.client.orders.cancel_orders(args)
        )
        console.print(f"Canceled {len(result.canceled)} order(s).")
        for oid, why in result.not_canceled.items():
            err_console.print(f"not canceled {oid}: {why}")

    def positions(self) -> None:
        rows = position_rows(self.client)
        if not rows:
            console.print("No positions.")
            return
        for r in rows:
            console.print(
                f"  {r['slug']} {r['outcome']}: {fmt(r['size'])} @ {fmt(r['avg_price'])}, "
                f"mid {fmt(r['mid'])}, P&L {fmt(r['pnl'], 2) if r['pnl'] is not None else '-'}"
            )


def _history() -> History:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    path = Path(base) / "pmt" / "trade_history"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileHistory(str(path))
    except OSError:
        return InMemoryHistory()


@handle_errors
def trade_cmd() -> None:
    """Trade interactively: search, pick a market, see the book, place and cancel orders."""
    with make_client(need_key=True, need_creds=True) as client:
        TradeSession(client, _history()).run()


def register(app: typer.Typer) -> None:
    """Add ``trade`` to ``app``."""
    app.command("trade", rich_help_panel="Trade")(trade_cmd)
