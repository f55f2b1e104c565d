"""The CodeDeploy hooks, end to end, into a temporary root.

The wheels are built from this checkout with ``uv build`` and assembled into a revision by
``deploy/bundle.sh``, exactly as the release workflows do; then the revision's own
``scripts/install.sh`` runs with ``DESTDIR`` (no user, no systemctl) and the ``uv`` installer,
and the services it produced are started from their venvs and probed by ``validate.sh``.
pmproxy's upstreams point at a dead loopback port: nothing here may reach Polymarket.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pmtrader.testing import SimServer

pytestmark = pytest.mark.slow


def find_uv() -> str:
    found = shutil.which("uv")
    if found:
        return found
    out = subprocess.run(
        [sys.executable, "-c", "import uv; print(uv.find_uv_bin())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


@dataclass(frozen=True)
class Built:
    wheels: Path
    bundle: Path
    root: Path
    uv: str
    first_install: subprocess.CompletedProcess[str]

    def env(self, **extra: str) -> dict[str, str]:
        # The caller's environment carries the package index settings; no PMT_* leaks in.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("PMT_", "DESTDIR"))}
        return {
            **inherited,
            "UV_PYTHON_DOWNLOADS": "never",
            "DESTDIR": str(self.root),
            "PMT_INSTALLER": "uv",
            "PMT_UV": self.uv,
            "PMT_PYTHON": shutil.which("python3.11") or sys.executable,
            **extra,
        }

    def run(
        self, script: str, *args: str, bundle: Path | None = None, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str((bundle or self.bundle) / "scripts" / script), *args],
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=170,
            check=False,
        )


def bundle(repo: Path, out: Path, *files: Path) -> Path:
    subprocess.run(
        [str(repo / "deploy/bundle.sh"), str(out), *map(str, files)],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="module")
def built(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    uv = find_uv()
    wheels = tmp_path_factory.mktemp("wheels")
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    for package in ("pmproxy", "pmengine", "pmtrader", "pmstrat"):
        # From the sdist, as the release does (pmengine's build notes say why).
        subprocess.run(
            [uv, "build", "--quiet", "--out-dir", str(wheels), str(repo / package)],
            check=True,
            capture_output=True,
            env=env,
            cwd=repo,
        )
    constraints = wheels / "constraints.txt"
    subprocess.run(
        [
            *(uv, "export", "--frozen", "--quiet", "--no-hashes", "--no-header", "--no-dev"),
            *("--no-emit-workspace", "--all-packages", "--output-file", str(constraints)),
        ],
        check=True,
        capture_output=True,
        env=env,
        cwd=repo,
    )
    revision = bundle(
        repo, tmp_path_factory.mktemp("bundle") / "revision", *wheels.glob("*.whl"), constraints
    )
    root = tmp_path_factory.mktemp("root")
    partial = Built(wheels, revision, root, uv, subprocess.CompletedProcess([], 0))
    first = partial.run("install.sh")
    assert first.returncode == 0, first.stderr
    return Built(wheels, revision, root, uv, first)


@pytest.fixture
def pmproxy(
    built: Built, new_port: Callable[[], int]
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The installed pmproxy, started from its venv, with every upstream on a dead port."""
    port, dead = new_port(), f"http://127.0.0.1:{new_port()}"
    process = subprocess.Popen(
        [
            *(str(built.root / "opt/pmt/pmproxy/bin/pmproxy"), "--port", str(port)),
            *("--clob-url", dead, "--gamma-url", dead, "--data-url", dead, "--chain-url", dead),
            *("--ws-url", dead.replace("http://", "ws://")),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.terminate()
        process.wait(timeout=10)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- what install.sh lays down --------------------------------------------------------------


def test_install_lays_out_venvs_units_env_and_state(built: Built) -> None:
    opt = built.root / "opt/pmt"
    for service in ("pmproxy", "pmengine"):
        link = opt / service
        assert link.is_symlink()
        target = os.readlink(link)
        assert target.startswith(f"releases/{service}-0.1.0-"), target
        assert (opt / target / ".pmt-complete").exists()
        version = subprocess.run(
            [str(link / "bin" / service), "--version"], capture_output=True, text=True, check=True
        )
        assert version.stdout.startswith(f"{service} ")
        unit = built.root / "etc/systemd/system" / f"{service}.service"
        assert unit.read_text() == (built.bundle / "deploy/systemd" / unit.name).read_text()

    env_file = built.root / "etc/pmt/pmengine.env"
    assert mode(env_file) == 0o600
    assert env_file.read_text() == (built.bundle / "deploy/env/pmengine.env.example").read_text()
    assert mode(built.root / "var/lib/pmengine") == 0o750
    assert (opt / "share/examples/pmengine.service.d/spread-watcher.conf").exists()
    assert (opt / "README-deploy.md").exists()
    # Without systemd it says what it would have done, in order.
    assert "would run: systemctl daemon-reload" in built.first_install.stderr
    assert "would run: systemctl enable --quiet pmproxy.service pmengine.service" in (
        built.first_install.stderr
    )


def test_revision_holds_every_script_its_appspec_runs(built: Built) -> None:
    appspec = (built.bundle / "appspec.yml").read_text()
    locations = [
        line.split(":", 1)[1].strip() for line in appspec.splitlines() if "location:" in line
    ]
    assert sorted(locations) == [
        "scripts/install.sh",
        "scripts/start.sh",
        "scripts/stop.sh",
        "scripts/validate.sh",
    ]
    for location in locations:
        assert os.access(built.bundle / location, os.X_OK), location
    assert (built.bundle / "scripts/deploy-lib.sh").exists(), "the hooks' shared library ships"


def test_engine_venv_holds_the_bundled_workspace_wheels(built: Built) -> None:
    python = built.root / "opt/pmt/pmengine/bin/python"
    listed = subprocess.run(
        [built.uv, "pip", "list", "--python", str(python), "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    versions = {item["name"]: item["version"] for item in json.loads(listed.stdout)}
    assert versions["pmengine"] == versions["pmtrader"] == versions["pmstrat"] == "0.1.0"
    assert "boto3" in versions
    # The versions come from uv.lock through constraints.txt, not from whatever is newest.
    constraints = (built.bundle / "dist/constraints.txt").read_text()
    assert f"boto3=={versions['boto3']}" in constraints


def test_second_install_is_a_no_op(built: Built) -> None:
    opt = built.root / "opt/pmt"
    before = {service: os.readlink(opt / service) for service in ("pmproxy", "pmengine")}
    env_file = built.root / "etc/pmt/pmengine.env"
    env_file.write_text(env_file.read_text() + "PMENGINE_LOG_LEVEL=debug\n")

    again = built.run("install.sh")

    assert again.returncode == 0, again.stderr
    assert again.stderr.count("is already installed; reusing it") == 2
    assert {service: os.readlink(opt / service) for service in before} == before
    assert env_file.read_text().endswith("PMENGINE_LOG_LEVEL=debug\n"), "operator edits survive"
    assert mode(env_file) == 0o600


def test_a_pmproxy_release_leaves_the_engine_alone(
    built: Built, repo: Path, tmp_path: Path
) -> None:
    opt = built.root / "opt/pmt"
    engine_before = os.readlink(opt / "pmengine")
    proxy_before = os.readlink(opt / "pmproxy")
    # No constraints this time, so the release differs (the hash covers them) and is switched.
    only_proxy = bundle(repo, tmp_path / "rev", *built.wheels.glob("pmproxy-*.whl"))

    result = built.run("install.sh", bundle=only_proxy, PMT_KEEP_RELEASES="1")

    assert result.returncode == 0, result.stderr
    assert os.readlink(opt / "pmengine") == engine_before
    assert os.readlink(opt / "pmproxy") != proxy_before
    assert not (opt / proxy_before).exists(), "PMT_KEEP_RELEASES=1 keeps only the current one"
    assert "installed: pmproxy (on this host: pmproxy pmengine)" in result.stderr
    stop = built.run("stop.sh", bundle=only_proxy)
    assert "would run: systemctl stop pmproxy.service" in stop.stderr
    assert "pmengine" not in stop.stderr


def test_pip_the_hosts_installer_builds_a_working_release(
    built: Built, repo: Path, tmp_path: Path
) -> None:
    # On a host there is no uv: install.sh uses the venv's own pip, from PyPI, pinned.
    proxy_only = bundle(
        repo,
        tmp_path / "rev",
        *built.wheels.glob("pmproxy-*.whl"),
        built.bundle / "dist/constraints.txt",
    )
    root = tmp_path / "root"

    result = built.run("install.sh", bundle=proxy_only, DESTDIR=str(root), PMT_INSTALLER="pip")

    assert result.returncode == 0, result.stderr
    assert "(pip, Python 3." in result.stderr
    pmproxy = root / "opt/pmt/pmproxy/bin/pmproxy"
    version = subprocess.run(
        [str(pmproxy), "--version"], capture_output=True, text=True, check=False
    )
    assert version.returncode == 0, version.stderr
    assert not (root / "opt/pmt/pmengine").exists()
    pinned = subprocess.run(
        [str(root / "opt/pmt/pmproxy/bin/python"), "-m", "pip", "freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()

    def normal(requirement: str) -> str:  # PEP 503 names: prometheus_client = prometheus-client
        name, _, version = requirement.split(" ;", maxsplit=1)[0].strip().partition("==")
        return re.sub(r"[-_.]+", "-", name.lower()) + "==" + version

    constraints = {
        normal(line)
        for line in (proxy_only / "dist/constraints.txt").read_text().splitlines()
        if "==" in line
    }
    installed = [normal(line) for line in pinned if "==" in line]
    assert len(installed) > 20
    for requirement in installed:
        if not requirement.startswith("pmproxy=="):
            assert requirement in constraints, f"{requirement} is not the locked version"


def test_the_pmt_user_owns_the_state_dir_and_root_owns_the_env_file(
    built: Built, repo: Path, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    for name in ("passwd", "group", "shadow", "gshadow"):
        (root / "etc" / name).write_text(
            "root:x:0:0:root:/root:/bin/bash\n" if name == "passwd" else ""
        )
    proxy_only = bundle(repo, tmp_path / "rev", *built.wheels.glob("pmproxy-*.whl"))

    for _ in range(2):  # the second run must not add the user again
        result = built.run(
            "install.sh", bundle=proxy_only, DESTDIR=str(root), PMT_MANAGE_USER="yes"
        )
        assert result.returncode == 0, result.stderr

    users = [line.split(":") for line in (root / "etc/passwd").read_text().splitlines()]
    pmt = [entry for entry in users if entry[0] == "pmt"]
    assert len(pmt) == 1
    _, _, uid, gid, _, home, shell = pmt[0]
    assert int(uid) < 1000, "a system user"
    assert (home, shell) == ("/var/lib/pmengine", "/usr/sbin/nologin")
    state = (root / "var/lib/pmengine").stat()
    assert (state.st_uid, state.st_gid) == (int(uid), int(gid))
    env_file = (root / "etc/pmt/pmengine.env").stat()
    assert (env_file.st_uid, env_file.st_gid, stat.S_IMODE(env_file.st_mode)) == (0, 0, 0o600)
    assert result.stderr.count("creating the system user") == 0


def test_plan_picks_the_compiled_wheel_for_this_cpu_else_the_pure_one(
    built: Built, repo: Path, tmp_path: Path
) -> None:
    # The release carries pmengine compiled for x86_64 and aarch64 (and may carry the pure
    # wheel). --plan shows the choice without installing, so copies of the pure wheel under
    # platform names are enough to exercise it.
    pure = next(built.wheels.glob("pmengine-*-py3-none-any.whl"))
    sdk = [*built.wheels.glob("pmtrader-*.whl"), *built.wheels.glob("pmstrat-*.whl")]
    here = platform.machine()
    there = "aarch64" if here == "x86_64" else "x86_64"
    names = tmp_path / "wheels"
    names.mkdir()

    def compiled(cpu: str, policy: str = "manylinux_2_17") -> Path:
        path = names / f"pmengine-0.1.0-cp311-cp311-{policy}_{cpu}.manylinux2014_{cpu}.whl"
        shutil.copy(pure, path)
        return path

    def plan(*wheels: Path) -> subprocess.CompletedProcess[str]:
        revision = bundle(repo, tmp_path / f"rev-{len(list(tmp_path.glob('rev-*')))}", *wheels)
        return built.run(
            "install.sh", "--plan", bundle=revision, DESTDIR=str(tmp_path / "untouched")
        )

    both = plan(compiled(here), compiled(there), pure, *sdk)
    assert both.returncode == 0, both.stderr
    service, release, *chosen = both.stdout.split()
    assert (service, chosen[0]) == ("pmengine", compiled(here).name)
    assert release.startswith("pmengine-0.1.0-")
    assert sorted(chosen[1:]) == sorted(path.name for path in sdk)

    foreign_only = plan(compiled(there), pure, *sdk)
    assert foreign_only.stdout.split()[2] == pure.name, "no wheel for this CPU: the pure one"

    ambiguous = plan(compiled(here), compiled(here, "manylinux_2_28"), *sdk)
    assert ambiguous.returncode != 0
    assert "exactly one pmengine wheel" in ambiguous.stderr
    assert not (tmp_path / "untouched").exists(), "--plan changes nothing"


def test_start_restarts_what_the_bundle_carries(built: Built) -> None:
    result = built.run("start.sh")
    assert result.returncode == 0, result.stderr
    assert "would run: systemctl restart pmproxy.service" in result.stderr
    assert "would run: systemctl restart pmengine.service" in result.stderr


def test_nginx_site_is_rendered_from_etc_pmt_nginx_env(built: Built, tmp_path: Path) -> None:
    nginx_env = built.root / "etc/pmt/nginx.env"
    nginx_env.write_text(
        "# the public name of this host\nPMT_SERVER_NAME=pmt.example.org\n"
        f"PMT_TLS_CERT={tmp_path}/fullchain.pem\nPMT_TLS_KEY={tmp_path}/privkey.pem\n"
    )
    try:
        result = built.run("install.sh")
        assert result.returncode == 0, result.stderr
        site = (built.root / "etc/nginx/conf.d/pmt.conf").read_text()
        assert "server_name pmt.example.org;" in site
        assert f"ssl_certificate {tmp_path}/fullchain.pem;" in site

        nginx_env.write_text('PMT_SERVER_NAME="pmt.example.org; return 200"\n')
        bad = built.run("install.sh")
        assert bad.returncode != 0
        assert "PMT_SERVER_NAME must be a DNS name" in bad.stderr
        assert (
            "server_name pmt.example.org;" in (built.root / "etc/nginx/conf.d/pmt.conf").read_text()
        ), "the previous site stays"
        assert not list((built.root / "etc/nginx/conf.d").glob("*.previous.*"))

        nginx_env.write_text("PMT_SERVER_NAME=pmt.example.org\nPMT_LISTEN=0.0.0.0\n")
        refused = built.run("install.sh")
        assert refused.returncode != 0
        assert "unknown setting 'PMT_LISTEN'" in refused.stderr
    finally:
        nginx_env.unlink()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        pytest.param(("pmtrader-*.whl",), "no pmproxy or pmengine wheel", id="no-service"),
        pytest.param(("pmengine-*.whl",), "exactly one pmtrader wheel", id="engine-without-sdk"),
    ],
)
def test_install_refuses_an_incomplete_bundle(
    built: Built, repo: Path, tmp_path: Path, files: tuple[str, ...], message: str
) -> None:
    opt = built.root / "opt/pmt"
    before = {service: os.readlink(opt / service) for service in ("pmproxy", "pmengine")}
    chosen = [path for pattern in files for path in built.wheels.glob(pattern)]
    broken = bundle(repo, tmp_path / "rev", *chosen)

    result = built.run("install.sh", bundle=broken)

    assert result.returncode != 0
    assert message in result.stderr
    assert {service: os.readlink(opt / service) for service in before} == before


# --- validate.sh against the installed services ---------------------------------------------


def test_validate_accepts_the_installed_pmproxy(
    built: Built, pmproxy: tuple[str, subprocess.Popen[bytes]]
) -> None:
    url, _ = pmproxy
    result = built.run("validate.sh", "pmproxy", PMT_PMPROXY_URL=url, PMT_VALIDATE_TIMEOUT="60")
    assert result.returncode == 0, result.stderr
    assert "pmproxy answers" in result.stderr
    # Its upstreams are dead, so it is alive but "degraded": allowed unless upstreams required.
    assert "some upstream is unreachable" in result.stderr

    strict = built.run(
        "validate.sh",
        "pmproxy",
        PMT_PMPROXY_URL=url,
        PMT_VALIDATE_TIMEOUT="2",
        PMT_REQUIRE_UPSTREAMS="yes",
    )
    assert strict.returncode != 0
    assert "did not answer within 2s" in strict.stderr


def test_hook_settings_come_from_etc_pmt_deploy_env(
    built: Built, new_port: Callable[[], int]
) -> None:
    # CodeDeploy gives the hooks no environment of ours: a host sets them in this file.
    settings = built.root / "etc/pmt/deploy.env"
    settings.write_text(
        f"# validate quickly, against a port nobody listens on\n"
        f"PMT_VALIDATE_TIMEOUT=1\nPMT_PMPROXY_URL=http://127.0.0.1:{new_port()}\n"
    )
    try:
        result = built.run("validate.sh", "pmproxy")
        assert result.returncode != 0
        assert "pmproxy did not answer within 1s" in result.stderr

        settings.write_text("PMT_SYSTEMCTL=no\n")
        refused = built.run("validate.sh", "pmproxy")
        assert refused.returncode != 0
        assert "unknown setting 'PMT_SYSTEMCTL'" in refused.stderr
    finally:
        settings.unlink()


def test_validate_fails_by_its_deadline_when_nothing_answers(
    built: Built, new_port: Callable[[], int]
) -> None:
    result = built.run(
        "validate.sh",
        "pmproxy",
        PMT_PMPROXY_URL=f"http://127.0.0.1:{new_port()}",
        PMT_VALIDATE_TIMEOUT="2",
    )
    assert result.returncode != 0
    assert "pmproxy did not answer within 2s" in result.stderr


def exec_start(unit: Path, variables: dict[str, str], root: Path) -> list[str]:
    """The unit's ExecStart as systemd runs it: ``$NAME`` expands to the value's words (none
    when empty), and the host paths move under the temporary root."""
    line = next(x for x in unit.read_text().splitlines() if x.startswith("ExecStart="))
    words: list[str] = []
    for word in line.removeprefix("ExecStart=").split():
        if word.startswith("$"):
            words.extend(variables[word[1:]].split())
        else:
            words.append(
                word.replace("/opt/pmt", f"{root}/opt/pmt").replace(
                    "/var/lib/pmengine", f"{root}/var/lib/pmengine"
                )
            )
    return words


def environment_file(path: Path) -> dict[str, str]:
    # systemd's EnvironmentFile: KEY=VALUE lines; blank lines and # comments are skipped.
    lines = [line.strip() for line in path.read_text().splitlines()]
    pairs = (line.partition("=") for line in lines if line and not line.startswith("#"))
    return {key: value for key, _, value in pairs}


def unit_environment(unit: Path) -> dict[str, str]:
    values = {}
    for line in unit.read_text().splitlines():
        if line.startswith("Environment="):
            key, _, value = line.removeprefix("Environment=").strip('"').partition("=")
            values[key] = value
    return values


@pytest.fixture
def pmproxy_to_sim(built: Built, sim: SimServer, new_port: Callable[[], int]) -> Iterator[str]:
    """The installed pmproxy, forwarding to the local exchange."""
    port = new_port()
    process = subprocess.Popen(
        [
            *(str(built.root / "opt/pmt/pmproxy/bin/pmproxy"), "--port", str(port)),
            *("--clob-url", sim.url, "--gamma-url", sim.gamma_url, "--data-url", sim.data_url),
            *("--chain-url", sim.chain_url, "--ws-url", sim.ws_url),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_installed_engine_runs_as_its_unit_says_and_validate_sees_it(
    built: Built, sim: SimServer, pmproxy_to_sim: str, new_port: Callable[[], int]
) -> None:
    """pmengine, started with the unit's own command line and env file, trades (dry-run)
    against the local exchange through the installed pmproxy; validate.sh accepts both."""
    metrics_port = new_port()
    unit = built.root / "etc/systemd/system/pmengine.service"
    command = exec_start(unit, unit_environment(unit), built.root)
    assert "--dry-run" in command
    env = {
        "PATH": os.environ["PATH"],
        **environment_file(built.root / "etc/pmt/pmengine.env"),
        "PMPROXY_URL": pmproxy_to_sim,
        "PMENGINE_ENV": "sim",
        "PMENGINE_WS_URL": sim.ws_url,
        "PMENGINE_METRICS_PORT": str(metrics_port),
    }
    engine = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        result = built.run(
            "validate.sh",
            PMT_PMPROXY_URL=pmproxy_to_sim,
            PMT_VALIDATE_TIMEOUT="60",
        )
        assert result.returncode == 0, result.stderr
        assert "pmproxy answers" in result.stderr
        assert "pmengine answers" in result.stderr
        status = subprocess.run(
            [
                *(str(built.root / "opt/pmt/pmengine/bin/pmengine"), "status", "--json"),
                *("--state-dir", str(built.root / "var/lib/pmengine")),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(status.stdout)["trading_state"] == "ACTIVE"
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
        assert metrics.status_code == 200
        assert "# TYPE" in metrics.text
    finally:
        engine.send_signal(signal.SIGTERM)
        started = time.monotonic()
        out, _ = engine.communicate(timeout=20)
        stopped_in = time.monotonic() - started
    # systemd waits TimeoutStopSec=20 before SIGKILL; the engine is done well before.
    assert engine.returncode == 0, out.decode(errors="replace")[-2000:]
    assert stopped_in < 20
