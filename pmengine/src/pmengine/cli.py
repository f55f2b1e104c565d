"""The ``pmengine`` command line."""

from __future__ import annotations

from typing import Annotated

import typer

from pmengine import __version__

app = typer.Typer(
    name="pmengine",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"pmengine {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """pmengine."""


def main() -> None:
    """Run the ``pmengine`` command line."""
    app()
