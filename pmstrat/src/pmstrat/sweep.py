"""Parameter sweeps: a grid or a random search, run in parallel, ranked.

The work is split into chunks, each one dataset (a synthetic seed or a recording) and a slice
of the parameter sets; a worker keeps the dataset it last loaded, so it loads a market's data
once and replays it for every parameter set it is given. With forked local processes the parent
loads each dataset once before starting the workers, which then share it (copy-on-write), and
each chunk is a single parameter set, which balances the workers best.

Chunks run on all local cores in processes by default, or on a Ray cluster when a Ray address
is given (``ray`` is imported only then: it is the ``pmstrat[ray]`` extra). The same chunks
give the same rows in both, ranked the same way.
"""

from __future__ import annotations

import csv
import itertools
import multiprocessing
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from pmstrat.backtest import BacktestConfig, backtest
from pmstrat.dsl import ParamValue, Strategy, get_strategy
from pmstrat.errors import PmstratError, SweepError
from pmstrat.recording import EventStream, read_parquet
from pmstrat.synthetic import SyntheticConfig, generate

RANK_BY = ("pnl", "sharpe", "hit_rate", "rewards", "spread_capture")


class SyntheticData(msgspec.Struct, frozen=True):
    """A synthetic stream, regenerated identically from its seed in each worker."""

    config: SyntheticConfig
    seed: int

    @property
    def label(self) -> str:
        """How the dataset appears in result rows."""
        return f"synthetic:{self.seed}"

    def load(self) -> EventStream:
        """Generate the stream."""
        return generate(self.config, seed=self.seed)


class ParquetData(msgspec.Struct, frozen=True):
    """A recording on a path every worker can read."""

    path: str

    @property
    def label(self) -> str:
        """How the dataset appears in result rows."""
        return Path(self.path).name

    def load(self) -> EventStream:
        """Read the recording."""
        return read_parquet(self.path)


Dataset = SyntheticData | ParquetData


def grid(strategy: Strategy, axes: Mapping[str, Sequence[object]]) -> list[dict[str, ParamValue]]:
    """Every combination of the given values (checked against the strategy's parameters).

    Raises:
        ParameterError: an axis names no parameter or holds a bad value.
    """
    names = sorted(axes)
    checked = {name: [strategy.validate({name: v})[name] for v in axes[name]] for name in names}
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*checked.values())]


def grid_points(strategy: Strategy, names: Iterable[str], points: int) -> dict[str, list[object]]:
    """Axes of ``points`` evenly spaced values across each named parameter's declared range."""
    out: dict[str, list[object]] = {}
    for name in names:
        param = strategy.params.get(name)
        if param is None:
            raise SweepError(f"strategy {strategy.name!r} has no parameter {name!r}")
        out[name] = list(param.grid(points))
    return out


def random_search(
    strategy: Strategy, samples: int, *, seed: int = 0, names: Iterable[str] | None = None
) -> list[dict[str, ParamValue]]:
    """``samples`` parameter sets drawn uniformly from the declared ranges (seeded)."""
    rng = random.Random(seed)
    chosen = sorted(names) if names is not None else sorted(strategy.params)
    return [{n: strategy.params[n].sample(rng) for n in chosen} for _ in range(samples)]


class _Chunk(msgspec.Struct, frozen=True):
    strategy: str
    dataset: Dataset
    param_sets: tuple[tuple[int, dict[str, Any]], ...]
    config: BacktestConfig


_CACHE: dict[Dataset, EventStream] = {}
# Datasets the parent loaded before forking its workers: they inherit them, copy-on-write.
_PRELOADED: dict[Dataset, EventStream] = {}


def _load(dataset: Dataset) -> EventStream:
    # One dataset per worker at a time: keep the last one, replay it for every parameter set.
    stream = _PRELOADED.get(dataset) or _CACHE.get(dataset)
    if stream is None:
        _CACHE.clear()
        stream = dataset.load()
        _CACHE[dataset] = stream
    return stream


