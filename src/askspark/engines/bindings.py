"""The trusted side's work on the server's catalog: JDBC tables bound as views, and the scrub after a job.

Both run in the engine's own control session (trusted code only), never in a worker. A JDBC table is read
by the control session with the credentials and handed to the worker as a global temporary view: the
password never enters the job, the worker or the generated code, and Spark redacts it from plans
(``spark.redaction.regex`` matches ``password``). After each job the catalog is scrubbed of what a run
may have left there, except the views of jobs still in flight (concurrent HTTP runs share the server).
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable
from typing import Any

from askspark.engines.base import Job, TableBinding
from askspark.engines.server import ServerState, jdbc_address
from askspark.errors import EngineUnavailableError
from askspark.settings import Settings

VIEW_DATABASE = "global_temp"


class Bindings:
    """The JDBC views of the jobs in flight, made and dropped by the control session."""

    def __init__(
        self, settings: Settings, control: Callable[[], Any], server: Callable[[], ServerState]
    ) -> None:
        self.settings = settings
        self.control = control  # the engine's own Spark session
        self.server = server  # the server's current state (it changes on a restart)
        self.lock = threading.Lock()
        self.in_use: set[str] = set()  # views of jobs in flight: the scrub leaves them

    def bind(self, job: Job) -> Job:
        """The job with each JDBC table bound as a global temporary view (released by :meth:`release`)."""
        if all(t.format != "jdbc" for t in job.tables):
            return job
        tables = [self._bind_jdbc(t) if t.format == "jdbc" else t for t in job.tables]
        return job.model_copy(update={"tables": tables})

    def _bind_jdbc(self, table: TableBinding) -> TableBinding:
        from askspark.catalog import jdbc

        target = jdbc.target(table.options.get("url"))
        url = target.url_via(*jdbc_address(self.server(), target.host, target.port))
        options = jdbc.reader_options(self.settings, table.location, url)
        view = f"askspark_{uuid.uuid4().hex[:12]}_{table.name}"
        with self.lock:  # before the view exists: a concurrent job's scrub must not drop it
            self.in_use.add(view)
        try:
            self.control().read.format("jdbc").options(**options).load().createGlobalTempView(view)
        except Exception as exc:  # noqa: BLE001 - reported as the engine's, without the options
            raise EngineUnavailableError(
                f"cannot read {table.full_name} from {target.host}:{target.port}/{target.database}",
                suggestion="check that the database is up and the jdbc catalog's credentials are right",
                reason=type(exc).__name__,
            ) from None
        return table.model_copy(
            update={"format": "view", "location": f"{VIEW_DATABASE}.{view}", "options": {}}
        )

    def release(self, job: Job) -> None:
        """The job is over: its JDBC views may go with the next scrub."""
        with self.lock:
            for t in job.tables:
                if t.format == "view":
                    self.in_use.discard(t.location.removeprefix(f"{VIEW_DATABASE}."))

    def scrub(self) -> None:
        """Drop catalog objects a run left behind: they are shared across sessions, runs must not be.

        Generated code may not run DDL (the validator rejects it); this is the wall behind that filter.
        Databases other than ``default``, tables and persistent functions in any database are dropped,
        and the global views of jobs no longer in flight.
        """
        with contextlib.suppress(Exception):  # the server may be gone; the next run restarts it
            spark = self.control()
            for db in spark.catalog.listDatabases():
                if db.name != "default":
                    spark.sql(f"DROP DATABASE IF EXISTS `{db.name}` CASCADE")
            for table in spark.catalog.listTables("default"):
                if not table.isTemporary:
                    spark.sql(f"DROP TABLE IF EXISTS default.`{table.name}`")
            with self.lock:
                in_use = set(self.in_use)
            for view in spark.catalog.listTables(VIEW_DATABASE):
                if view.name not in in_use:  # another job's JDBC table, still being read
                    spark.sql(f"DROP VIEW IF EXISTS {VIEW_DATABASE}.`{view.name}`")
            for fn in spark.sql("SHOW USER FUNCTIONS").collect():
                name = fn[0]
                if "." in name:  # persistent functions are qualified; temporary ones die with the session
                    spark.sql(f"DROP FUNCTION IF EXISTS {name}")
