"""The worker: the only process that runs generated code. It starts inside the sandbox.

Protocol (one job per process, so no run can leave anything behind for the next):
1. start, import the Spark Connect client, open a fresh session over the Unix socket, print ``ready``;
2. read one JSON job from stdin;
3. dry run: bind empty stand-ins with the real schemas, call ``answer()``, let Spark analyze the plan;
4. execute: bind the real data, call ``answer()``, take ``limit(row_limit + 1)``, write the full result;
5. print one JSON report to the original stdout and exit.
Generated code's own prints go to stderr (the log), never into the report channel.

This module imports only the standard library, pyarrow and pyspark: it must not reach the run store,
settings or credentials, and the sandbox gives it none.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import Any

SOCKET_ENV = "ASKSPARK_CONNECT_SOCKET"
SESSION_ENV = "ASKSPARK_SESSION_ID"


# Bounded patience with a Spark server (issue 18). pyspark's default policy retries an unreachable server
# for over ten minutes (15 retries, backoff up to 60 s, a server's retry delay honoured up to 10 min), and
# its RPC deadlines are 10 min to 1 h: a server killed mid-job held a question for more than 7 minutes.
# Here a server that is gone fails the call after ~3 s of retries (100+200+400+800+1600 ms).
RETRY_POLICY: dict[str, Any] = {
    "max_retries": 5,
    "initial_backoff": 100,
    "backoff_multiplier": 2.0,
    "max_backoff": 2000,
    "max_server_retry_delay": 2000,
}
CONTROL_DEADLINE_SECONDS = 15.0
"""The deadline of each call of the engine's own sessions (control, interrupt): catalog scrubs, probes,
JDBC bindings and interrupts are small; a server that takes longer is treated as gone."""


def connect(socket_path: str, session_id: str, deadline: float | None = None) -> Any:
    """A Spark Connect session over a Unix socket (the sandbox has no network), with bounded retries.

    ``deadline`` bounds every RPC of the session (and the reattaching of a long result stream) in
    seconds: the engine's own sessions pass one; a worker passes none, its job is bounded by the kill.
    """
    from pyspark.sql.connect.client import ChannelBuilder
    from pyspark.sql.connect.session import SparkSession

    class UnixChannel(ChannelBuilder):
        def toChannel(self) -> Any:  # noqa: N802 - pyspark's name
            return self._insecure_channel(f"unix://{socket_path}")

        @property
        def host(self) -> str:
            return "localhost"

    params = {
        ChannelBuilder.PARAM_SESSION_ID: session_id,
        ChannelBuilder.PARAM_USER_ID: os.environ.get("ASKSPARK_USER_ID", "askspark"),
    }
    builder = UnixChannel(params=params)
    # pyspark annotates DefaultChannelBuilder but takes any ChannelBuilder (its own docs show a subclass)
    spark = SparkSession.builder.channelBuilder(builder).create()  # type: ignore[arg-type]
    bound(spark.client, deadline)
    return spark


def bound(client: Any, deadline: float | None) -> None:
    """Give a Spark Connect client our retry policy and, when given, ``deadline`` on every RPC.

    The session builder passes no client options through, so they are set on the client it made (no
    RPC has been sent yet). The retry policy has a public setter; the deadlines are the client's
    ``RpcDeadlines`` (pyspark 4.1+), which its constructor would take: checked, so an upgrade that
    renames them fails here rather than silently waiting for minutes.
    """
    from pyspark.sql.connect.client.retries import DefaultPolicy

    client.set_retry_policies([DefaultPolicy(**RETRY_POLICY)])
    if deadline is None:
        return
    import dataclasses

    from pyspark.sql.connect.client.core import RpcDeadlines

    for name in ("_rpc_deadlines", "_max_retry_exception_elapsed_time"):
        if not hasattr(client, name):
            raise RuntimeError(f"this pyspark's Spark Connect client has no {name}: update bound()")
    client._rpc_deadlines = RpcDeadlines(**{f.name: deadline for f in dataclasses.fields(RpcDeadlines)})
    client._max_retry_exception_elapsed_time = deadline  # a stream that keeps missing its deadline


def bind_tables(spark: Any, tables: list[dict[str, Any]], empty: bool) -> dict[str, Any]:
    """DataFrames for ``tables`` (and temp views of the same names): empty stand-ins or the real data."""
    bound = {}
    for t in tables:
        if empty:
            df = spark.createDataFrame([], t["schema_ddl"])
        elif t["format"] == "view":  # bound by the engine's trusted side (a JDBC source, credentials there)
            df = spark.table(t["location"])
        else:
            df = read_table(spark, t)
        df.createOrReplaceTempView(t["name"])
        bound[t["name"]] = df
        bound.setdefault(t["full_name"], df)
    return bound


def read_table(spark: Any, t: dict[str, Any]) -> Any:
    """The table's data read by location (or from its explicit file list) with the catalog's schema."""
    schema: Any = t["schema_ddl"]
    if t.get("field_ids"):
        # Iceberg files carry Parquet field ids; reading by id finds renamed columns' data.
        spark.conf.set("spark.sql.parquet.fieldId.read.enabled", "true")
        schema = spark.createDataFrame([], schema).schema
        for field in schema.fields:
            if field.name in t["field_ids"]:
                field.metadata = {**(field.metadata or {}), "parquet.field.id": t["field_ids"][field.name]}
    paths = t.get("paths")
    if paths is not None and not paths:
        return spark.createDataFrame([], schema)
    reader = spark.read.format(t["format"]).schema(schema).options(**t["options"])
    return reader.load(paths if paths is not None else t["location"])


def load_answer(code: str) -> Any:
    """Compile the generated module and return its ``answer`` function."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F  # noqa: N812 - the conventional name
    from pyspark.sql import types as T  # noqa: N812

    namespace: dict[str, Any] = {"F": F, "Window": Window, "T": T, "__name__": "askspark_answer"}
    exec(compile(code, "<answer>", "exec"), namespace)  # noqa: S102 - this process is the sandbox
    answer = namespace.get("answer")
    if not callable(answer):
        raise ContractError("the code does not define a function answer(spark, tables)")
    return answer


