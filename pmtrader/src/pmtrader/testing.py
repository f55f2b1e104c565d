"""Test helpers shipped with pmtrader: a real local exchange on a free loopback port.

This module is a pytest plugin (registered from the workspace's root ``conftest.py``) and a plain
library: ``start_sim()`` runs ``pmtrader sim serve`` as a subprocess in its own process group,
waits until ``GET /ok`` answers (polling, never a fixed sleep) and returns a :class:`SimServer`
that knows its URLs and can fund wallets, resolve markets, inject faults and restart on the same
port and state directory. The server's output goes to a log file (``SimServer.log_path``) so a
failing test can show what the exchange said.

Fixtures:
    sim: one exchange for the whole session (seed 7, background flow on).
    sim_factory: ``sim_factory(**start_sim kwargs)`` for tests that need their own exchange; every
        exchange it started is stopped at teardown.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from pmtrader.errors import PmtraderError

__all__ = [
    "MarketPool",
    "SimServer",
    "SimServerError",
    "build_compiled",
    "new_wallet",
    "sim",
    "sim_factory",
    "start_sim",
]

_READY_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 10.0


class SimServerError(PmtraderError):
    """The local exchange did not start, or an operator call to it failed."""


def build_compiled(project: Path, dest: Path) -> Path:
    """Build a workspace package's mypyc wheel the way its release does, unpack it, return the
    folder to put first on ``PYTHONPATH``.

    The wheel is built from the package's sdist (never in place: the hook compiles next to the
    sources, and the ``.so`` files would shadow the editable install), with
    ``HATCH_BUILD_HOOK_ENABLE_MYPYC=1``, for the interpreter running this code so that its
    extensions load here. Used by the compiled-build tests and the benchmarks of pmtrader and
    pmengine.

    Args:
        project: the package's folder (``pmtrader``, ``pmengine``).
        dest: an empty scratch folder.
    """
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("HATCH_BUILD_HOOK_ENABLE_MYPYC", None)
    subprocess.run(
        ["uv", "build", str(project), "--sdist", "-o", str(dest), "-q"],
        check=True,
        env=env,
        timeout=300,
    )
    (sdist,) = dest.glob(f"{project.name}-*.tar.gz")
    env["HATCH_BUILD_HOOK_ENABLE_MYPYC"] = "1"
    subprocess.run(
        ["uv", "build", str(sdist), "--wheel", "--python", sys.executable, "-o", str(dest), "-q"],
        check=True,
        env=env,
        timeout=600,
    )
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    (wheel,) = dest.glob(f"{project.name}-*-{tag}-{tag}-*.whl")
    site = dest / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    return site


def new_wallet() -> LocalAccount:
    """Return a fresh random key (a new trader nobody has seen)."""
    account: LocalAccount = Account.create()
    return account


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class SimServer:
    """A running ``pmtrader sim serve`` subprocess on a loopback port.

    Construct it through :func:`start_sim`; the constructor itself starts nothing.
    """

    url: str
    gamma_url: str
    data_url: str
    ws_url: str
    chain_url: str
    port: int
    state_dir: Path | None

    def __init__(
        self,
        *,
        port: int,
        seed: int = 7,
        flow: bool = True,
        speed: float = 1.0,
        state_dir: Path | None = None,
        initial_balance: int = 10_000,
        log_dir: Path | None = None,
    ) -> None:
        self.port = port
        self.seed = seed
        self.flow = flow
        self.speed = speed
        self.state_dir = state_dir
        self.initial_balance = initial_balance
        self.url = f"http://127.0.0.1:{port}"
        self.gamma_url = self.url + "/gamma"
        self.data_url = self.url + "/data-api"
        self.ws_url = f"ws://127.0.0.1:{port}/ws"
        self.chain_url = self.url + "/chain"
        self._log_dir = log_dir
        self.log_path: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._http: httpx.Client | None = None

    def __repr__(self) -> str:
        return f"SimServer(url={self.url!r}, seed={self.seed}, running={self.running})"

    @property
    def http(self) -> httpx.Client:
        """A keep-alive HTTP client with ``base_url=url`` (closed by ``stop()``).

        Reusing one client matters in tests: building an ``httpx.Client`` loads a TLS context,
        which costs more than a request to the local exchange.
        """
        if self._http is None:
            self._http = httpx.Client(base_url=self.url, timeout=10.0)
        return self._http

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def _command(self) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "pmtrader.sim",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--seed",
            str(self.seed),
            "--initial-balance",
            str(self.initial_balance),
            "--speed",
            str(self.speed),
            "--flow" if self.flow else "--no-flow",
        ]
        if self.state_dir is not None:
            cmd += ["--state-dir", str(self.state_dir)]
        return cmd

    def start(self) -> None:
        """Start the process and wait until ``GET /ok`` answers.

        Raises:
            SimServerError: when the process exits or does not answer in time (with its log).
        """
        if self.running:
            return
        log_dir = self._log_dir or Path(tempfile.mkdtemp(prefix="pmtrader-sim-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"sim-{self.port}.log"
        self._log = self.log_path.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(
            self._command(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
        deadline = time.monotonic() + _READY_TIMEOUT_S
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    message = (
                        f"sim exited with {self._proc.returncode} before it was ready:\n"
                        + self.log_tail()
                    )
                    self.stop()  # closes the log file too, so nothing leaks on a retry
                    raise SimServerError(message)
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.url + "/ok").status_code == 200:
                        return
                time.sleep(0.05)
        self.stop()
        raise SimServerError(f"sim did not answer /ok within {_READY_TIMEOUT_S:.0f} s")

    def log_tail(self, lines: int = 40) -> str:
        """Return the last lines the server printed."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def _signal_group(self, sig: signal.Signals) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def stop(self) -> None:
        """Stop the server gracefully (SIGTERM to its process group), then by force if needed."""
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self._proc.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self._proc.wait(timeout=_STOP_TIMEOUT_S)
        self._signal_group(signal.SIGKILL)  # stragglers in the group, if any
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        if self._proc is not None and self._proc.poll() is None:
            self._signal_group(signal.SIGKILL)
            self._proc.wait(timeout=_STOP_TIMEOUT_S)
        self.stop()

    def restart(self) -> None:
        """Stop and start again on the same port and state directory."""
        self.stop()
        self.start()

    def _operator(self, path: str, body: dict[str, object]) -> dict[str, Any]:
        response = self.http.post(path, json=body)
        if response.status_code != 200:
            raise SimServerError(f"POST {path} answered {response.status_code}: {response.text}")
        result: dict[str, Any] = response.json()
        return result

    def fund(self, address: str, amount: Decimal | str | int) -> None:
        """Credit ``amount`` pUSD (human units, e.g. ``"250.5"``) to ``address``."""
        self._operator("/_sim/fund", {"address": address, "amount": str(amount)})

    def resolve(self, condition_id: str, winning_token_id: str) -> None:
        """Resolve a market now, with ``winning_token_id`` paying 1 pUSD a share."""
        self._operator(
            "/_sim/resolve", {"condition_id": condition_id, "winning_token_id": winning_token_id}
        )

    def fault(self, **settings: object) -> None:
        """Inject faults; the keys are those of ``/_sim/fault`` (see ``pmtrader.sim.faults``)."""
        self._operator("/_sim/fault", dict(settings))

    def __enter__(self) -> SimServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class MarketPool:
    """A running exchange's CLOB markets, each handed out at most once.

    Tests that share one exchange take their markets from a pool so that no test sees another's
    orders on its books.
    """

    def __init__(self, sim: SimServer) -> None:
        """Read every market of ``sim`` (all ``/markets`` pages)."""
        self.all: list[dict[str, Any]] = []
        cursor = "MA=="
        while cursor != "LTE=":
            page = sim.http.get("/markets", params={"next_cursor": cursor}).json()
            self.all.extend(page["data"])
            cursor = page["next_cursor"]
        self._taken: set[str] = set()

    def take(
        self, *, tick: str = "0.01", neg_risk: bool | None = False, max_min_size: float = 5
    ) -> dict[str, Any]:
        """A market nobody has used yet, with this tick, neg-risk flag and minimum size."""
        for market in self.all:
            if (
                market["condition_id"] not in self._taken
                and str(market["minimum_tick_size"]) == tick
                and (neg_risk is None or market["neg_risk"] is neg_risk)
                and market["minimum_order_size"] <= max_min_size
                and market["accepting_orders"]
            ):
                self._taken.add(market["condition_id"])
                return market
        raise LookupError(f"no unused market with tick {tick}, neg_risk {neg_risk}")


