"""A stand-in for the EMR Serverless service in tests: moto's API server plus a job executor.

moto serves the EMR Serverless and S3 APIs over HTTP on 127.0.0.1 (a ThreadedMotoServer in the test
process, so its backend can be reached), but it runs nothing: a job run is born SUCCESS and stays so.
:class:`Executor` plays the service's part: it makes new job runs start SUBMITTED, picks them up,
mirrors the bucket into a local directory, runs the staged entry point with ``spark-submit`` from the
pip pyspark (real Spark, local mode) and the staged ``--py-files``, uploads what the job wrote and the
driver's gzipped stdout/stderr (EMR's log layout), and sets RUNNING, then SUCCESS or FAILED; a job run
cancelled through the API has its process killed.

What this does not reproduce: EMRFS (the runner's ``ASKSPARK_EMR_PATH_MAP`` rewrites s3:// to the
local mirror), IAM, the service's capacity and start-up times, and the real Spark version on EMR.
"""

from __future__ import annotations

import gzip
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pyspark

from askspark.processes import free_port

ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = "askspark-test"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/askspark-emr-job"
SPARK_SUBMIT = Path(pyspark.__file__).parent / "bin" / "spark-submit"


class MotoService:
    """moto on 127.0.0.1 with a bucket and one Spark application."""

    def __init__(self) -> None:
        import boto3
        from moto.emrserverless import models
        from moto.server import ThreadedMotoServer

        models.JOB_STATUS = "SUBMITTED"  # moto's default is SUCCESS at birth; the executor moves it on
        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        options = {"region_name": REGION, "endpoint_url": self.endpoint}
        self.s3 = boto3.client("s3", **options)
        self.emr = boto3.client("emr-serverless", **options)
        self.s3.create_bucket(Bucket=BUCKET)
        app = self.emr.create_application(name="askspark", releaseLabel="emr-7.5.0", type="SPARK")
        self.application_id = str(app["applicationId"])

    def backend(self) -> Any:
        from moto.emrserverless.models import emrserverless_backends

        return emrserverless_backends[ACCOUNT][REGION]

    def job_runs(self) -> list[Any]:
        return list(self.backend().job_runs.get(self.application_id, []))

    def stop(self) -> None:
        self.server.stop()


class Executor(threading.Thread):
    """Runs submitted job runs with real local Spark, as EMR Serverless would on its workers."""

    def __init__(self, service: MotoService, workdir: Path) -> None:
        super().__init__(daemon=True)
        self.service, self.workdir = service, workdir
        self.stopping = threading.Event()
        self.running: dict[str, tuple[Any, subprocess.Popen[bytes], Path]] = {}

    def run(self) -> None:
        while not self.stopping.wait(0.2):
            for job_run in self.service.job_runs():
                if job_run.state == "SUBMITTED":
                    self.launch(job_run)
            for job_run, proc, logs in list(self.running.values()):
                if job_run.state == "CANCELLED":
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    self.finish(job_run, logs, None)
                elif proc.poll() is not None:
                    self.finish(job_run, logs, proc.returncode)

    def mirror(self) -> Path:
        """The bucket as a local directory (EMRFS stand-in)."""
        root = self.workdir / "s3" / BUCKET
        s3 = self.service.s3
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for item in page.get("Contents", []):
                target = root / item["Key"]
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read())
        return root

    def launch(self, job_run: Any) -> None:
        job_run.state = "RUNNING"
        root = self.mirror()
        prefix = f"s3://{BUCKET}/"
        driver = job_run.job_driver["sparkSubmit"]
        local = lambda uri: str(root) + "/" + uri[len(prefix) :]  # noqa: E731
        params = [
            local(p) if p.startswith(prefix) else p for p in shlex.split(driver["sparkSubmitParameters"])
        ]
        cmd = [str(SPARK_SUBMIT), "--master", "local[1]", "--conf", "spark.ui.enabled=false"]
        cmd += ["--driver-java-options", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"]
        cmd += [*params, local(driver["entryPoint"]), *driver["entryPointArguments"]]
        env = os.environ | {
            "ASKSPARK_EMR_PATH_MAP": json.dumps({prefix: str(root) + "/"}),
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
        }
        logs = self.workdir / "logs" / job_run.id
        logs.mkdir(parents=True)
        with open(logs / "stdout", "wb") as out, open(logs / "stderr", "wb") as err:
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, start_new_session=True)
        self.running[job_run.id] = (job_run, proc, logs)

    def finish(self, job_run: Any, logs: Path, returncode: int | None) -> None:
        """Upload what the job wrote and its driver logs, then set the final state."""
        del self.running[job_run.id]
        root = self.workdir / "s3" / BUCKET
        base = json.loads(
            (
                root / job_run.job_driver["sparkSubmit"]["entryPointArguments"][0][len(f"s3://{BUCKET}/") :]
            ).read_text()
        )
        output = base["output_uri"][len(f"s3://{BUCKET}/") :]
        for path in sorted((root / output).rglob("*")) if (root / output).exists() else []:
            if path.is_file() and not path.name.endswith(".crc"):
                self.service.s3.put_object(
                    Bucket=BUCKET, Key=str(path.relative_to(root)), Body=path.read_bytes()
                )
        log_uri = job_run.configuration_overrides["monitoringConfiguration"]["s3MonitoringConfiguration"][
            "logUri"
        ]
        log_key = f"{log_uri[len(f's3://{BUCKET}/') :].rstrip('/')}/applications/{job_run.application_id}/jobs/{job_run.id}/SPARK_DRIVER"
        for name in ("stdout", "stderr"):
            body = gzip.compress((logs / name).read_bytes())
            self.service.s3.put_object(Bucket=BUCKET, Key=f"{log_key}/{name}.gz", Body=body)
        if returncode is None:
            return  # cancelled: the state stays CANCELLED
        job_run.state = "SUCCESS" if returncode == 0 else "FAILED"
        if returncode:
            job_run.state_details = f"Job failed, please check complete logs in configured logging destination. ExitCode: {returncode}."

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)
        for _, proc, _ in self.running.values():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(self.workdir / "s3", ignore_errors=True)


def wait_until(predicate: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False
