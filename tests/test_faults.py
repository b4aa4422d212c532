"""Faults in askspark's own parts, injected into real processes (issue 18).

Each test breaks one part at a chosen point: it signals the part's process (SIGKILL of the Spark server's
JVM, of a worker, of the model daemon), makes a fake OpenAI-compatible server on 127.0.0.1 misbehave,
holds the run store's lock from another process, or fills or write-protects a filesystem (a small tmpfs
as root). Then it checks the same things every time: the question ends well within its time limit, the
run is recorded with a classified reason (or retried, where that is right), nothing is left behind
(processes, staged directories, partial results), and the next question is answered. The matrix of
faults and outcomes is in docs/security.md.

The Spark tests share the session's engine: after a fault it must restart what it needs by itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from askspark import api
from askspark.catalog.base import TableInfo
from askspark.engines import cgroups, worker
from askspark.errors import StoreUnavailableError
from askspark.llm import model_server
from askspark.llm.base import get_llm
from askspark.llm.scripted import ScriptedLLM
from askspark.processes import command_line_has, descendants, free_port, pid_alive
from askspark.record import Answer, ErrorKind
from askspark.runs import store
from askspark.settings import Settings
from live_server import script, serve_process, wait_up

pytestmark = pytest.mark.slow

GOOD = 'def answer(spark, tables):\n    return spark.sql("SELECT symbol, COUNT(*) AS n FROM nasdaq GROUP BY symbol")\n'
# Long enough on two cores that a fault injected a few seconds in lands while Spark runs it.
SLOW_TASKS = 7  # its stage's task count marks its job in the server's log
SLOW = f'def answer(spark, tables):\n    return spark.range(0, 10**11, 1, {SLOW_TASKS}).selectExpr("sum(id % 7) AS s")\n'
WORKER = b"askspark.engines.worker"


def fence(code: str) -> str:
    return f"```python\n{code}```\n"


@pytest.fixture(scope="module")
def nasdaq(settings: Settings, engine: Any) -> list[TableInfo]:
    """The table every question here reads (described, so another home can ask about it), answered
    once before any fault: the server may restart to read its directory, not during a test."""
    tables = [t for t in api.catalog_tables(settings) if t.qualified_name == "northwind.nasdaq"]
    # A fresh JVM's first query can run out of its time on a loaded machine: the loop tries again.
    assert ask(settings, engine, tables, ScriptedLLM(replies=[fence(GOOD)] * 3)).status == "succeeded"
    return tables


def ask(settings: Settings, engine: object, tables: list[TableInfo], llm: Any, **kw: Any) -> Answer:
    return api.ask("How many rows per symbol?", tables, engine=engine, model=llm, settings=settings, **kw)  # type: ignore[arg-type]


def asking(settings: Settings, engine: object, tables: list[TableInfo], llm: Any, question: str = "rows?"):
    """Start a question in the background; its future, and a queue of the stages it reached."""
    stages: queue.Queue[str] = queue.Queue()

    def listener(event: str, data: dict[str, object]) -> None:
        if event == "stage":
            stages.put(str(data["stage"]))

    pool = ThreadPoolExecutor(1)
    future: Future[Answer] = pool.submit(
        api.ask, question, tables, engine=engine, model=llm, settings=settings, listener=listener
    )
    pool.shutdown(wait=False)
    return future, stages


def result_within(future: Future[Answer], seconds: float) -> Answer:
    """The question's answer within ``seconds``; else fail with where every thread waits."""
    try:
        return future.result(timeout=seconds)
    except TimeoutError:
        stacks = "\n".join(
            f"thread {ident}:\n" + "".join(traceback.format_stack(frame))
            for ident, frame in sys._current_frames().items()
        )
        raise AssertionError(f"the question was held over {seconds:.0f} s:\n{stacks}") from None


