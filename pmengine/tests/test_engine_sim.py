"""The engine as a real process against the local exchange (real server on loopback).

``sure_bets`` takes liquidity with FAK orders and ``rewards_maker`` rests post-only quotes and
requotes (cancel + replace) as the books move; both trade through the pmtrader SDK. Then the
reliability cases: SIGKILL at seeded random moments and restart (positions, open orders and
fills must agree with the exchange exactly), and submits whose responses are dropped (never two
orders for one intent).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from pmengine.units import BUY, amount_to_int, notional_ceil, notional_floor, price_to_int
from pmproxy.testing import dead_port, free_port
from pmtrader.client import Client
from pmtrader.config import Secret, Settings
from pmtrader.models.clob import Trade
from pmtrader.sim.admission import fee_amount
from pmtrader.sim.catalogue import FeeParams
from pmtrader.testing import SimServer, new_wallet

PMENGINE = [sys.executable, "-c", "from pmengine.cli import main; main()"]
PMPROXY = [sys.executable, "-c", "from pmproxy.cli import main; main()"]
PARAMS = [
    "--param",
    "min_price=0.5",
    "--param",
    "max_price=0.99",
    "--param",
    "max_hours_to_end=2000",
    "--param",
    "min_depth=0",
    "--param",
    "max_spread_ticks=50",
    "--param",
    "size=10",
    "--param",
    "max_position=30",
]


def _markets(sim: SimServer) -> list[str]:
    items = httpx.get(sim.gamma_url + "/markets", params={"limit": 50}, timeout=10).json()
    open_ = [m for m in items if m.get("acceptingOrders")]
    dear = [m["slug"] for m in open_ if 0.55 < float(m.get("bestAsk") or 0) < 0.97][:1]
    other = [m["slug"] for m in open_ if m["slug"] not in dear][:1]
    return dear + other


class EngineProc:
    """One ``pmengine`` process with its own wallet and state directory."""

    def __init__(
        self,
        sim: SimServer,
        state: Path,
        key: str,
        strategies: list[str],
        *,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
    ) -> None:
        self.sim = sim
        self.extra_env = env or {}
        self.extra_args = args or []
        self.state = state
        self.key = key
        self.strategies = strategies
        self.proc: subprocess.Popen[str] | None = None
        self.logs: list[str] = []
        self.runs = 0
        self.log_path = state.parent / f"{state.name}-run0.log"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PMENGINE_", "PM_"))}
        env.update(
            PMENGINE_PRIVATE_KEY=self.key,
            PMENGINE_CLOB_URL=self.sim.url,
            PMENGINE_WS_URL=self.sim.ws_url,
            PMENGINE_TICK_INTERVAL_MS="200",
        )
        env.update(self.extra_env)
        args = [
            "--env",
            "sim",
            "--state-dir",
            str(self.state),
            "--markets",
            ",".join(_markets(self.sim)),
        ]
        for s in self.strategies:
            args += ["--strategy", s]
        args += self.extra_args
        self.runs += 1
        self.log_path = self.state.parent / f"{self.state.name}-run{self.runs}.log"
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [*PMENGINE, *args, *PARAMS], stdout=log, stderr=log, text=True, env=env
            )

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=20)
        self.logs.append(self.log_path.read_text())
        return code

    def lines(self) -> list[str]:
        """What the running engine has logged so far."""
        return self.log_path.read_text().splitlines()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def _orders(state: Path) -> list[dict[str, object]]:
    db = sqlite3.connect(state / "journal.sqlite3")
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM orders ORDER BY created_ms")]
    except sqlite3.OperationalError:  # the engine is still creating its schema
        return []
    finally:
        db.close()


def _events(state: Path, event: str | None) -> list[tuple[str, int, str, str]]:
    db = sqlite3.connect(state / "journal.sqlite3")
    try:
        rows = db.execute("SELECT order_hash, ts_ms, event, detail FROM order_events").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()
    return [r for r in rows if event is None or r[2] == event]


def _positions(state: Path) -> dict[str, int]:
    db = sqlite3.connect(state / "journal.sqlite3")
    out = {str(t): int(q) for t, q in db.execute("SELECT token_id, qty FROM positions")}
    db.close()
    return out


def _client(sim: SimServer, key: str) -> Client:
    client = Client(Settings.for_sim(sim.url, private_key=Secret(key)))
    client.account.create_or_derive_api_key(use=True)
    return client


def _venue_positions(client: Client, tokens: list[str]) -> dict[str, int]:
    return {t: int(client.account.get_balance_allowance("CONDITIONAL", t).balance) for t in tokens}


def _balance(client: Client) -> int:
    return int(client.account.get_balance_allowance("COLLATERAL").balance)


def _venue_fees(client: Client, trades: list[Trade], hashes: set[str]) -> dict[str, int]:
    """Each of our fills' fee as the exchange's own code computes it (``sim.admission``)."""
    out: dict[str, int] = {}
    for trade in trades:
        fd = client.markets.get_fee_details(trade.asset_id)
        params = FeeParams(fd.rate, fd.exponent, fd.taker_only)
        if trade.taker_order_id in hashes:
            size, price = amount_to_int(trade.size), price_to_int(trade.price)
            out[f"{trade.id}:{trade.taker_order_id}"] = fee_amount(params, size, price)
        for m in trade.maker_orders:
            if m.order_id in hashes:
                size, price = amount_to_int(m.matched_amount), price_to_int(m.price)
                fee = 0 if fd.taker_only else fee_amount(params, size, price)
                out[f"{trade.id}:{m.order_id}"] = fee
    return out


def _wait(cond: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


class ProxyProc:
    """A real ``pmproxy`` process in front of the local exchange (its own process group)."""

    def __init__(self, sim: SimServer, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log_path.open("w")
        self.proc = subprocess.Popen(
            [
                *PMPROXY,
                "--live",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--clob-url",
                sim.url,
                "--gamma-url",
                sim.gamma_url,
                "--data-url",
                sim.url + "/data-api",
                "--chain-url",
                sim.url + "/chain",
                "--ws-url",
                sim.ws_url,
            ],
            stdout=self._log,
            stderr=self._log,
            text=True,
            start_new_session=True,
        )
        _wait(self._healthy, within=30, what="pmproxy /health")

    def _healthy(self) -> bool:
        assert self.proc.poll() is None, "pmproxy exited on start"
        try:
            return httpx.get(self.url + "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def requests(self, route: str) -> int:
        """Requests the proxy answered on ``route`` with a 2xx status (from its ``/metrics``)."""
        total = 0
        for line in httpx.get(self.url + "/metrics", timeout=5).text.splitlines():
            ours = line.startswith("pmproxy_requests_total{") and f'route="{route}"' in line
            if ours and 'status="2' in line:
                total += int(float(line.rsplit(" ", 1)[1]))
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture
def funded(sim_factory: Callable[..., SimServer], tmp_path: Path) -> tuple[SimServer, str]:
    sim = sim_factory(seed=11, flow=True)
    wallet = new_wallet()
    sim.fund(wallet.address, "1000")
    return sim, "0x" + wallet.key.hex().removeprefix("0x")


@pytest.mark.slow
def test_live_engine_trades_requotes_fills_and_obeys_the_kill_switch(
    funded: tuple[SimServer, str], tmp_path: Path
) -> None:
    sim, key = funded
    client = _client(sim, key)
    start_balance = _balance(client)
    engine = EngineProc(sim, tmp_path, key, ["sure_bets", "rewards_maker"])
    engine.start()
    try:
        _wait(
            lambda: (
                any(o["state"] == "FILLED" for o in _orders(tmp_path))
                and sum(
                    o["strategy"] == "rewards_maker" and o["state"] == "CANCELLED"
                    for o in _orders(tmp_path)
                )
                >= 1
                and len(client.orders.get_open_orders()) >= 1
            ),
            within=90,
            what="fills, a requote and resting quotes",
        )
        # Kill switch from the command line: HALTED, and the venue holds nothing within 1 s.
        killed = subprocess.run(
            [*PMENGINE, "kill", "--state-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "HALTED" in killed.stdout
        _wait(lambda: client.orders.get_open_orders() == [], within=5, what="cancel-all")
        time.sleep(1.0)
        assert client.orders.get_open_orders() == []  # and nothing new was placed
    finally:
        assert engine.stop() == 0, engine.logs[-1][-3000:]
    try:
        orders = _orders(tmp_path)
        assert {o["strategy"] for o in orders} == {"sure_bets", "rewards_maker"}
        assert all(o["state"] in ("FILLED", "CANCELLED", "REJECTED") for o in orders)
        assert client.orders.get_open_orders() == []
        # What the journal holds is what the venue holds.
        mine = _positions(tmp_path)
        assert mine
        assert _venue_positions(client, list(mine)) == mine
        end_balance = _balance(client)
        venue_fees = _venue_fees(
            client, client.orders.get_trades(), {str(o["order_hash"]) for o in orders}
        )
    finally:
        client.close()
    # Money: every fill's fee is the one the exchange charged, and the engine's cash moved by
    # exactly what the wallet's pUSD balance moved, to the base unit.
    db = sqlite3.connect(tmp_path / "journal.sqlite3")
    try:
        fills = db.execute("SELECT fill_id, side, price, size, fee FROM fills").fetchall()
        (position_fees,) = db.execute("SELECT SUM(fees) FROM positions").fetchone()
        (cash,) = db.execute("SELECT value FROM meta WHERE key = 'cash'").fetchone()
    finally:
        db.close()
    assert {str(f): int(fee) for f, _, _, _, fee in fills} == venue_fees
    assert sum(venue_fees.values()) > 0, "no fee-paying fill: the fee path went untested"
    assert position_fees == sum(venue_fees.values())
    moved = sum(
        -notional_ceil(p, s) - fee if side == BUY else notional_floor(p, s) - fee
        for _, side, p, s, fee in fills
    )
    assert moved == end_balance - start_balance
    assert int(cash) - start_balance == end_balance - start_balance
    lines = [json.loads(x) for x in engine.logs[-1].splitlines() if x.startswith("{")]
    events = [x["event"] for x in lines]
    assert events.index("engine.reconciled") < events.index("engine.halted")
    halted = next(x for x in lines if x["event"] == "engine.halted")
    assert halted["source"] == "file"
    # From the kill file appearing to HALTED, and from HALTED to the venue's cancel-all answer.
    kill_file_ms = (tmp_path / "KILL").stat().st_mtime * 1000
    halted_ms = datetime.fromisoformat(halted["timestamp"]).timestamp() * 1000
    assert halted_ms - kill_file_ms < 1000
    cancel = next(x for x in lines if x["event"] == "engine.cancel_all")
    assert cancel["after_kill_ms"] < 1000
    assert cancel["cancelled"] >= 1


@pytest.mark.slow
def test_sigkill_at_random_points_then_restart_agrees_with_the_exchange(
    funded: tuple[SimServer, str], tmp_path: Path
) -> None:
    sim, key = funded
    rng = random.Random(20261129)
    engine = EngineProc(sim, tmp_path, key, ["sure_bets", "rewards_maker"])
    for _ in range(3):
        engine.start()
        time.sleep(rng.uniform(4.0, 8.0))
        assert engine.alive(), "the engine died on its own"
        engine.stop(signal.SIGKILL)
    engine.start()  # reconciliation refuses to start on any unexplained difference
    _wait(lambda: any('"engine.reconciled"' in x for x in engine.lines()), 60, "reconcile")
    time.sleep(2)
    assert engine.stop() == 0, engine.logs[-1][-3000:]

    client = _client(sim, key)
    try:
        assert client.orders.get_open_orders() == []
        mine = _positions(tmp_path)
        assert _venue_positions(client, list(mine)) == mine
        trades = client.orders.get_trades()
    finally:
        client.close()
    orders = _orders(tmp_path)
    working_per_intent: dict[str, int] = {}
    for o in orders:
        if o["state"] not in ("FILLED", "CANCELLED", "REJECTED", "EXPIRED"):
            working_per_intent[str(o["intent_id"])] = (
                working_per_intent.get(str(o["intent_id"]), 0) + 1
            )
    assert all(n <= 1 for n in working_per_intent.values())
    # Every trade the venue reports for this wallet is in the journal, once.
    db = sqlite3.connect(tmp_path / "journal.sqlite3")
    journal_fills = {str(f) for (f,) in db.execute("SELECT fill_id FROM fills")}
    db.close()
    hashes = {str(o["order_hash"]) for o in orders}
    venue_fills = set()
    for trade in trades:
        if trade.taker_order_id in hashes:
            venue_fills.add(f"{trade.id}:{trade.taker_order_id}")
        venue_fills.update(
            f"{trade.id}:{m.order_id}" for m in trade.maker_orders if m.order_id in hashes
        )
    assert venue_fills == journal_fills


@pytest.mark.slow
def test_dropped_submit_responses_never_make_two_orders_for_one_intent(
    funded: tuple[SimServer, str], tmp_path: Path
) -> None:
    sim, key = funded
    engine = EngineProc(sim, tmp_path, key, ["rewards_maker"])
    engine.start()
    try:
        _wait(
            lambda: (tmp_path / "journal.sqlite3").exists() and len(_orders(tmp_path)) >= 2,
            within=60,
            what="first quotes",
        )
        sim.fault(drop_order_responses=4)
        _wait(
            lambda: bool(_events(tmp_path, "ambiguous")),
            within=60,
            what="ambiguous submits",
        )
        time.sleep(3)
        with _client(sim, key) as client:
            live = client.orders.get_open_orders()
    finally:
        assert engine.stop() == 0, engine.logs[-1][-3000:]
    orders = {str(o["order_hash"]): o for o in _orders(tmp_path)}
    ambiguous = {h for h, _, _, _ in _events(tmp_path, "ambiguous")}
    assert ambiguous
    # Each ambiguous order was resolved by asking the venue by hash (and, if it had never
    # arrived, resending the same signed bytes): none is left hanging, none was signed again.
    answered = {h for h, _, e, _ in _events(tmp_path, None) if e in ("venue", "resent")}
    assert ambiguous <= answered
    assert all(orders[h]["state"] != "UNKNOWN" for h in ambiguous)
    # The venue never holds an order the journal did not sign, nor two for one intent.
    assert {o.id for o in live} <= set(orders)
    intents = [orders[o.id]["intent_id"] for o in live]
    assert len(intents) == len(set(intents))
    with _client(sim, key) as client:
        assert client.orders.get_open_orders() == []


@pytest.mark.slow
def test_live_engine_through_pmproxy_places_orders_there_and_reconciles_its_fills(
    funded: tuple[SimServer, str], tmp_path: Path
) -> None:
    sim, key = funded
    proxy = ProxyProc(sim, tmp_path / "pmproxy.log")
    (tmp_path / "state").mkdir()
    client = _client(sim, key)
    try:
        start_balance = _balance(client)
        # The direct CLOB address refuses connections: every REST call, order posts included,
        # can only reach the exchange through the proxy (the market feed too goes through it).
        engine = EngineProc(
            sim,
            tmp_path / "state",
            key,
            ["sure_bets", "rewards_maker"],
            env={
                "PMPROXY_URL": proxy.url,
                "PMENGINE_CLOB_URL": f"http://127.0.0.1:{dead_port()}",
                "PMENGINE_WS_URL": proxy.url.replace("http://", "ws://") + "/ws",
            },
        )
        before = proxy.requests("clob")
        engine.start()
        try:
            _wait(
                lambda: (
                    any(o["state"] == "FILLED" for o in _orders(engine.state))
                    and len(client.orders.get_open_orders()) >= 1
                ),
                within=90,
                what="fills and resting quotes through the proxy",
            )
            resting = {o.id for o in client.orders.get_open_orders()}
        finally:
            assert engine.stop() == 0, engine.logs[-1][-3000:]
        assert proxy.requests("clob") > before
        orders = _orders(engine.state)
        hashes = {str(o["order_hash"]) for o in orders}
        # What rested at the exchange was signed by this engine, which could only post it via
        # the proxy; after SIGTERM's cancel-all nothing is left.
        assert resting
        assert resting <= hashes
        assert client.orders.get_open_orders() == []
        mine = _positions(engine.state)
        assert mine
        assert _venue_positions(client, list(mine)) == mine
        trades = client.orders.get_trades()
        venue_fees = _venue_fees(client, trades, hashes)
        end_balance = _balance(client)
    finally:
        client.close()
        proxy.stop()
    db = sqlite3.connect(engine.state / "journal.sqlite3")
    try:
        fills = {str(f): int(fee) for f, fee in db.execute("SELECT fill_id, fee FROM fills")}
        (cash,) = db.execute("SELECT value FROM meta WHERE key = 'cash'").fetchone()
    finally:
        db.close()
    assert fills == venue_fees  # every fill the venue reports, once, with its fee
    assert int(cash) == end_balance
    assert end_balance != start_balance


#: Journal states of an order the engine still believes may rest at the venue.
WORKING = ("SIGNED", "SUBMITTED", "UNKNOWN", "LIVE", "PARTIALLY_FILLED")


def _heartbeats_sent(metrics_url: str) -> int:
    try:
        text = httpx.get(metrics_url, timeout=2).text
    except httpx.HTTPError:
        return 0
    for line in text.splitlines():
        if line.startswith("pmengine_heartbeats_total "):
            return int(float(line.split()[1]))
    return 0


@pytest.mark.slow
def test_a_frozen_engine_stops_heartbeating_and_the_exchange_cancels_its_quotes(
    funded: tuple[SimServer, str], tmp_path: Path
) -> None:
    sim, key = funded
    port = free_port()
    metrics_url = f"http://127.0.0.1:{port}/metrics"
    engine = EngineProc(sim, tmp_path, key, ["rewards_maker"], args=["--metrics-port", str(port)])
    engine.start()
    client = _client(sim, key)
    try:
        # Healthy: quotes rest and heartbeats flow (the first one arms the dead-man switch).
        _wait(
            lambda: (
                _heartbeats_sent(metrics_url) >= 1 and len(client.orders.get_open_orders()) >= 1
            ),
            within=40,
            what="resting quotes and a heartbeat",
        )
        assert engine.proc is not None
        engine.proc.send_signal(signal.SIGSTOP)  # frozen: no heartbeat, no cancel, nothing
        try:
            frozen_at = time.monotonic()
            resting = {o.id for o in client.orders.get_open_orders()}
            assert resting
            # The exchange cancels them 10 s after the last heartbeat (sent at most ~5 s ago).
            _wait(lambda: client.orders.get_open_orders() == [], 16, "the dead-man switch")
            assert time.monotonic() - frozen_at < 16
            # The engine did not cancel them: it still counts them as working.
            working = {str(o["order_hash"]) for o in _orders(tmp_path) if o["state"] in WORKING}
            assert resting <= working
            statuses = {client.orders.get_order(h).status.upper() for h in resting}
            assert statuses <= {"CANCELED", "CANCELLED", "MATCHED"}
        finally:
            engine.proc.send_signal(signal.SIGCONT)
    finally:
        client.close()
        assert engine.stop() == 0, engine.logs[-1][-3000:]


@pytest.mark.slow
def test_a_stale_feed_stops_heartbeats_and_the_exchange_cancels_the_quotes(
    funded: tuple[SimServer, str], tmp_path: Path
) -> None:
    sim, key = funded
    # The market feed comes through a pmproxy (REST goes straight to the exchange), so killing
    # the proxy, with the REST book fallback failing too, leaves the engine running but stale.
    proxy = ProxyProc(sim, tmp_path / "pmproxy.log")
    (tmp_path / "state").mkdir()
    port = free_port()
    metrics_url = f"http://127.0.0.1:{port}/metrics"
    engine = EngineProc(
        sim,
        tmp_path / "state",
        key,
        ["rewards_maker"],
        env={"PMENGINE_WS_URL": proxy.url.replace("http://", "ws://") + "/ws"},
        args=["--metrics-port", str(port)],
    )
    engine.start()
    client = _client(sim, key)
    try:
        _wait(
            lambda: (
                _heartbeats_sent(metrics_url) >= 1 and len(client.orders.get_open_orders()) >= 1
            ),
            within=40,
            what="resting quotes and a heartbeat",
        )
        sim.fault(rest_fail_rate=1.0, rest_fail_status=503, paths=["/book"])
        proxy.stop()
        _wait(lambda: any('"feed.stale"' in x for x in engine.lines()), 15, "a stale feed")
        resting = {o.id for o in client.orders.get_open_orders()}
        assert resting
        sent_when_stale = _heartbeats_sent(metrics_url)
        _wait(lambda: client.orders.get_open_orders() == [], 16, "the dead-man switch")
        assert engine.alive()
        # Nothing was sent while stale, and the quotes went by the exchange's hand, not the
        # engine's: what its journal still counts working, the exchange has cancelled.
        assert _heartbeats_sent(metrics_url) == sent_when_stale
        working = {str(o["order_hash"]) for o in _orders(engine.state) if o["state"] in WORKING}
        assert working
        statuses = {client.orders.get_order(h).status.upper() for h in working}
        assert statuses <= {"CANCELED", "CANCELLED"}
    finally:
        client.close()
        proxy.stop()
        sim.fault(reset=True)
        assert engine.stop() == 0, engine.logs[-1][-3000:]
