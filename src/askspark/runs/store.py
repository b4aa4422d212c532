"""The run store: every run, failed ones included, kept durably in SQLite.

A run is saved when it starts and again after each attempt, so a crash mid-run still leaves its
question, selection and finished attempts on disk. The whole answer document is stored as JSON next to
a few indexed columns for listing. A run accepted by the HTTP API is saved as ``queued`` together with
its request, so a server that stops before (or while) running it can run it again when it restarts.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from askspark import processes
from askspark.errors import NotFoundError, StoreUnavailableError
from askspark.record import Answer, ErrorKind, Failure
from askspark.settings import Settings


@dataclass(frozen=True)
class Verified:
    """A run a person marked as right: its question, final code, tables and their schemas' fingerprint."""

    run_id: str
    question: str
    code: str
    tables: tuple[str, ...]
    fingerprint: str
    verified_at: str


SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL,
    question TEXT NOT NULL,
    engine TEXT NOT NULL,
    model TEXT NOT NULL,
    tables TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    result_location TEXT,
    seconds REAL NOT NULL,
    document TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created_at);
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY,
    request TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS verified (
    id TEXT PRIMARY KEY,
    question TEXT NOT NULL,
    code TEXT NOT NULL,
    tables TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    verified_at TEXT NOT NULL
);
"""
UNFINISHED = ("queued", "running")
BUSY_SECONDS = 30.0
"""How long a write waits for another writer's lock before the run store is reported unavailable."""
_lock = threading.Lock()
_stores: dict[str, RunStore] = {}


class RunStore:
    """SQLite-backed store of answer documents, safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        with self.failures():
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, timeout=BUSY_SECONDS)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)

    @contextlib.contextmanager
    def failures(self) -> Iterator[None]:
        """SQLite's and the disk's errors as :class:`StoreUnavailableError`: a store that is locked
        for longer than ``BUSY_SECONDS``, full or read-only fails the question with a clear error."""
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailableError(
                f"the run store {self.path} cannot record the run: {exc}",
                suggestion="free space on its disk, make it writable, or stop the process holding its "
                "lock (another askspark writing to the same ASKSPARK_HOME for a long time)",
                reason=type(exc).__name__,
            ) from exc

    def save(self, answer: Answer, request: dict[str, Any] | None = None) -> None:
        """Insert or update a run's record (and the request to run it again, when given)."""
        location = answer.result.location if answer.result else None
        row = (
            answer.run_id,
            answer.created_at.isoformat(),
            answer.status,
            answer.question,
            answer.engine,
            answer.model,
            ",".join(answer.tables),
            len(answer.attempts),
            location,
            answer.seconds,
            answer.model_dump_json(),
        )
        with self._lock, self.failures(), self._db:
            self._db.execute("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?)", row)
            if request is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO requests VALUES (?, ?)", (answer.run_id, json.dumps(request))
                )

    def request(self, run_id: str) -> dict[str, Any] | None:
        """The request a queued run was accepted with (None for runs started otherwise)."""
        with self._lock:
            row = self._db.execute("SELECT request FROM requests WHERE id = ?", (run_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def own(self, run_id: str) -> None:
        """Name this process as the one running a run started outside the HTTP queue (CLI, Python), so
        a later process can tell that it stopped without finishing it; a queued run keeps its request."""
        row = (run_id, json.dumps({"owner": processes.identity()}))
        with self._lock, self.failures(), self._db:
            self._db.execute("INSERT OR IGNORE INTO requests VALUES (?, ?)", row)

    def sweep_lost(self) -> builtins.list[str]:
        """Record as failed the runs left running by a CLI or Python process that stopped (killed,
        power lost) before finishing them; their ids. The HTTP server's own runs are its to recover."""
        lost = []
        for answer in self.unfinished():
            owner = (self.request(answer.run_id) or {}).get("owner")
            if owner is None or processes.is_running(owner):
                continue
            self.record_lost(
                answer,
                "lost: the process running it stopped",
                f"the process running this run (pid {owner.get('pid')}) stopped before it finished",
                "ask again; its finished attempts are kept in this record",
            )
            lost.append(answer.run_id)
        return lost

    def record_lost(self, answer: Answer, stop_reason: str, message: str, suggestion: str) -> None:
        """Save an unfinished run as failed: what ran it stopped (``engine_unavailable``), and why."""
        answer.status, answer.stop_reason = "failed", stop_reason
        answer.error = Failure(kind=ErrorKind.ENGINE_UNAVAILABLE, message=message, suggestion=suggestion)
        self.save(answer)

    def unfinished(self) -> list[Answer]:
        """Runs left queued or running (e.g. by a server that stopped), oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT document FROM runs WHERE status IN (?, ?) ORDER BY created_at", UNFINISHED
            ).fetchall()
        return [Answer.model_validate_json(r[0]) for r in rows]

    def get(self, run_id: str) -> Answer:
        with self._lock:
            row = self._db.execute("SELECT document FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise NotFoundError(
                f"no run with id {run_id!r}", suggestion="list runs with 'askspark runs list'"
            )
        return Answer.model_validate_json(row[0])

    def list(self, limit: int = 20) -> list[Answer]:
        """The most recent runs, newest first."""
        with self._lock:
            rows = self._db.execute("SELECT document FROM runs ORDER BY created_at DESC LIMIT ?", (limit,))
            return [Answer.model_validate_json(r[0]) for r in rows.fetchall()]

    def conversation(self, run_id: str, turns: int) -> builtins.list[Answer]:
        """The run and the earlier turns of its conversation it follows, oldest first, at most ``turns``."""
        chain = [self.get(run_id)]
        while chain[0].follow_up_of is not None and len(chain) < turns:
            chain.insert(0, self.get(chain[0].follow_up_of))
        return chain

    def latest_turn(self, conversation_id: str) -> str:
        """The newest run of the conversation started by ``conversation_id`` (NotFoundError if none)."""
        self.get(conversation_id)
        with self._lock:
            row = self._db.execute(
                "SELECT id FROM runs WHERE json_extract(document, '$.conversation_id') = ? "
                "ORDER BY created_at DESC LIMIT 1",
                (conversation_id,),
            ).fetchone()
        return row[0] if row else conversation_id

    # -- verified answers -------------------------------------------------------------------------

    def verify(self, entry: Verified) -> None:
        with self._lock, self.failures(), self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO verified VALUES (?,?,?,?,?,?)",
                (entry.run_id, entry.question, entry.code, json.dumps(entry.tables), entry.fingerprint,
                 entry.verified_at),
            )  # fmt: skip

    def unverify(self, run_id: str) -> bool:
        """Take back a verification; whether there was one."""
        with self._lock, self.failures(), self._db:
            return self._db.execute("DELETE FROM verified WHERE id = ?", (run_id,)).rowcount > 0

    def verified(self) -> builtins.list[Verified]:
        """Every verified answer, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM verified ORDER BY verified_at").fetchall()
        return [Verified(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4], r[5]) for r in rows]

    def close(self) -> None:
        self._db.close()


def store_for(settings: Settings) -> RunStore:
    """The run store of ``settings.home``, one connection shared by the process."""
    key = str(settings.home)
    with _lock:
        if key not in _stores:
            _stores[key] = RunStore(settings.home / "runs.db")
            _stores[key].sweep_lost()  # once per process and home: what a stopped process left running
        return _stores[key]
