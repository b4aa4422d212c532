"""A worker's report as an :class:`Execution`: the one translation every engine uses.

Local, connect and ray read the report from their sandboxed worker's stdout, emr-serverless from S3;
all of them turn it, a lost worker, or an engine that could not run the job into an ``Execution`` here,
so the same failure is classified the same way whichever engine ran it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from askspark.contract import Contract
from askspark.engines.base import Execution
from askspark.engines.classify import TIMEOUT_HINT, died, reported, timed_out
from askspark.engines.process import SandboxedProcess
from askspark.errors import AskSparkError
from askspark.record import ErrorKind, Failure, ResultPreview


def execution(report: dict[str, Any], logs: str, contract: Contract = Contract.SPARK) -> Execution:
    """The worker's report (``{"ok", "stage", "result"?, "error"?, "timings"}``) as an Execution."""
    stage, timings = report["stage"], report["timings"]
    if report.get("ok"):
        result = ResultPreview.model_validate(report["result"]) if report.get("result") else None
        return Execution(ok=True, stage=stage, result=result, logs=logs, timings=timings)
    failure = reported(report["error"], contract)
    return Execution(ok=False, stage=stage, error=failure, logs=logs, timings=timings)


def lost(
    process: SandboxedProcess,
    seconds: float,
    elapsed: float,
    *,
    worker: str = "the worker",
    hint: str = TIMEOUT_HINT,
) -> Execution:
    """The worker gave no report after ``elapsed`` seconds: it ran out of its ``seconds`` or died. It is
    killed (if it still runs). Told apart by the clock: a worker that died can leave its sandbox's parent
    process alive for a moment, which read as a timeout before."""
    timed_out_now = elapsed >= seconds
    process.kill()
    logs = process.log_tail()
    failure = timed_out(seconds, hint) if timed_out_now else died(process.proc.returncode, logs, worker)
    return Execution(ok=False, stage="execute", error=failure, logs=logs)


def unavailable(exc: AskSparkError, stage: str = "dry_run") -> Execution:
    """The engine could not run the job at all (new code cannot fix that)."""
    failure = Failure(kind=ErrorKind.ENGINE_UNAVAILABLE, message=exc.message, suggestion=exc.suggestion)
    return Execution(ok=False, stage=stage, error=failure, logs=str(exc.details.get("log_tail", "")))


def not_kept(exc: OSError, output_dir: str, timings: dict[str, float]) -> Execution:
    """The job ran but its result could not be kept in the run's directory (new code cannot fix that)."""
    failure = Failure(
        kind=ErrorKind.PERMISSION,
        message=f"the result could not be kept in {output_dir}: {exc.strerror or exc}",
        suggestion="make the runs directory (ASKSPARK_HOME/runs) writable and give its disk free space",
    )
    return Execution(ok=False, stage="execute", error=failure, timings=timings)


def keep_result(outbox: Path, output_dir: Path) -> str:
    """Move the worker's full result to the run's own directory, out of the worker's reach."""
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / "result"
    shutil.rmtree(target, ignore_errors=True)
    try:
        shutil.move(str(outbox / "result"), target)
    except OSError:  # e.g. a full disk mid-copy (another filesystem): no partial result stays
        shutil.rmtree(target, ignore_errors=True)
        raise
    return str(target)