def wait_for(stages: queue.Queue[str], stage: str, then: float = 0.0) -> None:
    """Wait until the run reaches ``stage``, then ``then`` seconds more."""
    while stages.get(timeout=120) != stage:
        pass
    time.sleep(then)


def wait_for_spark_job(state: Any, seconds: float = 180.0) -> None:
    """Wait until ``state``'s server runs SLOW's job: its stage of ``SLOW_TASKS`` tasks (no other job
    has as many) was submitted."""
    log = Path(state.log)
    deadline = time.monotonic() + seconds
    while f"Submitting {SLOW_TASKS} missing tasks".encode() not in log.read_bytes():
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.2)
    time.sleep(1.0)


def spark_jvm(state: Any) -> int:
    """The Spark Connect server's JVM (inside its sandbox, under the launcher)."""
    tree = descendants(state.pid)
    for pid in tree:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"/java"):
                return pid
    raise AssertionError(f"no Spark JVM under the server's launcher {state.pid}: {tree}")


def parent(pid: int) -> int:
    with contextlib.suppress(OSError, IndexError, ValueError):
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return 0


def worker_roots() -> set[int]:
    """The top process of each of this process's sandboxed workers (bwrap, or python unsandboxed), but
    not those that ran before this test began (another test's engine waiting with its spare worker)."""
    workers = {p for p in descendants(os.getpid()) if p != os.getpid() and command_line_has(p, WORKER)}
    return {p for p in workers if parent(p) not in workers} - FOREIGN


FOREIGN: set[int] = set()


@pytest.fixture(autouse=True)
def _foreign_workers(engine: Any) -> Iterator[None]:
    """Workers of other engines in this test process (earlier tests in the same session): each fault
    test judges only the session engine's workers."""
    FOREIGN.clear()
    deadline = time.monotonic() + 60  # a spare being started is ours: wait until it is ready
    while engine.runner.spare is None and time.monotonic() < deadline:
        time.sleep(0.2)
    spare = engine.runner.spare
    ours = {spare.process.proc.pid} if spare is not None else set()
    FOREIGN.update(worker_roots() - ours)
    yield
    FOREIGN.clear()


def running_worker(engine: Any) -> int:
    """The innermost process (the Python worker itself) of the worker running the current job."""
    spare = engine.runner.spare
    spare_tree = set(descendants(spare.process.proc.pid)) if spare is not None else set()
    busy = [r for r in worker_roots() if r not in spare_tree]
    assert len(busy) == 1, f"expected one busy worker, found {busy}"
    return max(p for p in descendants(busy[0]) if command_line_has(p, WORKER))


def assert_nothing_left(engine: Any) -> None:
    """At most the one spare worker runs, and the staging area holds only its directory and log."""
    prefix = f"w{os.getpid()}-"
    deadline = time.monotonic() + 90  # a retired worker is given 30 s to release its session
    while True:
        engine.runner.wait_scrub()
        spare = engine.runner.spare
        keep = {spare.process.outbox.name, spare.process.log_path.name} if spare is not None else set()
        staged = {p.name for p in engine.runner.options.staging.iterdir() if p.name.startswith(prefix)}
        roots = worker_roots()
        if len(roots) <= 1 and staged <= keep:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"left behind: workers {roots}, staged {staged - keep}")
        time.sleep(0.5)


def stored(settings: Settings, answer: Answer) -> Answer:
    return store.store_for(settings).get(answer.run_id)


# --- the Spark server and its workers --------------------------------------------------------------


