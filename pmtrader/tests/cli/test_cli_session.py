"""``pmtrader trade`` as a person uses it: a real pseudo-terminal, typed keys, read screen."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pexpect
from pmtrader.testing import SimServer

from .conftest import Cli


def _bids(sim: SimServer, token: str) -> list[tuple[Decimal, Decimal]]:
    book = sim.http.get("/book", params={"token_id": token}).json()
    return sorted((Decimal(lvl["price"]), Decimal(lvl["size"])) for lvl in book["bids"])


def test_trade_session_searches_places_and_cancels_through_a_pty(
    cli: Cli, take_market: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    market = take_market()
    slug, yes = market["market_slug"], market["tokens"][0]["token_id"]
    env = {
        **cli.env,
        "PATH": "/usr/bin:/bin",
        "TERM": "xterm-256color",
        "COLUMNS": "160",
        "PROMPT_TOOLKIT_NO_CPR": "1",
    }
    child = pexpect.spawn(
        sys.executable,
        ["-m", "pmtrader.cli", "trade"],
        env=env,
        encoding="utf-8",
        dimensions=(50, 160),
        timeout=30,
    )
    try:
        child.expect("type `help` for commands")
        child.expect(r"pmt \(no market\)>")
        child.send(f"search {max(slug.split('-'), key=len)}\r")
        child.expect(slug)
        # Tab completes a slug typed by its first letters.
        child.expect(r"pmt \(no market\)>")
        child.send(f"use {slug[:-4]}\t")
        child.expect(re.escape(slug[-4:]))  # the completion filled in the rest
        child.send("\r")
        child.expect(re.escape(market["question"][:30]))
        child.expect(rf"pmt \({re.escape(slug)}\)>")
        child.send("buy yes 0.37 11\r")
        child.expect("Send this order\\?")
        child.send("y\r")
        child.expect(r"Order live(?:\x1b\[[0-9;]*m)*: (0x[0-9a-f]{64})")
        order_id = child.match.group(1)
        assert _bids(cli.sim, yes) == [(Decimal("0.37"), Decimal("11"))]
        child.send("orders\r")
        child.expect(order_id[:20])
        child.send("buy yes 0.375 11\r")
        child.expect("try 0.37 or 0.38")
        child.send(f"cancel {order_id}\r")
        child.expect(r"Canceled 1 order\(s\)")
        assert _bids(cli.sim, yes) == []
        child.send("positions\r")
        child.expect("No positions")
        child.send("quit\r")
        child.expect("bye")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    history = Path(cli.env["XDG_CONFIG_HOME"]) / "pmt" / "trade_history"
    assert f"cancel {order_id}" in history.read_text()
