"""The ``ray`` engine: generated Ray Data code (``def answer(ray, tables) -> ray.data.Dataset``).

Each job runs in a fresh sandboxed worker (:mod:`askspark.engines.ray_worker`) that starts its own
local Ray inside the sandbox: Ray binds all interfaces, and the sandbox's empty network namespace is
what keeps it private. One worker is started ahead of time so a job does not wait for Ray to start.
The worker sees the tables' directories read-only and its own output directory; limits are a cgroup
memory and process cap (Ray reserves far more address space than it uses, so no RLIMIT_AS) and the
attempt's wall-clock limit, after which the worker and its Ray are killed.

With ``ASKSPARK_RAY_ADDRESS=ray://host:port`` the worker joins that cluster instead; it then shares the
host's network (a sandbox without network cannot reach a cluster), and the code runs on the cluster's
workers under the cluster's own isolation. That mode is not tested here (no cluster).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from askspark.engines import cgroups, sandbox
from askspark.engines.base import Execution, Job, data_dirs
from askspark.engines.local import _execution, _read_line, _unavailable
from askspark.engines.ray_worker import ADDRESS_ENV, OBJECT_STORE_ENV
from askspark.errors import EngineUnavailableError, missing_extra
from askspark.record import ErrorKind, Failure
from askspark.settings import Settings

START_SECONDS = 180.0  # Ray's start in the sandbox: 3 s on a quiet machine, 30 s and more on a busy one
MAX_TASKS = 4096  # raylet, GCS, workers and their threads: Ray starts hundreds
ADDRESS_SPACE_MB = 1 << 20  # effectively none: the cgroup caps real memory


class RayWorker:
    """One sandboxed worker process with its own Ray, waiting for a job."""

    def __init__(self, settings: Settings, readable: list[Path]) -> None:
        self.readable = readable
        self.outbox = Path(tempfile.mkdtemp(prefix="ray-", dir=_root(settings)))
        self.log_path = self.outbox.with_suffix(".log")
        env = {OBJECT_STORE_ENV: str(settings.ray_object_store_mb), ADDRESS_ENV: settings.ray_address}
        spec = sandbox.SandboxSpec(
            writable=[self.outbox],
            readable=readable,
            memory_mb=ADDRESS_SPACE_MB,
            cpu_seconds=int(settings.timeout_seconds * 4) + 300,  # Ray's own processes count too
            max_open_files=_open_files(),
            env=env,
        )
        memory = settings.ray_memory_mb * 1024 * 1024
        self.cgroup = cgroups.create(MAX_TASKS, memory) if settings.sandbox else None
        self.proc = _spawn(settings, spec, self.log_path, self.cgroup)
        self.ready = False

    def wait_ready(self) -> None:
        if _read_line(self.proc, START_SECONDS) != "ready":
            self.kill()
            logs = self.log_tail()
            last = next((line for line in reversed(logs.splitlines()) if line.strip()), "no output")
            raise EngineUnavailableError(
                f"the sandboxed Ray worker did not start: {last.strip()[:300]}",
                suggestion="read the worker log; check ASKSPARK_RAY_MEMORY_MB and, for a cluster, "
                "ASKSPARK_RAY_ADDRESS",
                log_tail=logs,
            )  # the log is in the error's details
        self.ready = True

    def exchange(self, job: dict[str, Any], seconds: float) -> dict[str, Any] | None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(job) + "\n").encode())
        self.proc.stdin.flush()
        line = _read_line(self.proc, seconds)
        return json.loads(line) if line else None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.kill_all()  # Ray's raylet and workers too
        self.proc.wait()

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_bytes()[-20_000:].decode(errors="replace")
        return ""

    def cleanup(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=30)
        self.kill()
        if self.cgroup is not None:
            self.cgroup.remove()
        shutil.rmtree(self.outbox, ignore_errors=True)
        self.log_path.unlink(missing_ok=True)


def _open_files() -> int:
    """Ray opens many sockets and files: as many as this process may (its hard limit), at most 65536."""
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)


def _root(settings: Settings) -> Path:
    root = settings.runs_dir / ".ray-workers"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _spawn(
    settings: Settings, spec: sandbox.SandboxSpec, log: Path, group: cgroups.Cgroup | None
) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "askspark.engines.ray_worker"]
    if settings.sandbox:
        cmd = sandbox.bwrap_command(spec, argv)
        if settings.ray_address:  # a cluster must be reachable: keep the host's network
            cmd.insert(cmd.index("--unshare-all") + 1, "--share-net")
        env = {"PATH": os.environ.get("PATH", "")}
        cmd = sandbox.limited(cmd, spec, group.dirs if group else None)
    else:
        cmd, env = sandbox.unsandboxed_command(spec, argv)
        cmd = sandbox.limited(cmd, spec, None)
    with open(log, "wb") as err:
        return subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env, start_new_session=True
        )


class RayEngine:
    """Runs Ray Data code, one sandboxed worker (with its own Ray) per job."""

    id = "ray"
    contract = "ray"  # the loop asks for and validates answer(ray, tables)

    def __init__(self, settings: Settings, readable: list[Path] | None = None) -> None:
        if settings.sandbox:
            sandbox.bwrap_path()  # fail closed, as the local engine
        self.settings = settings
        self.readable = sorted(set(readable or []))
        self._lock = threading.Lock()
        self._spare: RayWorker | None = None
        self._spawn_spare()

    def _spawn_spare(self) -> None:
        worker = RayWorker(self.settings, self.readable)
        with self._lock:
            old, self._spare = self._spare, worker
        if old is not None:
            old.cleanup()

    def _take_worker(self, job: Job) -> RayWorker:
        """The spare if it can read the job's tables and is alive, else a new worker; ready."""
        needed = data_dirs(job.tables)
        with self._lock:
            worker, self._spare = self._spare, None
        if worker is not None and (worker.proc.poll() is not None or not _covers(worker.readable, needed)):
            threading.Thread(target=worker.cleanup, daemon=True).start()
            worker = None
        if worker is None:
            self.readable = sorted(set(self.readable) | set(needed))
            worker = RayWorker(self.settings, self.readable)
        if not worker.ready:
            worker.wait_ready()
        return worker

    def run(self, job: Job) -> Execution:
        try:
            worker = self._take_worker(job)
        except EngineUnavailableError as exc:
            if self.settings.ray_address:  # a cluster that cannot be joined stays so for now
                return Execution(ok=False, stage="dry_run", error=_unavailable(exc))
            try:  # a local Ray that failed to start (a busy machine) gets one fresh try
                worker = self._take_worker(job)
            except EngineUnavailableError as again:
                return Execution(ok=False, stage="dry_run", error=_unavailable(again))
        try:
            return self._run_in(worker, job)
        finally:
            threading.Thread(target=worker.cleanup, daemon=True).start()
            threading.Thread(target=self._spawn_spare, daemon=True).start()

    def _run_in(self, worker: RayWorker, job: Job) -> Execution:
        payload = job.model_dump(mode="json") | {"output_dir": str(worker.outbox)}
        start = time.perf_counter()
        report = worker.exchange(payload, job.limits.timeout_seconds)
        elapsed = time.perf_counter() - start
        if report is None:
            timed_out = worker.proc.poll() is None
            worker.kill()
            failure = (
                Failure(
                    kind=ErrorKind.TIMEOUT,
                    message=f"the attempt ran longer than the {job.limits.timeout_seconds:g} s limit and was stopped",
                    suggestion="compute less: filter early, aggregate before joining, avoid per-row Python loops",
                )
                if timed_out
                else Failure(
                    kind=ErrorKind.OUT_OF_MEMORY
                    if worker.proc.returncode == -signal.SIGKILL
                    else ErrorKind.RUNTIME,
                    message=f"the Ray worker exited unexpectedly (code {worker.proc.returncode})",
                )
            )
            return Execution(
                ok=False, stage="execute", error=failure, logs=worker.log_tail(), timings={"worker": elapsed}
            )
        execution = _execution(report, worker.log_tail())
        _name_missing_columns(execution.error)
        if execution.result is not None:
            target = Path(job.output_dir) / "result"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(target, ignore_errors=True)
            shutil.move(str(worker.outbox / "result"), target)
            execution.result.location = str(target)
        execution.timings["worker"] = elapsed
        return execution

    def warm(self) -> None:
        """Block until the spare worker's Ray is up."""
        with self._lock:
            worker = self._spare
        if worker is not None and not worker.ready:
            worker.wait_ready()

    def close(self) -> None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.kill()
            spare.cleanup()


_MISSING_COLUMN = re.compile(r"no such column|^KeyError: ['\"]|not (?:found )?in (?:the )?schema", re.I)


def _name_missing_columns(failure: Failure | None) -> None:
    """Ray reports a missing column as a ValueError or KeyError; the loop knows it as unresolved_column."""
    if failure is not None and failure.kind == ErrorKind.RUNTIME and _MISSING_COLUMN.search(failure.message):
        failure.kind = ErrorKind.UNRESOLVED_COLUMN
        failure.suggestion = "use only columns that exist in the table schemas, spelled as listed"


def _covers(have: list[Path], need: list[Path]) -> bool:
    return all(any(n.is_relative_to(h) for h in have) for n in need)


def create(settings: Settings, readable: list[Path] | None = None) -> RayEngine:
    import importlib.util

    if importlib.util.find_spec("ray") is None:  # the worker imports it; the engine process need not
        raise missing_extra("the ray engine", "ray", "ray[data]")
    return RayEngine(settings, readable)
