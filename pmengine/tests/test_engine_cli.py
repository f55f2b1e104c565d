"""The command line as a user runs it: real processes, real signals, the journal on disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PMENGINE = [sys.executable, "-c", "from pmengine.cli import main; main()"]
CANARY_KEY = "0x" + "c0ffee" * 10 + "abcd"


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PMENGINE_", "PM_"))}
    full_env.pop("PRIVATE_KEY", None)
    full_env.update(env or {})
    return subprocess.run(
        [*PMENGINE, *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


def test_version_says_which_build_runs() -> None:
    out = run("--version")
    assert out.returncode == 0
    assert out.stdout.startswith("pmengine 0.1.0 (")
    assert out.stdout.strip().endswith(("(interpreted)", "(compiled)"))


def test_help_lists_the_flags_and_commands() -> None:
    out = run("--help")
    assert out.returncode == 0
    for word in (
        "--dry-run",
        "--strategy",
        "--markets",
        "--param",
        "--state-dir",
        "--metrics-port",
        "--env",
        "status",
        "kill",
        "resume",
    ):
        assert word in out.stdout


def test_live_without_a_key_is_a_clear_error_without_traceback(tmp_path: Path) -> None:
    out = run("--state-dir", str(tmp_path))
    assert out.returncode == 2
    assert "PMENGINE_PRIVATE_KEY" in out.stderr
    assert "--dry-run" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_bad_variable_is_named(tmp_path: Path) -> None:
    out = run("--dry-run", "--state-dir", str(tmp_path), env={"PMENGINE_TICK_INTERVAL_MS": "soon"})
    assert out.returncode == 2
    assert "PMENGINE_TICK_INTERVAL_MS must be an integer" in out.stderr
    assert "Traceback" not in out.stderr


def test_status_without_a_journal_says_how_to_get_one(tmp_path: Path) -> None:
    out = run("status", "--state-dir", str(tmp_path / "none"))
    assert out.returncode == 2
    assert "no journal" in out.stderr


def _status(state: Path) -> dict[str, object]:
    out = run("status", "--state-dir", str(state), "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]  # the command prints an object


def test_engine_process_kill_resume_and_sigterm(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMENGINE_", "PM_"))}
    env["PMENGINE_TICK_INTERVAL_MS"] = "100"
    proc = subprocess.Popen(
        [*PMENGINE, "--dry-run", "--state-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "journal.sqlite3").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert _status(tmp_path)["trading_state"] == "ACTIVE"

        killed = run("kill", "--state-dir", str(tmp_path))
        assert killed.returncode == 0
        assert "HALTED" in killed.stdout
        assert _status(tmp_path)["trading_state"] == "HALTED"

        resumed = run("resume", "--state-dir", str(tmp_path))
        assert resumed.returncode == 0
        assert _status(tmp_path)["trading_state"] == "ACTIVE"

        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert time.monotonic() - started < 5
        events = [json.loads(line)["event"] for line in err.splitlines() if line.startswith("{")]
        assert "engine.halted" in events
        assert "engine.resumed" in events
        assert events[-1] == "engine.stopped"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_canary_key_never_appears_in_any_output_at_debug(tmp_path: Path) -> None:
    """Live mode with a canary key against a closed port: it fails, and says so safely."""
    out = run(
        "--state-dir",
        str(tmp_path),
        "--env",
        "sim",
        env={
            "PMENGINE_PRIVATE_KEY": CANARY_KEY,
            "PMENGINE_LOG_LEVEL": "debug",
            "PMENGINE_CLOB_URL": "http://127.0.0.1:9/",
            "PMENGINE_WS_URL": "ws://127.0.0.1:9/ws",
        },
    )
    assert out.returncode != 0
    assert "engine.starting" in out.stderr
    for text in (out.stdout, out.stderr):
        assert CANARY_KEY not in text
        assert CANARY_KEY[2:] not in text
        assert CANARY_KEY[2:].upper() not in text
