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

import tempfile
import threading
import time
from pathlib import Path

from askspark.contract import Contract
from askspark.engines import cgroups, report, sandbox
from askspark.engines.base import Engine, Execution, Job, data_dirs, only_touched
from askspark.engines.process import SandboxedProcess
from askspark.engines.ray_worker import ADDRESS_ENV, OBJECT_STORE_ENV
from askspark.errors import EngineUnavailableError, missing_extra
from askspark.settings import Settings

START_SECONDS = 180.0  # Ray's start in the sandbox: 3 s on a quiet machine, 30 s and more on a busy one
MAX_TASKS = 4096  # raylet, GCS, workers and their threads: Ray starts hundreds
ADDRESS_SPACE_MB = 1 << 20  # effectively none: the cgroup caps real memory
TIMEOUT_HINT = "compute less: filter early, aggregate before joining, avoid per-row Python loops"


def start_worker(settings: Settings, readable: list[Path]) -> SandboxedProcess:
    """A sandboxed worker process that starts its own Ray (or joins ``ray_address``) and waits for a job."""
    outbox = Path(tempfile.mkdtemp(prefix="ray-", dir=_root(settings)))
    env = {OBJECT_STORE_ENV: str(settings.ray_object_store_mb), ADDRESS_ENV: settings.ray_address}
    spec = sandbox.SandboxSpec(
        writable=[outbox],
        readable=readable,
        memory_mb=ADDRESS_SPACE_MB,
        cpu_seconds=int(settings.timeout_seconds * 4) + 300,  # Ray's own processes count too
        max_open_files=_open_files(),
        env=env,
        run_as=sandbox.run_as(settings.sandbox_user) if settings.sandbox else None,
    )
    memory = settings.ray_memory_mb * 1024 * 1024
    group = cgroups.create(MAX_TASKS, memory) if settings.sandbox else None
    # A cluster must be reachable: the worker then keeps the host's network.
    return SandboxedProcess(
        "askspark.engines.ray_worker",
        spec,
        outbox,
        group,
        sandboxed=settings.sandbox,
        share_net=bool(settings.ray_address),
    )


def _not_started(logs: str) -> EngineUnavailableError:
    last = next((line for line in reversed(logs.splitlines()) if line.strip()), "no output")
    return EngineUnavailableError(
        f"the sandboxed Ray worker did not start: {last.strip()[:300]}",
        suggestion="read the worker log; check ASKSPARK_RAY_MEMORY_MB and, for a cluster, ASKSPARK_RAY_ADDRESS",
        log_tail=logs,
    )  # the log is in the error's details


def _open_files() -> int:
    """Ray opens many sockets and files: as many as this process may (its hard limit), at most 65536."""
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)


def _root(settings: Settings) -> Path:
    root = settings.runs_dir / ".ray-workers"
    root.mkdir(parents=True, exist_ok=True)
    return root


class RayEngine(Engine):
    """Runs Ray Data code, one sandboxed worker (with its own Ray) per job."""

    id = "ray"
    contract = Contract.RAY  # the loop asks for and validates answer(ray, tables)

    def __init__(self, settings: Settings, readable: list[Path] | None = None) -> None:
        if settings.sandbox:
            sandbox.bwrap_path()  # fail closed, as the local engine
        self.settings = settings
        self.readable = sorted(set(readable or []))
        self._lock = threading.Lock()
        self._spare: tuple[SandboxedProcess, list[Path]] | None = None  # with the directories it may read
        self._spawn_spare()

    def _spawn_spare(self) -> None:
        readable = self.readable
        worker = start_worker(self.settings, readable)
        with self._lock:
            old, self._spare = self._spare, (worker, readable)
        if old is not None:
            old[0].cleanup()

    def _take_worker(self, job: Job) -> SandboxedProcess:
        """The spare if it can read the job's tables and is alive, else a new worker; ready."""
        needed = data_dirs(job.tables)
        with self._lock:
            spare, self._spare = self._spare, None
        worker = spare[0] if spare is not None else None
        if spare is not None and (not spare[0].alive or not _covers(spare[1], needed)):
            threading.Thread(target=spare[0].cleanup, daemon=True).start()
            worker = None
        if worker is None:
            self.readable = sorted(set(self.readable) | set(needed))
            worker = start_worker(self.settings, self.readable)
        if not worker.ready:
            worker.wait_ready(START_SECONDS, _not_started)
        return worker

    def run(self, job: Job) -> Execution:
        job = only_touched(job)  # an untouched table costs a read and a directory the worker must see
        try:
            worker = self._take_worker(job)
        except EngineUnavailableError as exc:
            if self.settings.ray_address:  # a cluster that cannot be joined stays so for now
                return report.unavailable(exc)
            try:  # a local Ray that failed to start (a busy machine) gets one fresh try
                worker = self._take_worker(job)
            except EngineUnavailableError as again:
                return report.unavailable(again)
        try:
            return self._run_in(worker, job)
        finally:
            threading.Thread(target=worker.cleanup, daemon=True).start()
            threading.Thread(target=self._spawn_spare, daemon=True).start()

    def _run_in(self, worker: SandboxedProcess, job: Job) -> Execution:
        payload = job.model_dump(mode="json") | {"output_dir": str(worker.outbox)}
        start = time.perf_counter()
        found = worker.exchange(payload, job.limits.timeout_seconds)
        elapsed = time.perf_counter() - start
        if found is None:
            execution = report.lost(
                worker, job.limits.timeout_seconds, elapsed, worker="the Ray worker", hint=TIMEOUT_HINT
            )
        else:
            execution = report.execution(found, worker.log_tail(), Contract.RAY)
        if execution.result is not None:
            execution.result.location = report.keep_result(worker.outbox, Path(job.output_dir))
        execution.timings["worker"] = elapsed
        return execution

    def warm(self) -> None:
        """Block until the spare worker's Ray is up."""
        with self._lock:
            spare = self._spare
        if spare is not None and not spare[0].ready:
            spare[0].wait_ready(START_SECONDS, _not_started)

    def close(self) -> None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare[0].kill()
            spare[0].cleanup()


def _covers(have: list[Path], need: list[Path]) -> bool:
    return all(any(n.is_relative_to(h) for h in have) for n in need)


def create(settings: Settings, readable: list[Path] | None = None) -> RayEngine:
    import importlib.util

    if importlib.util.find_spec("ray") is None:  # the worker imports it; the engine process need not
        raise missing_extra("the ray engine", "ray", "ray[data]")
    return RayEngine(settings, readable)
