"""The ``pmtrader`` command line: browse Polymarket, trade by hand, run the local exchange."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pmtrader import __version__
from pmtrader._build import build_kind
from pmtrader.cli import account as _account
from pmtrader.cli import browse as _browse
from pmtrader.cli import scanning as _scanning
from pmtrader.cli import session as _session
from pmtrader.cli import sim as _sim
from pmtrader.cli import trading as _trading
from pmtrader.cli._common import State, set_state

app = typer.Typer(
    name="pmtrader",
    help="Browse Polymarket markets, trade by hand, scan for opportunities, "
    "and run a local exchange that speaks Polymarket's protocol.\n\n"
    "Production by default; --env sim (or PMT_ENV=sim) for the local exchange. "
    "Exit codes: 0 ok, 1 an error you can fix, 2 bad usage.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(_sim.app, name="sim")
_browse.register(app)
_trading.register(app)
_account.register(app)
_session.register(app)
app.add_typer(_scanning.app, name="scan", rich_help_panel="Browse")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"pmtrader {__version__} ({build_kind()})")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and whether the compiled or interpreted build runs.",
        ),
    ] = False,
    env: Annotated[
        str | None,
        typer.Option(
            "--env", help="prod or sim (overrides PMT_ENV; sim uses PMT_SIM_URL).", metavar="ENV"
        ),
    ] = None,
    proxy: Annotated[
        str | None, typer.Option("--proxy", help="Send REST through pmproxy at this URL.")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Machine-readable output on read commands.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show more detail.")] = False,
) -> None:
    """Polymarket from the terminal."""
    if env is not None and env.lower() not in ("prod", "sim"):
        raise typer.BadParameter("must be prod or sim", param_hint="--env")
    set_state(State(env=env.lower() if env else None, proxy=proxy, json=json_out, verbose=verbose))


def _route_logs(verbose: bool) -> None:
    """Send the SDK's structlog events to stderr, errors only unless ``-v``.

    Done in the process entry point only (not the typer callback), so that running the app
    in-process (tests, the dashboard) leaves the host's logging configuration alone.
    """
    import logging

    import structlog

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.DEBUG if verbose else logging.ERROR
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


def main() -> None:
    """Run the ``pmtrader`` command line."""
    _route_logs(verbose=any(arg in ("-v", "--verbose") for arg in sys.argv[1:]))
    app()