def run_chunk(chunk: _Chunk) -> tuple[list[dict[str, Any]], int, float]:
    """Run one chunk (in whatever worker): load its data once, backtest each parameter set.

    Returns:
        The rows, the worker's process id, and the CPU seconds the chunk took there.
    """
    started = time.process_time()
    defined = get_strategy(chunk.strategy)
    stream = _load(chunk.dataset)
    rows: list[dict[str, Any]] = []
    for index, params in chunk.param_sets:
        result = backtest(stream, defined.create(params), chunk.config)
        row: dict[str, Any] = {"run": index, "dataset": chunk.dataset.label}
        row.update({f"param.{k}": v for k, v in sorted(params.items())})
        summary = dict(result.summary())
        summary.pop("strategy", None)
        row.update(summary)
        rows.append(row)
    return rows, os.getpid(), time.process_time() - started


def _chunks(
    strategy: str,
    datasets: Sequence[Dataset],
    param_sets: Sequence[Mapping[str, Any]],
    config: BacktestConfig,
    per_chunk: int,
) -> list[_Chunk]:
    numbered = list(enumerate(dict(p) for p in param_sets))
    out = []
    for dataset in datasets:
        for start in range(0, len(numbered), per_chunk):
            part = tuple(numbered[start : start + per_chunk])
            out.append(_Chunk(strategy, dataset, part, config))
    return out


class SweepResult(msgspec.Struct):
    """The ranked rows of a sweep (best first) and how they were produced.

    Attributes:
        strategy: the strategy's name.
        rank_by: the column rows are ranked by (descending).
        rows: one row per (parameter set, dataset): parameters as ``param.NAME`` columns, then
            the backtest's summary (Decimal money, float ratios).
        backend: ``"processes"`` or ``"ray"``.
        workers: the parallelism used.
        cpu_by_worker: CPU seconds spent in each worker process (by pid), to see the balance.
    """

    strategy: str
    rank_by: str
    rows: list[dict[str, Any]]
    backend: str
    workers: int
    cpu_by_worker: dict[int, float] = msgspec.field(default_factory=dict)

    def columns(self) -> list[str]:
        """Column names in display order."""
        seen: dict[str, None] = {}
        for row in self.rows:
            for key in row:
                seen.setdefault(key, None)
        return list(seen)

    def to_csv(self, path: str | Path) -> Path:
        """Write the rows as CSV (decimals as exact strings)."""
        target = Path(path)
        cols = self.columns()
        with target.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=cols)
            writer.writeheader()
            for row in self.rows:
                writer.writerow({k: _plain(row.get(k)) for k in cols})
        return target

    def to_parquet(self, path: str | Path) -> Path:
        """Write the rows as Parquet (decimals as exact strings, so nothing is rounded)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        cols = self.columns()
        table = pa.table({c: [_plain(row.get(c)) for row in self.rows] for c in cols})
        target = Path(path)
        pq.write_table(table, target)
        return target


def _plain(value: object) -> object:
    return str(value) if isinstance(value, Decimal) else value


def _rank(rows: list[dict[str, Any]], rank_by: str) -> list[dict[str, Any]]:
    # Ties break on the run number, so every backend ranks identically.
    return sorted(rows, key=lambda r: (-float(r[rank_by]), r["run"], r["dataset"]))


def sweep(
    strategy: str,
    param_sets: Sequence[Mapping[str, Any]],
    datasets: Sequence[Dataset],
    *,
    config: BacktestConfig | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
    rank_by: str = "pnl",
    progress: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Backtest every parameter set on every dataset in parallel and rank the rows.

    Args:
        strategy: a registry name or ``module:attr`` importable in every worker.
        param_sets: the parameter overrides to try (see :func:`grid`, :func:`random_search`).
        datasets: the data each set runs on.
        config: the simulated venue.
        workers: processes to use (default: every local core); ignored with Ray.
        ray_address: run on this Ray cluster (``"local"`` starts one in-process).
        rank_by: the summary column to rank by, descending.
        progress: called with ``(chunks done, chunks total)``.

    Raises:
        SweepError: nothing to run, an unknown ranking column, Ray missing, or a worker failed.
    """
    if not param_sets or not datasets:
        raise SweepError("a sweep needs at least one parameter set and one dataset")
    if rank_by not in RANK_BY:
        raise SweepError(f"rank_by must be one of {', '.join(RANK_BY)}, not {rank_by!r}")
    defined = get_strategy(strategy)
    for params in param_sets:
        defined.validate(params)  # fail here, not in a worker
    config = config or BacktestConfig()
    cpu: dict[int, float] = {}
    if ray_address is not None:
        rows, used, backend = _run_ray(
            strategy,
            param_sets,
            datasets,
            config=config,
            address=ray_address,
            progress=progress,
            cpu=cpu,
        )
    else:
        used = max(1, workers or os.cpu_count() or 1)
        forked = multiprocessing.get_start_method() == "fork"
        per_chunk = 1 if forked else _per_chunk(param_sets, used)
        chunks = _chunks(strategy, datasets, param_sets, config, per_chunk)
        rows = _run_processes(chunks, used, progress, cpu)
        backend = "processes"
    return SweepResult(defined.name, rank_by, _rank(rows, rank_by), backend, used, cpu)


