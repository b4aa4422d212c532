"""The ``local`` engine: a warm Spark Connect server we own, and one sandboxed worker process per job.

The parts are composed here: the server and its supervision (:mod:`.supervise`), the job runner with its
single-use workers (:mod:`.runner`), and the trusted-side JDBC views and catalog scrub (:mod:`.bindings`).
A dead server is restarted before the next job; a server shared by ``askspark engine start`` is kept by
its own supervisor (:mod:`.daemon`) and never restarted here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from askspark.engines.base import Engine, Execution, Job
from askspark.engines.runner import Runner, RunnerOptions, require_sandbox
from askspark.engines.server import ServerState, outbox_root
from askspark.engines.supervise import OwnedServer
from askspark.settings import Settings


class LocalEngine(Engine):
    """Runs jobs on the locally owned (or shared) Spark Connect server, each in a sandboxed worker."""

    id = "local"
    parallel_jobs = 2  # run() is thread-safe: each job takes its own worker (two cores here)

    def __init__(
        self, settings: Settings, readable: list[Path] | None = None, *, server: OwnedServer | None = None
    ) -> None:
        """Start (or join the shared) server; ``readable`` adds data directories the server may read.

        ``server`` joins a given one instead (e.g. a shared server's recorded state).
        """
        self.settings = settings
        require_sandbox(settings)
        self.server = server or OwnedServer.start(settings, readable)
        self.runner = Runner(settings, self.server, RunnerOptions(self.id, outbox_root(settings)))

    @property
    def state(self) -> ServerState:
        return self.server.state

    @property
    def owned(self) -> bool:
        return self.server.owned

    def run(self, job: Job) -> Execution:
        return self.runner.run(job)

    def warm(self) -> None:
        """Block until a started worker is waiting for the next job."""
        self.runner.warm()

    def control(self) -> Any:
        """The engine's own Spark session (trusted code only)."""
        return self.runner.control()

    def scrub_catalog(self) -> None:
        """Drop what runs left in the staging area and the server's catalog (see :mod:`.bindings`)."""
        self.runner.scrub()

    def restart(self, readable: Iterable[str] = (), unless: Callable[[], bool] | None = None) -> None:
        """Replace the owned server (a fresh JVM, or one allowed to read more directories as well)."""
        self.server.restart(readable, unless)

    def close(self) -> None:
        self.runner.close()
        self.server.close()


def create(settings: Settings, readable: list[Path] | None = None) -> LocalEngine:
    return LocalEngine(settings, readable)
