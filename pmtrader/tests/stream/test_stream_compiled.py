"""The mypyc-compiled wheel: the release build of the websocket book path, really compiled,
passing the book, wire and stream spec tests.

Builds the sdist, then the wheel from it with the mypyc hook on (never in place, so the
editable install stays interpreted), unpacks it, and runs the focused test modules in a
subprocess whose ``PYTHONPATH`` puts the unpacked wheel first. The wheel holds all of pmtrader,
so every ``pmtrader`` module in that subprocess comes from the wheel, never half from the
editable source tree; each test checks that before trusting a result.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest
from pmtrader._build import COMPILED_MODULES, build_kind
from pmtrader.testing import build_compiled

from pmtrader import __version__

ROOT = Path(__file__).resolve().parents[3]
TESTS = Path(__file__).resolve().parents[1]
# The unit and property tests of the book path; the server-based stream tests stay out (they
# exercise the network code, which is plain Python in both builds).
FOCUSED = (
    "stream/test_stream_book.py",
    "stream/test_stream_book_hash.py",
    "stream/test_stream_book_wire.py",
    "stream/test_stream_book_wire_diff.py",
    "stream/test_stream_wire.py",
)
# Printed by the subprocess before anything else: where each module came from.
WHERE = (
    "import pmtrader, pmtrader.wire, pmtrader.ws_market\n"
    "from pmtrader._build import COMPILED_MODULES, build_kind\n"
    "import importlib\n"
    "for name in COMPILED_MODULES:\n"
    "    print(importlib.import_module('pmtrader.' + name).__file__)\n"
    "print(pmtrader.__file__); print(pmtrader.wire.__file__); print(pmtrader.ws_market.__file__)\n"
    "print(build_kind())\n"
)


@pytest.fixture(scope="module")
def compiled_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_compiled(ROOT / "pmtrader", tmp_path_factory.mktemp("wheel"))


def _env(site: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(site)}


def test_the_dev_install_runs_the_interpreted_build() -> None:
    assert build_kind() == "interpreted"
    assert set(COMPILED_MODULES) == {"_wire_units", "_book_wire", "book"}


@pytest.mark.slow
def test_the_wheel_holds_the_book_path_compiled(compiled_site: Path) -> None:
    package = compiled_site / "pmtrader"
    built = {p.name.split(".")[0] for p in package.iterdir() if p.name.endswith(".so")}
    assert built >= set(COMPILED_MODULES)
    # The rest of the package ships as source, so the wheel is all of pmtrader.
    assert (package / "wire.py").is_file()
    assert (package / "ws_market.py").is_file()
    where = subprocess.run(
        [sys.executable, "-c", WHERE],
        capture_output=True,
        text=True,
        env=_env(compiled_site),
        cwd=compiled_site.parent,
        check=True,
    ).stdout.split()
    *modules, init, wire, ws_market, kind = where
    assert all(path.endswith(tuple(EXTENSION_SUFFIXES)) for path in modules), modules
    assert {Path(path).parent for path in (*modules, init, wire, ws_market)} == {package}
    assert kind == "compiled"
    out = subprocess.run(
        [sys.executable, "-c", "from pmtrader.cli import main; main()", "--version"],
        capture_output=True,
        text=True,
        env=_env(compiled_site),
        check=True,
    )
    assert out.stdout.strip() == f"pmtrader {__version__} (compiled)"


@pytest.mark.slow
def test_book_path_spec_tests_pass_against_the_compiled_build(compiled_site: Path) -> None:
    # pytest runs in the interpreter that first says where pmtrader's book path came from, so
    # the test run itself (not only a separate interpreter) is shown to use the compiled modules.
    run_tests = (
        "import sys, pytest\n"
        "from pmtrader._build import build_kind\n"
        "import pmtrader.book\n"
        "print('pmtrader build:', build_kind(), 'from', pmtrader.book.__file__, flush=True)\n"
        "sys.exit(pytest.main(sys.argv[1:]))\n"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            run_tests,
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            *(str(TESTS / name) for name in FOCUSED),
        ],
        capture_output=True,
        text=True,
        env=_env(compiled_site),
        cwd=ROOT,
        timeout=170,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    _, _, kind, _, book_file = out.stdout.splitlines()[0].split()
    assert kind == "compiled"
    assert Path(book_file).parent == compiled_site / "pmtrader"
    assert book_file.endswith(tuple(EXTENSION_SUFFIXES))
    assert " passed" in out.stdout
