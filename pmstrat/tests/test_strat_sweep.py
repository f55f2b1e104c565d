"""Sweeps: grids and random search, ranked rows, files, and the same rows on every backend."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pmstrat.errors import ParameterError, SweepError
from pmstrat.sweep import SyntheticData, grid, grid_points, random_search, sweep
from pmstrat.synthetic import SyntheticConfig

from pmstrat import get_strategy

DATA = [SyntheticData(SyntheticConfig(markets=1, ticks=300), seed) for seed in (1, 2)]


def test_grid_and_random_search_respect_the_declared_parameters() -> None:
    maker = get_strategy("rewards_maker")
    sets = grid(maker, {"distance": ["50", 100], "skew": [0, 25, 50]})
    assert len(sets) == 6
    assert sets[0] == {"distance": 50, "skew": 0}
    assert grid_points(maker, ["size"], 3) == {
        "size": [Decimal("1"), Decimal("50000"), Decimal("100000")]
    }
    drawn = random_search(maker, 20, seed=4)
    assert drawn == random_search(maker, 20, seed=4)
    assert all(isinstance(s["distance"], int) and 0 <= s["distance"] <= 1000 for s in drawn)
    with pytest.raises(ParameterError, match="no parameter 'nope'"):
        grid(maker, {"nope": [1]})
    with pytest.raises(ParameterError, match="between 0 and 1000"):
        grid(maker, {"distance": [5000]})


def test_parallel_sweep_equals_the_serial_one_and_ranks_by_pnl(tmp_path: Path) -> None:
    sets = grid(get_strategy("spread_watcher"), {"min_spread_ticks": [2, 4, 6]})
    serial = sweep("spread_watcher", sets, DATA, workers=1)
    parallel = sweep("spread_watcher", sets, DATA, workers=2)
    assert parallel.rows == serial.rows
    assert len(serial.rows) == 6
    pnls = [row["pnl"] for row in serial.rows]
    assert pnls == sorted(pnls, reverse=True)
    assert {row["dataset"] for row in serial.rows} == {"synthetic:1", "synthetic:2"}
    assert parallel.cpu_by_worker
    assert all(v > 0 for v in parallel.cpu_by_worker.values())
    csv_path = serial.to_csv(tmp_path / "rows.csv")
    with csv_path.open() as handle:
        read = list(csv.DictReader(handle))
    assert [Decimal(r["pnl"]) for r in read] == pnls
    table = pq.read_table(serial.to_parquet(tmp_path / "rows.parquet"))
    assert [Decimal(v) for v in table.column("pnl").to_pylist()] == pnls


def test_bad_sweeps_are_refused_before_any_work() -> None:
    with pytest.raises(SweepError, match="at least one parameter set"):
        sweep("spread_watcher", [], DATA)
    with pytest.raises(SweepError, match="rank_by must be one of"):
        sweep("spread_watcher", [{}], DATA, rank_by="luck")
    with pytest.raises(ParameterError, match="between 2 and 200"):
        sweep("spread_watcher", [{"min_spread_ticks": 1}], DATA)


@pytest.mark.slow
def test_a_sweep_on_ray_equals_the_same_sweep_in_processes() -> None:
    import ray

    sets = grid(get_strategy("spread_watcher"), {"min_spread_ticks": [2, 5]})
    data = DATA[:1]
    in_processes = sweep("spread_watcher", sets, data, workers=2)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        on_ray = sweep("spread_watcher", sets, data, ray_address="local")
    finally:
        ray.shutdown()
    assert on_ray.backend == "ray"
    assert on_ray.workers == 2
    assert on_ray.rows == in_processes.rows
