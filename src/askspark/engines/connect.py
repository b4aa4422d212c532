"""The ``connect`` engine: any Spark Connect endpoint (a cluster's Connect server), same contract as local.

It is the local engine's machinery pointed elsewhere: the same sandboxed single-use workers, the same
dry run, limits, timeouts (the run's Spark session is interrupted on the cluster) and result handling.
What differs:

- Workers still have no network. They reach the cluster through :class:`~askspark.engines.bridge.Bridge`,
  a gRPC forwarder in this (trusted) process on a Unix socket, which adds the Connect token. The token
  never enters a sandbox.
- The cluster reads each table at its catalog location: it must be a location the cluster can reach
  (for a standalone cluster on this machine local paths are fine; for a remote one, shared storage).
- Nothing is started or restarted here: an unreachable endpoint is ``engine_unavailable``, which new
  code cannot fix, so the repair loop stops.
- The cluster's catalog belongs to its owner: the engine does not scrub it (validation forbids DDL).
- A truncated answer's full result is written by the cluster to ``connect_results_dir`` when set.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from askspark.engines import sandbox
from askspark.engines.base import Engine, Execution, Job
from askspark.engines.bridge import Bridge, Endpoint, parse_remote, reachable
from askspark.engines.runner import Runner, RunnerOptions, require_sandbox
from askspark.engines.server import ServerState
from askspark.engines.supervise import Gate
from askspark.errors import EngineUnavailableError
from askspark.settings import Settings

REFUSED_WORDS = ("UNAUTHENTICATED", "PERMISSION_DENIED", "authentication", "Unauthorized")


class RemoteServer:
    """A Spark Connect endpoint as the runner sees it: reached through the bridge, never restarted here."""

    owned = False

    def __init__(self, endpoint: Endpoint, bridge: Bridge) -> None:
        self.endpoint = endpoint
        self.state = ServerState(os.getpid(), str(bridge.socket_dir), "", [], sandboxed=False)
        self.gate = Gate()
        self.on_restart: Callable[[], None] = lambda: None

    def ensure(self) -> None:
        if not reachable(self.endpoint):
            raise EngineUnavailableError(
                f"the Spark Connect endpoint {self.endpoint} is not reachable",
                suggestion="start the cluster's Spark Connect server, or fix ASKSPARK_REMOTE / --remote",
            )

    def ensure_readable(self, job: Job) -> None:
        """The cluster reads each table at its location; whether it can is the cluster's answer."""

    def restart(  # the cluster is not ours to restart
        self,
        readable: Iterable[str] = (),  # noqa: ARG002
        unless: Callable[[], bool] | None = None,  # noqa: ARG002
    ) -> None:
        raise EngineUnavailableError(f"the Spark Connect endpoint {self.endpoint} is not answering")

    def close(self) -> None:
        """The cluster is its owner's to stop."""


class ConnectEngine(Engine):
    """Runs jobs on a Spark Connect endpoint, each in a sandboxed worker behind the token bridge."""

    id = "connect"
    parallel_jobs = 2  # the same runner as local: each job takes its own worker

    def __init__(self, settings: Settings, readable: list[Path] | None = None) -> None:  # noqa: ARG002
        """Open the bridge to ``settings.remote``; the cluster is contacted only when a job comes."""
        self.settings = settings
        self.endpoint = parse_remote(settings.remote)
        require_sandbox(settings)
        # Our own staging directory, outside the local engine's outbox (which it sweeps of unknown entries).
        (settings.engine_dir / "connect").mkdir(parents=True, exist_ok=True)
        self._staging = Path(tempfile.mkdtemp(prefix="stage-", dir=settings.engine_dir / "connect"))
        token = settings.connect_token.get_secret_value() if settings.connect_token else None
        self.bridge = Bridge(self.endpoint, token)
        # The workers connect to the bridge's socket as the sandbox user when askspark is root.
        sandbox.share_with(sandbox.run_as(settings.sandbox_user), self.bridge.socket_dir)
        self.server = RemoteServer(self.endpoint, self.bridge)
        options = RunnerOptions(
            self.id,
            self._staging,
            scrub_catalog=False,  # the cluster's catalog is its owner's (validation forbids DDL)
            full_result=self.full_result,
            refusal=self._refusal,
        )
        # Warm one worker only when there is a cluster to connect to.
        self.runner = Runner(settings, self.server, options, warm=reachable(self.endpoint))

    @property
    def state(self) -> ServerState:
        return self.server.state

    def _refusal(self, exc: EngineUnavailableError) -> EngineUnavailableError:
        """Name the cause when the endpoint answered but would not open a session."""
        tail = str(exc.details.get("log_tail", ""))
        if any(word in tail for word in REFUSED_WORDS):
            return EngineUnavailableError(
                f"the Spark Connect server at {self.endpoint} refused the session (authentication)",
                suggestion="set ASKSPARK_CONNECT_TOKEN to the server's spark.connect.authenticate.token",
                log_tail=tail[-3000:],
            )
        return EngineUnavailableError(
            f"no Spark Connect session could be opened at {self.endpoint}",
            suggestion="check that a Spark Connect server (not another service) listens there; "
            "the log tail has the client's error",
            log_tail=tail[-3000:],
        )

    def full_result(self, job: Job) -> str | None:
        """Where the cluster writes a truncated answer's full result (None: not kept)."""
        root = self.settings.connect_results_dir
        return f"{root.rstrip('/')}/{job.run_id}/attempt-{job.attempt}" if root else None

    def run(self, job: Job) -> Execution:
        execution = self.runner.run(job)
        result = execution.result
        if result is not None and result.truncated and not self.settings.connect_results_dir:
            execution.notices.append(
                "the full result of this truncated answer was not kept: set ASKSPARK_CONNECT_RESULTS_DIR "
                "to a directory the cluster can write"
            )
        return execution

    def warm(self) -> None:
        """Block until a started worker is waiting for the next job."""
        self.runner.warm()

    def close(self) -> None:
        self.runner.close()
        self.bridge.close()
        shutil.rmtree(self._staging, ignore_errors=True)
        shutil.rmtree(self.runner.sessions, ignore_errors=True)


def create(settings: Settings, readable: list[Path] | None = None) -> ConnectEngine:
    return ConnectEngine(settings, readable)