def test_spark_server_killed_mid_job(settings: Settings, engine: Any, nasdaq: list[TableInfo]) -> None:
    old = engine.state
    old_tree = descendants(old.pid)
    future, stages = asking(settings, engine, nasdaq, ScriptedLLM(replies=[fence(SLOW)]))
    wait_for(stages, "dry_run")
    wait_for_spark_job(engine.state)
    killed = time.monotonic()
    os.kill(spark_jvm(old), signal.SIGKILL)
    answer = result_within(future, settings.timeout_seconds)
    seconds = time.monotonic() - killed

    # Bounded: the worker's retries (~3 s) and the interrupt's, not the Spark client's 10+ minutes.
    assert seconds < settings.timeout_seconds / 2, f"the question was held {seconds:.0f} s"
    assert answer.status == "failed" and answer.error is not None
    assert answer.error.kind is ErrorKind.ENGINE_UNAVAILABLE
    assert answer.stop_reason == "engine_unavailable cannot be fixed by new code"
    assert stored(settings, answer).status == "failed"

    again = ask(settings, engine, nasdaq, ScriptedLLM(replies=[fence(GOOD)]))
    assert again.status == "succeeded" and len(again.result.rows) == 6  # type: ignore[union-attr]
    assert engine.state.pid != old.pid  # restarted before the next job
    assert not any(pid_alive(p) for p in old_tree)
    assert not Path(old.socket_dir).exists()
    assert_nothing_left(engine)


def test_worker_killed_mid_job_is_retried(settings: Settings, engine: Any, nasdaq: list[TableInfo]) -> None:
    llm = ScriptedLLM(replies=[fence(SLOW), fence(GOOD)])
    future, stages = asking(settings, engine, nasdaq, llm)
    wait_for(stages, "dry_run")
    wait_for_spark_job(engine.state)
    killed = time.monotonic()
    os.kill(running_worker(engine), signal.SIGKILL)
    answer = result_within(future, settings.timeout_seconds * 2)

    # The killed attempt is recorded with its reason; the repair loop's next attempt answers.
    first = answer.attempts[0].error
    assert first is not None and first.kind in (ErrorKind.RUNTIME, ErrorKind.OUT_OF_MEMORY), first
    assert answer.status == "succeeded" and len(answer.attempts) == 2
    assert time.monotonic() - killed < settings.timeout_seconds  # its Spark job was interrupted, too
    assert stored(settings, answer).status == "succeeded"
    assert_nothing_left(engine)


def test_spark_server_stopped_mid_job(settings: Settings, engine: Any, nasdaq: list[TableInfo]) -> None:
    """The Spark server's JVM stopped (SIGSTOP: hung, not dead) while a job runs: the attempt ends at
    its time limit and the engine's interrupt at its deadline, not waiting on the JVM; the next
    attempt finds the server unresponsive, restarts it and answers. The stopped JVM is gone after."""
    # A fresh JVM's first query can run out of a short limit on a loaded machine: the loop tries again.
    quick = settings.model_copy(update={"timeout_seconds": 30.0, "stop_on_repeat": False})
    old = engine.state
    old_tree = descendants(old.pid)
    before = jobs_started(old)
    llm = ScriptedLLM(replies=[fence(SLOW)] + [fence(GOOD)] * 4)
    future, stages = asking(quick, engine, nasdaq, llm)
    wait_for(stages, "dry_run")
    deadline = time.monotonic() + 180
    while jobs_started(old) == before:
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.2)
    jvm = spark_jvm(old)
    os.kill(jvm, signal.SIGSTOP)
    try:
        # The attempts' limits, the interrupt's and the probe's deadlines, a restart (JVM start).
        bound = 5 * quick.timeout_seconds + 3 * worker.CONTROL_DEADLINE_SECONDS + quick.spark_startup_seconds
        answer = result_within(future, bound)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(jvm, signal.SIGCONT)  # a test that failed leaves nothing stopped
    first = answer.attempts[0]
    assert first.error is not None and first.error.kind is ErrorKind.TIMEOUT, first.error
    # Not held by the hung JVM: the limit, then the interrupt and the session release at their deadline.
    assert first.seconds < quick.timeout_seconds + 2 * worker.CONTROL_DEADLINE_SECONDS + 10, first.seconds
    assert answer.status == "succeeded", [a.error for a in answer.attempts]
    assert engine.state.pid != old.pid  # the hung server was replaced
    assert not any(pid_alive(p) for p in old_tree)
    assert stored(settings, answer).status == "succeeded"
    assert_nothing_left(engine)


