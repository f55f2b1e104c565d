"""Workspace-wide pytest setup.

The four packages are imported before collection: pytest's importlib mode names a test module
``pmtrader.tests.test_x`` and would otherwise put a placeholder module in ``sys.modules`` under
the real package's name.
"""

import pmengine
import pmproxy
import pmstrat
import pmtrader

pytest_plugins = ["pmtrader.testing"]

__all__ = ["pmengine", "pmproxy", "pmstrat", "pmtrader"]
