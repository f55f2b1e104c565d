"""``make ui``: the dashboard (against the local exchange once it exists)."""

from __future__ import annotations

import subprocess
import sys

if __name__ == "__main__":
    sys.exit(subprocess.call(["pmtrader-ui", "--env", "sim"]))
