"""The ``pmproxy`` command: serve the proxy with uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from pmproxy import __version__

app = typer.Typer(
    name="pmproxy",
    help="Run pmproxy: a stateless reverse proxy for Polymarket's CLOB, Gamma, Data and chain "
    "APIs.",
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"pmproxy {__version__}")
        raise typer.Exit


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Serve the proxy."""
    typer.echo(f"pmproxy {__version__} would listen on http://{host}:{port}")


def main() -> None:
    """Run the ``pmproxy`` command line."""
    app()
