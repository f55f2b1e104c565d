"""Fixtures for the command-line tests: a quiet local exchange, a wallet, and a CLI runner.

The exchange runs with background flow off, so a book holds exactly what a test put there;
each test takes its own markets from a pool. ``cli(...)`` runs ``pmtrader`` in-process with
typer's ``CliRunner`` under an environment that points at the exchange (``PMT_ENV=sim``), a
fresh key and a private config directory, which is what a user's shell would hold.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pmtrader.cli import app
from pmtrader.testing import MarketPool, SimServer, new_wallet, start_sim
from typer.testing import CliRunner, Result


@pytest.fixture(scope="session")
def quiet_sim() -> Iterator[SimServer]:
    """A local exchange with no background traders."""
    with start_sim(seed=11, flow=False) as server:
        yield server


@pytest.fixture(scope="session")
def market_pool(quiet_sim: SimServer) -> MarketPool:
    """Markets of ``quiet_sim``, each handed to one test."""
    return MarketPool(quiet_sim)


class Cli:
    """``pmtrader`` run in-process against the exchange, as one user (one key, one config dir)."""

    def __init__(self, sim: SimServer, config_dir: Path) -> None:
        account = new_wallet()
        key = account.key.hex()
        self.key = key if key.startswith("0x") else "0x" + key
        self.address: str = account.address
        self.sim = sim
        self.env = {
            "PMT_ENV": "sim",
            "PMT_SIM_URL": sim.url,
            "PM_PRIVATE_KEY": self.key,
            "XDG_CONFIG_HOME": str(config_dir),
            "COLUMNS": "200",
            "PMPROXY_URL": "",
            "PM_API_KEY": "",
            "PM_API_SECRET": "",
            "PM_API_PASSPHRASE": "",
        }
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, code: int | None = 0) -> Result:
        result = self.runner.invoke(app, list(args), env=self.env, input=input)
        if code is not None:
            assert result.exit_code == code, (
                f"pmtrader {' '.join(args)} exited {result.exit_code}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}\n{result.exception!r}"
            )
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def cli(quiet_sim: SimServer, tmp_path: Path) -> Cli:
    """A new user of the command line on the quiet exchange."""
    return Cli(quiet_sim, tmp_path / "config")


@pytest.fixture
def take_market(market_pool: MarketPool) -> Callable[..., dict[str, Any]]:
    """Take an unused market (tick 0.01 unless asked; neg-risk or not, the CLI treats both)."""

    def take(**kwargs: Any) -> dict[str, Any]:
        return market_pool.take(**{"neg_risk": None, **kwargs})

    return take
