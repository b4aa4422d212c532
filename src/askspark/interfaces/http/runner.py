"""The HTTP server's run queue: a bounded number of runs at once, a bounded number waiting, none lost.

A run is saved as ``queued`` in the run store, with the request that produced it, before the server
answers that it was accepted. When a server starts it runs again every run a stopped server left
``queued``, and once a run it left ``running``; a run a server was running when it stopped a second
time is recorded as failed (lost), since it may be what stops the server. Each run's progress events
are kept in memory for server-sent events.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import statistics
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from askspark.api import Selection, execute, prepare, select
from askspark.catalog.s3 import is_s3
from askspark.errors import AskSparkError, BusyError, UsageError
from askspark.record import Answer, ErrorKind, Failure
from askspark.request import Request
from askspark.runs.loop import USER_CODE, kind_of, new_run_id
from askspark.runs.store import store_for
from askspark.settings import Settings

KEEP_EVENTS = 500  # finished runs whose events stay in memory (older ones answer from the store)
MAX_RECOVERIES = 1
"""How many times a run a stopped server was running is run again; after that it is recorded as lost."""
Event = tuple[str, dict[str, Any]]


class EventLog:
    """A run's events, appended by its thread and read by any number of event streams."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.events: list[Event] = []
        self.closed = False

    def add(self, event: str, data: dict[str, Any]) -> None:
        with self._cond:
            self.events.append((event, data))
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def wait(self, index: int, timeout: float) -> tuple[list[Event], bool]:
        """Events from ``index`` on (waiting up to ``timeout`` for one), and whether the log is closed."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.events) > index or self.closed, timeout)
            return self.events[index:], self.closed


class Ticket:
    """An accepted run: its request, its tables (resolved when it was accepted; None for a run re-queued
    by a new server), its events and, once done, its answer."""

    def __init__(
        self,
        run_id: str,
        request: Request,
        created_at: datetime,
        notices: list[str],
        selection: Selection | None = None,
        recovered: int = 0,
    ) -> None:
        self.run_id, self.request, self.created_at, self.notices = run_id, request, created_at, notices
        self.selection = selection
        self.recovered = recovered  # times a stopped server was running it
        self.events = EventLog()
        self.done: Future[Answer] = Future()


class Runner:
    """Runs accepted questions on ``max_concurrent_runs`` threads, ``max_queued_runs`` waiting at most."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = store_for(settings)
        self._queue: queue.Queue[Ticket | None] = queue.Queue()
        self._tickets: OrderedDict[str, Ticket] = OrderedDict()
        self._lock = threading.Lock()
        self._pending = 0  # accepted and not finished: queued or running
        self._seconds: list[float] = []  # recent run times, for Retry-After
        self._threads: list[threading.Thread] = []
        self._stopping = False

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> list[str]:
        """Start the run threads; re-queue runs a stopped server left unfinished (their ids)."""
        requeued = self.recover()
        for i in range(self.settings.max_concurrent_runs):
            thread = threading.Thread(target=self._work, name=f"askspark-run-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return requeued

    def stop(self, wait: float = 120.0) -> None:
        """Start nothing new; wait up to ``wait`` seconds for running runs (the engine is still up).

        Runs still queued stay ``queued`` in the store: the next server runs them.
        """
        self._stopping = True
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + wait
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def recover(self) -> list[str]:
        """Queue again the runs a stopped server accepted and did not finish (oldest first); record as
        lost those it was running after they had been recovered ``MAX_RECOVERIES`` times already."""
        ids = []
        for answer in self.store.unfinished():
            saved = self.store.request(answer.run_id)
            if saved is None or "run" not in saved or _alive(saved.get("server_pid")):
                continue  # not ours (a CLI run: store.sweep_lost) or its server still runs
            recovered = int(saved.get("recovered", 0)) + (answer.status == "running")
            if recovered > MAX_RECOVERIES:
                self._record_lost(answer, recovered)
                continue
            note = "re-queued after the server stopped" + (
                " while running it; earlier attempts were discarded" if answer.status == "running" else ""
            )
            request = Request.model_validate(saved["run"])
            ticket = Ticket(
                answer.run_id, request, answer.created_at, [*answer.notices, note], None, recovered
            )
            with self._lock:
                self._enqueue(ticket)
            ids.append(answer.run_id)
        return ids

    def _record_lost(self, answer: Answer, times: int) -> None:
        """A run the server stopped during, again and again: failed, with why, and not run again."""
        self.store.record_lost(
            answer,
            "lost: the server stopped while running it",
            f"the server stopped {times} times while running this run; it is not run again "
            "(it may be what stops the server)",
            "read the server's log for what stopped it; ask again once that is fixed",
        )

    # --- accepting -------------------------------------------------------------------------------

    def submit(self, request: Request) -> Ticket:
        """Resolve the request's tables (refusing what cannot run), record it as queued and queue it;
        BusyError (429) when the queue is full."""
        selection = select(self.local(request), request.settings(self.settings))
        with self._lock:
            if self._pending >= self.settings.max_concurrent_runs + self.settings.max_queued_runs:
                raise BusyError(
                    f"the server is busy: {self._pending} runs are queued or running",
                    suggestion="try again after the number of seconds in Retry-After",
                    retry_after=self._retry_after(),
                )
            ticket = Ticket(new_run_id(), request, datetime.now(UTC), [], selection)
            self._enqueue(ticket)
        return ticket

    def _enqueue(self, ticket: Ticket) -> None:
        request, selection = ticket.request, ticket.selection
        settings = request.settings(self.settings)
        queued = Answer(
            status="queued",
            run_id=ticket.run_id,
            question=request.question,
            engine=settings.engine,
            model=USER_CODE if request.code is not None else settings.model,
            tables=[t.qualified_name for t in selection.tables]
            if selection
            else request.tables + request.files,
            created_at=ticket.created_at,
            notices=ticket.notices,
            rerun_of=request.rerun_of,
        )
        # Saved before the client hears "accepted": a server that stops now still has it to run.
        saved = {"run": request.model_dump(), "server_pid": os.getpid(), "recovered": ticket.recovered}
        self.store.save(queued, saved)
        ticket.events.add("queued", {"run_id": ticket.run_id, "status": "queued"})
        self._tickets[ticket.run_id] = ticket  # the caller holds self._lock
        self._pending += 1
        self._queue.put(ticket)

    def local(self, request: Request) -> Request:
        """The request with its uploaded files' names as paths (UsageError for a file not uploaded);
        ``s3://`` files stay URIs (read through the S3 cache with the server's own credentials)."""
        files = [f if is_s3(f) else str(uploaded_path(f, self.settings)) for f in request.files]
        return request.model_copy(update={"files": files})

    def _retry_after(self) -> int:
        """Seconds until a slot is likely free: the typical run time times the queue's depth."""
        typical = statistics.median(self._seconds) if self._seconds else 10.0
        waves = self._pending / self.settings.max_concurrent_runs
        return max(1, min(600, math.ceil(typical * waves)))

    # --- running ---------------------------------------------------------------------------------

    def _work(self) -> None:
        while (ticket := self._queue.get()) is not None:
            if self._stopping:
                continue  # left queued in the store for the next server
            try:
                ticket.done.set_result(self.execute(ticket))
            except BaseException as exc:  # noqa: BLE001 - recorded and handed to the waiting request
                self._record_failure(ticket, exc)
                ticket.done.set_exception(exc)
            finally:
                with self._lock:
                    self._pending -= 1
                    self._forget_old()
                ticket.events.close()

    def execute(self, ticket: Ticket) -> Answer:
        request = self.local(ticket.request)
        run = prepare(request, self.settings, ticket.events.add, ticket.run_id, selection=ticket.selection)
        run.answer.created_at, run.answer.notices = ticket.created_at, ticket.notices + run.answer.notices
        ticket.events.add("running", {"run_id": ticket.run_id, "status": "running"})
        answer = execute(run, request)
        with self._lock:
            self._seconds = [*self._seconds[-49:], answer.seconds]
        return answer

    def _record_failure(self, ticket: Ticket, exc: BaseException) -> None:
        """A run that could not start (engine down, table gone since) is recorded as failed."""
        with contextlib.suppress(Exception):
            answer = self.store.get(ticket.run_id)
            if isinstance(exc, AskSparkError):
                answer.error = Failure(kind=kind_of(exc), message=exc.message, suggestion=exc.suggestion)
            else:
                answer.error = Failure(kind=ErrorKind.RUNTIME, message=f"internal error: {exc!r}")
            answer.status, answer.stop_reason = "failed", "the run could not start"
            self.store.save(answer)
        ticket.events.add("done", {"run_id": ticket.run_id, "status": "failed"})

    def _forget_old(self) -> None:
        finished = [rid for rid, t in self._tickets.items() if t.done.done()]
        for run_id in finished[: max(0, len(finished) - KEEP_EVENTS)]:
            del self._tickets[run_id]

    # --- reading ---------------------------------------------------------------------------------

    def ticket(self, run_id: str) -> Ticket | None:
        with self._lock:
            return self._tickets.get(run_id)

    def rerun_request(self, run_id: str, code: str, row_limit: int | None) -> Request:
        """A request to run ``code`` on the tables and files of run ``run_id`` (NotFoundError if none),
        with its options (catalog, remote); tables the question picked are named."""
        answer = self.store.get(run_id)
        saved = self.store.request(run_id)
        original = Request.model_validate(saved["run"]) if saved is not None else _outside(answer)
        tables = original.tables if original.names_data else answer.tables
        return original.model_copy(
            update={
                "tables": tables,
                "engine": answer.engine,
                "row_limit": row_limit,
                "code": code,
                "rerun_of": run_id,
            }
        )


def _outside(answer: Answer) -> Request:
    """The request of a run started elsewhere (CLI, Python): its catalog tables; files were not uploaded."""
    adhoc = [t for t in answer.tables if t.startswith("files.")]
    if adhoc:
        raise UsageError(
            f"run {answer.run_id} read files that were not uploaded here ({', '.join(adhoc)})",
            suggestion="upload the files and ask again, then edit that run's code",
        )
    return Request(question=answer.question, tables=answer.tables)


def uploaded_path(name: str, settings: Settings) -> Path:
    """An uploaded file's path; the API reads no file outside the upload area (``HOME/uploads``)."""
    root = (settings.home / "uploads").resolve()
    path = Path(name)
    path = (path if path.is_absolute() else root / path).resolve()
    if not path.is_relative_to(root) or not path.exists():
        raise UsageError(
            f"{name!r} is not an uploaded file",
            suggestion="upload it with POST /v1/uploads and pass the 'path' it returns",
            path=name,
        )
    return path


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
