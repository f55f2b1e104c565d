"""``make ui``: the local exchange and the dashboard against it; Ctrl-C stops both.

The exchange listens on 127.0.0.1:8700 when that port is free (the default ``PMT_SIM_URL``),
else on any free port; the dashboard on ``--port`` (default 8501). Both run as child processes in
their own process groups and are stopped (SIGTERM, then SIGKILL) however this script ends.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

import httpx

_SIM_PORT = 8700


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait(url: str, proc: subprocess.Popen[bytes], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode} before it was ready")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"{what} did not answer {url} within {timeout_s:.0f} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def main() -> int:
    """Start both, print where they are, and wait for Ctrl-C (or either to exit)."""
    parser = argparse.ArgumentParser(prog="make ui", description=__doc__)
    parser.add_argument("--port", type=int, default=8501, help="dashboard port")
    parser.add_argument("--seed", type=int, default=7, help="the exchange's seed")
    args = parser.parse_args()
    # SIGTERM (a supervisor, `timeout`) stops the children too, like Ctrl-C; and Ctrl-C works
    # even when a parent shell started us with SIGINT ignored (a background job).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sim_port = _SIM_PORT if _port_free(_SIM_PORT) else _free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    children: list[subprocess.Popen[bytes]] = []
    try:
        sim = subprocess.Popen(
            [
                *(sys.executable, "-m", "pmtrader.sim", "serve", "--host", "127.0.0.1"),
                *("--port", str(sim_port), "--seed", str(args.seed)),
            ],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
        )
        children.append(sim)
        _wait(f"{sim_url}/ok", sim, "the local exchange")
        env = {**os.environ, "PMT_ENV": "sim", "PMT_SIM_URL": sim_url}
        ui = subprocess.Popen(
            [sys.executable, "-m", "pmtrader.ui.launch", "--env", "sim", "--port", str(args.port)],
            env=env,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
        )
        children.append(ui)
        dashboard = f"http://127.0.0.1:{args.port}"
        _wait(f"{dashboard}/_stcore/health", ui, "the dashboard")
        print(f"\nlocal exchange: {sim_url}\ndashboard:      {dashboard}\n(Ctrl-C stops both)")
        while all(c.poll() is None for c in children):
            time.sleep(0.5)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        # A second Ctrl-C (uv forwards one, the terminal sends one) must not cut the cleanup.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for child in reversed(children):
            _stop(child)


if __name__ == "__main__":
    sys.exit(main())