# --- the model daemon ------------------------------------------------------------------------------


def test_model_daemon_killed_mid_generation(
    settings: Settings, engine: Any, nasdaq: list[TableInfo], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon (a real process; its echo model stands in for the 1.9 GB one, which would make the
    kill's timing depend on a model load) dies mid-call: the client falls back to the in-process model
    (scripted here) and the run answers."""
    monkeypatch.setenv(model_server.FAKE_ENV, "1")
    daemon_home = Settings(home=tmp_path / "home", models_dir=tmp_path / "models", model_threads=1)
    state = model_server.start_model_server(daemon_home)
    try:
        fallback = ScriptedLLM(replies=[fence(GOOD)] * 6)  # the embedded model's 2-3 candidates
        llm = model_server.RemoteEmbeddedLLM(settings, state, lambda: fallback)
        future, stages = asking(settings, engine, nasdaq, llm, question="__slow__ rows per symbol?")
        wait_for(stages, "generate", then=1.0)
        os.kill(state.pid, signal.SIGKILL)
        answer = result_within(future, settings.timeout_seconds)

        assert answer.status == "succeeded" and not llm.remote and fallback.calls
        assert not pid_alive(state.pid) and model_server.load_model_state(daemon_home) is None
        assert ask(settings, engine, nasdaq, llm).status == "succeeded"  # stays in-process
    finally:
        model_server.stop_model_server(daemon_home)
    assert not model_server.state_file(daemon_home).exists() and not Path(state.socket).exists()
    assert_nothing_left(engine)


def test_model_daemon_stopped_mid_generation(
    settings: Settings, engine: Any, nasdaq: list[TableInfo], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon stopped (SIGSTOP: alive, not answering) mid-call: the call ends at the model timeout
    with a classified provider failure, recorded; nothing waits on the daemon past it."""
    monkeypatch.setenv(model_server.FAKE_ENV, "1")
    daemon_home = Settings(home=tmp_path / "home", models_dir=tmp_path / "models", model_threads=1)
    state = model_server.start_model_server(daemon_home)
    quick = settings.model_copy(update={"llm_timeout_seconds": 3.0})
    try:
        llm = model_server.RemoteEmbeddedLLM(quick, state, lambda: ScriptedLLM(replies=[fence(GOOD)] * 6))
        future, stages = asking(quick, engine, nasdaq, llm, question="__slow__ rows per symbol?")
        wait_for(stages, "generate", then=0.5)
        os.kill(state.pid, signal.SIGSTOP)
        started = time.monotonic()
        answer = result_within(future, 60)
        seconds = time.monotonic() - started

        assert seconds < 3.0 * 3 + 10  # the timeout per candidate (at most 3 in one call), not a hang
        assert answer.status == "failed" and answer.error is not None
        assert answer.error.kind is ErrorKind.PROVIDER and "did not answer within 3 s" in answer.error.message
        assert answer.stop_reason == "provider cannot be fixed by new code"
        assert stored(quick, answer).status == "failed"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.pid, signal.SIGCONT)
        model_server.stop_model_server(daemon_home)
    assert not pid_alive(state.pid) and not Path(state.socket).exists()
    assert_nothing_left(engine)


# --- the model provider ----------------------------------------------------------------------------


def completion(text: str) -> bytes:
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    body = {"id": "c", "object": "chat.completion", "created": 0, "model": "fake", "choices": [choice]}
    return json.dumps(body).encode()


Response = tuple[int, bytes, dict[str, str], float]  # status, body, headers, seconds to wait first
OK: Response = (200, completion(fence(GOOD)), {}, 0.0)
PROVIDER_FAULTS: dict[str, Response] = {
    "429_retry_after": (429, b'{"error": {"message": "slow down"}}', {"Retry-After": "1"}, 0.0),
    "500": (500, b'{"error": {"message": "boom"}}', {}, 0.0),
    "timeout": (200, completion(fence(GOOD)), {}, 4.0),  # longer than the 2 s llm timeout
    "empty_reply": (200, b"", {}, 0.0),
    "10_mb_reply": (200, completion("x" * 10_000_000), {}, 0.0),
    "malformed_json": (200, b'{"id": "c", "choices": [', {}, 0.0),
}


class FakeProvider:
    """An OpenAI-compatible server on 127.0.0.1 answering with a script of raw responses (then OK)."""

    def __init__(self, script: list[Response]) -> None:
        self.script, self.requests = list(script), 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fake.requests += 1
                status, body, headers, wait = fake.script.pop(0) if fake.script else OK
                time.sleep(wait)
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the client may have given up (timeout)
                    self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("fault", sorted(PROVIDER_FAULTS))
def test_provider_fault(
    fault: str, settings: Settings, engine: Any, nasdaq: list[TableInfo], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK retries a 429 (honouring Retry-After), a 500 and a timeout once: those faults are sent
    # twice (they persist), except the 429, sent once (it clears: retried and answered). Others once.
    times = {"500": 2, "timeout": 2}.get(fault, 1)
    server = FakeProvider([PROVIDER_FAULTS[fault]] * times)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    # One request per attempt: no written answer (an API model writes one by default, a second call).
    quick = settings.model_copy(update={"llm_timeout_seconds": 2.0, "written_answer": False})
    try:
        started = time.monotonic()
        answer = ask(quick, engine, nasdaq, get_llm("openai:fake", quick))
        seconds = time.monotonic() - started
        if fault == "429_retry_after":
            assert answer.status == "succeeded" and server.requests == 2 and seconds >= 1.0
        else:
            assert answer.status == "failed" and answer.error is not None
            assert answer.error.kind is ErrorKind.PROVIDER and len(answer.attempts) == 1
            assert answer.stop_reason == "provider cannot be fixed by new code"
            assert server.url.removesuffix("/v1") in answer.error.message
        assert seconds < 2 * 2.0 + 10  # two tries within the llm timeout, plus the SDK's backoff
        assert stored(quick, answer).status == answer.status
        assert ask(quick, engine, nasdaq, get_llm("openai:fake", quick)).status == "succeeded"
    finally:
        server.close()


def test_provider_reply_size_messages(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The classified messages a person reads for the malformed and the oversized reply."""
    for fault, words in {"malformed_json": "malformed JSON", "10_mb_reply": "10,000,000-character"}.items():
        server = FakeProvider([PROVIDER_FAULTS[fault]])
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        try:
            llm = get_llm("openai:fake", settings)
            with pytest.raises(Exception, match=words) as info:
                llm.complete([], temperature=0.0, max_tokens=64)
            assert type(info.value).__name__ == "ProviderError"
        finally:
            server.close()


# --- the run store and the results directory -------------------------------------------------------


def other_home(settings: Settings, home: Path) -> Settings:
    """The session's settings with their own home (own run store and runs directory)."""
    return settings.model_copy(update={"home": home})


@contextlib.contextmanager
def small_disk(path: Path, size: str, *, read_only: bool = False) -> Iterator[bool]:
    """A ``size`` tmpfs (or a read-only one) mounted at ``path``; yields False when this process may
    not mount (not root), and the test falls back to what an unprivileged process can do."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "askspark-fault", str(path)], capture_output=True
        ).returncode
        == 0
    )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=True)


def test_store_locked_by_another_writer(
    settings: Settings, engine: Any, nasdaq: list[TableInfo], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "BUSY_SECONDS", 1.0)
    own = other_home(settings, tmp_path / "home")
    db = store.store_for(own).path
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        llm = ScriptedLLM(replies=[fence(GOOD)])
        with pytest.raises(StoreUnavailableError, match="locked") as info:
            ask(own, engine, nasdaq, llm)
        assert info.value.code == "store_unavailable" and info.value.status == 503
        assert not llm.calls and not own.runs_dir.exists()  # nothing ran, nothing kept
    finally:
        holder.communicate("release\n", timeout=30)
    answer = ask(own, engine, nasdaq, ScriptedLLM(replies=[fence(GOOD)]))
    assert answer.status == "succeeded" and stored(own, answer).status == "succeeded"
    assert_nothing_left(engine)


def test_a_cli_run_whose_process_was_killed_is_recorded_lost(tmp_path: Path) -> None:
    """A process (as the CLI) records a run as running and is killed -9: the next process to open the
    store records it failed, lost; a run whose process still runs is left alone."""
    db = tmp_path / "runs.db"
    child = subprocess.Popen(
        [sys.executable, "-c", RUNNING_OWNER, str(db), "r-killed"], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "running"
    mine = store.RunStore(db)
    mine.save(Answer(status="running", run_id="r-mine", question="q", engine="local", model="m",
                     created_at=datetime.now(UTC)))  # fmt: skip
    mine.own("r-mine")
    assert mine.sweep_lost() == []  # both owners run
    child.kill()
    child.wait(10)
    assert mine.sweep_lost() == ["r-killed"]
    lost = mine.get("r-killed")
    assert lost.status == "failed" and lost.stop_reason == "lost: the process running it stopped"
    assert lost.error is not None and f"pid {child.pid}" in lost.error.message
    assert mine.get("r-mine").status == "running"


RUNNING_OWNER = """
import sys, time
from datetime import UTC, datetime
from askspark.record import Answer
from askspark.runs.store import RunStore
store = RunStore(__import__("pathlib").Path(sys.argv[1]))
store.save(Answer(status="running", run_id=sys.argv[2], question="q", engine="local", model="m",
                  created_at=datetime.now(UTC)))
store.own(sys.argv[2])
print("running", flush=True)
time.sleep(600)
"""


LOCK_HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
"""


def test_store_disk_full(settings: Settings, engine: Any, nasdaq: list[TableInfo], tmp_path: Path) -> None:
    home = tmp_path / "home"
    with small_disk(home, "4m") as mounted:
        if not mounted:
            pytest.skip("mounting a small tmpfs needs root (the file-size-limit variant is below)")
        own = other_home(settings, home)
        store.store_for(own)
        filler = home / "filler"
        fill(filler)
        llm = ScriptedLLM(replies=[fence(GOOD)])
        with pytest.raises(StoreUnavailableError, match="full"):
            ask(own, engine, nasdaq, llm)
        assert not llm.calls and not list(own.runs_dir.glob("*/result"))
        filler.unlink()
        answer = ask(own, engine, nasdaq, ScriptedLLM(replies=[fence(GOOD)]))
        assert answer.status == "succeeded" and stored(own, answer).status == "succeeded"
        store.store_for(own).close()
        store._stores.pop(str(own.home))  # the tmpfs goes away with the test
    assert_nothing_left(engine)


def fill(path: Path) -> None:
    """Write ``path`` until its filesystem is full."""
    with open(path, "wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()


def test_store_file_size_limit_without_root(tmp_path: Path) -> None:
    """The unprivileged variant of a full disk: a file-size limit (RLIMIT_FSIZE) on a process whose
    run store outgrows it. The save fails with the store's error, not SQLite's or the OS's."""
    script = """
import resource, sys
from pathlib import Path
from askspark.errors import StoreUnavailableError
from askspark.record import Answer
from askspark.runs.store import RunStore
store = RunStore(Path(sys.argv[1]) / "runs.db")
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
answer = Answer(status="running", run_id="r1", question="q" * 200_000, engine="local", model="m", tables=[],
                created_at="2026-01-01T00:00:00Z")
try:
    store.save(answer)
except StoreUnavailableError as exc:
    print("store_unavailable:", exc.message)
"""
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert out.stdout.startswith("store_unavailable:"), out.stderr[-2000:]


def test_results_directory_unwritable(
    settings: Settings, engine: Any, nasdaq: list[TableInfo], tmp_path: Path
) -> None:
    own = other_home(settings, tmp_path / "home")
    with small_disk(own.runs_dir, "1m", read_only=True) as mounted:
        if not mounted:
            own.runs_dir.chmod(0o555)  # enough for a process that is not root
        answer = ask(own, engine, nasdaq, ScriptedLLM(replies=[fence(GOOD)]))
        assert answer.status == "failed" and answer.error is not None
        assert answer.error.kind is ErrorKind.PERMISSION and "could not be kept" in answer.error.message
        assert answer.stop_reason == "permission cannot be fixed by new code"
        assert stored(own, answer).status == "failed"
    own.runs_dir.chmod(0o755)
    answer = ask(own, engine, nasdaq, ScriptedLLM(replies=[fence(GOOD)]))
    assert answer.status == "succeeded" and Path(answer.result.location).is_dir()  # type: ignore[union-attr]
    assert_nothing_left(engine)


def test_control_calls_are_bounded_when_the_server_is_gone(tmp_path: Path) -> None:
    """The engine's own calls (interrupt, probe, release) against a server that is gone end within
    their bounded retries; pyspark's defaults keep retrying for more than ten minutes."""
    code = f"""
import time
from askspark.engines.worker import CONTROL_DEADLINE_SECONDS, connect
started = time.monotonic()
spark = connect({str(tmp_path / "gone.sock")!r}, "00000000-0000-4000-8000-000000000000", CONTROL_DEADLINE_SECONDS)
for call in (spark.interruptAll, lambda: spark.range(1).count(), spark.stop):
    try:
        call()
    except Exception as exc:
        assert "UNAVAILABLE" in str(exc), exc
print(round(time.monotonic() - started))
"""
    env = os.environ | {"SPARK_CONNECT_MODE_ENABLED": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.split()[-1]) < 60


# --- the HTTP server -------------------------------------------------------------------------------


def jobs_started(state: Any) -> int:
    """How many of SLOW's jobs ``state``'s server has started (earlier tests run SLOW on it too)."""
    return Path(state.log).read_bytes().count(f"Submitting {SLOW_TASKS} missing tasks".encode())


def run_status(url: str, run_id: str) -> str:
    return str(httpx.get(f"{url}/v1/runs/{run_id}").json()["status"])


def wait_status(url: str, run_id: str, wanted: set[str], seconds: float = 180.0) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while (doc := httpx.get(f"{url}/v1/runs/{run_id}").json())["status"] not in wanted:
        assert time.monotonic() < deadline, f"run {run_id} stayed {doc['status']}"
        time.sleep(0.3)
    return dict(doc)


def leftovers(settings: Settings, pid: int) -> dict[str, list[str]]:
    """What the askspark process ``pid`` left: processes, staged files, session records, cgroups."""
    engine_dir = settings.engine_dir
    found = {
        "processes": [str(p) for p in descendants(pid) if pid_alive(p)],
        "staged": [p.name for p in (engine_dir / "outbox").glob(f"w{pid}-*")],
        "sessions": [p.name for p in (engine_dir / "outbox-sessions").glob(f"w{pid}-*")],
        "cgroups": [str(p) for root in cgroups._parents() for p in root.glob(f"askspark-{pid}-*")],
    }
    return {k: v for k, v in found.items() if v}


def test_http_server_killed_with_runs_running_and_queued(
    settings: Settings, engine: Any, nasdaq: list[TableInfo], shared_engine: None, tmp_path: Path
) -> None:
    """``askspark serve`` killed with -9 while one run's Spark job runs and two wait. The next server
    runs all three (the running one once more, with a notice); the killed server's workers, staged
    files, cgroups and its Spark job on the shared server do not outlive it."""
    from askspark.engines import daemon, server

    state = daemon.read(settings)
    assert state is not None and server.healthy(state) and not daemon.stale(state), (
        state, state and (server.pid_alive(state.pid), server.socket_accepts(state.socket_path),
                          daemon._is_server(state.pid), Path(state.socket_dir).exists()))  # fmt: skip
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = serve_process(settings.home, port, script(tmp_path / "a.json", [fence(SLOW)], "python"))
    try:
        wait_up(url)
        before = jobs_started(engine.state)
        body = {"question": "How many rows per symbol?", "tables": ["northwind.nasdaq"]}
        ids = [httpx.post(f"{url}/v1/runs", json=body).json()["run_id"] for _ in range(3)]
        deadline = time.monotonic() + 180
        while jobs_started(engine.state) == before:  # the first run's Spark job runs
            assert time.monotonic() < deadline and first.poll() is None, "the job never started"
            time.sleep(0.2)
        assert [run_status(url, i) for i in ids] == ["running", "queued", "queued"]
        tree = descendants(first.pid)
        killed_at = Path(engine.state.log).stat().st_size
        first.kill()
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
    assert [store.store_for(settings).get(i).status for i in ids] == ["running", "queued", "queued"]
    assert leftovers(settings, first.pid).keys() >= {"staged", "sessions"}  # what the next one sweeps

    second = serve_process(settings.home, port, script(tmp_path / "b.json", [fence(GOOD)] * 6, "python"))
    try:
        wait_up(url)
        assert httpx.get(f"{url}/v1/health").json()["requeued"] == ids
        for run_id in ids:
            doc = wait_status(url, run_id, {"succeeded", "failed"})
            assert doc["status"] == "succeeded" and len(doc["result"]["rows"]) == 6, doc.get("error")
        notices = [n for n in wait_status(url, ids[0], {"succeeded"})["notices"] if "re-queued" in n]
        assert notices and "earlier attempts were discarded" in notices[0]
        # The killed run's Spark job was interrupted, not left to run on the shared server.
        deadline = time.monotonic() + 60
        while b"cancelled" not in (log := Path(engine.state.log).read_bytes()[killed_at:]):
            assert time.monotonic() < deadline, f"the killed server's Spark job still runs:\n{log[-5000:]!r}"
            time.sleep(0.5)
        assert not any(pid_alive(p) for p in tree)
        assert leftovers(settings, first.pid) == {}
    finally:
        second.terminate()
        second.wait(timeout=60)
    assert_nothing_left(engine)


def test_a_run_lost_twice_is_recorded_failed(settings: Settings, tmp_path: Path) -> None:
    """A run a stopped server was running is run again once; if a server stops while running it again
    (it may be what stops the server), the next server records it failed with why, not running."""
    from askspark.interfaces.http.runner import Runner
    from askspark.request import Request

    own = other_home(settings, tmp_path / "home")
    runs = store.store_for(own)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    request = Request(question="rows?", tables=["northwind.nasdaq"]).model_dump()
    for run_id, status, recovered in [
        ("r-once", "running", 0),
        ("r-twice", "running", 1),
        ("r-queued", "queued", 1),
    ]:
        answer = Answer(status=status, run_id=run_id, question="rows?", engine="local", model="m", tables=[],
                        created_at="2026-01-01T00:00:00Z")  # fmt: skip
        runs.save(answer, {"run": request, "server_pid": dead.pid, "recovered": recovered})
    runner = Runner(own)
    assert runner.recover() == ["r-once", "r-queued"]
    lost = runs.get("r-twice")
    assert lost.status == "failed" and lost.stop_reason == "lost: the server stopped while running it"
    assert lost.error is not None and lost.error.kind is ErrorKind.ENGINE_UNAVAILABLE
    assert "stopped 2 times while running" in lost.error.message
    assert runs.request("r-once")["recovered"] == 1  # type: ignore[index]
    assert [a.status for a in runs.unfinished()] == ["queued", "queued"]
