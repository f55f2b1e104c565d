"""The built-in strategies; importing this package registers them.

* ``sure_bets``: buy the near-certain outcome of markets about to end, hold to resolution.
* ``rewards_maker``: two-sided quotes inside the liquidity-rewards band, skewed by inventory.
* ``spread_watcher``: quote inside a spread only while it is wide.
"""

from pmstrat.strategies.rewards_maker import rewards_maker
from pmstrat.strategies.spread_watcher import spread_watcher
from pmstrat.strategies.sure_bets import sure_bets

__all__ = ["rewards_maker", "spread_watcher", "sure_bets"]
