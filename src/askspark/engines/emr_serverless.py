"""The ``emr-serverless`` engine: each attempt is one EMR Serverless job run.

Validation stays local: the dry run (``answer()`` on empty stand-ins with the real schemas) runs on the
warm local engine first, so a remote job run is only spent on code Spark's analyzer accepted. Then:
1. stage ``answer.py``, ``job.json``, the runner and the worker module under a fresh per-attempt prefix
   ``<emr_s3_prefix>/runs/<run id>/<attempt>-<nonce>/``; of the tables the code reads
   (``base.only_touched``), those at local paths are uploaded once per content when
   ``emr_upload_local_data`` allows it, those at ``s3://`` locations are bound as they are;
2. ``StartJobRun`` on the configured application with the configured execution role;
3. poll ``GetJobRun`` with a growing interval until the job ends or the attempt's time is up (then
   ``CancelJobRun`` and a ``timeout`` failure);
4. read the runner's one-line report and the driver's logs from S3; the full result stays in S3.

AWS errors become failures the loop understands: unreachable endpoint, unknown application or bucket
-> ``engine_unavailable``; access denied -> ``permission``. Neither is fixable by new code.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import math
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from askspark.engines.base import Engine, Execution, Job, TableBinding, only_touched
from askspark.engines.classify import classify
from askspark.engines.report import execution as execution_of
from askspark.errors import UsageError, missing_extra
from askspark.record import ErrorKind, Failure
from askspark.settings import Settings

RUNNER = Path(__file__).with_name("emr_runner.py")
WORKER = Path(__file__).with_name("worker.py")
TERMINAL = {"SUCCESS", "FAILED", "CANCELLED"}
LOG_TAIL_BYTES = 20_000
UNAVAILABLE_CODES = {
    "ResourceNotFoundException": "check ASKSPARK_EMR_APPLICATION_ID and ASKSPARK_AWS_REGION",
    "NoSuchBucket": "check the bucket in ASKSPARK_EMR_S3_PREFIX",
    "ValidationException": "check the EMR Serverless application (type Spark, not terminated) and the role",
    "ConflictException": "the application is being changed; try again when it is CREATED or STARTED",
    "ServiceQuotaExceededException": "the account's EMR Serverless quota is used up; wait or raise it",
    "ThrottlingException": "AWS is throttling this account; try again shortly",
    "InternalServerException": "EMR Serverless had an internal error; try again",
}
PERMISSION_CODES = {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation", "InvalidAccessKeyId"}


class AwsFailure(Exception):
    """An AWS call failed in a way new code cannot fix; carries the failure for the loop."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


