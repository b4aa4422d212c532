"""The ``local`` engine: a warm Spark Connect server we own, and one sandboxed worker process per job.

A worker is started ahead of time (interpreter, imports and session ready) so a job pays only for its
own work. Each job gets a fresh worker, a fresh Spark session (own temporary views) and a fresh output
directory. On timeout the worker is killed and its Spark session's operations are interrupted, so no
Spark job keeps running after the attempt ends. A dead server is restarted before the next job.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from askspark.engines import cgroups, sandbox
from askspark.engines.base import NOT_FILES, Execution, Job, TableBinding, data_dirs
from askspark.engines.server import (
    ServerState,
    can_read,
    healthy,
    jdbc_address,
    load_state,
    outbox_root,
    pid_alive,
    start_server,
    stop_server,
)
from askspark.engines.worker import SESSION_ENV, SOCKET_ENV, connect
from askspark.errors import EngineUnavailableError
from askspark.record import ErrorKind, Failure, ResultPreview
from askspark.runs.classify import classify
from askspark.settings import Settings

USER_ID = "askspark"  # one Spark Connect user for workers and the engine, so the engine can interrupt
WORKER_START_SECONDS = 45.0
PROBE_SECONDS = 20.0
SUSPECT_KINDS = {ErrorKind.TIMEOUT, ErrorKind.OUT_OF_MEMORY, ErrorKind.RUNTIME, ErrorKind.ENGINE_UNAVAILABLE}
LOG_TAIL_BYTES = 20_000
WORKER_MAX_TASKS = 256  # processes and threads: gRPC and Arrow start a few dozen threads


class Worker:
    """One started worker process, waiting for its job."""

    def __init__(
        self,
        settings: Settings,
        state: ServerState,
        memory_mb: int | None = None,
        staging: Path | None = None,
    ) -> None:
        self.session_id = str(uuid.uuid4())
        self.server = state.socket_dir  # the server this worker is connected to
        self.memory_mb = memory_mb or settings.worker_memory_mb
        # The pid in the name tells other processes sharing the server whose directory this is.
        self.outbox = Path(tempfile.mkdtemp(prefix=f"w{os.getpid()}-", dir=staging or outbox_root(settings)))
        self.log_path = self.outbox.with_suffix(".log")
        spec = sandbox.SandboxSpec(
            writable=[self.outbox],
            memory_mb=self.memory_mb,
            cpu_seconds=int(settings.timeout_seconds * 2) + 60,
            env={SESSION_ENV: self.session_id, "ASKSPARK_USER_ID": USER_ID},
        )
        self.cgroup = (
            cgroups.create(WORKER_MAX_TASKS, self.memory_mb * 1024 * 1024) if settings.sandbox else None
        )
        self.proc = _spawn(settings, state, spec, self.log_path, self.cgroup)
        self.ready = False

    def wait_ready(self, seconds: float) -> None:
        line = _read_line(self.proc, seconds)
        if line != "ready":
            self.kill()
            raise EngineUnavailableError(
                "the sandboxed worker did not start",
                suggestion="check that bubblewrap works here (bwrap --version) and read the worker log",
                log_tail=self.log_tail(),
            )
        self.ready = True

    def exchange(self, job: dict[str, Any], seconds: float) -> dict[str, Any] | None:
        """Send the job; the report, or None when the worker died or ran out of time."""
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(job) + "\n").encode())
        self.proc.stdin.flush()
        line = _read_line(self.proc, seconds)
        return json.loads(line) if line else None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
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
        """Wait for the process to end (it releases its Spark session first), then remove its files."""
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
        if self.cgroup is not None:
            self.cgroup.remove()
        shutil.rmtree(self.outbox, ignore_errors=True)
        self.log_path.unlink(missing_ok=True)


def _spawn(
    settings: Settings, state: ServerState, spec: sandbox.SandboxSpec, log: Path, group: cgroups.Cgroup | None
) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "askspark.engines.worker"]
    if settings.sandbox:
        spec.socket_dir = Path(state.socket_dir)
        spec.env[SOCKET_ENV] = f"{sandbox.SOCKET_DIR_INSIDE}/connect.sock"
        cmd, env = sandbox.bwrap_command(spec, argv), {"PATH": os.environ.get("PATH", "")}
        cmd = sandbox.limited(cmd, spec, group.dirs if group else None)
    else:
        spec.env[SOCKET_ENV] = state.socket_path
        cmd, env = sandbox.unsandboxed_command(spec, argv)
        cmd = sandbox.limited(cmd, spec, None)
    with open(log, "wb") as err:
        return subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
            start_new_session=True,
        )


def _read_line(proc: subprocess.Popen[bytes], seconds: float) -> str | None:
    """One line from the worker's report channel within ``seconds``; None on timeout or exit."""
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


