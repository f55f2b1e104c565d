"""Fixtures for the dashboard tests: the environment that points ``pmtrader-ui`` at an exchange,
and Streamlit's ``AppTest`` runners for the whole app or one page.

Streamlit caches clients and data per process; the cache key includes the ``PM*`` environment,
so tests that point at different exchanges never share a client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pmtrader.ui
import pytest
from pmtrader.testing import SimServer
from pmtrader.ui import _data
from streamlit.testing.v1 import AppTest

APP = Path(pmtrader.ui.__file__).with_name("app.py")
#: Generous: the first run of a page imports plotly and talks to the exchange.
TIMEOUT_S = 60


@pytest.fixture
def sim_env(sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimServer]:
    """Point the dashboard at the shared exchange, with no key (as a new user would)."""
    monkeypatch.setenv("PMT_ENV", "sim")
    monkeypatch.setenv("PMT_SIM_URL", sim.url)
    for var in ("PM_PRIVATE_KEY", "PMPROXY_URL", "PM_API_KEY", "PM_API_SECRET"):
        monkeypatch.delenv(var, raising=False)
    yield sim
    _data.close_all()


def _page_script(name: str) -> None:
    import importlib

    importlib.import_module(f"pmtrader.ui.pages.{name}").render()


@pytest.fixture
def page(sim_env: SimServer) -> Callable[[str], AppTest]:
    """``page("markets")``: an ``AppTest`` of one page, not yet run."""

    def make(name: str) -> AppTest:
        return AppTest.from_function(_page_script, args=(name,), default_timeout=TIMEOUT_S)

    return make


@pytest.fixture
def app(sim_env: SimServer) -> AppTest:
    """The whole dashboard (navigation and sidebar), not yet run."""
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
