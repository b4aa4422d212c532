"""The emr-serverless engine against moto's API server on 127.0.0.1 and a local Spark job executor.

The conformance cases (``CASES``) match the engine conformance suite: a question that succeeds, one
that needs repair, a timeout, truncation, an engine that is down. ``started_engine`` yields a started
engine, so the cases can be folded into the shared suite. What is real here: the boto3 conversation
with an EMR Serverless and S3 API server (moto), the staged runner and worker running under
spark-submit with real (local) Spark. What is not: EMR itself, EMRFS and IAM (see tests/emr_service.py).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
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
from emr_service import BUCKET, ROLE, Executor, MotoService, free_port, wait_until

pytestmark = pytest.mark.slow

GOOD = """
def answer(spark, tables):
    return spark.sql("SELECT symbol, ROUND(AVG(close), 2) AS avg_close FROM nasdaq GROUP BY symbol ORDER BY symbol")
"""
WRONG_COLUMN = """
def answer(spark, tables):
    return spark.sql("SELECT symbol, AVG(closing_price) AS avg_close FROM nasdaq GROUP BY symbol")
"""
ALL_ROWS = "def answer(spark, tables):\n    return tables['nasdaq'].select('symbol', 'date', 'close')"
# Analyzes in milliseconds (the local dry run passes), runs for hours on one core.
ENDLESS = "def answer(spark, tables):\n    return spark.range(10**13).selectExpr('sum(id) AS s')"
BOOM = """
from pyspark.sql import functions as F

def answer(spark, tables):
    df = tables["nasdaq"]
    return df.select(F.when(F.col("close") > 0, F.raise_error(F.lit("boom: no closes allowed"))).alias("x"))
"""

# Known gaps of this engine in the conformance suite, with the reason (none so far).
GAPS: dict[str, str] = {}
CASES = ["succeeds", "repair", "timeout", "truncation", "unavailable"]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoService]:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # moto accepts any; never real ones
        os.environ[key] = "testing"
    moto = MotoService()
    executor = Executor(moto, tmp_path_factory.mktemp("emr"))
    executor.start()
    moto.executor = executor  # type: ignore[attr-defined]
    yield moto
    executor.stop()
    moto.stop()


@pytest.fixture(scope="module")
def emr_settings(settings: Settings, service: MotoService) -> Settings:
    return settings.model_copy(
        update={
            "emr_application_id": service.application_id,
            "emr_execution_role_arn": ROLE,
            "emr_s3_prefix": f"s3://{BUCKET}/askspark",
            "emr_upload_local_data": True,
            "aws_endpoint_url": service.endpoint,
            "aws_region": "us-east-1",
            "emr_poll_seconds": 0.5,
            "emr_poll_max_seconds": 2.0,
            "max_attempts": 3,
            # spark-submit's cold JVM per job run took minutes when the shared 2-core machine was loaded
            "timeout_seconds": 240.0,
        }
    )


@pytest.fixture(scope="module")
def started_engine(emr_settings: Settings, engine: object) -> Iterator[EmrServerlessEngine]:
    """A started emr-serverless engine; its dry runs use the session's warm local engine."""
    emr = EmrServerlessEngine(emr_settings, validator=engine)  # type: ignore[arg-type]
    yield emr
    emr.close()


def ask(
    settings: Settings, engine: Any, replies: list[str], tables: tuple[str, ...] = ("northwind.nasdaq",)
) -> tuple[Answer, ScriptedLLM]:
    llm = ScriptedLLM(replies=[f"```python\n{r.strip()}\n```" for r in replies])
    answer = api.ask("a question", list(tables), engine=engine, model=llm, settings=settings)
    return answer, llm


def s3_parquet_rows(service: MotoService, location: str) -> int:
    import pyarrow.parquet as pq

    prefix = location[len(f"s3://{BUCKET}/") :] + "/"
    keys = [o["Key"] for o in service.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]
    parts = [k for k in keys if k.endswith(".parquet")]
    body = lambda k: service.s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()  # noqa: E731
    return sum(pq.read_table(io.BytesIO(body(k))).num_rows for k in parts)


