"""``pmengine record``: the market channel to Parquet in pmstrat's format, rotated, replayable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from pmengine.events import BookSnapshot, FeedStale, LevelChange, TradePrint
from pmengine.recorder import Recorder
from pmstrat.recording import BOOK, CLEAR, TRADE, read_parquet
from pmtrader.testing import SimServer

from pmstrat import MarketInfo

U = 1_000_000
MARKET = MarketInfo("0xc1", ("Y1", "N1"), slug="m1")


def test_rotation_starts_each_file_with_full_books(tmp_path: Path) -> None:
    now = [10_000]
    rec = Recorder([MARKET], tmp_path, rotate_ms=60_000, clock=lambda: now[0])
    rec.record(BookSnapshot("Y1", [(4_800, 10 * U)], [(5_200, 20 * U)], 10_000))
    rec.record(LevelChange("Y1", 0, 4_900, 5 * U, 10_500))
    rec.record(TradePrint("Y1", 5_200, 3 * U, 0, 10_600))
    rec.record(BookSnapshot("ZZ", [(1, 1)], [], 10_700))  # not one of the markets: ignored
    now[0] = 61_000  # a new minute: rotate
    rec.record(LevelChange("Y1", 1, 5_200, 0, 61_000))
    rec.record(FeedStale(("Y1", "N1"), "test"))
    rec.flush()
    first, second = sorted(tmp_path.glob("*.parquet"))
    a, b = read_parquet(first), read_parquet(second)
    assert [int(k) for k in a.kind] == [CLEAR, BOOK, BOOK, BOOK, TRADE]
    # The second file replays on its own: it opens with the book as it stood.
    assert [int(k) for k in b.kind[:4]] == [CLEAR, BOOK, BOOK, BOOK]
    assert sorted(int(p) for p in b.price[1:4]) == [4_800, 4_900, 5_200]
    assert [m.slug for m in b.markets] == ["m1"]
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.slow
def test_record_command_writes_a_readable_recording(sim: SimServer, tmp_path: Path) -> None:
    items = httpx.get(sim.gamma_url + "/markets", params={"limit": 5}, timeout=10).json()
    slug = items[0]["slug"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMENGINE_", "PM_"))}
    env.update(PMENGINE_CLOB_URL=sim.url, PMENGINE_WS_URL=sim.ws_url)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pmengine.cli import main; main()",
            "record",
            "--env",
            "sim",
            "--markets",
            slug,
            "--out",
            str(tmp_path),
            "--duration-s",
            "3",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    (path,) = [Path(p) for p in out.stdout.split()]
    stream = read_parquet(path)
    assert len(stream) > 0
    assert int(stream.kind[0]) == CLEAR
    assert stream.markets[0].slug == slug
