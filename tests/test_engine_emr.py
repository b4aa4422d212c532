"""The emr-serverless engine against moto's API server on 127.0.0.1 and a local Spark job executor.

The conformance cases (``CASES``) match the engine conformance suite: a question that succeeds, one
that needs repair, a timeout, truncation, an engine that is down. ``emr_engine`` yields a started
engine, so the cases can be folded into the shared suite. What is real here: the boto3 conversation
with an EMR Serverless and S3 API server (moto), the staged runner and worker running under
spark-submit with real (local) Spark. What is not: EMR itself, EMRFS and IAM (see tests/emr_emr_service.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from askspark import api
from askspark.engines.base import Job, Limits, TableBinding, get_engine
from askspark.engines.emr_serverless import EmrServerlessEngine, backoff
from askspark.errors import UsageError
from askspark.llm.scripted import ScriptedLLM
from askspark.record import Answer, ErrorKind
from askspark.settings import Settings
from emr_service import BUCKET, MotoService

pytestmark = pytest.mark.slow

GOOD = """
def answer(spark, tables):
    return spark.sql("SELECT symbol, ROUND(AVG(close), 2) AS avg_close FROM nasdaq GROUP BY symbol ORDER BY symbol")
"""
BOOM = """
from pyspark.sql import functions as F

def answer(spark, tables):
    df = tables["nasdaq"]
    return df.select(F.when(F.col("close") > 0, F.raise_error(F.lit("boom: no closes allowed"))).alias("x"))
