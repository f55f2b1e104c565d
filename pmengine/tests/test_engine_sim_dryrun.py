"""Dry-run against the local exchange: real market data, and not one mutating request.

The engine's REST traffic goes through a recording loopback forwarder (every method and path is
logged, then passed to the real exchange unchanged); the market websocket goes to the exchange
directly. The engine runs ``rewards_maker`` and ``sure_bets``, which want to trade.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from pmtrader.testing import SimServer

PMENGINE = [sys.executable, "-c", "from pmengine.cli import main; main()"]


class Recorder(http.server.ThreadingHTTPServer):
    """Forwards every request to ``upstream`` and remembers ``(method, path)``."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Forward)
        self.upstream = upstream
        self.seen: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Forward(http.server.BaseHTTPRequestHandler):
    server: Recorder

    def _forward(self) -> None:
        with self.server.lock:
            self.server.seen.append((self.command, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
        }
        resp = httpx.request(
            self.command,
            self.server.upstream + self.path,
            content=body,
            headers=headers,
            timeout=10,
        )
        self.send_response(resp.status_code)
        for key in ("content-type",):
            if key in resp.headers:
                self.send_header(key, resp.headers[key])
        self.send_header("Content-Length", str(len(resp.content)))
        self.end_headers()
        self.wfile.write(resp.content)

    # http.server dispatches on these names.
    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _forward  # noqa: N815 - stdlib's names

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def recorder(sim: SimServer) -> Iterator[Recorder]:
    server = Recorder(sim.url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _wait(cond: Callable[[], bool], within: float) -> None:
    deadline = time.monotonic() + within
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _counts(state: Path) -> tuple[int, int]:
    if not (state / "journal.sqlite3").exists():
        return 0, 0
    db = sqlite3.connect(state / "journal.sqlite3")
    try:
        orders = db.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
        fills = db.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
    except sqlite3.OperationalError:
        return 0, 0
    finally:
        db.close()
    return int(orders), int(fills)


@pytest.mark.slow
def test_dry_run_trades_on_live_books_without_one_mutating_request(
    sim: SimServer, recorder: Recorder, tmp_path: Path
) -> None:
    items = httpx.get(sim.gamma_url + "/markets", params={"limit": 30}, timeout=10).json()
    slugs = [m["slug"] for m in items if m.get("acceptingOrders")][:3]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMENGINE_", "PM_"))}
    env.update(
        PMENGINE_CLOB_URL=recorder.url,
        PMENGINE_WS_URL=sim.ws_url,
        PMENGINE_TICK_INTERVAL_MS="200",
        # A key in the environment must not even be read in dry-run.
        PMENGINE_PRIVATE_KEY="not-a-key-and-never-read",
    )
    log_path = tmp_path / "engine.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                *PMENGINE,
                "--dry-run",
                "--env",
                "sim",
                "--state-dir",
                str(tmp_path / "state"),
                "--markets",
                ",".join(slugs),
                "--strategy",
                "rewards_maker",
                "--strategy",
                "sure_bets",
                "--param",
                "min_price=0.5",
                "--param",
                "max_hours_to_end=2000",
                "--param",
                "min_depth=0",
                "--param",
                "max_spread_ticks=50",
            ],
            stdout=log,
            stderr=log,
            env=env,
            text=True,
        )
    try:
        _wait(lambda: _counts(tmp_path / "state")[0] >= 3, within=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, log_path.read_text()[-3000:]
    methods = {m for m, _ in recorder.seen}
    assert recorder.seen, "the engine made no REST request at all (market lookup expected)"
    assert methods == {"GET"}, recorder.seen
    assert not any(
        p.startswith(("/order", "/orders", "/cancel", "/auth", "/v1/heartbeats"))
        for _, p in recorder.seen
    )
    events = [
        json.loads(x)["event"] for x in log_path.read_text().splitlines() if x.startswith("{")
    ]
    assert "feed.connected" in events
