"""The Lambda package of pmproxy: built for each architecture, with the handler at its root.

The build downloads manylinux wheels from PyPI (or takes them from uv's cache). The handler's
behaviour (raw paths, headers, refusals) is pmproxy's own test (``pmproxy/tests/test_lambda.py``);
here the zip's layout is checked, and that the unpacked zip alone, with nothing from this
environment on the path, answers an API Gateway v2 event by forwarding to the local exchange.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from pmtrader.testing import SimServer

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CPU = {"x86_64": "x86_64", "arm64": "aarch64"}


def build(arch: str, out: Path) -> Path:
    result = subprocess.run(
        [str(REPO / "deploy/lambda/build.sh"), arch, str(out)],
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path.parent == out
    return path


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Build each architecture once per module."""
    done: dict[str, Path] = {}

    def get(arch: str) -> Path:
        if arch not in done:
            done[arch] = build(arch, tmp_path_factory.mktemp(f"lambda-{arch}"))
        return done[arch]

    return get


@pytest.fixture(params=["x86_64", "arm64"])
def package(request: pytest.FixtureRequest, builds: Callable[[str], Path]) -> Path:
    arch: str = request.param
    return builds(arch)


def test_zip_holds_pmproxy_and_its_dependencies_at_the_root(package: Path) -> None:
    names = zipfile.ZipFile(package).namelist()
    assert "pmproxy/lambda_handler.py" in names
    assert any(re.fullmatch(r"pmproxy-[^/]+\.dist-info/METADATA", name) for name in names), (
        "metadata kept: pmproxy reads its version from it"
    )
    for dependency in ("mangum", "fastapi", "starlette", "aiohttp", "structlog"):
        assert f"{dependency}/__init__.py" in names, dependency
    assert not [name for name in names if "__pycache__" in name or name.startswith("bin/")]
    assert not [name for name in names if name.startswith(("pmtrader/", "pmengine/"))]


def test_native_extensions_match_the_architecture_and_python_3_11(package: Path) -> None:
    arch = package.stem.rsplit("-", 1)[1]
    other = CPU["arm64" if arch == "x86_64" else "x86_64"]
    extensions = [name for name in zipfile.ZipFile(package).namelist() if name.endswith(".so")]
    assert extensions, "aiohttp and pydantic-core ship compiled code"
    for name in extensions:
        assert other not in name, f"{name} is for the wrong CPU"
        tag = re.search(r"\.cpython-(\d+)-", name)
        if tag:
            assert tag[1] == "311", name
    assert any(CPU[arch] in name for name in extensions)


def test_zip_fits_lambdas_direct_upload_limit(package: Path) -> None:
    assert package.stat().st_size < 50 * 1024 * 1024
    unpacked = sum(info.file_size for info in zipfile.ZipFile(package).infolist())
    assert unpacked < 250 * 1024 * 1024


def test_build_is_reproducible(builds: Callable[[str], Path], tmp_path: Path) -> None:
    # One architecture is enough: the steps that could differ between runs are the same.
    first = builds("x86_64")
    again = build("x86_64", tmp_path)
    assert again.read_bytes() == first.read_bytes()


_INVOKE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import pmproxy.lambda_handler as h
event = {
    "version": "2.0", "routeKey": "$default", "rawPath": "/clob/time", "rawQueryString": "",
    "headers": {"host": "abc.execute-api.eu-west-1.amazonaws.com"}, "isBase64Encoded": False,
    "requestContext": {"http": {"method": "GET", "path": "/clob/time", "protocol": "HTTP/1.1",
                                "sourceIp": "203.0.113.9", "userAgent": "test"},
                       "stage": "$default", "requestId": "r1", "accountId": "1", "apiId": "abc",
                       "domainName": "abc.execute-api.eu-west-1.amazonaws.com",
                       "domainPrefix": "abc", "routeKey": "$default", "time": "", "timeEpoch": 0},
}
class Context:
    function_name = "pmproxy"
    aws_request_id = "r1"
print(json.dumps(h.handler(event, Context()) | {"module": h.__file__}))
"""


def test_the_zip_alone_answers_an_api_gateway_event(
    builds: Callable[[str], Path], tmp_path: Path, sim: SimServer
) -> None:
    # Native code loads only on its own CPU: import the package built for this machine.
    native = {cpu: arch for arch, cpu in CPU.items()}[platform.machine()]
    package = builds(native)
    zipfile.ZipFile(package).extractall(tmp_path)
    env = {
        "PATH": os.environ["PATH"],
        "PMPROXY_CLOB_URL": sim.url,
        "PMPROXY_GAMMA_URL": sim.gamma_url,
        "PMPROXY_DATA_URL": sim.data_url,
        "PMPROXY_CHAIN_URL": sim.chain_url,
        "PMPROXY_WS_URL": sim.ws_url,
    }
    # -I -S: no user site, no site-packages: only the stdlib and the unpacked zip.
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _INVOKE, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout.strip().splitlines()[-1])
    assert response["module"] == str(tmp_path / "pmproxy/lambda_handler.py")
    assert response["statusCode"] == 200, response
    body = response["body"]
    assert body.strip().isdigit(), "the exchange's /time: seconds since the epoch"
