"""What only the cluster engines have: the Connect URL and token, the bridge, and auto's choice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from askspark import api
from askspark.engines.auto import AutoEngine, data_size
from askspark.engines.base import TableBinding, get_engine
from askspark.engines.bridge import Bridge, parse_remote
from askspark.engines.cache import close_engines
from askspark.errors import UsageError
from askspark.interfaces.cli import app
from askspark.llm.scripted import ScriptedLLM
from askspark.settings import Settings
from askspark.validate import validate_static

GOOD = "def answer(spark, tables):\n    return spark.sql('SELECT symbol, MAX(close) AS top FROM nasdaq GROUP BY symbol')"


def fence(code: str) -> str:
    return f"```python\n{code}\n```"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        (None, "needs a Spark Connect endpoint"),
        ("http://127.0.0.1:15002", "not a Spark Connect URL"),
        ("sc://127.0.0.1:15002/;token=abc", "not in the URL"),
        ("sc://127.0.0.1:notaport", "bad port"),
    ],
)
def test_bad_remote_urls_are_usage_errors(url: str | None, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        parse_remote(url)


def test_remote_url_parts() -> None:
    endpoint = parse_remote("sc://10.0.0.5/;use_ssl=true")
    assert (endpoint.host, endpoint.port, endpoint.use_ssl, endpoint.loopback) == (
        "10.0.0.5",
        15002,
        True,
        False,
    )
    assert parse_remote("sc://localhost:1").loopback and parse_remote("sc://127.0.0.2:1").loopback


def test_the_token_is_never_sent_in_clear_text_off_this_machine() -> None:
    with pytest.raises(UsageError, match="clear text"):
        Bridge(parse_remote("sc://spark.example.com:15002"), "secret")


def test_engine_ids_have_did_you_mean(settings: Settings) -> None:
    with pytest.raises(UsageError) as info:
        get_engine("conect", settings)
    assert "'connect'" in (info.value.suggestion or "")
    with pytest.raises(UsageError, match="needs a Spark Connect endpoint"):
        get_engine("connect", settings.model_copy(update={"remote": None}))


def test_sparkcontext_and_rdds_are_rejected_before_any_engine() -> None:
    """Spark Connect has neither; the validator says so before a cluster attempt is spent."""
    for code in (
        "def answer(spark, tables):\n    return spark.sparkContext.parallelize([1]).toDF()",
        "def answer(spark, tables):\n    return tables['t'].rdd.map(lambda r: r).toDF()",
    ):
        assert {f.rule for f in validate_static(code)} & {"sparkcontext", "rdd"}, code


def binding(location: str) -> TableBinding:
    return TableBinding(name="t", full_name="db.t", format="parquet", location=location, schema_ddl="a INT")


def test_data_size_sums_files_and_knows_what_it_cannot_measure(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "part-0.parquet").write_bytes(b"x" * 100)
    (tmp_path / "d" / "part-1.parquet").write_bytes(b"x" * 50)
    (tmp_path / "f.csv").write_bytes(b"x" * 7)
    assert data_size([binding(str(tmp_path / "d")), binding(str(tmp_path / "f.csv"))]) == (157, "")
    size, why = data_size([binding("s3://bucket/t/")])
    assert size is None and "s3://bucket/t/" in why
    assert data_size([binding(str(tmp_path / "missing"))])[0] is None


def test_auto_weighs_only_the_tables_the_code_reads(settings: Settings, tmp_path: Path) -> None:
    from askspark.engines.base import Job, Limits

    (tmp_path / "big.parquet").write_bytes(b"x" * 5000)
    (tmp_path / "small.parquet").write_bytes(b"x" * 10)
    big = binding(str(tmp_path / "big.parquet")).model_copy(update={"name": "big", "full_name": "db.big"})
    small = binding(str(tmp_path / "small.parquet")).model_copy(
        update={"name": "small", "full_name": "db.small"}
    )
    auto = AutoEngine(settings.model_copy(update={"auto_threshold_bytes": 1000}), local=None)  # type: ignore[arg-type]

    def choice(code: str) -> tuple[str, str]:
        job = Job(run_id="r", attempt=1, code=code, tables=[big, small], limits=Limits(), output_dir="/x")
        return auto.choose(job)

    reads_small = "def answer(spark, tables):\n    return spark.sql('SELECT COUNT(*) FROM small')"
    assert choice(reads_small) == ("local", "the data the code reads is 10 B, at most the threshold 1000 B")
    where, why = choice("def answer(spark, tables):\n    return spark.sql('SELECT * FROM big JOIN small')")
    assert where == "cluster" and why.startswith("the selected data is")
    assert (
        choice("def answer(spark, tables):\n    return spark.sql('SELECT 1')")[0] == "cluster"
    )  # reads none: all


@pytest.mark.slow
def test_auto_keeps_small_data_local_and_says_why(settings: Settings, engine: object) -> None:
    class NoCluster:
        id = "connect"

        def run(self, job: object) -> object:
            raise AssertionError("small data must not reach the cluster")

        def close(self) -> None: ...

    auto = AutoEngine(settings, engine, NoCluster())  # type: ignore[arg-type]
    answer = api.ask(
        "q", ["northwind.nasdaq"], engine=auto, model=ScriptedLLM([fence(GOOD)]), settings=settings
    )
    assert answer.status == "succeeded" and answer.engine == "auto" and answer.engine_used == "local"
    assert any(n.startswith("engine auto chose local: the selected data is") for n in answer.notices)


@pytest.mark.slow
def test_auto_sends_large_data_to_the_cluster_after_local_validation(
    connect_settings: Settings, engine: object, connect_engine: object
) -> None:
    settings = connect_settings.model_copy(update={"auto_threshold_bytes": 1})
    auto = AutoEngine(settings, engine, connect_engine)  # type: ignore[arg-type]
    answer = api.ask(
        "q", ["northwind.nasdaq"], engine=auto, model=ScriptedLLM([fence(GOOD)]), settings=settings
    )
    assert answer.status == "succeeded" and answer.engine_used == "connect"
    assert any(
        "engine auto chose connect: the selected data is" in n and "over the threshold" in n
        for n in answer.notices
    )
    timings = answer.attempts[0].timings
    assert "local_dry_run" in timings and "dry_run" not in timings  # validated locally, not twice


@pytest.mark.slow
@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_a_missing_or_wrong_token_is_engine_unavailable(
    connect_settings: Settings, standalone_cluster: tuple[str, str | None], token: str | None
) -> None:
    from askspark.engines.connect import ConnectEngine

    if standalone_cluster[1] is None:
        pytest.skip("the cluster under test has no token")
    settings = connect_settings.model_copy(update={"connect_token": SecretStr(token) if token else None})
    engine = ConnectEngine(settings)
    try:
        llm = ScriptedLLM([fence(GOOD)] * 3)
        answer = api.ask("q", ["northwind.nasdaq"], engine=engine, model=llm, settings=settings)
    finally:
        engine.close()
    assert answer.status == "failed" and len(llm.calls) == 1
    assert answer.error.kind == "engine_unavailable" and "authentication" in answer.error.message


@pytest.mark.slow
def test_generated_code_cannot_see_the_token(
    connect_engine: object, standalone_cluster: tuple[str, str | None]
) -> None:
    """The waiting worker (the process that will run generated code) has no token in its environment or
    command line, nor does anything it started."""
    token = standalone_cluster[1]
    if token is None:
        pytest.skip("the cluster under test has no token")
    connect_engine.warm()  # type: ignore[attr-defined]
    worker = connect_engine.runner.spare  # type: ignore[attr-defined]
    pids = _descendants(worker.process.proc.pid)
    assert len(pids) >= 2  # the launcher and the sandboxed Python at least
    for pid in pids:
        for name in ("environ", "cmdline"):
            with open(f"/proc/{pid}/{name}", "rb") as f:
                assert token.encode() not in f.read()


def _descendants(pid: int) -> list[int]:
    found, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        for task in Path(f"/proc/{parent}/task").iterdir():
            for child in (task / "children").read_text().split():
                found.append(int(child))
                frontier.append(int(child))
    return found


@pytest.mark.slow
def test_cli_ask_engine_connect_remote(
    connect_settings: Settings,
    standalone_cluster: tuple[str, str | None],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    remote, token = standalone_cluster
    if token:
        monkeypatch.setenv("ASKSPARK_CONNECT_TOKEN", token)
    replies = tmp_path / "replies.json"
    replies.write_text(json.dumps([fence(GOOD)]))
    try:
        result = CliRunner().invoke(
            app,
            [
                "ask",
                "Top close?",
                "-t",
                "northwind.nasdaq",
                "--engine",
                "connect",
                "--remote",
                remote,
                "--model",
                f"scripted:{replies}",
                "--json",
            ],  # fmt: skip
            catch_exceptions=False,
        )
    finally:
        close_engines("connect")  # the CLI's cached connect engine
    assert result.exit_code == 0, result.stdout
    doc = json.loads(result.stdout)
    assert doc["status"] == "succeeded" and doc["engine"] == "connect" and doc["engine_used"] == "connect"
    assert len(doc["result"]["rows"]) == 6
