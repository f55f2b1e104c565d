"""``scan`` against a lively exchange (background traders on): ranked, consistent rows."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pmtrader.testing import SimServer

from .conftest import Cli


def test_scan_expiring_ranks_by_return_per_day(sim: SimServer, tmp_path: Path) -> None:
    cli = Cli(sim, tmp_path)
    rows = cli.json(
        "scan", "expiring", "--within", "30d", "--min-price", "0.9", "--min-liquidity", "500"
    )
    assert rows
    per_day = [Decimal(r["return_per_day"]) for r in rows]
    assert per_day == sorted(per_day, reverse=True)
    for r in rows:
        ask = Decimal(r["ask"])
        assert ask >= Decimal("0.9")
        assert Decimal(r["days_to_end"]) <= 30
        assert Decimal(r["return_to_payout"]) == ((1 - ask) / ask).quantize(Decimal("0.000001"))
        assert {"spread", "depth_behind", "gap", "ask_size", "slug", "outcome"} <= r.keys()
    table = cli("scan", "expiring", "--within", "30d", "--min-price", "0.9").stdout
    assert rows[0]["slug"][:20] in table
    assert "per day" in table
    none = cli("scan", "expiring", "--within", "1h", "--min-price", "0.999").stdout
    assert "No outcome at 0.999+" in none


def test_scan_cliffs_reports_moves_at_least_the_threshold(sim: SimServer, tmp_path: Path) -> None:
    cli = Cli(sim, tmp_path)
    rows = cli.json("scan", "cliffs", "--window", "1d", "--move", "0.01", "--limit", "50")
    assert rows
    moves = [abs(Decimal(r["move"])) for r in rows]
    assert moves == sorted(moves, reverse=True)
    assert all(m >= Decimal("0.01") for m in moves)
    for r in rows:
        assert Decimal(r["price_to"]) - Decimal(r["price_from"]) == Decimal(r["move"])
        assert r["to_ts"] - r["from_ts"] <= 86_400
    assert "moved 0.9" in cli("scan", "cliffs", "--window", "1h", "--move", "0.9").stdout
    assert "Cannot read the duration" in cli("scan", "cliffs", "--window", "soon", code=1).stderr