"""


def ask(
    settings: Settings, engine: Any, replies: list[str], tables: tuple[str, ...] = ("northwind.nasdaq",)
) -> tuple[Answer, ScriptedLLM]:
    llm = ScriptedLLM(replies=[f"```python\n{r.strip()}\n```" for r in replies])
    answer = api.ask("a question", list(tables), engine=engine, model=llm, settings=settings)
    return answer, llm


def local_binding(table: str, settings: Settings) -> TableBinding:
    """A northwind table bound at its local path, as the engine gets it."""
    info = api.select_tables([f"northwind.{table}"], [], settings)[0]
    return TableBinding(
        name=table, full_name=info.full_name, format="parquet", location=info.location,
        schema_ddl=info.schema_ddl(),
    )  # fmt: skip


# --- beyond the shared cases ------------------------------------------------------------------------


def test_a_table_bound_at_an_s3_location_is_read_there(
    emr_engine: EmrServerlessEngine, emr_settings: Settings, emr_service: MotoService
) -> None:
    nasdaq = api.select_tables(["northwind.nasdaq"], [], emr_settings)[0]
    source = Path(nasdaq.location)
    for part in [source] if source.is_file() else sorted(source.glob("*.parquet")):
        emr_service.s3.put_object(Bucket=BUCKET, Key=f"tables/nasdaq/{part.name}", Body=part.read_bytes())
    binding = TableBinding(
        name="nasdaq",
        full_name="lake.nasdaq",
        format="parquet",
        location=f"s3://{BUCKET}/tables/nasdaq",
        schema_ddl=nasdaq.schema_ddl(),
    )
    job = Job(
        run_id="s3-binding", attempt=1, code=GOOD, tables=[binding], limits=Limits(), output_dir="unused"
    )
    strict = emr_settings.model_copy(update={"emr_upload_local_data": False})
    untouched = job.model_copy(
        update={"tables": [binding, local_binding("orders", strict)], "dry_run": False}
    )
    execution = EmrServerlessEngine(strict, validator=emr_engine.validator).run(untouched)
    assert execution.ok, execution.error  # a local table the code does not read is neither staged nor refused
    assert len(execution.result.rows) == 6
    document = emr_service.job_runs()[-1].job_driver["sparkSubmit"]
    assert document["entryPoint"].endswith("/runner.py") and "--py-files" in document["sparkSubmitParameters"]


def test_a_job_that_fails_on_emr_is_classified_from_its_report(
    emr_engine: EmrServerlessEngine, emr_settings: Settings, emr_service: MotoService
) -> None:
    answer, _ = ask(emr_settings.model_copy(update={"max_attempts": 1}), emr_engine, [BOOM])
    error = answer.attempts[0].error
    assert answer.attempts[0].stage == "execute" and error.kind == ErrorKind.RUNTIME
    assert "boom: no closes allowed" in error.message
    assert emr_service.job_runs()[-1].state == "FAILED"
    logs = answer.attempts[0].logs  # the driver's stdout and stderr, fetched from the log prefix
    assert "boom: no closes allowed" in logs


def test_driver_traceback_is_classified_when_there_is_no_report(
    emr_settings: Settings, engine: object
) -> None:
    emr = EmrServerlessEngine(emr_settings, validator=engine)  # type: ignore[arg-type]
    logs = (
        'Traceback (most recent call last):\n  File "runner.py", line 9, in <module>\nMemoryError: Java heap'
    )
    failure = emr.without_report({"state": "FAILED", "stateDetails": "ExitCode: 1"}, logs)
    assert failure.kind == ErrorKind.OUT_OF_MEMORY
    silent = emr.without_report({"state": "FAILED", "stateDetails": "ExitCode: 137"}, "")
    assert silent.kind == ErrorKind.ENGINE_UNAVAILABLE and "ExitCode: 137" in silent.message


def test_unknown_application_is_unavailable_with_a_hint(
    emr_settings: Settings, engine: object, emr_service: MotoService
) -> None:
    wrong = emr_settings.model_copy(update={"emr_application_id": "00nosuchapp"})
    job = Job(
        run_id="no-app", attempt=1, code=GOOD, tables=[], limits=Limits(), output_dir="x", dry_run=False
    )
    execution = EmrServerlessEngine(wrong, validator=engine).run(job)  # type: ignore[arg-type]
    assert execution.error.kind == ErrorKind.ENGINE_UNAVAILABLE
    assert "ResourceNotFound" in execution.error.message and "APPLICATION_ID" in execution.error.suggestion


def test_access_denied_is_a_permission_failure(
    emr_settings: Settings, engine: object, emr_service: MotoService
) -> None:
    foreign = emr_settings.model_copy(
        update={"emr_execution_role_arn": "arn:aws:iam::999999999999:role/other"}
    )
    job = Job(
        run_id="denied", attempt=1, code=GOOD, tables=[], limits=Limits(), output_dir="x", dry_run=False
    )
    execution = EmrServerlessEngine(foreign, validator=engine).run(job)  # type: ignore[arg-type]
    assert execution.error.kind == ErrorKind.PERMISSION and not execution.error.kind.fixable
    assert "PassRole" in execution.error.suggestion


def test_local_tables_are_refused_without_upload(emr_settings: Settings, engine: object) -> None:
    strict = emr_settings.model_copy(update={"emr_upload_local_data": False})
    job = Job(
        run_id="local",
        attempt=1,
        code=GOOD,
        tables=[local_binding("nasdaq", strict)],
        limits=Limits(),
        output_dir="x",
        dry_run=False,
    )
    execution = EmrServerlessEngine(strict, validator=engine).run(job)  # type: ignore[arg-type]
    assert execution.error.kind == ErrorKind.ENGINE_UNAVAILABLE
    assert "ASKSPARK_EMR_UPLOAD_LOCAL_DATA" in execution.error.suggestion


def test_missing_settings_name_the_variables(settings: Settings) -> None:
    with pytest.raises(UsageError) as info:
        get_engine("emr-serverless", settings)
    assert "ASKSPARK_EMR_APPLICATION_ID" in info.value.message
    assert "ASKSPARK_EMR_S3_PREFIX" in info.value.message


def test_poll_interval_grows_to_its_cap() -> None:
    waits = backoff(1.0, 3.0)
    assert [next(waits) for _ in range(5)] == [1.0, 1.5, 2.25, 3.0, 3.0]
