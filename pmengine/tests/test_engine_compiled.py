"""The mypyc-compiled wheel: it builds, it is really compiled, and the spec tests pass on it.

Builds the sdist, then the wheel from it with the mypyc hook on (never in place, so the editable
install stays interpreted), unpacks it, and runs the focused test modules in a subprocess whose
``PYTHONPATH`` puts the compiled package first.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest
from pmengine._build import COMPILED_MODULES
from pmtrader.testing import build_compiled

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
FOCUSED = (
    "test_engine_risk.py",
    "test_engine_order.py",
    "test_engine_position.py",
    "test_engine_dryrun.py",
)


@pytest.fixture(scope="module")
def compiled_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_compiled(ROOT / "pmengine", tmp_path_factory.mktemp("wheel"))


def _env(site: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(site),
        "PMENGINE_RISK_EXAMPLES": "300",
        "PMENGINE_DRYRUN_EXAMPLES": "100",
    }


@pytest.mark.slow
def test_the_wheel_holds_compiled_hot_path_modules(compiled_site: Path) -> None:
    built = {p.name.split(".")[0] for p in (compiled_site / "pmengine").glob("*.so")}
    assert set(COMPILED_MODULES) <= built
    assert {"units", "book", "order", "position", "risk", "core", "dryrun", "replay"} <= built
    # The dry-run venue the replay and the dry-run gateway call is the extension, not the source.
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import pmengine.dryrun, pmengine.gateway as g;"
            "print(pmengine.dryrun.__file__); print(type(g.DryRunGateway(dict().get, cash=0,"
            " clock=int).venue).__module__)",
        ],
        capture_output=True,
        text=True,
        env=_env(compiled_site),
        check=True,
    )
    venue_file, venue_module = where.stdout.split()
    assert venue_file.endswith(tuple(EXTENSION_SUFFIXES))
    assert Path(venue_file).parent == compiled_site / "pmengine"
    assert venue_module == "pmengine.dryrun"
    # Orders, requests and dry-run orders hold no references that could close a cycle, and the
    # compiled build keeps them out of the cycle collector (mypyc's acyclic classes).
    tracked = subprocess.run(
        [
            sys.executable,
            "-c",
            "import gc\n"
            "from pmengine.order import Order, OrderRequest\n"
            "from pmengine.dryrun import DryOrder\n"
            "print(gc.is_tracked(Order('h', 'i', strategy='s', token_id='t', side=0, price=1,"
            " size=1, created_ms=0)), gc.is_tracked(OrderRequest('s', 'i', token_id='t', side=0,"
            " price=1, size=1)), gc.is_tracked(DryOrder('h', 't', 0, 1, 1)))",
        ],
        capture_output=True,
        text=True,
        env=_env(compiled_site),
        check=True,
    )
    assert tracked.stdout.split() == ["False", "False", "False"]
    out = subprocess.run(
        [sys.executable, "-c", "from pmengine.cli import main; main()", "--version"],
        capture_output=True,
        text=True,
        env=_env(compiled_site),
        check=True,
    )
    assert out.stdout.strip().endswith("(compiled)")


@pytest.mark.slow
def test_spec_tests_pass_against_the_compiled_build(compiled_site: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            *(str(HERE / name) for name in FOCUSED),
        ],
        capture_output=True,
        text=True,
        env=_env(compiled_site),
        cwd=ROOT,
        timeout=170,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert " passed" in out.stdout