def _per_chunk(param_sets: Sequence[object], workers: int) -> int:
    # About four chunks per worker per dataset: small enough to balance the workers, while each
    # worker keeps the dataset it last loaded, so consecutive chunks do not load it again.
    return max(1, -(-len(param_sets) // (workers * 4)))


def _collect(
    out: tuple[list[dict[str, Any]], int, float],
    rows: list[dict[str, Any]],
    cpu: dict[int, float],
) -> None:
    chunk_rows, pid, seconds = out
    rows += chunk_rows
    cpu[pid] = cpu.get(pid, 0.0) + seconds


def _run_processes(
    chunks: list[_Chunk],
    workers: int,
    progress: Callable[[int, int], None] | None,
    cpu: dict[int, float],
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if workers == 1:
        for done, chunk in enumerate(chunks, 1):
            _collect(run_chunk(chunk), rows, cpu)
            if progress is not None:
                progress(done, len(chunks))
        return rows
    if multiprocessing.get_start_method() == "fork":
        # Load each dataset once, here; the forked workers share it instead of loading again.
        for chunk in chunks:
            if chunk.dataset not in _PRELOADED:
                _PRELOADED[chunk.dataset] = chunk.dataset.load()
    try:
        return _pool(chunks, workers, progress, cpu, rows)
    finally:
        _PRELOADED.clear()


def _pool(
    chunks: list[_Chunk],
    workers: int,
    progress: Callable[[int, int], None] | None,
    cpu: dict[int, float],
    rows: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_chunk, chunk) for chunk in chunks]
        for done, future in enumerate(as_completed(futures), 1):
            try:
                _collect(future.result(), rows, cpu)
            except PmstratError:
                raise
            except Exception as exc:
                raise SweepError(f"a sweep worker failed: {exc!r}") from exc
            if progress is not None:
                progress(done, len(chunks))
    return rows


def _run_ray(
    strategy: str,
    param_sets: Sequence[Mapping[str, Any]],
    datasets: Sequence[Dataset],
    *,
    config: BacktestConfig,
    address: str,
    progress: Callable[[int, int], None] | None,
    cpu: dict[int, float],
) -> tuple[list[dict[str, Any]], int, str]:
    try:
        import ray
    except ImportError as exc:
        raise SweepError(
            "Ray is not installed; install the extra: pip install 'pmstrat[ray]'"
        ) from exc
    started_here = not ray.is_initialized()
    if started_here:
        if address == "local":
            ray.init(include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    try:
        resources = ray.cluster_resources()  # type: ignore[no-untyped-call]  # ray leaves it unannotated
        workers = max(1, int(resources.get("CPU", 1)))
        chunks = _chunks(strategy, datasets, param_sets, config, _per_chunk(param_sets, workers))
        remote = ray.remote(run_chunk)
        pending = [remote.remote(chunk) for chunk in chunks]
        rows: list[dict[str, Any]] = []
        done = 0
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            _collect(ray.get(ready[0]), rows, cpu)
            done += 1
            if progress is not None:
                progress(done, len(chunks))
        return rows, workers, "ray"
    finally:
        if started_here:
            ray.shutdown()
