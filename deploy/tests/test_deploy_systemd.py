"""The systemd units: verified by systemd itself, hardened, and dry-run unless told otherwise.

``systemd-analyze verify --root`` reads the units from a temporary root that holds the system's
own unit directory, the executables the units name and the engine's environment file, exactly
where ``scripts/install.sh`` puts them; it fails on a missing executable, and any warning it
prints (an unknown key, a value it cannot parse) fails the test too.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

UNITS = ("pmproxy.service", "pmengine.service")


def make_root(repo: Path, root: Path, *, with_drop_in: bool = True) -> Path:
    """Lay out the files the units refer to, as the install script does on a host."""
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(repo / "deploy/systemd" / unit, units / unit)
    if with_drop_in:
        shutil.copytree(repo / "deploy/systemd/pmengine.service.d", units / "pmengine.service.d")
    for service in ("pmproxy", "pmengine"):
        binary = root / "opt/pmt" / service / "bin" / service
        binary.parent.mkdir(parents=True)
        binary.write_text("#!/bin/sh\nexit 0\n")
        binary.chmod(0o755)
    (root / "etc/pmt").mkdir(parents=True)
    (root / "etc/pmt/pmengine.env").write_text("PMENGINE_LOG_LEVEL=info\n")
    return root


def verify(tool: str, root: Path, *units: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool, "verify", f"--root={root}", "--man=no", *units],
        capture_output=True,
        text=True,
        check=False,
    )


def read_unit(path: Path) -> configparser.RawConfigParser:
    # systemd keys repeat (SystemCallFilter=, Environment=); keep the last, as systemd would
    # for single-valued keys, and check list-valued ones on the raw text instead.
    parser = configparser.RawConfigParser(strict=False, delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]  # keys are case-sensitive in systemd
    parser.read_string(path.read_text())
    return parser


@pytest.fixture
def analyze(find_tool: Callable[[str], str]) -> str:
    return find_tool("systemd-analyze")


def test_both_units_and_the_drop_in_pass_systemd_analyze_verify(
    repo: Path, tmp_path: Path, analyze: str
) -> None:
    root = make_root(repo, tmp_path / "root")

    result = verify(analyze, root, *UNITS)

    assert result.returncode == 0, result.stderr
    assert result.stderr == "", f"systemd complained:\n{result.stderr}"
    assert result.stdout == ""


def test_verify_really_checks_the_executable_and_every_key(
    repo: Path, tmp_path: Path, analyze: str
) -> None:
    root = make_root(repo, tmp_path / "root")
    (root / "opt/pmt/pmproxy/bin/pmproxy").unlink()
    missing = verify(analyze, root, "pmproxy.service")
    assert missing.returncode != 0
    assert "/opt/pmt/pmproxy/bin/pmproxy" in missing.stderr

    unit = root / "etc/systemd/system/pmengine.service"
    unit.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSystem=strictest"))
    typo = verify(analyze, root, "pmengine.service")
    assert "strictest" in typo.stderr, "a bad value is reported, so an empty stderr means clean"


@pytest.mark.parametrize("unit", UNITS)
def test_hardening_exposure_stays_low(repo: Path, tmp_path: Path, analyze: str, unit: str) -> None:
    root = make_root(repo, tmp_path / "root")
    result = subprocess.run(
        # --threshold is ten times the exposure figure: fail above 2.0 ("OK" is below 5).
        [analyze, "security", "--offline=yes", f"--root={root}", "--threshold=20", unit],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert f"Overall exposure level for {unit}" in result.stdout


@pytest.mark.parametrize("unit", UNITS)
def test_units_run_as_pmt_from_the_venv_and_restart_on_failure(repo: Path, unit: str) -> None:
    service = read_unit(repo / "deploy/systemd" / unit)["Service"]
    raw = (repo / "deploy/systemd" / unit).read_text()

    assert service["User"] == "pmt"
    assert service["Group"] == "pmt"
    assert service["ExecStart"].startswith(f"/opt/pmt/{unit.removesuffix('.service')}/bin/")
    assert service["Restart"] == "on-failure"
    assert read_unit(repo / "deploy/systemd" / unit)["Unit"]["StartLimitBurst"] == "5"
    for setting in (
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    ):
        assert f"\n{setting}\n" in raw, setting
    assert "\nCapabilityBoundingSet=\n" in raw, "an empty bounding set drops every capability"


def test_pmproxy_listens_on_loopback_8080_only(repo: Path) -> None:
    service = read_unit(repo / "deploy/systemd/pmproxy.service")["Service"]
    assert service["ExecStart"].split()[1:] == ["--host", "127.0.0.1", "--port", "8080"]


def test_pmengine_is_dry_run_with_a_private_state_dir_and_env_file(repo: Path) -> None:
    raw = (repo / "deploy/systemd/pmengine.service").read_text()
    service = read_unit(repo / "deploy/systemd/pmengine.service")["Service"]

    assert "\nEnvironment=PMT_ENGINE_MODE=--dry-run\n" in raw
    exec_start = service["ExecStart"].split()
    assert exec_start[1] == "$PMT_ENGINE_MODE", "the safety flag comes first, before any drop-in"
    assert exec_start[2:4] == ["--state-dir", "/var/lib/pmengine"]
    assert service["ReadWritePaths"] == "/var/lib/pmengine"
    assert service["StateDirectory"] == "pmengine"
    # No "-" prefix: a host without its env file must fail loudly, not trade on defaults.
    assert service["EnvironmentFile"] == "/etc/pmt/pmengine.env"


def test_enabling_a_strategy_is_one_line_in_a_drop_in(repo: Path) -> None:
    drop_in = repo / "deploy/systemd/pmengine.service.d/spread-watcher.conf"
    settings = [
        line
        for line in drop_in.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert settings[0] == "[Service]"
    assert len(settings) == 2
    assert settings[1].startswith('Environment="PMT_ENGINE_ARGS=--spread-watcher')
    assert "PMT_ENGINE_MODE" not in drop_in.read_text(), "a strategy drop-in stays in dry-run"