class Gate:
    """Jobs share the server; a restart has it alone: it waits for running jobs and holds new ones back.

    Several jobs run at once when the HTTP API runs questions concurrently; restarting the server
    under a running job would fail it for no fault of its code.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._jobs = 0
        self._restarting = False

    @contextlib.contextmanager
    def job(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._restarting)
            self._jobs += 1
        try:
            yield
        finally:
            with self._cond:
                self._jobs -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def alone(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._restarting)
            self._restarting = True
            self._cond.wait_for(lambda: self._jobs == 0)
        try:
            yield
        finally:
            with self._cond:
                self._restarting = False
                self._cond.notify_all()


class LocalEngine:
    """Runs jobs on the locally owned (or shared) Spark Connect server, each in a sandboxed worker."""

    id = "local"

    def __init__(self, settings: Settings, readable: list[Path] | None = None) -> None:
        """Start (or join the shared) server; ``readable`` adds data directories the server may read."""
        self.settings = settings
        if settings.sandbox:
            sandbox.bwrap_path()  # fail closed: no sandbox, no engine
            probe = cgroups.create(1, 1 << 30)  # ... and no process limit, no engine (raises as root)
            if probe is not None:
                probe.remove()
        shared = load_state(settings)
        self.owned = shared is None
        self.state = shared or start_server(settings, readable)
        self._lock = threading.Lock()
        self._gate = Gate()
        self._control_lock = threading.Lock()
        self._spare: Worker | None = None
        self._control: Any = None
        self._scrub: threading.Thread | None = None
        self._live: set[Worker] = set()
        self._suspect = False  # the last job failed in a way that may have hurt the server
        self._views_in_use: set[str] = set()  # JDBC views of jobs in flight: the scrub leaves them
        self._spawn_spare()

    def _spawn_spare(self) -> None:
        self._spare = self._new_worker()

    def _new_worker(self, memory_mb: int | None = None) -> Worker:
        with self._lock:  # a worker's directory must be registered before the sweep can see it
            worker = Worker(self.settings, self.state, memory_mb, self.staging())
            self._live.add(worker)
        return worker

    def _retire(self, worker: Worker) -> None:
        worker.cleanup()
        with self._lock:
            self._live.discard(worker)

    def _discard(self, worker: Worker) -> None:
        """Stop a worker that will get no job, and remove its files."""
        worker.kill()
        self._retire(worker)

    def _take_worker(self, memory_mb: int | None = None) -> Worker:
        """The spare worker if it suits (same server, same memory, alive), else a new one; ready."""
        with self._lock:
            worker, self._spare = self._spare, None
        wanted = memory_mb or self.settings.worker_memory_mb
        if worker is not None and (
            worker.proc.poll() is not None
            or worker.server != self.state.socket_dir
            or worker.memory_mb != wanted
        ):
            worker.kill()
            threading.Thread(target=self._retire, args=(worker,), daemon=True).start()
            worker = None
        if worker is None:
            worker = self._new_worker(wanted)
        if not worker.ready:
            worker.wait_ready(WORKER_START_SECONDS)
        return worker

    def probe(self) -> bool:
        """Whether the server still runs Spark jobs (its JVM may live on after its SparkContext died)."""
        done = threading.Event()

        def query() -> None:
            with contextlib.suppress(Exception):
                if self.control().range(1).count() == 1:
                    done.set()

        threading.Thread(target=query, daemon=True).start()
        return done.wait(PROBE_SECONDS)

    def ensure_server(self) -> None:
        """Restart an owned server that died (a crashed run must not take the engine down for good)."""
        if healthy(self.state):
            return
        if not self.owned:
            raise EngineUnavailableError(
                f"the shared Spark server at {self.state.url} is not answering",
                suggestion="restart it with 'askspark engine start', or stop it with 'askspark engine stop'",
            )
        self.restart(unless=lambda: healthy(self.state))

    def restart(self, readable: Iterable[str] = (), unless: Callable[[], bool] | None = None) -> None:
        """Replace the owned server (a fresh JVM, or one allowed to read more directories as well).

        Waits until no job runs. ``unless`` is checked once the server is ours alone: a concurrent
        job may have restarted it already.
        """
        with self._gate.alone():
            if unless is not None and unless():
                return
            dirs = sorted(set(self.state.readable) | set(readable))
            self._release()
            stop_server(self.state)
            self.state = start_server(self.settings, [Path(d) for d in dirs])

    def ensure_readable(self, job: Job) -> None:
        """Make sure the server may read every table of the job: restart an owned one that may not."""
        files = [t for t in job.tables if t.format not in NOT_FILES]
        unseen = [t.location for t in files if not can_read(self.state, t.location)]
        if not unseen:
            return
        if not self.owned:
            raise EngineUnavailableError(
                f"the shared Spark server was started without access to {', '.join(unseen)}",
                suggestion="restart it (askspark engine stop; askspark engine start) after registering the data",
            )
        dirs = {str(d) for d in data_dirs([t for t in job.tables if t.location in unseen])}
        self.restart(dirs, unless=lambda: all(can_read(self.state, t.location) for t in job.tables))

    def run(self, job: Job) -> Execution:
        """Run one job; safe to call from several threads at once (each job gets its own worker)."""
        start = time.perf_counter()
        try:
            self._prepare(job)
            bound = self.bind_sources(job)
            try:
                return self._run_shared(bound, start)
            except EngineUnavailableError:
                if not self.owned:
                    raise
                self.restart()  # no worker could start: the owned server is suspect; restart it, once
                bound = self.bind_sources(job)
                return self._run_shared(bound, start)
            finally:
                self._release_views(bound)
        except EngineUnavailableError as exc:
            return Execution(ok=False, stage="dry_run", error=_unavailable(exc))

    def _prepare(self, job: Job) -> None:
        """A healthy server that may read the job's tables (restarting an owned one when needed)."""
        self._wait_scrub()
        self.ensure_server()
        if self._suspect and self.owned and not self.probe():
            self.restart()
        self._suspect = False
        if job.execute:  # a dry run binds empty stand-ins: it reads no data
            self.ensure_readable(job)

    def _run_shared(self, job: Job, start: float) -> Execution:
        with self._gate.job():
            worker = self._ready_worker(job)
            prepare = time.perf_counter() - start  # the last job's cleanup, server checks, a ready worker
            return self._execute(worker, job, prepare)

    def _ready_worker(self, job: Job) -> Worker:
        """A started worker for the job (the spare when it fits); subclasses name their own causes."""
        return self._take_worker(job.limits.memory_mb)

    def _execute(self, worker: Worker, job: Job, prepare: float = 0.0) -> Execution:
        try:
            execution = self._run_in(worker, job)
            execution.timings["prepare"] = prepare
            self._suspect = execution.error is not None and execution.error.kind in SUSPECT_KINDS
            return execution
        finally:
            threading.Thread(
                target=self._retire, args=(worker,), daemon=True
            ).start()  # reaping is not the caller's wait
            self._scrub = threading.Thread(target=self.scrub_catalog, daemon=True)
            self._scrub.start()
            # After the job, not during it: on two cores a starting worker would slow the job down.
            self._spawn_spare_async()

    def staging(self) -> Path:
        """The directory this engine's workers stage results in (swept after each job)."""
        return outbox_root(self.settings)

    def bind_sources(self, job: Job) -> Job:
        """Bind JDBC tables on the trusted side: a global temporary view per table, made by the control
        session with the credentials; the worker gets only the view's name (scrub_catalog drops it after
        the job). The password never enters the job, the worker or the generated code; Spark redacts it
        from plans (spark.redaction.regex matches ``password``)."""
        if all(t.format != "jdbc" for t in job.tables):
            return job
        tables = [self._bind_jdbc(job, t) if t.format == "jdbc" else t for t in job.tables]
        return job.model_copy(update={"tables": tables})

    def _bind_jdbc(self, job: Job, table: TableBinding) -> TableBinding:
        from askspark.catalog import jdbc

        target = jdbc.target(table.options.get("url"))
        url = target.url_via(*jdbc_address(self.state, target.host, target.port))
        options = jdbc.reader_options(self.settings, table.location, url)
        view = f"askspark_{uuid.uuid4().hex[:12]}_{table.name}"
        with self._lock:  # before the view exists: a concurrent job's scrub must not drop it
            self._views_in_use.add(view)
        try:
            self.control().read.format("jdbc").options(**options).load().createGlobalTempView(view)
        except Exception as exc:  # noqa: BLE001 - reported as the engine's, without the options
            raise EngineUnavailableError(
                f"cannot read {table.full_name} from {target.host}:{target.port}/{target.database}",
                suggestion="check that the database is up and the jdbc catalog's credentials are right",
                reason=type(exc).__name__,
            ) from None
        return table.model_copy(update={"format": "view", "location": f"global_temp.{view}", "options": {}})

    def _release_views(self, job: Job) -> None:
        """The job is over: its JDBC views may go with the next scrub."""
        with self._lock:
            for t in job.tables:
                if t.format == "view":
                    self._views_in_use.discard(t.location.removeprefix("global_temp."))

    def sweep_outbox(self) -> None:
        """Remove whatever a run wrote into the staging area outside its own worker's directory.

        The server may write anywhere under the outbox root (it writes full results there); files there
        that belong to no waiting or running worker are leftovers of a hostile or failed run.
        """
        with self._lock:
            keep = {w.outbox for w in self._live}
            for entry in self.staging().iterdir():
                owner = entry.with_suffix("") if entry.suffix == ".log" else entry
                if owner in keep or _another_process(owner.name):
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)

    def _wait_scrub(self) -> None:
        scrub = self._scrub
        if scrub is not None:
            scrub.join(timeout=60)

    def control(self) -> Any:
        """The engine's own Spark session (trusted code only), over the same socket as the workers."""
        with self._control_lock:  # scrubs after concurrent jobs must not open two
            if self._control is None:
                self._control = connect(self.state.socket_path, str(uuid.uuid4()))
            return self._control

    def scrub_catalog(self) -> None:
        """Drop catalog objects a run left behind: they are shared across sessions, runs must not be.

        Generated code may not run DDL (the validator rejects it); this is the wall behind that filter.
        Databases other than ``default``, tables and persistent functions in any database are dropped.
        """
        self.sweep_outbox()
        with contextlib.suppress(Exception):  # the server may be gone; the next run restarts it
            spark = self.control()
            for db in spark.catalog.listDatabases():
                if db.name != "default":
                    spark.sql(f"DROP DATABASE IF EXISTS `{db.name}` CASCADE")
            for table in spark.catalog.listTables("default"):
                if not table.isTemporary:
                    spark.sql(f"DROP TABLE IF EXISTS default.`{table.name}`")
            with self._lock:
                in_use = set(self._views_in_use)
            for view in spark.catalog.listTables("global_temp"):
                if view.name not in in_use:  # another job's JDBC table, still being read
                    spark.sql(f"DROP VIEW IF EXISTS global_temp.`{view.name}`")
            for fn in spark.sql("SHOW USER FUNCTIONS").collect():
                name = fn[0]
                if "." in name:  # persistent functions are qualified; temporary ones die with the session
                    spark.sql(f"DROP FUNCTION IF EXISTS {name}")

    def warm(self) -> None:
        """Block until a started worker is waiting for the next job."""
        worker = self._take_worker()
        with self._lock:
            spare, self._spare = self._spare, worker
        if spare is not None:
            self._discard(spare)

    def _spawn_spare_async(self) -> None:
        def spawn() -> None:
            worker = self._new_worker()
            with self._lock:
                old, self._spare = self._spare, worker
            if old is not None:  # a concurrent run left one too: keep one spare only
                self._discard(old)

        threading.Thread(target=spawn, daemon=True).start()

    def payload(self, worker: Worker, job: Job) -> dict[str, Any]:
        """The job as the worker reads it: results are staged in the worker's own outbox."""
        return job.model_dump(mode="json") | {"output_dir": str(worker.outbox)}

    def place_result(self, worker: Worker, job: Job, reported: str | None) -> str:  # noqa: ARG002
        """Where the full result ends up: moved from the worker's outbox into the run's own directory.

        The worker's report is not trusted for the place: the engine decides it.
        """
        return _keep_result(worker.outbox, Path(job.output_dir))

    def _run_in(self, worker: Worker, job: Job) -> Execution:
        start = time.perf_counter()
        report = worker.exchange(self.payload(worker, job), job.limits.timeout_seconds)
        elapsed = time.perf_counter() - start
        if report is None:
            return self._lost(worker, job, elapsed)
        execution = _execution(report, worker.log_tail())
        if execution.result is not None:
            start = time.perf_counter()
            execution.result.location = self.place_result(worker, job, execution.result.location)
            execution.timings["keep_result"] = time.perf_counter() - start
        execution.timings["worker"] = elapsed
        execution.engine = self.id
        return execution

    def _lost(self, worker: Worker, job: Job, elapsed: float) -> Execution:
        """The worker gave no report: it ran out of time or died. Stop it and its Spark work."""
        timed_out = worker.proc.poll() is None
        worker.kill()
        self.interrupt(worker.session_id)
        logs = worker.log_tail()
        if timed_out:
            failure = Failure(
                kind=ErrorKind.TIMEOUT,
                message=f"the attempt ran longer than the {job.limits.timeout_seconds:g} s limit and was stopped",
                suggestion="compute less: filter or aggregate earlier, avoid cross joins and Python loops",
            )
        else:
            failure = _death(worker.proc.returncode, logs)
        return Execution(ok=False, stage="execute", error=failure, logs=logs, timings={"worker": elapsed})

    def interrupt(self, session_id: str) -> None:
        """Interrupt every Spark operation of a worker's session, then release the session."""
        try:
            spark = connect(self.state.socket_path, session_id)
            spark.interruptAll()
            spark.stop()
        except Exception:  # noqa: BLE001 - best effort: the server may be gone too
            pass

    def _release(self) -> None:
        """Stop the spare worker and close the control channel (without an RPC: the server may be gone,
        and pyspark's exit hook would otherwise retry against it for minutes)."""
        with self._lock:
            spare, self._spare, control, self._control = self._spare, None, self._control, None
        if spare is not None:
            self._discard(spare)
        if control is not None:
            with contextlib.suppress(Exception):
                control.client.close()

    def close(self) -> None:
        self._wait_scrub()
        self._release()
        if self.owned:
            stop_server(self.state)


