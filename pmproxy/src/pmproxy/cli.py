"""The `pmproxy` command: read the settings at the edge and serve the proxy with uvicorn.

`pmproxy` with no subcommand serves (``uv run pmproxy`` listens on 127.0.0.1:8080 and forwards
to Polymarket's production hosts); ``pmproxy serve`` is the same. Flags override ``PMPROXY_*``
environment variables, which override the defaults.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from pmproxy import __version__
from pmproxy.errors import ConfigError
from pmproxy.settings import Settings

app = typer.Typer(
    name="pmproxy",
    help="Run pmproxy: a stateless reverse proxy for Polymarket's CLOB, Gamma, Data and chain "
    "APIs. It forwards from where it runs and is not a way around Polymarket's regional "
    "restrictions.",
    add_completion=False,
    invoke_without_command=True,
    no_args_is_help=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"pmproxy {__version__}")
        raise typer.Exit


HostOpt = Annotated[
    str | None, typer.Option(help="Address to listen on (env PMPROXY_HOST; default 127.0.0.1).")
]
PortOpt = Annotated[
    int | None, typer.Option(help="Port to listen on (env PMPROXY_PORT; default 8080).")
]
DryRunOpt = Annotated[
    bool | None,
    typer.Option(
        "--dry-run/--live",
        help="Answer order placements and cancels locally; reads still pass through "
        "(env PMPROXY_DRY_RUN).",
        show_default=False,
    ),
]
ClobOpt = Annotated[str | None, typer.Option(help="CLOB origin (env PMPROXY_CLOB_URL).")]
GammaOpt = Annotated[str | None, typer.Option(help="Gamma origin (env PMPROXY_GAMMA_URL).")]
DataOpt = Annotated[str | None, typer.Option(help="Data API origin (env PMPROXY_DATA_URL).")]
ChainOpt = Annotated[str | None, typer.Option(help="Polygon JSON-RPC URL (env PMPROXY_CHAIN_URL).")]
WsOpt = Annotated[
    str | None,
    typer.Option(help="Websocket base; /ws/market goes to {ws-url}/market (env PMPROXY_WS_URL)."),
]
LogOpt = Annotated[
    str | None,
    typer.Option(help="debug, info, warning or error (env PMPROXY_LOG_LEVEL; default info)."),
]
VersionOpt = Annotated[
    bool,
    typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version."),
]


def _run(**flags: object) -> None:
    from pmproxy import logs
    from pmproxy.app import create_app
    from pmproxy.server import serve

    try:
        settings = Settings.from_env(os.environ).with_overrides(**flags)
    except ConfigError as exc:
        typer.echo(f"pmproxy: {exc}", err=True)
        raise typer.Exit(2) from None
    logs.configure(settings.log_level)
    import structlog

    structlog.get_logger("pmproxy").info(
        "pmproxy.starting",
        version=__version__,
        listen=f"http://{settings.host}:{settings.port}",
        dry_run=settings.dry_run,
        clob=settings.clob_url,
        gamma=settings.gamma_url,
        data=settings.data_url,
        chain=settings.chain_url,
        ws=settings.ws_url,
    )
    serve(create_app(settings))


@app.callback()
def main_callback(
    ctx: typer.Context,
    *,
    host: HostOpt = None,
    port: PortOpt = None,
    dry_run: DryRunOpt = None,
    clob_url: ClobOpt = None,
    gamma_url: GammaOpt = None,
    data_url: DataOpt = None,
    chain_url: ChainOpt = None,
    ws_url: WsOpt = None,
    log_level: LogOpt = None,
    version: VersionOpt = False,
) -> None:
    """Serve the proxy (the default when no subcommand is given)."""
    if ctx.invoked_subcommand is None:
        _run(
            host=host,
            port=port,
            dry_run=dry_run,
            clob_url=clob_url,
            gamma_url=gamma_url,
            data_url=data_url,
            chain_url=chain_url,
            ws_url=ws_url,
            log_level=log_level,
        )


@app.command()
def serve(
    *,
    host: HostOpt = None,
    port: PortOpt = None,
    dry_run: DryRunOpt = None,
    clob_url: ClobOpt = None,
    gamma_url: GammaOpt = None,
    data_url: DataOpt = None,
    chain_url: ChainOpt = None,
    ws_url: WsOpt = None,
    log_level: LogOpt = None,
) -> None:
    """Serve the proxy (same as `pmproxy` with no subcommand)."""
    _run(
        host=host,
        port=port,
        dry_run=dry_run,
        clob_url=clob_url,
        gamma_url=gamma_url,
        data_url=data_url,
        chain_url=chain_url,
        ws_url=ws_url,
        log_level=log_level,
    )


def main() -> None:
    """Run the `pmproxy` command line."""
    app()