@dataclass
class Staged:
    """Where one attempt's files live in S3."""

    base: str  # s3://bucket/prefix/runs/<run>/<attempt>-<nonce>
    job_uri: str
    output_uri: str
    log_uri: str


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` as (bucket, key)."""
    if not uri.startswith("s3://"):
        raise UsageError(f"{uri!r} is not an s3:// URI", suggestion="write s3://bucket/prefix")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def backoff(first: float, most: float) -> Any:
    """Poll intervals: ``first``, then half as long again each time, never above ``most``."""
    wait = first
    while True:
        yield wait
        wait = min(most, wait * 1.5)


class EmrServerlessEngine(Engine):
    """Runs each attempt as one EMR Serverless job run; the dry run stays on the local engine."""

    id = "emr-serverless"

    def __init__(self, settings: Settings, validator: Engine | None = None) -> None:
        require_settings(settings)
        self.settings = settings
        self._validator = validator
        self.emr, self.s3 = clients(settings)

    @property
    def validator(self) -> Engine:
        """The engine of the local dry run: the process's warm local engine unless one was given."""
        if self._validator is None:
            from askspark.engines.cache import engine_for

            self._validator = engine_for("local", self.settings)
        return self._validator

    def run(self, job: Job) -> Execution:
        if job.dry_run:
            checked = self.validator.run(job.model_copy(update={"execute": False}))
            if not checked.ok or not job.execute:
                return checked
        start = time.perf_counter()
        try:
            staged = self.stage(job)
            run_id = self.start(job, staged)
            execution = self.follow(run_id, staged, job)
        except AwsFailure as exc:
            return Execution(ok=False, stage="execute", error=exc.failure)
        execution.timings["emr_job"] = time.perf_counter() - start
        if job.dry_run:
            execution.timings = checked.timings | execution.timings
        return execution

    def follow(self, run_id: str, staged: Staged, job: Job) -> Execution:
        """Wait for the started job run and collect it; a job run left behind by an error is cancelled."""
        try:
            job_run = self.wait(run_id, job.limits.timeout_seconds)
        except AwsFailure:
            self.cancel(run_id)
            raise
        return self.collect(run_id, job_run, staged, job)

    def cancel(self, run_id: str) -> None:
        with contextlib.suppress(AwsFailure):  # best effort: the service's own timeout is the backstop
            self.call(
                self.emr.cancel_job_run, applicationId=self.settings.emr_application_id, jobRunId=run_id
            )

    # --- staging --------------------------------------------------------------------------------

    def stage(self, job: Job) -> Staged:
        base = f"{self.settings.emr_s3_prefix.rstrip('/')}/runs/{job.run_id}/{job.attempt}-{uuid.uuid4().hex[:8]}"
        staged = Staged(
            base, f"{base}/job.json", f"{base}/output", f"{self.settings.emr_s3_prefix.rstrip('/')}/logs"
        )
        document = {
            "run_id": job.run_id,
            "attempt": job.attempt,
            "code_uri": f"{base}/answer.py",
            "tables": [self.bind(t).model_dump() for t in only_touched(job).tables],  # uploads only those
            "limits": job.limits.model_dump(),
            "output_uri": staged.output_uri,
        }
        self.put(f"{base}/answer.py", job.code.encode())
        self.put(f"{base}/runner.py", RUNNER.read_bytes())
        self.put(f"{base}/askspark_worker.py", WORKER.read_bytes())
        self.put(staged.job_uri, json.dumps(document).encode())
        return staged

    def bind(self, table: TableBinding) -> TableBinding:
        """The table as EMR reads it: an s3:// location as it is, a local one uploaded (when allowed)."""
        if table.location.startswith("s3://"):
            return table
        if not self.settings.emr_upload_local_data:
            raise AwsFailure(
                Failure(
                    kind=ErrorKind.ENGINE_UNAVAILABLE,
                    message=f"table {table.full_name} is stored at the local path {table.location}, which "
                    "EMR Serverless cannot read",
                    suggestion="register the table at an s3:// location, or set "
                    "ASKSPARK_EMR_UPLOAD_LOCAL_DATA=true to upload it to ASKSPARK_EMR_S3_PREFIX",
                )
            )
        return table.model_copy(update={"location": self.upload(Path(table.location))})

    def upload(self, path: Path) -> str:
        """Upload a local file or directory once per content; its s3:// location."""
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        digest = hashlib.sha256()
        for f in files:
            digest.update(f"{f.relative_to(path.parent)}:{f.stat().st_size}:{f.stat().st_mtime_ns}".encode())
        root = f"{self.settings.emr_s3_prefix.rstrip('/')}/data/{digest.hexdigest()[:16]}"
        marker = f"{root}/_askspark_complete"
        if not self.exists(marker):
            for f in files:
                self.put(f"{root}/{f.relative_to(path.parent).as_posix()}", f.read_bytes())
            self.put(marker, b"")
        return f"{root}/{path.name}"

    # --- the job run ------------------------------------------------------------------------------

    def start(self, job: Job, staged: Staged) -> str:
        s = self.settings
        params = f"--py-files {staged.base}/askspark_worker.py {s.emr_spark_submit_parameters}".strip()
        response = self.call(
            self.emr.start_job_run,
            applicationId=s.emr_application_id,
            executionRoleArn=s.emr_execution_role_arn,
            clientToken=uuid.uuid4().hex,
            name=f"askspark-{job.run_id}-{job.attempt}",
            jobDriver={
                "sparkSubmit": {
                    "entryPoint": f"{staged.base}/runner.py",
                    "entryPointArguments": [staged.job_uri],
                    "sparkSubmitParameters": params,
                }
            },
            configurationOverrides={
                "monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": staged.log_uri + "/"}}
            },
            # The service's own backstop; askspark cancels at the attempt's limit long before (min 5).
            executionTimeoutMinutes=max(5, math.ceil(job.limits.timeout_seconds / 60) + 1),
        )
        return str(response["jobRunId"])

    def wait(self, run_id: str, timeout: float) -> dict[str, Any] | None:
        """The job run when it ended; None when the time ran out (it is cancelled then)."""
        deadline = time.monotonic() + timeout
        for interval in backoff(self.settings.emr_poll_seconds, self.settings.emr_poll_max_seconds):
            job_run = self.call(
                self.emr.get_job_run, applicationId=self.settings.emr_application_id, jobRunId=run_id
            )
            if job_run["jobRun"]["state"] in TERMINAL:
                return dict(job_run["jobRun"])
            left = deadline - time.monotonic()
            if left <= 0:
                self.cancel(run_id)
                return None
            time.sleep(min(interval, left))
        raise AssertionError("unreachable")  # backoff() never ends

    def collect(self, run_id: str, job_run: dict[str, Any] | None, staged: Staged, job: Job) -> Execution:
        logs = self.driver_logs(run_id)
        if job_run is None:
            failure = Failure(
                kind=ErrorKind.TIMEOUT,
                message=f"the EMR job run {run_id} ran longer than the {job.limits.timeout_seconds:g} s limit "
                "and was cancelled",
                suggestion="compute less: filter or aggregate earlier, avoid cross joins and Python loops; "
                "or raise ASKSPARK_TIMEOUT_SECONDS (job runs also wait for capacity)",
            )
            return Execution(ok=False, stage="execute", error=failure, logs=logs)
        report = self.report(staged)
        if report is not None:
            return execution_of(report, logs)
        return Execution(ok=False, stage="execute", error=self.without_report(job_run, logs), logs=logs)

    def without_report(self, job_run: dict[str, Any], logs: str) -> Failure:
        """Why a job run ended without a report: the driver's traceback, else the service's words."""
        state, details = job_run["state"], job_run.get("stateDetails") or ""
        if state == "CANCELLED":
            return Failure(
                kind=ErrorKind.ENGINE_UNAVAILABLE,
                message=f"the EMR job run was cancelled outside askspark ({details or 'no details'})",
            )
        if "Traceback (most recent call last):" in logs:
            return classify(logs[logs.rindex("Traceback (most recent call last):") :])
        return Failure(
            kind=ErrorKind.ENGINE_UNAVAILABLE,
            message=f"the EMR job run ended {state} without a report: {details or 'no details'}",
            suggestion="read the driver logs under ASKSPARK_EMR_S3_PREFIX/logs; check the execution role's "
            "access to the S3 prefix",
        )

    # --- S3 -----------------------------------------------------------------------------------------

    def report(self, staged: Staged) -> dict[str, Any] | None:
        bucket, key = split_s3(staged.output_uri + "/report/")
        listing = self.call(self.s3.list_objects_v2, Bucket=bucket, Prefix=key)
        for item in listing.get("Contents", []):
            if item["Key"].rsplit("/", 1)[-1].startswith("part-"):
                text = self.get(bucket, item["Key"]).decode()
                return dict(json.loads(text.splitlines()[0]))
        return None

    def driver_logs(self, run_id: str) -> str:
        """The tail of the driver's stdout and stderr (EMR writes them gzipped under the log URI)."""
        base = (
            f"{self.settings.emr_s3_prefix.rstrip('/')}/logs/applications/{self.settings.emr_application_id}"
        )
        parts = []
        for name in ("stdout", "stderr"):
            bucket, key = split_s3(f"{base}/jobs/{run_id}/SPARK_DRIVER/{name}.gz")
            with contextlib.suppress(AwsFailure, OSError, EOFError):
                parts.append(gzip.decompress(self.get(bucket, key)).decode(errors="replace"))
        return "\n".join(parts)[-LOG_TAIL_BYTES:]

    def put(self, uri: str, body: bytes) -> None:
        bucket, key = split_s3(uri)
        self.call(self.s3.put_object, Bucket=bucket, Key=key, Body=body)

    def get(self, bucket: str, key: str) -> bytes:
        return bytes(self.call(self.s3.get_object, Bucket=bucket, Key=key)["Body"].read())

    def exists(self, uri: str) -> bool:
        bucket, key = split_s3(uri)
        listing = self.call(self.s3.list_objects_v2, Bucket=bucket, Prefix=key, MaxKeys=1)
        return bool(listing.get("Contents"))

    def call(self, method: Any, **kwargs: Any) -> Any:
        """One AWS call; its errors as :class:`AwsFailure` with a kind and a hint."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(**kwargs)
        except ClientError as exc:
            raise AwsFailure(aws_failure(exc)) from exc
        except BotoCoreError as exc:  # no connection, no credentials, bad endpoint
            raise AwsFailure(
                Failure(
                    kind=ErrorKind.ENGINE_UNAVAILABLE,
                    message=f"AWS could not be reached: {exc}",
                    suggestion="check the network, ASKSPARK_AWS_REGION/ASKSPARK_AWS_ENDPOINT_URL and the AWS "
                    "credentials (not a problem with the code)",
                )
            ) from exc

    def close(self) -> None:
        """Nothing runs between jobs; the shared local dry-run engine is closed by its owner."""


def aws_failure(exc: Any) -> Failure:
    error = exc.response.get("Error", {})
    code, text = str(error.get("Code", "")), str(error.get("Message", "")) or str(exc)
    operation = exc.operation_name
    if code in PERMISSION_CODES:
        return Failure(
            kind=ErrorKind.PERMISSION,
            message=f"AWS denied {operation}: {text}",
            rule=code,
            suggestion="give the caller emr-serverless:StartJobRun/GetJobRun/CancelJobRun, iam:PassRole on "
            "ASKSPARK_EMR_EXECUTION_ROLE_ARN and S3 access to ASKSPARK_EMR_S3_PREFIX",
        )
    return Failure(
        kind=ErrorKind.ENGINE_UNAVAILABLE,
        message=f"EMR Serverless {operation} failed: {code}: {text}",
        rule=code or None,
        suggestion=UNAVAILABLE_CODES.get(code, "check the EMR Serverless application and the AWS settings"),
    )


def require_settings(settings: Settings) -> None:
    missing = [
        name
        for name in ("emr_application_id", "emr_execution_role_arn", "emr_s3_prefix")
        if not getattr(settings, name)
    ]
    if missing:
        names = ", ".join(f"ASKSPARK_{n.upper()}" for n in missing)
        raise UsageError(
            f"the emr-serverless engine needs {names}",
            suggestion="set them (see docs/engines.md): the application id, the job's execution "
            "role ARN and an s3://bucket/prefix for staging",
            missing=missing,
        )
    split_s3(settings.emr_s3_prefix)


def clients(settings: Settings) -> tuple[Any, Any]:
    """boto3 clients for EMR Serverless and S3 (same region and endpoint)."""
    try:
        import boto3
    except ImportError:
        raise missing_extra("the emr-serverless engine", "emr", "boto3") from None

    region = settings.aws_region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    from botocore.config import Config

    # Few retries and short connects: an unreachable endpoint is reported in seconds, not minutes.
    config = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=60)
    options = {
        "region_name": region or "us-east-1",
        "endpoint_url": settings.aws_endpoint_url or None,
        "config": config,
    }
    session = boto3.session.Session()
    return session.client("emr-serverless", **options), session.client("s3", **options)


def create(settings: Settings, readable: list[Path] | None = None) -> EmrServerlessEngine:
    return EmrServerlessEngine(settings)
