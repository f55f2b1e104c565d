"""``pmtrader sim``: run the local exchange, and operate a running one by URL.

``serve`` starts the exchange in the foreground; every other command talks to a running exchange
over its operator endpoints (``/_sim/...``) at ``--url`` (default ``http://127.0.0.1:8700``, or the
environment variable ``PMTRADER_SIM_URL``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="sim",
    help="Run a local exchange that speaks Polymarket's protocol, and operate it.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_DEFAULT_URL = "http://127.0.0.1:8700"

UrlOption = Annotated[
    str,
    typer.Option(
        "--url",
        envvar="PMTRADER_SIM_URL",
        help="Base URL of the running exchange.",
        show_default=True,
    ),
]


def _call(url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST an operator command and return its JSON, or exit with the server's error."""
    import httpx

    try:
        response = httpx.post(url.rstrip("/") + path, json=body, timeout=10.0)
    except httpx.HTTPError as exc:
        typer.echo(f"error: cannot reach the exchange at {url} ({exc}); is it running?", err=True)
        raise typer.Exit(2) from None
    try:
        payload: dict[str, Any] = response.json()
    except ValueError:
        payload = {"error": response.text}
    if response.status_code != 200:
        typer.echo(f"error: {payload.get('error', payload)}", err=True)
        raise typer.Exit(1)
    return payload


def _show(payload: dict[str, Any]) -> None:
    import json

    typer.echo(json.dumps(payload, indent=2, sort_keys=True))


@app.command()
def serve(  # noqa: PLR0917 - typer maps each keyword parameter to one --option
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port for REST, websockets and JSON-RPC.")] = 8700,
    seed: Annotated[int, typer.Option(help="Seed for the catalogue, the flow and faults.")] = 7,
    state_dir: Annotated[
        Path | None,
        typer.Option(help="Keep accounts, orders and trades in SQLite here across restarts."),
    ] = None,
    initial_balance: Annotated[
        int, typer.Option(help="pUSD credited to each new API-key owner.")
    ] = 10_000,
    flow: Annotated[
        bool, typer.Option("--flow/--no-flow", help="Run the background traders.")
    ] = True,
    speed: Annotated[
        float,
        typer.Option(
            help="Simulated seconds per wall-clock second. Above 1, sim time runs ahead of the "
            "wall clock, so a GTD expiration a client computes from its own clock may already "
            "be past in sim time."
        ),
    ] = 1.0,
) -> None:
    """Run the local exchange in the foreground until interrupted."""
    if speed <= 0:
        typer.echo("error: --speed must be greater than 0 (1.0 is real time)", err=True)
        raise typer.Exit(2)
    if initial_balance < 0:
        typer.echo("error: --initial-balance cannot be negative", err=True)
        raise typer.Exit(2)
    if not 0 <= port <= 65535:
        typer.echo(f"error: --port must be between 0 and 65535, got {port}", err=True)
        raise typer.Exit(2)
    from pmtrader.sim.serve import ServeOptions, run

    run(
        ServeOptions(
            host=host,
            port=port,
            seed=seed,
            state_dir=state_dir,
            initial_balance=initial_balance,
            flow=flow,
            speed=speed,
        )
    )


@app.command()
def fund(
    address: Annotated[str, typer.Argument(help="Wallet address (0x...).")],
    amount: Annotated[str, typer.Argument(help="pUSD to credit, e.g. 250 or 99.5.")],
    url: UrlOption = _DEFAULT_URL,
) -> None:
    """Credit pUSD to an address."""
    _show(_call(url, "/_sim/fund", {"address": address, "amount": amount}))


@app.command()
def resolve(
    condition_id: Annotated[str, typer.Argument(help="The market's condition id (0x...).")],
    winning_token_id: Annotated[str, typer.Argument(help="The token that pays 1 pUSD.")],
    url: UrlOption = _DEFAULT_URL,
) -> None:
    """Resolve a market now: trading stops and the winning token redeems at 1."""
    _show(
        _call(
            url,
            "/_sim/resolve",
            {"condition_id": condition_id, "winning_token_id": winning_token_id},
        )
    )


