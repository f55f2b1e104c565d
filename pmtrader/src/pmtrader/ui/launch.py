"""Entry point of ``pmtrader-ui``: parse our own flags, then hand over to Streamlit."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pmtrader import __version__

_APP = Path(__file__).with_name("app.py")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pmtrader-ui",
        description="Open the pmtrader dashboard (Streamlit) in a browser.",
    )
    parser.add_argument("--version", action="version", version=f"pmtrader-ui {__version__}")
    parser.add_argument(
        "--env",
        choices=["prod", "sim"],
        default=None,
        help="prod: Polymarket (default); sim: the local exchange at PMT_SIM_URL.",
    )
    parser.add_argument("--port", type=int, default=8501, help="Port for the dashboard.")
    parser.add_argument(
        "--host", default="127.0.0.1", help="Address to listen on (default loopback)."
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    """Start the dashboard with Streamlit's own runner."""
    args = _parser().parse_args(argv)
    if args.env is not None:
        os.environ["PMT_ENV"] = args.env
    from streamlit.web import cli as stcli

    sys.argv = [
        "streamlit",
        "run",
        str(_APP),
        "--server.port",
        str(args.port),
        "--server.address",
        args.host,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
        # A bug the pages did not anticipate shows its type, never a traceback.
        "--client.showErrorDetails",
        "type",
        # An installed dashboard does not edit itself: no file watcher threads.
        "--server.fileWatcherType",
        "none",
    ]
    sys.exit(stcli.main())


if __name__ == "__main__":
    main()
