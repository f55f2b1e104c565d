"""``make demo``: the whole pmt stack, offline, against the local exchange.

Until the local exchange and the engine land, this shows the installed commands.
"""

from __future__ import annotations

import subprocess
import sys


def main() -> int:
    for command in ("pmtrader", "pmproxy", "pmengine", "pmstrat"):
        subprocess.run([command, "--version"], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
