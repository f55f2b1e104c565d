"""Fixtures shared by the deployment tests: the repository, free ports, a throwaway TLS pair.

Every tool here is the real one (systemd-analyze, nginx, shellcheck, openssl, uv); the
Debian ones come from ``scripts/system-deps.sh``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """Return a loopback TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tool(name: str) -> str:
    """Find a Debian tool on PATH or in /usr/sbin (nginx lives there)."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        pytest.fail(
            f"{name} is not installed: run `bash scripts/system-deps.sh` (or `make system`)"
        )
    return found


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def new_port() -> Callable[[], int]:
    """Hand out free loopback ports."""
    return free_port


@pytest.fixture(scope="session")
def find_tool() -> Callable[[str], str]:
    """Locate a required system tool, failing with the install command when it is missing."""
    return tool


@pytest.fixture(scope="session")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for ``pmt.test`` and 127.0.0.1, and its key."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "fullchain.pem", directory / "privkey.pem"
    subprocess.run(
        [
            tool("openssl"),
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=pmt.test",
            "-addext",
            "subjectAltName=DNS:pmt.test,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key
