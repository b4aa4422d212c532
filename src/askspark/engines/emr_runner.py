"""The EMR Serverless runner: the entry point askspark stages to S3 for every job run.

EMR Serverless starts it with ``spark-submit`` (classic PySpark on the service's Spark, 3.5 or later),
with the job document's S3 URI as its one argument and askspark's worker module shipped beside it as
``askspark_worker.py`` (``--py-files``), so the contract code is the same as the local engine's:
1. read the job document (code, table bindings by location, limits, output URI) through Spark;
2. bind the tables (``spark.read...load(location)`` plus temporary views), call ``answer(spark, tables)``;
3. collect ``limit(row_limit + 1)`` rows, bound them by the byte cap, write the full result as Parquet
   under ``<output>/result`` and the report (one JSON line) under ``<output>/report``;
4. on failure, write a failure report, print the traceback to stderr and exit 1 (the job run FAILED).

It reads and writes S3 only through Spark (EMRFS on the service), so it needs no boto3 and no
credentials of its own: the job's execution role is all it has.

``ASKSPARK_EMR_PATH_MAP`` (JSON, prefix -> prefix) rewrites locations before Spark sees them. It is
unset on EMR; the tests' stand-in for the service sets it to a local mirror of the moto S3 bucket,
because the pip pyspark has no S3 filesystem.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import Any

from askspark_worker import ContractError, bounded_records, failure_report, json_value, load_answer

PATH_MAP_ENV = "ASKSPARK_EMR_PATH_MAP"


def mapped(location: str) -> str:
    """``location`` with the first matching prefix of the path map replaced (no map on EMR)."""
    for prefix, target in json.loads(os.environ.get(PATH_MAP_ENV) or "{}").items():
        if location.startswith(prefix):
            return target + location[len(prefix) :]
    return location


def read_text(spark: Any, location: str) -> str:
    return "".join(row.value for row in spark.read.text(mapped(location), wholetext=True).collect())


def write_text(spark: Any, location: str, text: str) -> None:
    frame = spark.createDataFrame([(text,)], "value string").coalesce(1)
    frame.write.mode("overwrite").text(mapped(location))


def bind_tables(spark: Any, tables: list[dict[str, Any]]) -> dict[str, Any]:
    bound = {}
    for t in tables:
        reader = spark.read.format(t["format"]).schema(t["schema_ddl"]).options(**t["options"])
        df = reader.load(mapped(t["location"]))
        df.createOrReplaceTempView(t["name"])
        bound[t["name"]] = df
        bound.setdefault(t["full_name"], df)
    return bound


def call_answer(answer: Any, spark: Any, tables: dict[str, Any]) -> Any:
    from pyspark.sql import DataFrame

    df = answer(spark, tables)
    if not isinstance(df, DataFrame):
        raise ContractError(f"answer() returned {type(df).__name__}, not a Spark DataFrame")
    df.schema  # noqa: B018 - resolves every table, column and function before any data is read
    return df


def result_of(spark: Any, df: Any, job: dict[str, Any], timings: dict[str, float]) -> dict[str, Any]:
    """The bounded preview; the full result is written as Parquet under the output URI."""
    limits, location = job["limits"], job["output_uri"].rstrip("/") + "/result"
    start = time.perf_counter()
    collected = df.limit(limits["row_limit"] + 1).collect()
    timings["collect"] = time.perf_counter() - start
    rows, truncated = bounded_records(collected, limits["row_limit"], limits["max_result_bytes"])
    full = df if truncated else spark.createDataFrame(collected, df.schema).coalesce(1)
    full.write.mode("overwrite").parquet(mapped(location))
    timings["write"] = time.perf_counter() - start - timings["collect"]
    return {
        "columns": [{"name": f.name, "type": f.dataType.simpleString()} for f in df.schema.fields],
        "rows": [[json_value(v) for v in row] for row in rows],
        "truncated": truncated,
        "location": location,
        "row_count": None if truncated else len(rows),
    }


def run_job(spark: Any, job: dict[str, Any]) -> dict[str, Any]:
    timings: dict[str, float] = {}
    try:
        answer = load_answer(job["code"])
        start = time.perf_counter()
        tables = bind_tables(spark, job["tables"])
        df = call_answer(answer, spark, tables)
        timings["analyze"] = time.perf_counter() - start
        result = result_of(spark, df, job, timings)
        timings["execute"] = time.perf_counter() - start
        return {"ok": True, "stage": "execute", "result": result, "timings": timings}
    except BaseException as exc:  # noqa: BLE001 - reported, then the job fails
        traceback.print_exc()
        return failure_report("execute", exc, timings)


def main() -> None:
    from pyspark.sql import SparkSession

    job_uri = sys.argv[1]
    spark = SparkSession.builder.appName("askspark").getOrCreate()
    spark.sparkContext.setLogLevel("WARN")  # the driver log then ends with what went wrong, not INFO lines
    job = json.loads(read_text(spark, job_uri))
    job["code"] = read_text(spark, job["code_uri"])
    report = run_job(spark, job)
    write_text(spark, job["output_uri"].rstrip("/") + "/report", json.dumps(report, default=str))
    spark.stop()
    if not report["ok"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
