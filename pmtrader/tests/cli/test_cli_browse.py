"""Browsing: markets, one market, books, prices and history, for people and for scripts."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from pmtrader.testing import SimServer

from pmtrader import __version__

from .conftest import Cli


def test_markets_json_has_the_stable_shape_and_filters_by_words(cli: Cli) -> None:
    rows = cli.json("markets", "bitcoin", "--limit", "50")
    assert rows
    assert all("bitcoin" in (r["question"] + r["slug"]).lower() for r in rows)
    for row in rows:
        assert {"slug", "question", "condition_id", "outcomes"} <= row.keys()
        assert [o["name"] for o in row["outcomes"]] == ["Yes", "No"]
        assert all(o["token_id"].isdigit() and Decimal(o["price"]) >= 0 for o in row["outcomes"])
    volumes = [Decimal(r["volume"]) for r in rows]
    assert volumes == sorted(volumes, reverse=True)


def test_markets_sort_limit_tag_and_table(cli: Cli) -> None:
    ends = [r["end_date"] for r in cli.json("markets", "--sort", "end", "--limit", "5")]
    assert len(ends) == 5
    assert ends == sorted(ends)
    crypto = cli.json("markets", "--tag", "crypto", "--limit", "100")
    assert crypto
    assert len(crypto) < len(cli.json("markets", "--limit", "100"))
    assert "No tag 'nope'" in cli("markets", "--tag", "nope", code=1).stderr
    table = cli("markets", "--limit", "3").stdout
    assert "3 markets" in table
    assert "volume" in table
    assert cli.json("markets", "--closed") == []


def test_market_shows_tokens_tick_minimum_neg_risk_rewards_and_rules(
    cli: Cli, take_market: Callable[..., dict[str, Any]]
) -> None:
    market = take_market(tick="0.001", neg_risk=None)
    slug = market["market_slug"]
    data = cli.json("market", slug)
    assert data["condition_id"] == market["condition_id"]
    assert data["tick_size"] == "0.001"
    assert Decimal(data["min_order_size"]) == Decimal(str(market["minimum_order_size"]))
    assert data["description"]
    assert [o["token_id"] for o in data["outcomes"]] == [t["token_id"] for t in market["tokens"]]
    # by condition id and by URL too
    assert cli.json("market", market["condition_id"])["slug"] == slug
    assert cli.json("market", f"https://polymarket.com/event/x/{slug}")["slug"] == slug
    text = cli("market", slug).stdout
    assert "tick size" in text
    assert "Rules" in text
    assert "neg-risk" in text


def test_book_json_and_ladder_follow_the_exchange(
    cli: Cli, take_market: Callable[..., dict[str, Any]]
) -> None:
    market = take_market()
    slug = market["market_slug"]
    for price, size in (("0.40", "10"), ("0.41", "5")):
        cli("buy", slug, "-o", "yes", "--price", price, "--size", size, "-y")
    cli("buy", slug, "-o", "no", "--price", "0.45", "--size", "7", "-y")  # YES ask at 0.55
    book = cli.json("book", slug, "--outcome", "YES")
    assert (book["slug"], book["outcome"]) == (slug, "Yes")
    assert book["token_id"] == market["tokens"][0]["token_id"]
    assert book["bids"] == [{"price": "0.41", "size": "5"}, {"price": "0.4", "size": "10"}]
    assert book["asks"] == [{"price": "0.55", "size": "7"}]
    assert (book["spread"], book["mid"]) == ("0.14", "0.48")
    ladder = cli("book", slug, "--depth", "1").stdout
    assert "0.41" in ladder
    assert "0.4 " not in ladder  # depth 1 shows only the best level
    assert "spread 0.14" in ladder
    prices = cli.json("price", slug)
    assert [(r["outcome"], r["bid"], r["ask"]) for r in prices["outcomes"]] == [
        ("Yes", "0.41", "0.55"),
        ("No", "0.45", "0.59"),
    ]


def test_book_watch_draws_from_the_websocket(
    cli: Cli, take_market: Callable[..., dict[str, Any]]
) -> None:
    market = take_market()
    slug = market["market_slug"]
    cli("buy", slug, "-o", "yes", "--price", "0.33", "--size", "6", "-y")
    out = cli("book", slug, "--watch", "--for", "1.5").stdout
    assert "0.33" in out
    assert "live" in out
    assert "updates" in out
    # The feed goes silent mid-watch while its connection stays open: the ladder says so.
    timer = threading.Timer(1.0, lambda: cli.sim.fault(ws_drop=True))
    timer.start()
    try:
        silent = cli("book", slug, "--watch", "--for", "3", "--stale-after", "0.6").stdout
    finally:
        timer.join()
        cli.sim.fault(ws_drop=False)
    assert "feed was stale at" in silent


def test_history_sparkline_json_and_png(
    cli: Cli, take_market: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    slug = take_market()["market_slug"]
    data = cli.json("history", slug, "--interval", "1d")
    assert data["points"]
    assert all(0 <= Decimal(p["p"]) <= 1 for p in data["points"])
    png = tmp_path / "chart.png"
    text = cli("history", slug, "--png", str(png)).stdout
    assert any(ch in text for ch in "▁▂▃▄▅▆▇█")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "interval must be one of" in cli("history", slug, "--interval", "2y", code=1).stderr


def test_unknown_slug_suggests_the_nearest(
    cli: Cli, take_market: Callable[..., dict[str, Any]]
) -> None:
    slug = take_market()["market_slug"]
    err = cli("book", slug.replace("-", "_", 1), code=1).stderr.replace("\n", "")
    assert f"Did you mean: {slug}" in err
    assert "Traceback" not in err


def test_version_help_and_usage_errors(cli: Cli) -> None:
    assert cli("--version").stdout.strip() == f"pmtrader {__version__} (interpreted)"
    top = cli("--help").stdout
    for command in ("markets", "book", "buy", "cancel", "positions", "trade", "scan", "sim"):
        assert command in top
    buy = cli("buy", "--help").stdout
    assert "--dry-run" in buy
    assert "--amount" in buy
    assert cli("buy", "some-slug", code=2).exit_code == 2  # --outcome missing
    assert cli("markets", "--sort", "bogus", code=2).exit_code == 2
    assert cli("--env", "staging", "markets", code=2).exit_code == 2


def test_real_subprocess_with_global_env_flag_and_proxy_error(
    quiet_sim: SimServer, tmp_path: Path
) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PMT_SIM_URL": quiet_sim.url,
        "XDG_CONFIG_HOME": str(tmp_path),
        "COLUMNS": "160",
    }
    cmd = [sys.executable, "-m", "pmtrader.cli"]
    done = subprocess.run(
        [*cmd, "--env", "sim", "--json", "markets", "--limit", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.lstrip().startswith("[")
    down = subprocess.run(
        [*cmd, "--env", "sim", "--proxy", "http://127.0.0.1:9", "markets"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert down.returncode == 1
    assert "Could not reach the venue" in down.stderr
    assert "Traceback" not in down.stderr
