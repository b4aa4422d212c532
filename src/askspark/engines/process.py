"""One sandboxed worker process: started ahead of its job, one JSON job line in, one JSON report line out.

The Spark worker (:mod:`askspark.engines.worker`) and the Ray worker (:mod:`askspark.engines.ray_worker`)
speak the same protocol: the process prints ``ready`` once its imports (and session) are up, reads one
job as a JSON line on stdin and prints one report as a JSON line on stdout; its stderr is its log. The
process runs in bubblewrap (unless ``ASKSPARK_SANDBOX=false``) under rlimits and, when sandboxed, in its
own cgroup, so a kill takes every process it started with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from askspark.engines import cgroups, sandbox
from askspark.errors import EngineUnavailableError
from askspark.processes import launch, signal_group

LOG_TAIL_BYTES = 20_000


class SandboxedProcess:
    """A started worker process with its own output directory (``outbox``) and log, waiting for its job."""

    def __init__(
        self,
        module: str,
        spec: sandbox.SandboxSpec,
        outbox: Path,
        cgroup: cgroups.Cgroup | None,
        *,
        sandboxed: bool,
        share_net: bool = False,
    ) -> None:
        """Start ``python -m module`` confined by ``spec`` (in bubblewrap when ``sandboxed``).

        ``share_net`` keeps the host's network (a Ray worker joining a cluster); otherwise the sandbox
        has none.
        """
        self.outbox = outbox
        self.log_path = outbox.with_suffix(".log")
        self.cgroup = cgroup
        self.ready = False
        cmd, env = _command(module, spec, cgroup, sandboxed=sandboxed, share_net=share_net)
        with open(self.log_path, "wb") as err:
            self.proc = launch(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
                start_new_session=True,
            )

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, seconds: float, failed: Callable[[str], EngineUnavailableError]) -> None:
        """Wait until the process says ``ready``; else kill it and raise ``failed(log tail)``."""
        if _read_line(self.proc, seconds) != "ready":
            self.kill()
            raise failed(self.log_tail())
        self.ready = True

    def exchange(self, job: dict[str, Any], seconds: float) -> dict[str, Any] | None:
        """Send the job; the report, or None when the process died or ran out of time."""
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(job) + "\n").encode())
        self.proc.stdin.flush()
        line = _read_line(self.proc, seconds)
        return json.loads(line) if line else None

    def kill(self) -> None:
        """Kill the process group and everything else in its cgroup (e.g. Ray's raylet), then reap it."""
        signal_group(self.proc.pid, signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.kill_all()
        self.proc.wait()

    def log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - LOG_TAIL_BYTES))
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def cleanup(self) -> None:
        """Wait for the process to end (a Spark worker releases its session first), kill what it left
        running, then remove its files."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=30)
        self.kill()
        if self.cgroup is not None:
            self.cgroup.remove()
        shutil.rmtree(self.outbox, ignore_errors=True)
        self.log_path.unlink(missing_ok=True)


def _command(
    module: str, spec: sandbox.SandboxSpec, group: cgroups.Cgroup | None, *, sandboxed: bool, share_net: bool
) -> tuple[list[str], dict[str, str]]:
    argv = [sys.executable, "-m", module]
    if not sandboxed:
        cmd, env = sandbox.unsandboxed_command(spec, argv)
        return sandbox.limited(cmd, spec, None), env
    cmd = sandbox.bwrap_command(spec, argv)
    if share_net:
        cmd.insert(cmd.index("--unshare-all") + 1, "--share-net")
    return sandbox.limited(cmd, spec, group.dirs if group else None), {"PATH": os.environ.get("PATH", "")}


def _read_line(proc: subprocess.Popen[bytes], seconds: float) -> str | None:
    """One line from the process's report channel within ``seconds``; None on timeout or exit."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + seconds
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None
            buf += chunk
    return buf.split(b"\n", 1)[0].decode()
