"""The engines under the conformance suite: one entry each. Adding an engine is adding one entry.

Each entry names the engine, how to get it started (``up``) and how to get the same kind of engine with
nothing to run on (``down``), both from session-scoped pytest fixtures started only when the engine's
params run, the cases it is known not to pass, each with the reason, and what differs by engine: its
own code for the suite's questions (ray runs Ray Data, not PySpark), the timeout case's limit, where
the full result is read back (S3 for emr-serverless), and engine-specific checks on an answer. A known gap is a strict expected failure: when the engine starts passing it, the suite
fails until the gap is removed here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from askspark.engines.auto import AutoEngine
from askspark.engines.base import Engine
from askspark.engines.server import ServerState
from askspark.llm.scripted import ScriptedLLM
from askspark.processes import free_port
from askspark.record import Answer
from askspark.settings import Settings

Factory = Callable[[pytest.FixtureRequest], Engine]
CASES = ("succeeds", "repairs", "times_out", "truncates", "down_is_unavailable")


@dataclass
class EngineUnderTest:
    """One engine in the suite."""

    id: str
    up: Factory  # a started engine (session-scoped fixtures keep it warm)
    down: Factory  # the same engine with nothing behind it
    settings: Callable[[pytest.FixtureRequest], Settings] = lambda r: r.getfixturevalue("settings")
    expect_engine: str | None = None  # what Answer.engine_used must say (default: id)
    gaps: dict[str, str] = field(default_factory=dict)  # case -> why the engine does not pass it
    marks: list[pytest.MarkDecorator] = field(default_factory=list)
    code: dict[str, str] = field(default_factory=dict)  # the suite's code by name -> this engine's own
    timeout_seconds: float = 6.0  # the times_out case's limit (remote engines need time to submit)
    full_rows: Callable[[pytest.FixtureRequest, str], int] = lambda r, location: (
        pq.read_table(location).num_rows
    )  # rows of the full result stored at ``location``
    extra: Callable[[str, pytest.FixtureRequest, Answer, ScriptedLLM], None] | None = None
    """Engine-specific checks on a case's answer (e.g. what happened to the EMR job run)."""

    def param(self) -> object:
        return pytest.param(self, id=self.id, marks=self.marks)


def _local_down(request: pytest.FixtureRequest) -> Engine:
    """The local engine joined to a shared server ('askspark engine start') that has since stopped.

    A private server is restarted by the engine itself, so a shared one that is gone is how the local
    engine is down. A local engine joined to a server that is not there.
    """
    from askspark.engines.local import LocalEngine
    from askspark.engines.supervise import OwnedServer

    settings = request.getfixturevalue("engine").settings
    state = ServerState(pid=2**22 + 1, socket_dir=str(Path("/nonexistent/askspark")), log="")
    gone = LocalEngine(settings, server=OwnedServer(settings, state, owned=False))
    request.addfinalizer(gone.close)
    return gone


def _connect_down(request: pytest.FixtureRequest) -> Engine:
    """A connect engine pointed at a loopback port where nothing listens."""
    from askspark.engines.connect import ConnectEngine

    settings = request.getfixturevalue("settings")
    engine = ConnectEngine(settings.model_copy(update={"remote": f"sc://127.0.0.1:{free_port()}"}))
    request.addfinalizer(engine.close)
    return engine


def _auto(cluster: Factory) -> Factory:
    def make(request: pytest.FixtureRequest) -> Engine:
        # threshold 0: every question takes the cluster path (local validation, then the cluster)
        settings = request.getfixturevalue("settings").model_copy(update={"auto_threshold_bytes": 0})
        return AutoEngine(settings, request.getfixturevalue("engine"), cluster(request))

    return make


def _connect_up(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue("connect_engine")  # type: ignore[no-any-return]


# --- emr-serverless: moto's API on 127.0.0.1, job runs executed by spark-submit (tests/emr_service.py) ---


def _emr_down(request: pytest.FixtureRequest) -> Engine:
    """An emr-serverless engine whose AWS endpoint is a loopback port where nothing listens."""
    from askspark.engines.emr_serverless import EmrServerlessEngine

    settings = request.getfixturevalue("emr_settings")
    down = settings.model_copy(update={"aws_endpoint_url": f"http://127.0.0.1:{free_port()}"})
    return EmrServerlessEngine(down, validator=request.getfixturevalue("engine"))


def _s3_rows(request: pytest.FixtureRequest, location: str) -> int:
    import io

    from emr_service import BUCKET

    s3 = request.getfixturevalue("emr_service").s3
    assert location.startswith(f"s3://{BUCKET}/askspark/runs/"), location
    prefix = location[len(f"s3://{BUCKET}/") :] + "/"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]
    body = lambda k: s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()  # noqa: E731
    return sum(pq.read_table(io.BytesIO(body(k))).num_rows for k in keys if k.endswith(".parquet"))


