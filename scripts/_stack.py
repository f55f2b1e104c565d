"""Process management for the scripts that run the whole stack (``make demo``, later ``make ui``).

Every child runs in its own session (so its own process group): a Ctrl-C at the terminal reaches
only this script, which then stops the children in order (engine first, so it can cancel its
orders, then the proxy, then the exchange), each by SIGTERM to its group and SIGKILL after a
grace period, and finally checks that no process of any group is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

import httpx


class StackError(Exception):
    """A child did not start, or did not answer in time (the message says which and why)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def group_alive(pgid: int) -> bool:
    """Whether any process of the process group ``pgid`` still exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Child:
    """One started child: its name, process, and log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes] = field(repr=False)

    @property
    def pgid(self) -> int:
        """The child's process group (its own pid: it leads a new session)."""
        return self.proc.pid

    def running(self) -> bool:
        """Whether the child process itself is alive."""
        return self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        """The last lines the child wrote."""
        self.log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


class StopSignalError(Exception):
    """SIGINT or SIGTERM arrived (the message names it): stop everything and say so."""


class SignalGate:
    """Turns SIGINT and SIGTERM into :class:`StopSignalError`, deferred inside :meth:`held`.

    Deferring (rather than blocking the signals with a mask) matters: a child inherits the
    signal mask across exec, and a child with SIGTERM blocked can only be killed.
    """

    def __init__(self) -> None:
        self._depth = 0
        self._pending: str | None = None

    def install(self) -> None:
        """Handle SIGINT and SIGTERM in this (main) thread."""
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def ignore(self) -> None:
        """Ignore both from now on (a shutdown whose every wait is bounded is under way)."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._depth:
            self._pending = self._pending or name
            return
        raise StopSignalError(name)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Run a block that must not be cut in two (start a child and record it)."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if not self._depth and self._pending is not None:
            name, self._pending = self._pending, None
            raise StopSignalError(name)


class Stack:
    """The children of one run, started in order and stopped in reverse order."""

    def __init__(self, log_dir: Path, gate: SignalGate | None = None) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []
        self.gate = gate or SignalGate()

    def spawn(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> Child:
        """Start ``argv`` in a new session with its output in ``<log_dir>/<name>.log``.

        ``env`` is the child's whole environment (default: this process's).
        """
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        log = log_path.open("ab")
        with self.gate.held():
            proc = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"},
            )
            child = Child(name, proc, log_path, log)
            self.children.append(child)
            # Written as each child starts, so whoever started us can check what we leave.
            groups = {c.name: c.pgid for c in self.children}
            (self.log_dir / "process-groups.json").write_text(json.dumps(groups))
        return child

    def wait_http(
        self,
        child: Child,
        url: str,
        *,
        timeout_s: float = 60.0,
        ok: Callable[[int], bool] | None = None,
    ) -> None:
        """Poll ``url`` until it answers (200 by default) or the child exits or time runs out."""
        accept = ok or (lambda status: status == 200)
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if not child.running():
                    raise StackError(
                        f"{child.name} exited with {child.proc.returncode} before it was ready:\n"
                        + child.log_tail()
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if accept(client.get(url).status_code):
                        return
                time.sleep(0.05)
        raise StackError(f"{child.name} did not answer {url} within {timeout_s:.0f} s")

    def wait_log(self, child: Child, needle: str, *, timeout_s: float = 60.0) -> None:
        """Wait until the child's log holds ``needle`` (or it exits, or time runs out)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if needle in child.log_path.read_text(errors="replace"):
                return
            if not child.running():
                raise StackError(
                    f"{child.name} exited with {child.proc.returncode}:\n" + child.log_tail()
                )
            time.sleep(0.05)
        raise StackError(f"{child.name} did not log {needle!r} within {timeout_s:.0f} s")

    def stop(self, child: Child, *, grace_s: float = 10.0) -> int | None:
        """SIGTERM the child's group, wait, then SIGKILL what is left; return its exit code."""
        if child.running():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pgid, signal.SIGTERM)
            try:
                child.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.pgid, signal.SIGKILL)
                child.proc.wait(timeout=grace_s)
        deadline = time.monotonic() + grace_s
        while group_alive(child.pgid) and time.monotonic() < deadline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pgid, signal.SIGKILL)  # stragglers the leader left behind
            time.sleep(0.05)
        with contextlib.suppress(OSError):
            child.log.close()
        return child.proc.returncode

    def stop_all(self) -> list[str]:
        """Stop every child, last started first; return a line per group still alive after."""
        for child in reversed(self.children):
            self.stop(child)
        return [f"{c.name} (pgid {c.pgid})" for c in self.children if group_alive(c.pgid)]
