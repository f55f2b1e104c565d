"""One quiet exchange (background flow off) shared by the server tests, and a pool of its markets.

Starting a server costs seconds of imports, so the tests of a module share one; each test takes
its own markets from the pool so that no test sees another's orders on its books. One exchange
per module, not per session: the whole folder takes more markets than one catalogue holds.
Tests that change the exchange as a whole (resolving, restarting) start their own with
``sim_factory``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pmtrader.testing import MarketPool, SimServer, start_sim


@pytest.fixture(scope="module")
def quiet_sim() -> Iterator[SimServer]:
    """A server with no background flow: books hold only what tests put there."""
    with start_sim(seed=11, flow=False) as sim:
        yield sim


@pytest.fixture(scope="module")
def market_pool(quiet_sim: SimServer) -> MarketPool:
    """Markets of ``quiet_sim`` for tests to take one by one."""
    return MarketPool(quiet_sim)