def start_sim(
    *,
    seed: int = 7,
    flow: bool = True,
    speed: float = 1.0,
    state_dir: Path | None = None,
    initial_balance: int = 10_000,
) -> SimServer:
    """Start a local exchange on a free loopback port and wait until it answers.

    Usable as a context manager: ``with start_sim(flow=False) as sim: ...`` stops it at the end.
    """
    last: SimServerError | None = None
    for _ in range(3):  # a free port can be taken between probing and binding; try another
        server = SimServer(
            port=_free_port(),
            seed=seed,
            flow=flow,
            speed=speed,
            state_dir=state_dir,
            initial_balance=initial_balance,
        )
        try:
            server.start()
        except SimServerError as exc:
            last = exc
            if "address already in use" not in str(exc).lower():
                raise
            continue
        return server
    assert last is not None
    raise last


@pytest.fixture(scope="session")
def sim() -> Iterator[SimServer]:
    """One local exchange for the whole test session (seed 7, background flow on)."""
    server = start_sim(seed=7, flow=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sim_factory() -> Iterator[Callable[..., SimServer]]:
    """Start exchanges with :func:`start_sim` arguments; all are stopped at teardown."""
    started: list[SimServer] = []

    def factory(**kwargs: Any) -> SimServer:
        server = start_sim(**kwargs)
        started.append(server)
        return server

    try:
        yield factory
    finally:
        for server in started:
            server.stop()