def _another_process(name: str) -> bool:
    """Whether ``name`` is a worker directory of another live process sharing this server (e.g. an
    HTTP server and a CLI command joined to 'askspark engine start'): that process sweeps its own."""
    match = re.match(r"w(\d+)-", name)
    return match is not None and int(match.group(1)) != os.getpid() and pid_alive(int(match.group(1)))


def _keep_result(outbox: Path, output_dir: Path) -> str:
    """Move the worker's full result to the run's own directory, out of the worker's reach."""
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / "result"
    shutil.rmtree(target, ignore_errors=True)
    shutil.move(str(outbox / "result"), target)
    return str(target)


def _execution(report: dict[str, Any], logs: str) -> Execution:
    if report.get("ok"):
        result = ResultPreview.model_validate(report["result"]) if report.get("result") else None
        return Execution(ok=True, stage=report["stage"], result=result, logs=logs, timings=report["timings"])
    err = report["error"]
    failure = classify(err["text"], exc_type=err["type"])
    if failure.line is None and err.get("line") is not None:
        failure.line = err["line"]
    if err["type"] == "ContractError":
        failure.kind = ErrorKind.CONTRACT
    elif failure.kind == ErrorKind.ENGINE_UNAVAILABLE and not _from_spark(err["type"]):
        # e.g. ConnectionRefusedError raised by the code's own network attempt: the code's fault
        failure.kind = ErrorKind.RUNTIME
    return Execution(ok=False, stage=report["stage"], error=failure, logs=logs, timings=report["timings"])


def _from_spark(exc_type: str) -> bool:
    """Whether an exception type comes from the Spark Connect client (not the code's own calls)."""
    return any(word in exc_type for word in ("Spark", "Grpc", "Rpc", "Analysis", "Py4J"))


def _death(returncode: int | None, logs: str) -> Failure:
    if returncode == -signal.SIGXCPU:
        return Failure(kind=ErrorKind.TIMEOUT, message="the attempt used up its CPU time limit")
    if "MemoryError" in logs or returncode == -signal.SIGKILL:
        return Failure(kind=ErrorKind.OUT_OF_MEMORY, message="the worker ran out of memory and was stopped")
    return Failure(
        kind=ErrorKind.RUNTIME, message=f"the worker process exited unexpectedly (code {returncode})"
    )


def _unavailable(exc: EngineUnavailableError) -> Failure:
    return Failure(kind=ErrorKind.ENGINE_UNAVAILABLE, message=exc.message, suggestion=exc.suggestion)


def create(settings: Settings, readable: list[Path] | None = None) -> LocalEngine:
    return LocalEngine(settings, readable)
