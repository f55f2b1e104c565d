"""Settings come from PMPROXY_* variables and flags, once, with clear errors; the CLI serves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from pmproxy.cli import app
from pmproxy.settings import DEFAULT_CHAIN_METHODS
from pmproxy.testing import RecordingUpstream, free_port
from typer.testing import CliRunner

from pmproxy import ConfigError, Settings, __version__


def test_defaults_are_production_and_loopback() -> None:
    settings = Settings()
    assert (settings.host, settings.port, settings.dry_run) == ("127.0.0.1", 8080, False)
    assert settings.clob_url == "https://clob.polymarket.com"
    assert settings.gamma_url == "https://gamma-api.polymarket.com"
    assert settings.data_url == "https://data-api.polymarket.com"
    assert settings.chain_url == "https://polygon-rpc.com"
    assert settings.upstream("clob").origin == "https://clob.polymarket.com"


def test_environment_variables_are_read_and_typed() -> None:
    settings = Settings.from_env(
        {
            "PMPROXY_PORT": "9000",
            "PMPROXY_DRY_RUN": "true",
            "PMPROXY_CLOB_URL": "http://127.0.0.1:7000/base/",
            "PMPROXY_READ_TIMEOUT": "2.5",
            "PMPROXY_CHAIN_METHODS": "eth_chainId, eth_blockNumber",
            "PMPROXY_BUDGETS": "0",
            "UNRELATED": "x",
        }
    )
    assert settings.port == 9000
    assert settings.dry_run is True
    assert settings.upstream("clob").base_path == "/base"
    assert settings.read_timeout == 2.5
    assert settings.chain_methods == frozenset({"eth_chainId", "eth_blockNumber"})
    assert settings.budgets is False
    assert Settings.from_env({}).chain_methods == DEFAULT_CHAIN_METHODS


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PMPROXY_PORT": "eighty"}, "PMPROXY_PORT: 'eighty' is not a whole number"),
        ({"PMPROXY_PORT": "70000"}, "port: 70000 is not between 1 and 65535"),
        ({"PMPROXY_DRY_RUN": "maybe"}, "PMPROXY_DRY_RUN: 'maybe' is not a boolean"),
        (
            {"PMPROXY_CLOB_URL": "ftp://x"},
            "clob_url: 'ftp://x' must start with http:// or https://",
        ),
        ({"PMPROXY_GAMMA_URL": "http://u:p@h"}, "must not carry credentials"),
        ({"PMPROXY_DATA_URL": "http://h/?q=1"}, "must not carry credentials, a query"),
        ({"PMPROXY_WS_URL": "http://h"}, "ws_url: 'http://h' must start with ws:// or wss://"),
        ({"PMPROXY_LOG_LEVEL": "loud"}, "log_level: 'loud' is not one of"),
        ({"PMPROXY_BUDGET_SCALE": "0"}, "budget_scale"),
    ],
)
def test_bad_values_say_what_is_wrong(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env(environ)
    assert message in str(error.value)


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]
    with pytest.raises(ConfigError, match="unknown settings: nope"):
        settings.with_overrides(nope=1)


def test_cli_help_and_version() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for flag in ("--host", "--port", "--dry-run", "--clob-url", "--gamma-url", "--chain-url"):
        assert flag in result.output
    assert "not a way around" in result.output
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0
    assert version.output.strip() == f"pmproxy {__version__}"


def test_cli_refuses_a_bad_flag_without_a_traceback() -> None:
    result = CliRunner().invoke(app, ["--clob-url", "ftp://nope"])
    assert result.exit_code == 2
    assert "pmproxy: clob_url: 'ftp://nope' must start with http:// or https://" in result.output
    assert "Traceback" not in result.output


def test_the_pmproxy_command_serves_and_stops_on_sigterm(upstream: RecordingUpstream) -> None:
    port = free_port()
    command = Path(sys.executable).with_name("pmproxy")
    env = {**os.environ, "PMPROXY_GAMMA_URL": upstream.url + "/env", "PMPROXY_LOG_LEVEL": "info"}
    process = subprocess.Popen(
        [str(command), "--port", str(port), "--dry-run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except httpx.ConnectError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert health.json()["dry_run"] is True
        upstream.clear()
        answer = httpx.get(f"http://127.0.0.1:{port}/gamma/events?limit=1")
        assert answer.status_code == 200
        assert upstream.requests[-1].target == b"/env/events?limit=1"
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    # uvicorn shuts down cleanly, then re-raises the signal so the parent sees it (systemd
    # counts a SIGTERM exit as success).
    assert process.returncode in (0, -signal.SIGTERM)
    assert '"event": "pmproxy.starting"' in output
    assert "Application shutdown complete." in output
