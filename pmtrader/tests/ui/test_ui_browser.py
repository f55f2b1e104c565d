"""The dashboard in a real browser: the local exchange and ``pmtrader-ui`` as real processes on
loopback, driven headless with Playwright and the system Chromium.

A trader's first minutes: the catalogue is listed, a market opens with its depth chart, an order
goes through the ticket (preview, confirm) and is cancelled again, each checked on the exchange
through its REST API. A screenshot of every page lands in ``artifacts/ui/``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright
from pmtrader.testing import SimServer, new_wallet

from pmtrader import Client, Secret, Settings

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[3] / "artifacts" / "ui"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _engine_state(state_dir: Path, token: str) -> None:
    """A small journal written by pmengine itself, so the Engine page has something to show."""
    from pmengine.journal import FillRecord, Journal
    from pmengine.position import Portfolio

    t0 = int(time.time() * 1000) - 3_600_000
    with Journal.in_dir(state_dir) as journal:
        journal.set_strategy_status("spread_watcher", "running", "max_width=0.04", t0)
        portfolio = Portfolio()
        for n in range(12):
            side, price = (0, 4200 + 50 * n) if n % 3 else (1, 4500 + 60 * n)
            fill = FillRecord(f"f{n}", f"o{n}", token, side, price, 20_000_000, 0, t0 + n * 300_000)
            journal.record_fill(fill, None, portfolio)
            journal.note_signal(t0 + n * 300_000, "spread_watcher", {"side": side, "px": price})
        journal.note_denial(t0 + 1_000, "spread_watcher", "i-7", token, "max_position")
        journal.flush()


@contextlib.contextmanager
def _dashboard(sim: SimServer, key: str, log: Path) -> Iterator[str]:
    port = _free_port()
    state_dir = log.parent / "engine-state"
    _engine_state(state_dir, "1" * 70)
    env = {
        **os.environ,
        "PMENGINE_STATE_DIR": str(state_dir),
        "PMT_ENV": "sim",
        "PMT_SIM_URL": sim.url,
        "PM_PRIVATE_KEY": key,
        "PYTHONUNBUFFERED": "1",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pmtrader.ui.launch", "--env", "sim", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, log.read_text()
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                        break
                assert time.monotonic() < deadline, "the dashboard did not start in 60 s"
                time.sleep(0.1)
            yield url
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(500)  # let plotly finish its transition
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def _settled(page: Page) -> None:
    # Streamlit shows a "running" status widget while the script runs.
    page.wait_for_load_state("networkidle")
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=30_000)


def test_a_trader_lists_opens_trades_and_cancels_in_a_browser(
    sim_factory: Callable[..., SimServer], tmp_path: Path
) -> None:
    sim = sim_factory(seed=7, flow=True)
    wallet = new_wallet()
    sim.fund(wallet.address, 1000)
    catalogue = sim.http.get("/gamma/markets", params={"limit": 1000}).json()
    top = max(catalogue, key=lambda m: m["volume24hr"])
    with (
        _dashboard(sim, wallet.key.hex(), tmp_path / "ui.log") as url,
        sync_playwright() as pw,
        Client(Settings.for_sim(sim.url, private_key=Secret(wallet.key.hex()))) as client,
    ):
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        try:
            page.goto(url)
            expect(page.get_by_role("heading", name="Markets")).to_be_visible(timeout=60_000)
            # The catalogue's busiest market is listed: the grid (drawn on a canvas) mirrors its
            # cells in an accessible table, which is what a screen reader and this test read.
            expect(
                page.get_by_role("gridcell", name=top["question"], include_hidden=True)
            ).to_be_attached(timeout=30_000)
            _settled(page)
            _shot(page, "markets")

            # Click through: tick the first row of the grid (drawn on a canvas, so by position:
            # the selection column, one header row down).
            grid = page.get_by_test_id("stDataFrame").bounding_box()
            assert grid is not None
            page.mouse.click(grid["x"] + 15, grid["y"] + 35 + 17)
            expect(page.get_by_role("heading", name=top["question"])).to_be_visible(timeout=30_000)
            expect(page.locator(".js-plotly-plot").get_by_text("Depth: Yes")).to_be_visible(
                timeout=30_000
            )
            assert f"market={top['slug']}" in page.url
            _settled(page)
            _shot(page, "market")

            page.get_by_label("Price (limit; worst price for market)").fill("0.02")
            page.get_by_label("Size (shares; pUSD for a market BUY)").fill("12")
            page.get_by_role("button", name="Preview order").click()
            expect(page.get_by_text("BUY 12 Yes @ 0.02")).to_be_visible(timeout=30_000)
            token = top["clobTokenIds"]
            yes = client.gamma.get_market_by_slug(top["slug"]).clob_token_ids[0]
            assert yes in token
            client.account.create_or_derive_api_key()
            assert client.orders.get_open_orders(asset_id=yes) == []  # a preview sends nothing
            _shot(page, "ticket-preview")

            page.get_by_role("button", name="Confirm and send").click()
            expect(page.get_by_text("LIVE").first).to_be_visible(timeout=30_000)
            (order,) = client.orders.get_open_orders(asset_id=yes)
            assert (order.price, order.original_size, order.side) == (
                Decimal("0.02"),
                Decimal(12),
                "BUY",
            )
            book = sim.http.get("/book", params={"token_id": yes}).json()
            assert any(
                Decimal(lv["price"]) == Decimal("0.02") and Decimal(lv["size"]) >= 12
                for lv in book["bids"]
            )

            page.get_by_role("button", name="Cancel", exact=True).click()
            deadline = time.monotonic() + 30
            while client.orders.get_open_orders(asset_id=yes):
                assert time.monotonic() < deadline, "the order was not cancelled"
                time.sleep(0.2)
            assert client.orders.get_order(order.id).status.startswith("CANCEL")

            for name, heading in [
                ("portfolio", "Portfolio"),
                ("scanner", "Scanner"),
                ("engine", "Engine"),
                ("rewards", "Liquidity rewards"),
            ]:
                page.goto(f"{url}/{name}")
                expect(page.get_by_role("heading", name=heading)).to_be_visible(timeout=60_000)
                _settled(page)
                if name == "rewards":
                    page.get_by_role("button", name="Estimate").click()
                    expect(page.get_by_text("expected pUSD / day")).to_be_visible(timeout=30_000)
                    _settled(page)
                _shot(page, name)
                # The configured key never reaches a page.
                assert wallet.key.hex().removeprefix("0x") not in page.content()
        finally:
            browser.close()
    assert wallet.key.hex().removeprefix("0x") not in (tmp_path / "ui.log").read_text()
