"""Supervision of the Spark Connect server jobs run on: a concurrency gate, health checks, restarts.

:class:`OwnedServer` is the local engine's: a server this process started (restarted when it dies or must
read more directories) or a shared one started by ``askspark engine start`` (its supervisor,
:mod:`.daemon`, replaces it when a job needs a directory it may not read; never restarted here otherwise).
The connect engine brings its own supervisor for an endpoint it does not own (:mod:`.connect`); the
runner (:mod:`.runner`) needs only what :class:`Supervisor` declares.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from askspark.engines import daemon
from askspark.engines.base import NOT_FILES, Job, data_dirs
from askspark.engines.server import (
    ServerState,
    can_read,
    healthy,
    start_server,
    stop_server,
)
from askspark.errors import EngineUnavailableError
from askspark.settings import Settings


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


class Supervisor(Protocol):
    """The server jobs run on, as the runner sees it."""

    state: ServerState
    owned: bool  # ours to restart
    gate: Gate
    on_restart: Callable[[], None]  # releases what the runner holds on the old server

    def ensure(self) -> None:
        """Return when the server answers; restart an owned one that died; else raise
        :class:`EngineUnavailableError`."""

    def ensure_readable(self, job: Job) -> None:
        """Make sure the server may read every table of the job."""

    def restart(self, readable: Iterable[str] = (), unless: Callable[[], bool] | None = None) -> None:
        """Replace the server (``unless`` it is fine by the time no job runs)."""

    def close(self) -> None: ...


class OwnedServer:
    """The local Spark Connect server: ours (started here) or shared (``askspark engine start``)."""

    def __init__(self, settings: Settings, state: ServerState, owned: bool) -> None:
        self.settings = settings
        self.state = state
        self.owned = owned
        self.gate = Gate()
        self.on_restart: Callable[[], None] = lambda: None

    @classmethod
    def start(cls, settings: Settings, readable: list[Path] | None = None) -> OwnedServer:
        """Join the shared server when one is up, else start our own (``readable``: more data dirs)."""
        shared = daemon.load(settings)
        return cls(settings, shared or start_server(settings, readable), owned=shared is None)

    def ensure(self) -> None:
        """Restart an owned server that died (a crashed run must not take the engine down for good)."""
        if not self.owned:
            daemon.mark_used(self.settings)  # a job is coming: the shared server is not idle
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
        with self.gate.alone():
            if unless is not None and unless():
                return
            dirs = sorted(set(self.state.readable) | set(readable))
            self.on_restart()
            stop_server(self.state)
            self.state = start_server(self.settings, [Path(d) for d in dirs])

    def ensure_readable(self, job: Job) -> None:
        """Make sure the server may read every table of the job: restart an owned one that may not."""
        files = [t for t in job.tables if t.format not in NOT_FILES]
        unseen = [t.location for t in files if not can_read(self.state, t.location)]
        if not unseen:
            return
        dirs = {str(d) for d in data_dirs([t for t in job.tables if t.location in unseen])}
        readable = lambda: all(can_read(self.state, t.location) for t in job.tables)  # noqa: E731
        if self.owned:
            self.restart(dirs, unless=readable)
            return
        with self.gate.alone():  # the shared server's supervisor restarts it with the directories added
            if not readable():
                self.on_restart()
                self.state = daemon.restart(self.settings, self.state, sorted(dirs))

    def close(self) -> None:
        if self.owned:
            stop_server(self.state)


def probe(control: Callable[[], Any]) -> bool:
    """Whether the server still runs Spark jobs (its JVM may live on after its SparkContext died).

    The control session's calls carry their own deadlines and bounded retries
    (:data:`askspark.engines.worker.CONTROL_DEADLINE_SECONDS`), so a hung or dead server is a False
    within them, with no thread left waiting on it.
    """
    try:
        return bool(control().range(1).count() == 1)
    except Exception:  # noqa: BLE001 - any failure means the server cannot run jobs
        return False