def _emr_extra(case: str, request: pytest.FixtureRequest, answer: Answer, llm: ScriptedLLM) -> None:
    from emr_service import wait_until

    service = request.getfixturevalue("emr_service")
    if case == "times_out":  # askspark cancelled the job run; the executor killed its driver
        job_run = service.job_runs()[-2]  # the last one is the run after the timeout
        assert job_run.state == "CANCELLED"
        assert wait_until(lambda: job_run.id not in service.executor.running, 15)
    if case == "succeeds":
        assert service.job_runs()[-1].job_driver["sparkSubmit"]["entryPoint"].endswith("/runner.py")


# --- ray: Ray Data code in a sandboxed worker with its own local Ray -----------------------------------

RAY_CODE = {
    "GOOD": """
def answer(ray, tables):
    means = tables["nasdaq"].groupby("symbol").mean("close")
    return means.rename_columns({"mean(close)": "avg_close"}).sort("avg_close", descending=True)
""",
    "WRONG_COLUMN": """
def answer(ray, tables):
    return tables["nasdaq"].groupby("symbol").mean("closing_price")
""",
    "FIXED_COLUMN": """
def answer(ray, tables):
    return tables["nasdaq"].groupby("symbol").mean("close").sort("symbol")
""",
    # The dry run's empty block never calls spin(); the real rows do, forever.
    "HEAVY": """
def answer(ray, tables):
    def spin(row):
        n = 0
        while n >= 0:
            n += 1
        return row
    return tables["nasdaq"].map(spin)
""",
    "MANY_ROWS": """
def answer(ray, tables):
    return tables["nasdaq"].select_columns(["symbol", "date", "close"]).sort(["symbol", "date"])
""",
}


def _ray_down(request: pytest.FixtureRequest) -> Engine:
    """A ray engine pointed at a ``ray://`` address on a loopback port where nothing listens."""
    pytest.importorskip("ray")
    from askspark.engines.ray_engine import RayEngine

    settings = request.getfixturevalue("ray_settings")
    engine = RayEngine(settings.model_copy(update={"ray_address": f"ray://127.0.0.1:{free_port()}"}), [])
    request.addfinalizer(engine.close)
    return engine


def _ray_extra(case: str, request: pytest.FixtureRequest, answer: Answer, llm: ScriptedLLM) -> None:
    if case == "succeeds":
        assert "Ray Data" in llm.calls[0].messages[0].content  # the ray prompt style, not PySpark's
        runs = request.getfixturevalue("ray_settings").runs_dir / answer.run_id
        assert Path(answer.result.location).is_relative_to(runs)


ENGINES: list[EngineUnderTest] = [
    EngineUnderTest("local", up=lambda r: r.getfixturevalue("engine"), down=_local_down),
    EngineUnderTest(
        "connect",
        up=_connect_up,
        down=_connect_down,
        settings=lambda r: r.getfixturevalue("connect_settings"),
    ),
    EngineUnderTest(
        "auto",
        up=_auto(_connect_up),
        down=_auto(_connect_down),
        settings=lambda r: r.getfixturevalue("connect_settings").model_copy(
            update={"auto_threshold_bytes": 0}
        ),
        expect_engine="connect",
    ),
    EngineUnderTest(
        "emr-serverless",
        up=lambda r: r.getfixturevalue("emr_engine"),
        down=_emr_down,
        settings=lambda r: r.getfixturevalue("emr_settings"),
        timeout_seconds=25.0,  # time to submit, for spark-submit to start, and to cancel the run
        full_rows=_s3_rows,
        extra=_emr_extra,
    ),
    EngineUnderTest(
        "ray",
        up=lambda r: r.getfixturevalue("ray_engine"),
        down=_ray_down,
        settings=lambda r: r.getfixturevalue("ray_settings"),
        code=RAY_CODE,
        timeout_seconds=20.0,  # the worker starts its own Ray before it reads
        extra=_ray_extra,
    ),
]