class ContractError(Exception):
    """The code broke the contract: no answer(), or it did not return a DataFrame."""


def call_answer(answer: Any, spark: Any, tables: dict[str, Any]) -> Any:
    from pyspark.sql.connect.dataframe import DataFrame

    df = answer(spark, tables)
    if not isinstance(df, DataFrame):
        raise ContractError(f"answer() returned {type(df).__name__}, not a Spark DataFrame")
    df.schema  # noqa: B018 - forces Spark's analyzer to resolve every table, column and function
    return df


def json_value(value: Any) -> Any:
    """A JSON-safe rendering of one cell."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return value


def bounded_rows(table: Any, row_limit: int, max_bytes: int) -> tuple[list[list[Any]], bool]:
    """At most ``row_limit`` rows of an Arrow table within ``max_bytes`` of JSON; True when anything
    was left out."""
    records = zip(*(column.to_pylist() for column in table.columns), strict=True)
    return bounded_records(records, row_limit, max_bytes)


def bounded_records(
    records: Iterable[Sequence[Any]], row_limit: int, max_bytes: int
) -> tuple[list[list[Any]], bool]:
    """At most ``row_limit`` records within ``max_bytes`` of JSON; True when anything was left out.

    Shared with the EMR Serverless runner and the Ray worker, which hold rows, not Arrow tables."""
    rows: list[list[Any]] = []
    used = 0
    for record in records:
        if len(rows) == row_limit:
            return rows, True
        row = [json_value(v) for v in record]
        used += len(json.dumps(row, default=str))
        if used > max_bytes:
            return rows, True
        rows.append(row)
    return rows, False


def preview(df: Any, job: dict[str, Any], timings: dict[str, float]) -> dict[str, Any]:
    """Collect ``limit(row_limit + 1)`` rows; write the full result as Parquet under the output dir."""
    limits = job["limits"]
    start = time.perf_counter()
    table = df.limit(limits["row_limit"] + 1).toArrow()
    timings["collect"] = time.perf_counter() - start
    rows, truncated = bounded_rows(table, limits["row_limit"], limits["max_result_bytes"])
    location = os.path.join(job["output_dir"], "result")
    # Where Spark writes the full result of a truncated answer: the staging directory by default; a
    # cluster's engine names a place the cluster can write (or None: keep the bounded rows only).
    full = job.get("full_result", location)
    if truncated and full:
        df.write.mode("overwrite").parquet(full)
        location = full
    if location != full or not truncated:
        import pyarrow.parquet as pq

        os.makedirs(location, exist_ok=True)
        pq.write_table(table, os.path.join(location, "part-00000.parquet"))
    timings["write"] = time.perf_counter() - start - timings["collect"]
    columns = [{"name": f.name, "type": f.dataType.simpleString()} for f in df.schema.fields]
    count = None if truncated else len(rows)
    return {
        "columns": columns,
        "rows": rows,
        "truncated": truncated,
        "location": location,
        "row_count": count,
    }


def run_job(spark: Any, job: dict[str, Any]) -> dict[str, Any]:
    timings: dict[str, float] = {}
    stage = "dry_run"
    try:
        answer = load_answer(job["code"])
        if job["dry_run"]:
            start = time.perf_counter()
            call_answer(answer, spark, bind_tables(spark, job["tables"], empty=True))
            timings["dry_run"] = time.perf_counter() - start
        if not job["execute"]:
            return {"ok": True, "stage": stage, "timings": timings}
        stage = "execute"
        start = time.perf_counter()
        tables = bind_tables(spark, job["tables"], empty=False)
        timings["bind"] = time.perf_counter() - start
        df = call_answer(answer, spark, tables)
        timings["analyze"] = time.perf_counter() - start - timings["bind"]
        result = preview(df, job, timings)
        timings["execute"] = time.perf_counter() - start
        return {"ok": True, "stage": stage, "result": result, "timings": timings}
    except BaseException as exc:  # noqa: BLE001 - everything the code raises is reported, nothing escapes
        return failure_report(stage, exc, timings)


def failure_report(stage: str, exc: BaseException, timings: dict[str, float]) -> dict[str, Any]:
    text = str(exc) or type(exc).__name__
    tb = traceback.extract_tb(exc.__traceback__)
    lines = [f.lineno for f in tb if f.filename == "<answer>"]
    return {
        "ok": False,
        "stage": stage,
        "error": {"type": type(exc).__name__, "text": text[:20000], "line": lines[-1] if lines else None},
        "timings": timings,
    }


def serve(
    start: Callable[[], Any],
    run: Callable[[Any, dict[str, Any]], dict[str, Any]],
    stop: Callable[[Any], object],
) -> None:
    """The worker's side of the protocol (the engine's is :mod:`askspark.engines.process`), for the Spark
    and the Ray worker: ``start()`` the engine's client, print ``ready``, read one job line, print one
    report line, then ``stop(client)`` (best effort: the report is out)."""
    report = os.fdopen(os.dup(1), "w")  # the report channel; fd 1 becomes the log from here on
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    client = start()
    report.write("ready\n")
    report.flush()
    job = json.loads(sys.stdin.readline())
    result = run(client, job)
    report.write(json.dumps(result, default=str) + "\n")
    report.flush()
    with contextlib.suppress(Exception):  # the report is out; nothing else matters now
        stop(client)


def start_spark() -> Any:
    """This worker's own Spark session, opened before the job arrives."""
    spark = connect(os.environ[SOCKET_ENV], os.environ[SESSION_ENV])
    spark.version  # noqa: B018 - opens the channel and session before the job arrives
    return spark


def main() -> None:
    # pyspark.sql.functions dispatches to the Connect implementation only in Connect mode; a session
    # built from a custom channel does not switch it on by itself.
    os.environ["SPARK_CONNECT_MODE_ENABLED"] = "1"
    serve(start_spark, run_job, lambda spark: spark.stop())  # releases the session (temp views) on the server


if __name__ == "__main__":
    main()
