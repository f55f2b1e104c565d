"""The ``pmtrader`` command line: browse Polymarket, trade by hand, run the local exchange."""

from __future__ import annotations

from typing import Annotated

import typer

from pmtrader import __version__
from pmtrader.cli import sim as _sim

app = typer.Typer(
    name="pmtrader",
    help="Browse Polymarket markets, trade by hand, scan for opportunities, "
    "and run a local exchange that speaks Polymarket's protocol.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(_sim.app, name="sim")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"pmtrader {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Polymarket from the terminal."""


def main() -> None:
    """Run the ``pmtrader`` command line."""
    app()
