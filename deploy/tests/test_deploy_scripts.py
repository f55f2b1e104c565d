"""The shell scripts: shellcheck-clean, strict, and wired into the CodeDeploy appspec."""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no stubs; only safe_load is used

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(
    {*REPO.glob("scripts/*.sh"), *REPO.glob("deploy/*.sh"), *REPO.glob("deploy/*/*.sh")}
)
SOURCED = {"scripts/deploy-lib.sh"}
HOOKS = {
    "ApplicationStop": "scripts/stop.sh",
    "AfterInstall": "scripts/install.sh",
    "ApplicationStart": "scripts/start.sh",
    "ValidateService": "scripts/validate.sh",
}


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_every_script_passes_shellcheck(find_tool: Callable[[str], str]) -> None:
    assert {"scripts/install.sh", "scripts/ssh-connect.sh", "deploy/lambda/build.sh"} <= {
        rel(path) for path in SCRIPTS
    }
    result = subprocess.run(
        [find_tool("shellcheck"), "--external-sources", *map(rel, SCRIPTS)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def test_shellcheck_is_really_looking(find_tool: Callable[[str], str], tmp_path: Path) -> None:
    sloppy = tmp_path / "sloppy.sh"
    sloppy.write_text("#!/usr/bin/env bash\nset -euo pipefail\nrm -rf $1/opt\n")
    result = subprocess.run(
        [find_tool("shellcheck"), str(sloppy)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "SC2086" in result.stdout


DEPLOY_SCRIPTS = [
    REPO / name
    for name in (
        "scripts/install.sh",
        "scripts/start.sh",
        "scripts/stop.sh",
        "scripts/validate.sh",
        "scripts/deploy-lib.sh",
        "scripts/ssh-connect.sh",
        "deploy/bundle.sh",
        "deploy/nginx/render.sh",
        "deploy/lambda/build.sh",
    )
]


@pytest.mark.parametrize("script", DEPLOY_SCRIPTS, ids=rel)
def test_deploy_scripts_are_strict_and_executable(script: Path) -> None:
    text = script.read_text()
    if rel(script) in SOURCED:
        assert text.startswith("# shellcheck shell=bash"), "a sourced library names its shell"
        return
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    assert os.access(script, os.X_OK), f"{rel(script)} is not executable"


def test_appspec_hooks_point_at_scripts_that_exist() -> None:
    spec: dict[str, Any] = yaml.safe_load((REPO / "appspec.yml").read_text())
    assert spec["version"] == 0.0
    assert spec["os"] == "linux"
    hooks = {
        event: [entry["location"] for entry in entries] for event, entries in spec["hooks"].items()
    }
    assert hooks == {event: [script] for event, script in HOOKS.items()}
    for entries in spec["hooks"].values():
        for entry in entries:
            script = REPO / entry["location"]
            assert script.is_file()
            assert os.access(script, os.X_OK)
            assert entry["runas"] == "root"
            assert 0 < entry["timeout"] <= 3600, "CodeDeploy's limit per hook is an hour"


def test_bundle_refuses_to_mix_into_a_used_directory(tmp_path: Path) -> None:
    out = tmp_path / "revision"
    out.mkdir()
    (out / "left-over").write_text("x")
    result = subprocess.run(
        [str(REPO / "deploy/bundle.sh"), str(out), str(REPO / "appspec.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "not empty" in result.stderr


# --- ssh-connect.sh -------------------------------------------------------------------------


def ssh_connect(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / "scripts/ssh-connect.sh"), *args],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "pmt host.pem"
    path.write_text("not a real key; ssh is never run in these tests\n")
    path.chmod(0o600)
    return path


def test_ssh_connect_builds_the_command_from_the_environment(key: Path) -> None:
    result = ssh_connect(
        "sudo",
        "systemctl",
        "status",
        "pmengine",
        PMT_SSH_HOST="pmt.example.org",
        PMT_SSH_KEY=str(key),
        PMT_SSH_PORT="2222",
        PMT_SSH_DRY_RUN="1",
    )
    assert result.returncode == 0, result.stderr
    words = shlex.split(result.stdout)
    assert words[0] == "ssh"
    assert words[words.index("-i") + 1] == str(key)
    assert words[words.index("-p") + 1] == "2222"
    assert "IdentitiesOnly=yes" in words
    assert "StrictHostKeyChecking=accept-new" in words
    assert words[-5:] == ["ec2-user@pmt.example.org", "sudo", "systemctl", "status", "pmengine"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "PMT_SSH_HOST is not set"),
        ({"PMT_SSH_HOST": "pmt.example.org"}, "PMT_SSH_KEY is not set"),
        ({"PMT_SSH_HOST": "-oProxyCommand=x", "PMT_SSH_KEY": "{key}"}, "host name or an IP"),
        ({"PMT_SSH_HOST": "h", "PMT_SSH_KEY": "{key}", "PMT_SSH_PORT": "0"}, "port number"),
        ({"PMT_SSH_HOST": "h", "PMT_SSH_KEY": "/nonexistent/key.pem"}, "no such file"),
    ],
)
def test_ssh_connect_says_what_is_missing(key: Path, env: dict[str, str], message: str) -> None:
    filled = {name: value.replace("{key}", str(key)) for name, value in env.items()}
    result = ssh_connect(**filled, PMT_SSH_DRY_RUN="1")
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_ssh_connect_refuses_a_key_others_can_read(key: Path) -> None:
    key.chmod(0o644)
    result = ssh_connect(PMT_SSH_HOST="h", PMT_SSH_KEY=str(key), PMT_SSH_DRY_RUN="1")
    assert result.returncode == 2
    assert "chmod 600" in result.stderr


def test_no_host_address_or_key_is_committed() -> None:
    files = [
        REPO / "appspec.yml",
        *(REPO / "scripts").glob("*.sh"),
        *(path for path in (REPO / "deploy").rglob("*") if path.is_file()),
        *(REPO / ".github").rglob("*.yml"),
    ]
    assert REPO / "scripts/ssh-connect.sh" in files
    for path in files:
        if "__pycache__" in path.parts:
            continue
        name = rel(path)
        text = path.read_text(errors="replace")
        assert "PRIVATE KEY" + "-" * 5 not in text, f"{name} holds a key"  # split: not itself
        for literal in re.findall(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])", text):
            address = ipaddress.ip_address(literal)
            # Loopback, "any", and the documentation ranges (RFC 5737) only.
            assert (
                address.is_loopback
                or address.is_unspecified
                or address in ipaddress.ip_network("203.0.113.0/24")
            ), f"{name} names the address {literal}"
