"""The engine interface: run validated code on bound tables within limits, return an Execution."""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field

from askspark.catalog.base import TableInfo
from askspark.contract import Contract
from askspark.errors import UsageError, unknown_name
from askspark.record import Failure, ResultPreview
from askspark.validate.references import table_references


class TableBinding(BaseModel):
    """How one selected table is bound for the code: the name it is known by and where its data is."""

    name: str  # key in ``tables`` and the temporary view name for spark.sql / spark.table
    full_name: str  # as selected, e.g. northwind.orders
    format: str
    location: str
    schema_ddl: str
    options: dict[str, str] = Field(default_factory=dict)
    paths: list[str] | None = None  # explicit data files (Iceberg snapshot); None reads ``location``
    field_ids: dict[str, int] = Field(default_factory=dict)  # read Parquet columns by field id


class Limits(BaseModel):
    timeout_seconds: float = 120.0
    row_limit: int = 1000
    max_result_bytes: int = 2_000_000
    memory_mb: int = 4096


class Job(BaseModel):
    """One attempt's work for an engine."""

    run_id: str
    attempt: int
    code: str
    tables: list[TableBinding]
    limits: Limits
    output_dir: str  # fresh per run and attempt; the full result goes under it
    dry_run: bool = True  # call answer() on empty stand-ins with the real schemas first
    execute: bool = True  # then run it on the real data


class Execution(BaseModel):
    """What an engine reports for one job."""

    ok: bool
    stage: str  # dry_run | execute: how far the job got
    error: Failure | None = None
    result: ResultPreview | None = None
    logs: str = ""
    timings: dict[str, float] = Field(default_factory=dict)
    engine: str | None = None  # the engine that ran the job (auto delegates to another one)
    notices: list[str] = Field(default_factory=list)  # for the answer, e.g. why auto chose an engine


class EngineServer(Protocol):
    """The Spark server an engine runs on, as far as callers look at it (e.g. its memory, by pid)."""

    pid: int


class Engine(Protocol):
    """Everything the code calls on an engine. Engines subclass it explicitly to inherit the defaults
    (the capabilities they do not have), as ibis backends do."""

    id: str
    contract: Contract = Contract.SPARK  # the code it runs: answer(spark, tables) unless it says otherwise
    # Jobs it may run at once from several threads (an attempt's candidates); 1 = one at a time.
    parallel_jobs: int = 1

    @property
    def state(self) -> EngineServer | None:
        """The local Spark server the engine runs on (default: none)."""
        return None

    def run(self, job: Job) -> Execution:
        """Run one attempt's job within its limits; failures are reported in the Execution, not raised."""
        raise NotImplementedError

    def warm(self) -> None:
        """Block until the engine could start a job without waiting (default: nothing to warm)."""
        return None

    def close(self) -> None:
        """Release what the engine holds (default: nothing)."""
        return None


ENGINES: dict[str, str] = {
    "local": "askspark.engines.local:create",
    "connect": "askspark.engines.connect:create",
    "auto": "askspark.engines.auto:create",
    "emr-serverless": "askspark.engines.emr_serverless:create",
    "ray": "askspark.engines.ray_engine:create",
}


def get_engine(engine_id: str, settings: object, readable: list[Path] | None = None) -> Engine:
    """Resolve an engine id to a started engine, importing it only when used.

    ``readable`` lists data directories the engine must be able to read (a sandboxed local server sees
    nothing else).
    """
    if engine_id not in ENGINES:
        raise unknown_name("engine", engine_id, ENGINES)
    module_name, _, factory = ENGINES[engine_id].partition(":")
    return getattr(importlib.import_module(module_name), factory)(settings, readable)


# Formats whose ``location`` is not a path: a JDBC table (``schema.table``), a view bound by the engine.
NOT_FILES = frozenset({"jdbc", "view"})


def data_dirs(tables: Sequence[TableInfo | TableBinding]) -> list[Path]:
    """The directories holding the tables' data (a file's parent, or the directory itself)."""
    dirs = set()
    for t in tables:
        if t.format in NOT_FILES or remote_scheme(t.location):
            continue  # no local directory (a JDBC view, or s3:// refused before a run by check_readable)
        path = Path(t.location).resolve()
        dirs.add(path.parent if path.is_file() else path)
    return sorted(dirs)


def view_names(tables: list[TableInfo]) -> list[str]:
    """The name each selected table is known by in the code: its own name, or db_name when two collide."""
    counts: dict[str, int] = {}
    for t in tables:
        counts[t.name] = counts.get(t.name, 0) + 1
    return [t.name if counts[t.name] == 1 else f"{t.database}_{t.name}" for t in tables]


def bindings_for(tables: list[TableInfo]) -> list[TableBinding]:
    """Bind catalog tables for an engine: direct reads by location with the stored schema."""
    return [
        TableBinding(
            name=name,
            full_name=t.full_name,
            format=t.format,
            location=t.location,
            schema_ddl=t.schema_ddl(),
            options=t.options,
            paths=t.paths,
            field_ids=t.field_ids,
        )
        for t, name in zip(tables, view_names(tables), strict=True)
    ]


def only_touched(job: Job) -> Job:
    """The job with only the tables its code refers to bound (by view name or full name), for the dry
    run and the execution alike; all of them when the code's references cannot be read statically
    (:mod:`askspark.validate.references`). A table costs a view per run even when the code ignores it."""
    names = table_references(job.code)
    if names is None:
        return job
    touched = [t for t in job.tables if t.name.lower() in names or t.full_name.lower() in names]
    return job if len(touched) == len(job.tables) else job.model_copy(update={"tables": touched})


def remote_scheme(location: str) -> str | None:
    """The URI scheme of a location that is not a local path (``s3``, ``hdfs`` ...), else None."""
    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", location)
    scheme = match.group(1).lower() if match else None
    return None if scheme in (None, "file") else scheme


def check_readable(tables: Sequence[TableInfo], engine_id: str) -> None:
    """Refuse tables no engine can read correctly (the catalog says why, e.g. Iceberg delete files), and
    tables the local engine cannot reach: pyspark ships no S3 (s3a) or HDFS filesystem jars.

    Raises:
        UsageError: naming the tables, with how to make the data readable.
    """
    refused = [t for t in tables if t.details.get("unreadable")]
    if refused:
        t = refused[0]
        raise UsageError(
            f"askspark cannot read {t.qualified_name}: {t.details['unreadable']}",
            suggestion=t.details.get("unreadable_hint") or "ask about a table askspark can read",
            tables=[r.qualified_name for r in refused],
        )
    if engine_id != "local":
        return
    remote = [f"{t.qualified_name} ({t.location})" for t in tables if remote_scheme(t.location)]
    if remote:
        raise UsageError(
            f"the local engine cannot read {', '.join(remote)}: pyspark ships no S3/HDFS filesystem jars "
            "and askspark downloads none",
            suggestion="copy the data to a local directory (e.g. 'aws s3 sync s3://bucket/prefix /data/x') "
            "and point the table's location there, or register the copy with 'askspark catalog add'",
            tables=remote,
        )
