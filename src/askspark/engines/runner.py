"""The job runner the Spark engines hold: one sandboxed single-use worker per job on a Spark Connect server.

A worker is started ahead of time (interpreter, imports and session ready) so a job pays only for its
own work. Each job gets a fresh worker, a fresh Spark session (own temporary views) and a fresh output
directory. On timeout the worker is killed and its Spark session's operations are interrupted, so no
Spark job keeps running after the attempt ends. The local and connect engines each hold one
:class:`Runner`; what differs between them (the server's supervisor, the staging directory, whether the
catalog is scrubbed, where a full result may live, how a refused session is named) is passed in.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from askspark.engines import cgroups, report, sandbox
from askspark.engines.base import Execution, Job, only_touched
from askspark.engines.bindings import Bindings
from askspark.engines.process import SandboxedProcess
from askspark.engines.server import ServerState
from askspark.engines.supervise import Supervisor, probe
from askspark.engines.worker import CONTROL_DEADLINE_SECONDS, SESSION_ENV, SOCKET_ENV, connect
from askspark.errors import EngineUnavailableError
from askspark.processes import pid_alive
from askspark.record import ErrorKind
from askspark.settings import Settings

USER_ID = "askspark"  # one Spark Connect user for workers and the engine, so the engine can interrupt
WORKER_START_SECONDS = 45.0
SUSPECT_KINDS = {ErrorKind.TIMEOUT, ErrorKind.OUT_OF_MEMORY, ErrorKind.RUNTIME, ErrorKind.ENGINE_UNAVAILABLE}
WORKER_MAX_TASKS = 256  # processes and threads: gRPC and Arrow start a few dozen threads


def require_sandbox(settings: Settings) -> None:
    """Fail closed: no sandbox, no engine; and no process limit, no engine (raises as root)."""
    if settings.sandbox:
        sandbox.bwrap_path()
        probe_group = cgroups.create(1, 1 << 30)
        if probe_group is not None:
            probe_group.remove()


@dataclass(eq=False)
class Worker:
    """One started Spark worker: its process and the Spark session its job will run in."""

    process: SandboxedProcess
    session_id: str
    server: str  # the socket directory of the server it is connected to
    memory_mb: int

    def wait_ready(self, seconds: float) -> None:
        self.process.wait_ready(seconds, _not_started)


def _not_started(log_tail: str) -> EngineUnavailableError:
    return EngineUnavailableError(
        "the sandboxed worker did not start",
        suggestion="check that bubblewrap works here (bwrap --version) and read the worker log",
        log_tail=log_tail,
    )


def start_worker(settings: Settings, state: ServerState, memory_mb: int | None, staging: Path) -> Worker:
    """Start a worker for ``state``'s server; its directory (named with our pid) stages its result."""
    session_id, memory_mb = str(uuid.uuid4()), memory_mb or settings.worker_memory_mb
    # The pid in the name tells other processes sharing the server whose directory this is.
    outbox = Path(tempfile.mkdtemp(prefix=f"w{os.getpid()}-", dir=staging))
    spec = sandbox.SandboxSpec(
        writable=[outbox],
        memory_mb=memory_mb,
        cpu_seconds=int(settings.timeout_seconds * 2) + 60,
        env={SESSION_ENV: session_id, "ASKSPARK_USER_ID": USER_ID},
        run_as=sandbox.run_as(settings.sandbox_user) if settings.sandbox else None,
    )
    if settings.sandbox:
        spec.socket_dir = Path(state.socket_dir)
        spec.env[SOCKET_ENV] = f"{sandbox.SOCKET_DIR_INSIDE}/connect.sock"
    else:
        spec.env[SOCKET_ENV] = state.socket_path
    group = cgroups.create(WORKER_MAX_TASKS, memory_mb * 1024 * 1024) if settings.sandbox else None
    process = SandboxedProcess("askspark.engines.worker", spec, outbox, group, sandboxed=settings.sandbox)
    return Worker(process, session_id, state.socket_dir, memory_mb)


