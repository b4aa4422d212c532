"""The ``auto`` engine: small data runs locally, large data on the configured cluster.

The choice is made per job from the size of the data its code reads: the sum of the file sizes at the
locations of the tables it refers to (all selected ones when that cannot be read from the code),
against ``auto_threshold_bytes``. A location that is not a local path (``s3://``, ``hdfs://``) has no
size here, so it goes to the cluster. Before any cluster attempt the code is validated locally
(the dry run on empty stand-ins with the real schemas, in the local sandbox), so the cluster only runs
code that already passed Spark's analyzer. Each execution says which engine ran it and why.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from askspark.engines.base import Engine, Execution, Job, TableBinding, only_touched
from askspark.errors import AskSparkError
from askspark.record import ErrorKind, Failure
from askspark.settings import Settings
from askspark.settings import human_bytes as human


def data_size(tables: list[TableBinding]) -> tuple[int | None, str]:
    """Bytes of the tables' files, or None with the reason when a location has no size here."""
    total = 0
    for t in tables:
        scheme = urlparse(t.location).scheme
        if scheme not in ("", "file"):
            return None, f"{t.full_name} is at {t.location}, whose size is not known here"
        path = Path(urlparse(t.location).path if scheme == "file" else t.location)
        if not path.exists():
            return None, f"{t.full_name}'s location {path} does not exist on this machine"
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        total += sum(f.stat().st_size for f in files)
    return total, ""


class AutoEngine(Engine):
    """Delegates each job to ``local`` or the cluster engine by data size; validates locally first."""

    id = "auto"

    def __init__(self, settings: Settings, local: Engine, cluster: Engine | None = None) -> None:
        """``cluster`` is started on first use when not given (many questions never need it)."""
        self.settings = settings
        self.local = local
        self._cluster = cluster

    def cluster(self) -> Engine:
        if self._cluster is None:
            from askspark.engines.cache import engine_for

            self._cluster = engine_for(self.settings.auto_cluster, self.settings)
        return self._cluster

    def choose(self, job: Job) -> tuple[str, str]:
        """``("local" | "cluster", why)`` for this job's data."""
        limit = self.settings.auto_threshold_bytes
        read = only_touched(job).tables or job.tables  # a big table the code does not read weighs nothing
        size, unknown = data_size(read)
        what = "the selected data" if len(read) == len(job.tables) else "the data the code reads"
        if size is None:
            return "cluster", f"{unknown}"
        if size <= limit:
            return "local", f"{what} is {human(size)}, at most the threshold {human(limit)}"
        return "cluster", f"{what} is {human(size)}, over the threshold {human(limit)}"

    def run(self, job: Job) -> Execution:
        where, why = self.choose(job)
        if where == "local":
            execution = self.local.run(job)
            execution.notices.insert(0, f"engine auto chose local: {why}")
            execution.engine = "local"
            return execution
        return self._on_cluster(job, why)

    def _on_cluster(self, job: Job, why: str) -> Execution:
        name = self.settings.auto_cluster
        check = self.local.run(job.model_copy(update={"dry_run": True, "execute": False}))
        if not check.ok:
            check.engine = "local"
            check.notices.insert(0, f"engine auto chose {name} ({why}); the local dry run failed, so the "
                                 f"cluster was not used for this attempt")  # fmt: skip
            return check
        try:
            cluster = self.cluster()
        except AskSparkError as exc:
            failure = Failure(
                kind=ErrorKind.ENGINE_UNAVAILABLE, message=exc.message, suggestion=exc.suggestion
            )
            return Execution(ok=False, stage="execute", error=failure, engine=name)
        execution = cluster.run(job.model_copy(update={"dry_run": False}))  # validated already
        execution.notices.insert(0, f"engine auto chose {name}: {why}")
        execution.engine = execution.engine or name
        execution.timings = {f"local_{k}": v for k, v in check.timings.items()} | execution.timings
        return execution

    def close(self) -> None:
        """Nothing of its own: the engines it delegates to are shared and closed by their owner."""


def create(settings: Settings, readable: list[Path] | None = None) -> AutoEngine:  # noqa: ARG001
    from askspark.engines.cache import engine_for

    return AutoEngine(settings, engine_for("local", settings))