def check_case(case: str, engine: EmrServerlessEngine, settings: Settings, service: MotoService) -> None:
    """One conformance case; the assertions every engine must meet."""
    runs_before = len(service.job_runs())
    if case == "succeeds":
        answer, _ = ask(settings, engine, [GOOD])
        assert answer.status == "succeeded", answer.attempts[-1].error
        assert answer.engine == "emr-serverless" and len(answer.attempts) == 1
        assert answer.result is not None and len(answer.result.rows) == 6 and not answer.result.truncated
        assert [c.name for c in answer.result.columns] == ["symbol", "avg_close"]
        assert answer.result.location.startswith(f"s3://{BUCKET}/askspark/runs/{answer.run_id}/")
        assert s3_parquet_rows(service, answer.result.location) == 6
    elif case == "repair":
        answer, llm = ask(settings, engine, [WRONG_COLUMN, GOOD])
        assert answer.status == "succeeded" and len(answer.attempts) == 2
        first = answer.attempts[0]
        assert first.stage == "dry_run" and first.error.kind == ErrorKind.UNRESOLVED_COLUMN
        assert "closing_price" in first.error.message
        assert "closing_price" in llm.calls[1].messages[-1].content  # the error went back to the model
        assert len(service.job_runs()) == runs_before + 1  # the analyzer's catch cost no job run
    elif case == "timeout":
        quick = settings.model_copy(update={"timeout_seconds": 25.0, "max_attempts": 1})
        answer, _ = ask(quick, engine, [ENDLESS])
        assert answer.status == "failed" and answer.attempts[0].error.kind == ErrorKind.TIMEOUT
        assert answer.attempts[0].seconds < 60
        job_run = service.job_runs()[-1]
        assert job_run.state == "CANCELLED"  # askspark cancelled it; the executor killed the driver
        assert wait_until(lambda: job_run.id not in service.executor.running, 15)  # type: ignore[attr-defined]
    elif case == "truncation":
        answer, _ = ask(settings.model_copy(update={"row_limit": 5}), engine, [ALL_ROWS])
        assert answer.status == "succeeded", answer.attempts[-1].error
        assert answer.result.truncated and len(answer.result.rows) == 5 and answer.result.row_count is None
        full = s3_parquet_rows(service, answer.result.location)
        assert full == api.select_tables(["northwind.nasdaq"], [], settings)[0].row_count > 5
    elif case == "unavailable":
        down = settings.model_copy(update={"aws_endpoint_url": f"http://127.0.0.1:{free_port()}"})
        answer, llm = ask(down, EmrServerlessEngine(down, validator=engine.validator), [GOOD, GOOD])
        assert answer.status == "failed" and len(answer.attempts) == 1
        assert answer.error.kind == ErrorKind.ENGINE_UNAVAILABLE and not answer.error.kind.fixable
        assert "cannot be fixed" in (answer.stop_reason or "")
        assert llm.remaining == 1  # the loop did not ask the model again


@pytest.mark.parametrize("case", CASES)
def test_conformance(
    case: str, started_engine: EmrServerlessEngine, emr_settings: Settings, service: MotoService
) -> None:
    if case in GAPS:
        pytest.xfail(GAPS[case])
    check_case(case, started_engine, emr_settings, service)


# --- beyond the shared cases ------------------------------------------------------------------------


def test_a_table_bound_at_an_s3_location_is_read_there(
    started_engine: EmrServerlessEngine, emr_settings: Settings, service: MotoService
) -> None:
    nasdaq = api.select_tables(["northwind.nasdaq"], [], emr_settings)[0]
    source = Path(nasdaq.location)
    for part in [source] if source.is_file() else sorted(source.glob("*.parquet")):
        service.s3.put_object(Bucket=BUCKET, Key=f"tables/nasdaq/{part.name}", Body=part.read_bytes())
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
    execution = started_engine.run(job)
    assert execution.ok, execution.error
    assert len(execution.result.rows) == 6
    document = service.job_runs()[-1].job_driver["sparkSubmit"]
    assert document["entryPoint"].endswith("/runner.py") and "--py-files" in document["sparkSubmitParameters"]


def test_a_job_that_fails_on_emr_is_classified_from_its_report(
    started_engine: EmrServerlessEngine, emr_settings: Settings, service: MotoService
) -> None:
    answer, _ = ask(emr_settings.model_copy(update={"max_attempts": 1}), started_engine, [BOOM])
    error = answer.attempts[0].error
    assert answer.attempts[0].stage == "execute" and error.kind == ErrorKind.RUNTIME
    assert "boom: no closes allowed" in error.message
    assert service.job_runs()[-1].state == "FAILED"
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
    emr_settings: Settings, engine: object, service: MotoService
) -> None:
    wrong = emr_settings.model_copy(update={"emr_application_id": "00nosuchapp"})
    job = Job(
        run_id="no-app", attempt=1, code=GOOD, tables=[], limits=Limits(), output_dir="x", dry_run=False
    )
    execution = EmrServerlessEngine(wrong, validator=engine).run(job)  # type: ignore[arg-type]
    assert execution.error.kind == ErrorKind.ENGINE_UNAVAILABLE
    assert "ResourceNotFound" in execution.error.message and "APPLICATION_ID" in execution.error.suggestion


def test_access_denied_is_a_permission_failure(
    emr_settings: Settings, engine: object, service: MotoService
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
    nasdaq = api.select_tables(["northwind.nasdaq"], [], strict)[0]
    binding = TableBinding(
        name="nasdaq", full_name=nasdaq.full_name, format="parquet", location=nasdaq.location,
        schema_ddl=nasdaq.schema_ddl(),
    )  # fmt: skip
    job = Job(
        run_id="local", attempt=1, code=GOOD, tables=[binding], limits=Limits(), output_dir="x", dry_run=False
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