@dataclass
class RunnerOptions:
    """What an engine's runner does its own way."""

    engine_id: str
    staging: Path  # where its workers stage results (swept of strangers after each job)
    scrub_catalog: bool = True  # a server's catalog we own; not a cluster's
    full_result: Callable[[Job], str | None] | None = None  # where the server itself keeps a full result
    refusal: Callable[[EngineUnavailableError], EngineUnavailableError] = field(default=lambda exc: exc)
    """Names the cause when no worker could open a session."""


class Runner:
    """Runs jobs on one supervised Spark Connect server, each in its own sandboxed worker."""

    # The next job's worker starts as soon as a job takes one (it gets ready while the job runs) and the
    # last job's catalog scrub runs while a worker is taken, so back-to-back questions (a scripted or
    # fast model, the HTTP API's queue) do not wait for either. False: the order before issue 16 (scrub
    # first, the next worker only after the job), kept for benchmarks/back_to_back.py's side-by-side run.
    ready_ahead = True
    # Bind only the tables the job's code refers to (base.only_touched). False: every selected table, as
    # before issue 16, kept for benchmarks/core_overhead.py's side-by-side run.
    bind_touched = True

    def __init__(
        self, settings: Settings, server: Supervisor, options: RunnerOptions, *, warm: bool = True
    ) -> None:
        self.settings = settings
        self.server = server
        self.options = options
        server.on_restart = self.release
        self.bindings = Bindings(settings, self.control, lambda: self.server.state)
        self._lock = threading.Lock()
        self._control_lock = threading.Lock()
        self.spare: Worker | None = None
        self._control: Any = None
        self._scrub: threading.Thread | None = None
        self._live: set[Worker] = set()
        self._suspect = False  # the last job failed in a way that may have hurt the server
        # Which Spark session each live worker opened, outside the server's reach: a process killed
        # with -9 leaves its workers' records, and the next sweep interrupts their Spark work.
        self.sessions = options.staging.with_name(options.staging.name + "-sessions")
        self.sessions.mkdir(parents=True, exist_ok=True)
        if warm:
            self.spare = self._new_worker()
        # What a killed process left (staged files, running Spark work, cgroups), before any job's code.
        self._scrub = threading.Thread(target=self.sweep_leftovers, daemon=True)
        self._scrub.start()

    # --- a job ------------------------------------------------------------------------------------

    def run(self, job: Job) -> Execution:
        """Run one job; safe to call from several threads at once (each job gets its own worker)."""
        start = time.perf_counter()
        if self.bind_touched:
            job = only_touched(job)  # before the readable check: an untouched table's directory is no reason
        try:
            self._prepare(job)
            if not self.ready_ahead or any(t.format == "jdbc" for t in job.tables):
                self.wait_scrub()  # the scrub must not drop the JDBC view this job is about to bind
            bound = self.bindings.bind(job)
            try:
                return self._run_shared(bound, start)
            except EngineUnavailableError:
                if not self.server.owned:
                    raise
                self.server.restart()  # no worker could start: the owned server is suspect; restart it, once
                bound = self.bindings.bind(job)
                return self._run_shared(bound, start)
            finally:
                self.bindings.release(bound)
        except EngineUnavailableError as exc:
            return report.unavailable(exc)

    def _prepare(self, job: Job) -> None:
        """A healthy server that may read the job's tables (restarting an owned one when needed)."""
        self.server.ensure()
        if self._suspect and self.server.owned and not probe(self.control):
            self.server.restart()
        self._suspect = False
        if job.execute:  # a dry run binds empty stand-ins: it reads no data
            self.server.ensure_readable(job)

    def _run_shared(self, job: Job, start: float) -> Execution:
        with self.server.gate.job():
            try:
                worker = self.take_worker(job.limits.memory_mb)
            except EngineUnavailableError as exc:
                raise self.options.refusal(exc) from None
            if self.ready_ahead:
                self._spawn_spare_async()  # the next job's worker starts while this one runs
            self.wait_scrub()  # the last job's leftovers are gone before this job's code runs
            prepare = time.perf_counter() - start  # the last job's cleanup, server checks, a ready worker
            return self._execute(worker, job, prepare)

    def _execute(self, worker: Worker, job: Job, prepare: float = 0.0) -> Execution:
        try:
            execution = self.run_in(worker, job)
            execution.timings["prepare"] = prepare
            if not self.server.owned and self.server.state.started_at:  # the warm 'askspark engine start'
                execution.timings["shared_server_uptime"] = time.time() - self.server.state.started_at
            self._suspect = execution.error is not None and execution.error.kind in SUSPECT_KINDS
            return execution
        finally:
            threading.Thread(
                target=self._retire, args=(worker,), daemon=True
            ).start()  # not the caller's wait
            self._scrub = threading.Thread(target=self.scrub, daemon=True)
            self._scrub.start()
            if not self.ready_ahead:
                self._spawn_spare_async()

    def run_in(self, worker: Worker, job: Job) -> Execution:
        """Hand the job to a ready worker; its report as an Execution, the full result moved to the run."""
        start = time.perf_counter()
        found = worker.process.exchange(self._payload(worker, job), job.limits.timeout_seconds)
        elapsed = time.perf_counter() - start
        if found is None:
            execution = report.lost(worker.process, job.limits.timeout_seconds, elapsed)
            self.interrupt(worker.session_id)  # stop its Spark work too
            execution.timings["worker"] = elapsed
            return execution
        execution = report.execution(found, worker.process.log_tail())
        if execution.result is not None:
            start = time.perf_counter()
            try:
                execution.result.location = self._place_result(worker, job, execution.result.location)
            except OSError as exc:  # the runs directory is read-only, full or gone
                return report.not_kept(exc, job.output_dir, execution.timings | {"worker": elapsed})
            execution.timings["keep_result"] = time.perf_counter() - start
        execution.timings["worker"] = elapsed
        execution.engine = self.options.engine_id
        return execution

    def _payload(self, worker: Worker, job: Job) -> dict[str, Any]:
        """The job as the worker reads it: results are staged in the worker's own outbox."""
        payload = job.model_dump(mode="json") | {"output_dir": str(worker.process.outbox)}
        if self.options.full_result is not None:
            payload["full_result"] = self.options.full_result(job)
        return payload

    def _place_result(self, worker: Worker, job: Job, reported: str | None) -> str:
        """Where the full result ends up: the server's own copy when the worker says it wrote one there;
        else moved from the worker's outbox into the run's own directory (the engine decides the place,
        not the worker's report)."""
        full = self.options.full_result(job) if self.options.full_result is not None else None
        if full is not None and reported == full:
            return full
        return report.keep_result(worker.process.outbox, Path(job.output_dir))

    def interrupt(self, session_id: str) -> None:
        """Interrupt every Spark operation of a worker's session, then release the session.

        Bounded like every call of the engine's own sessions: a server that died with the worker fails
        this within seconds (pyspark's default retries held a question for more than 7 minutes)."""
        try:
            spark = connect(self.server.state.socket_path, session_id, CONTROL_DEADLINE_SECONDS)
            spark.interruptAll()
            spark.stop()
        except Exception:  # noqa: BLE001 - best effort: the server may be gone too
            pass

    # --- the trusted side -------------------------------------------------------------------------

    def control(self) -> Any:
        """The engine's own Spark session (trusted code only), over the same socket as the workers."""
        with self._control_lock:  # scrubs after concurrent jobs must not open two
            if self._control is None:
                socket = self.server.state.socket_path
                self._control = connect(socket, str(uuid.uuid4()), CONTROL_DEADLINE_SECONDS)
            return self._control

    def scrub(self) -> None:
        """After a job: the staging area, and the server's catalog when it is ours to scrub."""
        self.sweep_outbox()
        if self.options.scrub_catalog:
            self.bindings.scrub()

    def wait_scrub(self) -> None:
        scrub = self._scrub
        if scrub is not None:
            scrub.join(timeout=60)

    def sweep_outbox(self) -> None:
        """Remove whatever a run wrote into the staging area outside its own worker's directory.

        The server may write anywhere under the outbox root (it writes full results there); files there
        that belong to no waiting or running worker are leftovers of a hostile or failed run. Spark
        sessions of workers whose process died without retiring them (killed with -9) are interrupted.
        """
        with self._lock:
            keep = {w.process.outbox for w in self._live}
            for entry in self.options.staging.iterdir():
                owner = entry.with_suffix("") if entry.suffix == ".log" else entry
                if owner in keep or _another_process(owner.name):
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
            orphans = [
                r
                for r in self.sessions.iterdir()
                if self.options.staging / r.name not in keep and not _another_process(r.name)
            ]
        for record in orphans:
            self._end_session(record)

    def _end_session(self, record: Path) -> None:
        """Interrupt the Spark work of a worker that is gone, if it ran on this server; drop its record."""
        with contextlib.suppress(OSError, ValueError, KeyError):
            found = json.loads(record.read_text())
            if found["server"] == self.server.state.socket_dir:
                self.interrupt(found["session"])
        record.unlink(missing_ok=True)

    def sweep_leftovers(self) -> None:
        """What processes killed with -9 left: staged files and Spark work (above), and their cgroups."""
        self.sweep_outbox()
        if self.settings.sandbox:
            cgroups.sweep()

    # --- workers ----------------------------------------------------------------------------------

    def _new_worker(self, memory_mb: int | None = None) -> Worker:
        with self._lock:  # a worker's directory must be registered before the sweep can see it
            worker = start_worker(self.settings, self.server.state, memory_mb, self.options.staging)
            self._live.add(worker)
            record = {"server": worker.server, "session": worker.session_id}
            (self.sessions / worker.process.outbox.name).write_text(json.dumps(record))
        return worker

    def _retire(self, worker: Worker) -> None:
        worker.process.cleanup()
        with self._lock:
            self._live.discard(worker)
            (self.sessions / worker.process.outbox.name).unlink(missing_ok=True)

    def _discard(self, worker: Worker) -> None:
        """Stop a worker that will get no job, and remove its files."""
        worker.process.kill()
        self._retire(worker)

    def take_worker(self, memory_mb: int | None = None) -> Worker:
        """The spare worker if it suits (same server, same memory, alive), else a new one; ready."""
        with self._lock:
            worker, self.spare = self.spare, None
        wanted = memory_mb or self.settings.worker_memory_mb
        if worker is not None and (
            not worker.process.alive
            or worker.server != self.server.state.socket_dir
            or worker.memory_mb != wanted
        ):
            worker.process.kill()
            threading.Thread(target=self._retire, args=(worker,), daemon=True).start()
            worker = None
        if worker is None:
            worker = self._new_worker(wanted)
        if not worker.process.ready:
            worker.wait_ready(WORKER_START_SECONDS)
        return worker

    def warm(self) -> None:
        """Block until a started worker is waiting for the next job."""
        worker = self.take_worker()
        with self._lock:
            spare, self.spare = self.spare, worker
        if spare is not None:
            self._discard(spare)

    def _spawn_spare_async(self) -> None:
        def spawn() -> None:
            worker = self._new_worker()
            with self._lock:
                old, self.spare = self.spare, worker
            if old is not None:  # a concurrent run left one too: keep one spare only
                self._discard(old)

        threading.Thread(target=spawn, daemon=True).start()

    def release(self) -> None:
        """Stop the spare worker and close the control channel (without an RPC: the server may be gone,
        and pyspark's exit hook would otherwise retry against it for minutes)."""
        with self._lock:
            spare, self.spare, control, self._control = self.spare, None, self._control, None
        if spare is not None:
            self._discard(spare)
        if control is not None:
            with contextlib.suppress(Exception):  # the channel may be broken already
                control.client.close()

    def close(self) -> None:
        """Stop every worker still here (the spare, and those whose retirement is under way: at exit
        their daemon threads would die before removing the workers' files and cgroups)."""
        self.wait_scrub()
        self.release()
        with self._lock:
            left = list(self._live)
        for worker in left:
            self._discard(worker)


def _another_process(name: str) -> bool:
    """Whether ``name`` is a worker directory of another live process sharing this server (e.g. an
    HTTP server and a CLI command joined to 'askspark engine start'): that process sweeps its own."""
    match = re.match(r"w(\d+)-", name)
    return match is not None and int(match.group(1)) != os.getpid() and pid_alive(int(match.group(1)))