@app.command()
def tick(
    token_id: Annotated[str, typer.Argument(help="A token of the market.")],
    tick_size: Annotated[str, typer.Argument(help="0.1, 0.01, 0.005, 0.0025, 0.001 or 0.0001.")],
    url: UrlOption = _DEFAULT_URL,
) -> None:
    """Change a market's tick size (clients see a tick_size_change event)."""
    _show(_call(url, "/_sim/tick", {"token_id": token_id, "tick_size": tick_size}))


@app.command()
def funder(
    eoa: Annotated[str, typer.Argument(help="The signing wallet (EOA).")],
    maker: Annotated[str, typer.Argument(help="The proxy, Safe or deposit wallet it controls.")],
    url: UrlOption = _DEFAULT_URL,
) -> None:
    """Allow an EOA to sign orders for a funder (signature types 1, 2 and 3)."""
    _show(_call(url, "/_sim/funder", {"eoa": eoa, "maker": maker}))


@app.command()
def flow(
    action: Annotated[str, typer.Argument(help="pause or resume")],
    url: UrlOption = _DEFAULT_URL,
) -> None:
    """Pause or resume the background traders."""
    if action not in ("pause", "resume"):
        typer.echo("error: action must be 'pause' or 'resume'", err=True)
        raise typer.Exit(2)
    _show(_call(url, "/_sim/flow", {"paused": action == "pause"}))


@app.command("match-delay")
def match_delay(
    condition_id: Annotated[str, typer.Argument(help="The market's condition id (0x...).")],
    delay_ms: Annotated[
        int, typer.Argument(help="Milliseconds to hold marketable orders; 0 = off.")
    ],
    url: UrlOption = _DEFAULT_URL,
) -> None:
    """Delay matching on a market: marketable orders answer 'delayed' and match later."""
    _show(_call(url, "/_sim/match-delay", {"condition_id": condition_id, "delay_ms": delay_ms}))


@app.command("fail-trade")
def fail_trade(
    trade_id: Annotated[str, typer.Argument(help="A trade id from /data/trades.")],
    url: UrlOption = _DEFAULT_URL,
) -> None:
    """Mark a trade FAILED (its status; balances stay as settled)."""
    _show(_call(url, "/_sim/fail-trade", {"trade_id": trade_id}))


@app.command()
def fault(  # noqa: PLR0917 - typer maps each keyword parameter to one --option
    url: UrlOption = _DEFAULT_URL,
    rest_fail_rate: Annotated[
        float | None, typer.Option(help="Fraction of REST calls to fail (0..1).")
    ] = None,
    rest_fail_status: Annotated[
        int | None, typer.Option(help="Status of failed calls: 425, 429, 500 or 503.")
    ] = None,
    rest_delay_rate: Annotated[
        float | None, typer.Option(help="Fraction of REST calls to delay (0..1).")
    ] = None,
    rest_delay_ms: Annotated[int | None, typer.Option(help="Delay in milliseconds.")] = None,
    path: Annotated[
        list[str] | None,
        typer.Option("--path", help="Limit REST faults to this path prefix (repeatable)."),
    ] = None,
    drop_order_responses: Annotated[
        int | None,
        typer.Option(help="Execute the next N order posts but never send their response."),
    ] = None,
    drop_order_response_rate: Annotated[
        float | None,
        typer.Option(help="Fraction of order posts executed with their response dropped (0..1)."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed the random faults (default: the server's --seed).")
    ] = None,
    ws_drop: Annotated[
        bool, typer.Option("--ws-drop", help="Make every open websocket go silent.")
    ] = False,
    reset: Annotated[bool, typer.Option("--reset", help="Clear every fault first.")] = False,
) -> None:
    """Inject faults into a running exchange (see pmtrader.sim.faults)."""
    body: dict[str, Any] = {}
    if reset:
        body["reset"] = True
    options = {
        "rest_fail_rate": rest_fail_rate,
        "rest_fail_status": rest_fail_status,
        "rest_delay_rate": rest_delay_rate,
        "rest_delay_ms": rest_delay_ms,
        "drop_order_responses": drop_order_responses,
        "drop_order_response_rate": drop_order_response_rate,
        "seed": seed,
    }
    body.update({key: value for key, value in options.items() if value is not None})
    if path:
        body["paths"] = path
    if ws_drop:
        body["ws_drop"] = True
    _show(_call(url, "/_sim/fault", body))
