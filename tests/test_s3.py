"""S3 data on the local engine through askspark's read-through cache (moto on 127.0.0.1, real Spark)."""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from askspark import api
from askspark.catalog import s3, s3parts
from askspark.catalog.base import TableInfo
from askspark.engines.auto import AutoEngine
from askspark.engines.base import Execution, Job, Limits, bindings_for
from askspark.errors import AccessDeniedError, AskSparkError, NotFoundError, TooLargeError, UsageError
from askspark.interfaces.cli import app
from askspark.llm.scripted import ScriptedLLM
from askspark.processes import descendants
from askspark.record import ErrorKind, Failure
from askspark.settings import Settings
from live_server import LiveServer, script, sql
from moto_server import start_moto

IDS = {"CatalogId": "123456789012"}
ORDERS = "region,amount\nnorth,10\nsouth,5\nnorth,7\neast,1\n"
TOTALS = sql("SELECT region, SUM(amount) AS total FROM orders GROUP BY region ORDER BY region")


def parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def bucket(moto_endpoint: str) -> object:
    """Bucket ``lake``: a CSV, a Parquet directory with partitions, and Glue tables on both."""
    client = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_endpoint)
    client.create_bucket(Bucket="lake")
    client.put_object(Bucket="lake", Key="sales/orders.csv", Body=ORDERS.encode())
    for year, kinds in ((2023, ["click", "view"]), (2024, ["click", "click", "buy"])):
        body = parquet(pa.table({"id": list(range(len(kinds))), "kind": kinds}))
        client.put_object(Bucket="lake", Key=f"events/year={year}/part-0.parquet", Body=body)
    client.put_object(Bucket="lake", Key="events/_SUCCESS", Body=b"")
    glue = boto3.client("glue", region_name="us-east-1", endpoint_url=moto_endpoint)
    glue.create_database(**IDS, DatabaseInput={"Name": "s3lake"})
    columns = [{"Name": "id", "Type": "bigint"}, {"Name": "kind", "Type": "string"}]
    glue.create_table(**IDS, DatabaseName="s3lake", TableInput={
        "Name": "events", "Parameters": {"classification": "parquet"},
        "PartitionKeys": [{"Name": "year", "Type": "int"}],
        "StorageDescriptor": {"Columns": columns, "Location": "s3://lake/events/"},
    })  # fmt: skip
    glue.create_table(**IDS, DatabaseName="s3lake", TableInput={
        "Name": "ice", "Parameters": {"table_type": "ICEBERG"},  # nothing there: a fetch would fail
        "StorageDescriptor": {"Columns": columns, "Location": "s3://lake/no-such-prefix/"},
    })  # fmt: skip
    return client


@pytest.fixture
def s3_settings(settings: Settings, moto_endpoint: str, bucket: object) -> Settings:
    """The session's settings (and warm engine) with the moto endpoint as the project setting."""
    return settings.model_copy(
        update={"aws_endpoint_url": moto_endpoint, "glue_catalog_id": IDS["CatalogId"]}
    )


def ask(settings: Settings, engine: object, question: str, reply: str, **kw: object):  # type: ignore[no-untyped-def]
    llm = ScriptedLLM(replies=[reply], style="sql")
    return api.ask(question, engine=engine, model=llm, settings=settings, **kw), llm  # type: ignore[arg-type]


# --- answers from S3 on the local engine --------------------------------------------------------------


@pytest.mark.slow
def test_an_s3_csv_file_answers_on_the_local_engine_with_samples_from_the_cache(
    s3_settings: Settings, engine: object
) -> None:
    answer, llm = ask(s3_settings, engine, "total per region", TOTALS, files=["s3://lake/sales/orders.csv"])
    assert answer.status == "succeeded", answer.attempts[-1].error
    assert answer.result.rows == [["east", 1], ["north", 17], ["south", 5]]  # type: ignore[union-attr]
    assert "north" in llm.calls[0].messages[-1].content  # a sample value, read from the cached copy
    cached = list((s3_settings.home / "s3cache" / "lake").rglob("orders.csv"))
    assert len(cached) == 1 and cached[0].read_text() == ORDERS


@pytest.mark.slow
def test_a_glue_table_on_an_s3_parquet_prefix_answers_on_the_local_engine(
    s3_settings: Settings, engine: object
) -> None:
    reply = sql("SELECT year, COUNT(*) AS n FROM events WHERE kind = 'click' GROUP BY year ORDER BY year")
    answer, llm = ask(s3_settings, engine, "clicks per year", reply, tables=["glue:s3lake.events"])
    assert answer.status == "succeeded", answer.attempts[-1].error
    assert answer.result.rows == [[2023, 1], [2024, 2]]  # type: ignore[union-attr]
    assert answer.tables == ["glue:s3lake.events"]
    assert "click" in llm.calls[0].messages[-1].content  # Glue holds no values: sampled from the cache


@pytest.mark.slow
def test_a_changed_object_is_fetched_anew_and_the_old_copy_removed(
    s3_settings: Settings, engine: object, bucket: object
) -> None:
    client = bucket
    client.put_object(Bucket="lake", Key="changing/orders.csv", Body=ORDERS.encode())  # type: ignore[attr-defined]
    first, _ = ask(s3_settings, engine, "totals", TOTALS, files=["s3://lake/changing/orders.csv"])
    new = client.put_object(  # type: ignore[attr-defined]
        Bucket="lake", Key="changing/orders.csv", Body=(ORDERS + "east,100\n").encode()
    )
    second, _ = ask(s3_settings, engine, "totals", TOTALS, files=["s3://lake/changing/orders.csv"])
    assert first.result.rows[0] == ["east", 1] and second.result.rows[0] == ["east", 101]  # type: ignore[union-attr]
    manifests = list((s3_settings.home / "s3cache" / "lake").glob("*/" + "?" * 16 + ".json"))  # VERSION.json
    etags = [
        o["etag"] for m in manifests for o in json.loads(m.read_text())["objects"] if "changing" in o["key"]
    ]
    assert etags == [new["ETag"].strip('"')]  # only the new version is kept


def test_unchanged_objects_of_a_prefix_are_linked_not_downloaded(
    s3_settings: Settings, bucket: object
) -> None:
    client = bucket
    for i in range(2):
        body = parquet(pa.table({"id": [i]}))
        client.put_object(Bucket="lake", Key=f"linked/part-{i}.parquet", Body=body)  # type: ignore[attr-defined]
    cache = s3.S3Cache(s3_settings)
    before = cache.fetch(cache.listing("s3://lake/linked"))
    assert cache.fetch(cache.listing("s3://lake/linked/")) == before  # a cache hit: same version
    inode = (before / "part-0.parquet").stat().st_ino
    client.put_object(Bucket="lake", Key="linked/part-1.parquet", Body=parquet(pa.table({"id": [9]})))  # type: ignore[attr-defined]
    after = cache.fetch(cache.listing("s3://lake/linked"))
    assert after != before and not before.exists()
    assert (after / "part-0.parquet").stat().st_ino == inode  # unchanged: hard-linked from the old copy
    assert pq.read_table(after / "part-1.parquet").column("id").to_pylist() == [9]


def test_the_cache_removes_the_least_recently_used_locations_to_stay_within_its_limit(
    s3_settings: Settings, bucket: object, tmp_path: Path
) -> None:
    client = bucket
    for name in "abc":
        client.put_object(Bucket="lake", Key=f"lru/{name}.csv", Body=ORDERS.encode())  # type: ignore[attr-defined]
    limit = 2 * len(ORDERS) + 10  # two of the three fit
    cache = s3.S3Cache(s3_settings.model_copy(update={"home": tmp_path, "s3_cache_max_bytes": limit}))
    a, b = (cache.fetch(cache.listing(f"s3://lake/lru/{n}.csv")) for n in "ab")
    assert cache.fetch(cache.listing("s3://lake/lru/a.csv")) == a  # a hit: a is now the most recent
    c = cache.fetch(cache.listing("s3://lake/lru/c.csv"))
    assert a.is_file() and c.is_file() and not b.exists()  # b, least recently used, made room for c
    held = [f for f in (tmp_path / "s3cache").rglob("*.csv") if f.is_file()]
    assert sum(f.stat().st_size for f in held) <= limit and len(held) == 2
    assert cache.fetch(cache.listing("s3://lake/lru/b.csv")).read_text() == ORDERS  # fetched anew
    assert not a.exists() and c.is_file()


def test_the_endpoint_comes_from_aws_endpoint_url_too(
    s3_settings: Settings, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    cache = s3.S3Cache(s3_settings.model_copy(update={"aws_endpoint_url": None}))
    assert cache.listing("s3://lake/sales/orders.csv").size == len(ORDERS)


def test_a_file_is_described_once_per_version(s3_settings: Settings, bucket: object) -> None:
    first = s3.describe_file("s3://lake/sales/orders.csv", s3_settings, "orders")
    learned = list((s3_settings.home / "s3cache" / "lake").glob("*/*.table-*.json"))
    assert learned and first.row_count == 4 and first.details["s3_location"] == "s3://lake/sales/orders.csv"
    again = s3.describe_file("s3://lake/sales/orders.csv", s3_settings, "sales")
    assert again.name == "sales" and again.columns == first.columns and again.location == first.location


def test_an_iceberg_table_on_s3_is_refused_without_fetching(s3_settings: Settings) -> None:
    with pytest.raises(UsageError) as refused:
        api.select(api.Request(question="q", tables=["glue:s3lake.ice"]), s3_settings)
    assert "ICEBERG" in refused.value.message and "iceberg:DB.TABLE" in (refused.value.suggestion or "")


# --- over the limit: auto sends it to the cluster --------------------------------------------------


def test_data_over_the_limit_is_a_clear_error_on_local_and_goes_to_the_cluster_with_auto(
    s3_settings: Settings,
) -> None:
    small = s3_settings.model_copy(update={"s3_cache_max_bytes": 16})
    with pytest.raises(TooLargeError) as refused:
        api.select(api.Request(question="q", tables=["glue:s3lake.events"]), small)
    error = refused.value.to_dict()["error"]
    assert (
        error["status"] == 413
        and "s3://lake/events/" in error["message"]
        and "s3_cache_max_bytes" in error["message"]
    )
    assert "--engine auto" in error["suggestion"]
    with pytest.raises(TooLargeError) as file_refused:
        api.select(api.Request(question="q", files=["s3://lake/sales/orders.csv"]), small)
    assert "cluster engine" in (file_refused.value.suggestion or "")
    assert "--engine auto" in (file_refused.value.suggestion or "")  # auto reads a CSV file this large too

    auto = api.Request(question="q", tables=["glue:s3lake.events"], engine="auto")
    selection = api.select(auto, auto.settings(small))
    assert selection.tables[0].location == "s3://lake/events/"  # no local copy
    where, why = auto_choice(selection.tables, small)
    assert where == "cluster" and "s3://lake/events/" in why


def auto_choice(tables: list[TableInfo], settings: Settings) -> tuple[str, str]:
    job = Job(run_id="r", attempt=1, code="", tables=bindings_for(tables), limits=Limits(), output_dir="/x")
    return AutoEngine(settings, local=None).choose(job)  # type: ignore[arg-type]


def test_a_csv_file_over_the_limit_is_described_from_its_first_bytes_and_goes_to_the_cluster_with_auto(
    s3_settings: Settings, bucket: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket.put_object(Bucket="lake", Key="head/orders.csv", Body=ORDERS.encode())  # type: ignore[attr-defined]
    monkeypatch.setattr(s3, "HEAD_BYTES", 30)  # "region,amount\nnorth,10\nsouth,5": cut at the last line
    small = s3_settings.model_copy(update={"s3_cache_max_bytes": 16, "engine": "auto"})
    [table] = api.select(api.Request(question="q", files=["s3://lake/head/orders.csv"]), small).tables
    assert table.location == "s3://lake/head/orders.csv" and table.format == "csv"  # no local copy
    assert [(c.name, c.type) for c in table.columns] == [("region", "string"), ("amount", "bigint")]
    assert table.columns[0].samples == ["north"] and table.columns[0].values is None
    assert table.row_count is None and table.details["described_from"] == "its first 30 B"
    assert auto_choice([table], small)[0] == "cluster"
    with pytest.raises(TooLargeError) as prefix_refused:  # CSV parts: only Parquet directories are described
        api.select(api.Request(question="q", files=["s3://lake/sales/"]), small)
    assert "register it as a table" in (prefix_refused.value.suggestion or "")


def over_the_limit(settings: Settings, location: str, monkeypatch: pytest.MonkeyPatch) -> TableInfo:
    """``location`` as a --file over a 16-byte cache limit: described at its s3:// location, sent to the
    cluster by auto, refused by the local engine, and described once (the refusal reads nothing more)."""
    small = settings.model_copy(update={"s3_cache_max_bytes": 16, "engine": "auto"})
    [table] = api.select(api.Request(question="q", files=[location]), small).tables
    assert table.location == location and auto_choice([table], small)[0] == "cluster"

    def no_more_reads(*args: object) -> bytes:
        raise AssertionError(f"read {location} again")

    monkeypatch.setattr(s3.S3Cache, "read", no_more_reads)  # kept beside the cache as VERSION.head-N.json
    with pytest.raises(TooLargeError) as refused:
        api.select(api.Request(question="q", files=[location]), small.model_copy(update={"engine": "local"}))
    assert location in refused.value.message and "--engine auto" in (refused.value.suggestion or "")
    return table


def test_a_parquet_file_over_the_limit_is_described_from_its_footer_and_goes_to_the_cluster_with_auto(
    s3_settings: Settings, bucket: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = pa.table({"id": [1, 2, 3], "kind": ["click", "view", None], "amount": [1.5, 2.0, 3.25]})
    buf = io.BytesIO()
    pq.write_table(rows, buf, row_group_size=2)
    bucket.put_object(Bucket="lake", Key="big/events.parquet", Body=buf.getvalue())  # type: ignore[attr-defined]
    table = over_the_limit(s3_settings, "s3://lake/big/events.parquet", monkeypatch)
    assert [(c.name, c.type, c.nullable) for c in table.columns] == [
        ("id", "bigint", False), ("kind", "string", True), ("amount", "double", False)
    ]  # fmt: skip
    assert table.format == "parquet" and table.row_count == 3  # the footer's row count
    assert table.columns[1].samples == ["click", "view"]  # the first row group's two rows only
    assert table.details["described_from"] == "its Parquet footer and first row group"


def test_a_parquet_file_with_a_large_first_row_group_or_footer_is_described_without_samples(
    s3_settings: Settings, bucket: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket.put_object(Bucket="lake", Key="big/kinds.parquet", Body=parquet(pa.table({"kind": ["a", "b"]})))  # type: ignore[attr-defined]
    monkeypatch.setattr(s3, "HEAD_BYTES", 8)  # smaller than any row group
    monkeypatch.setattr(s3parts, "_TAIL_BYTES", 12)  # the footer's length and magic: a second read for it
    table = over_the_limit(s3_settings, "s3://lake/big/kinds.parquet", monkeypatch)
    assert [(c.name, c.type, c.samples) for c in table.columns] == [("kind", "string", [])]
    assert table.row_count == 2 and table.details["described_from"] == "its Parquet footer"


def test_a_parquet_directory_over_the_limit_is_described_from_its_first_part_with_its_partitions(
    s3_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = over_the_limit(s3_settings, "s3://lake/events/", monkeypatch)  # also holds _SUCCESS
    assert [(c.name, c.type) for c in table.columns] == [
        ("id", "bigint"),
        ("kind", "string"),
        ("year", "int"),
    ]
    assert table.partition_columns == ["year"] and table.columns[2].samples == ["2023", "2024"]
    assert table.row_count is None  # the footer is one part's
    assert table.details["described_from"] == (
        "the Parquet footer of s3://lake/events/year=2023/part-0.parquet and 2 keys"
    )


@pytest.mark.parametrize(
    ("key", "body"),
    [
        ("big/orders.csv.gz", ORDERS),
        (
            "big/orders.jsonl.gz",
            "".join(
                f'{{"region": "{r}", "amount": {a}}}\n'
                for r, a in [("north", 10), ("south", 5), ("north", 7)]
            ),
        ),
    ],
)
def test_a_gzip_file_over_the_limit_is_described_from_its_first_bytes_decompressed(
    s3_settings: Settings, bucket: object, monkeypatch: pytest.MonkeyPatch, key: str, body: str
) -> None:
    half = body.index("\n", len(body) // 2) + 1  # two gzip members, as concatenated .gz files are
    packed = gzip.compress(body[:half].encode()) + gzip.compress(body[half:].encode())
    bucket.put_object(Bucket="lake", Key=key, Body=packed)  # type: ignore[attr-defined]
    table = over_the_limit(s3_settings, f"s3://lake/{key}", monkeypatch)
    assert sorted((c.name, c.type) for c in table.columns) == [("amount", "bigint"), ("region", "string")]
    assert table.format == ("csv" if ".csv" in key else "json") and table.row_count is None
    assert next(c.samples for c in table.columns if c.name == "region")[:2] == ["north", "south"]
    assert table.details["described_from"] == "its first 1.0 MiB decompressed"


def test_a_gzip_head_stops_at_the_limit_across_members() -> None:
    packed = gzip.compress(b"a,b\n1,2\n") + gzip.compress(b"3,4\n5,6\n")
    assert s3parts.gunzip_head(packed, 14, "x") == b"a,b\n1,2\n3,4\n5,"  # then cut at the last line
    assert s3parts.gunzip_head(packed[:10], 100, "x") == b""  # only the header arrived yet
    with pytest.raises(UsageError, match="cannot decompress s3://lake/x.csv.gz as gzip"):
        s3parts.gunzip_head(b"not gzip at all", 100, "s3://lake/x.csv.gz")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"region,amount\nnorth,10\n", "it ends with no Parquet footer"),
        (b"PAR1" + b"\xff" * 20 + struct.pack("<I", 20) + b"PAR1", "its footer cannot be read"),
        (b"PAR1" + struct.pack("<I", 1 << 30) + b"PAR1", "its footer claims 1.0 GiB of a 12 B file"),
    ],
)
def test_a_corrupt_parquet_footer_is_a_clear_error(
    s3_settings: Settings, bucket: object, body: bytes, words: str
) -> None:
    bucket.put_object(Bucket="lake", Key="bad/broken.parquet", Body=body)  # type: ignore[attr-defined]
    small = s3_settings.model_copy(update={"s3_cache_max_bytes": 4, "engine": "auto"})
    with pytest.raises(UsageError) as failed:
        api.select(api.Request(question="q", files=["s3://lake/bad/broken.parquet"]), small)
    error = failed.value.to_dict()["error"]
    assert error["message"].startswith(f"cannot read s3://lake/bad/broken.parquet as Parquet: {words}")
    assert "complete Parquet file" in error["suggestion"] and error["status"] == 400


@pytest.mark.slow
def test_auto_sends_s3_data_over_the_limit_to_its_cluster_after_the_local_dry_run(
    s3_settings: Settings, engine: object
) -> None:
    class Cluster:  # records what reaches it: no cluster here reads S3 (none has the s3a jars either)
        id = "connect"
        jobs: list[Job] = []

        def run(self, job: Job) -> Execution:
            self.jobs.append(job)
            return Execution(
                ok=False, stage="execute", error=Failure(kind=ErrorKind.ENGINE_UNAVAILABLE, message="x")
            )

        def close(self) -> None: ...

    small = s3_settings.model_copy(update={"s3_cache_max_bytes": 16})
    cluster = Cluster()
    reply = sql("SELECT kind, COUNT(*) AS n FROM events GROUP BY kind")
    auto = AutoEngine(small, engine, cluster)  # type: ignore[arg-type]
    answer = api.ask(
        "q", ["glue:s3lake.events"], engine=auto, model=ScriptedLLM([reply], style="sql"), settings=small
    )
    assert [t.location for t in cluster.jobs[0].tables] == ["s3://lake/events/"]
    assert "local_dry_run" in answer.attempts[0].timings  # the code passed Spark's analyzer locally first
    assert any(
        "engine auto chose connect: s3lake.events is at s3://lake/events/" in n for n in answer.notices
    )


def test_small_data_with_auto_is_read_from_the_cache(s3_settings: Settings) -> None:
    auto = api.Request(question="q", tables=["glue:s3lake.events"], engine="auto")
    selection = api.select(auto, auto.settings(s3_settings))
    location = Path(selection.tables[0].location)
    assert location.is_relative_to(s3_settings.home / "s3cache") and location.is_dir()
    assert selection.tables[0].details["s3_location"] == "s3://lake/events/"


# --- errors in the one shape --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "cls", "words"),
    [
        ("s3://no-such-bucket/x.csv", NotFoundError, "bucket 'no-such-bucket'"),
        ("s3://lake/no/such.csv", NotFoundError, "nothing at s3://lake/no/such.csv"),
        ("s3:///orders.csv", UsageError, "names no bucket"),
        ("s3://Lake_Data/orders.csv", UsageError, "not a valid bucket name"),
    ],
)
def test_bad_locations_are_errors_with_a_suggestion(
    s3_settings: Settings, location: str, cls: type[AskSparkError], words: str
) -> None:
    with pytest.raises(cls) as failed:
        api.select(api.Request(question="q", files=[location]), s3_settings)
    error = failed.value.to_dict()["error"]
    assert words in error["message"] and error["suggestion"]


@pytest.fixture(scope="module")
def denied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A moto server that authorizes every request after the first four: a user with no policy."""
    proc, endpoint = start_moto({"INITIAL_NO_AUTH_ACTION_COUNT": "4"})
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=endpoint)
    iam.create_user(UserName="nobody")
    key = iam.create_access_key(UserName="nobody")["AccessKey"]
    client = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint)
    client.create_bucket(Bucket="private")
    client.put_object(Bucket="private", Key="secret.csv", Body=ORDERS.encode())
    yield endpoint, {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
    proc.terminate()
    proc.wait(10)


def test_access_denied_is_an_error_naming_the_permissions(
    settings: Settings, denied: tuple[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, credentials = denied
    for key, value in credentials.items():  # the standard chain: the environment
        monkeypatch.setenv(key, value)
    with pytest.raises(AccessDeniedError) as refused:
        s3.S3Cache(settings.model_copy(update={"aws_endpoint_url": endpoint})).listing(
            "s3://private/secret.csv"
        )
    error = refused.value.to_dict()["error"]
    assert error["status"] == 403 and "access denied to s3://private/secret.csv" in error["message"]
    assert "s3:GetObject" in error["suggestion"]


# --- the interfaces ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_seeds_payload_with_an_s3_input_path_over_http(
    s3_settings: Settings, engine: object, tmp_path: Path
) -> None:
    server = LiveServer(s3_settings.model_copy(update={"model": script(tmp_path / "m.json", [TOTALS])}))
    try:
        payload = {"prompt": "Total per region", "s3_input_path": "s3://lake/sales/orders.csv",
                   "execution_engine": "local"}  # fmt: skip
        answer = httpx.post(f"{server.url}/v1/ask", json=payload, timeout=180).json()
        assert answer["status"] == "succeeded", answer
        assert answer["result"]["rows"] == [["east", 1], ["north", 17], ["south", 5]]
        bad = httpx.post(f"{server.url}/v1/ask", json={**payload, "s3_input_path": "s3://"}, timeout=60)
        assert bad.status_code == 400 and "no bucket" in bad.json()["error"]["message"]
    finally:
        server.stop()


@pytest.mark.slow
def test_cli_ask_with_an_s3_file(
    s3_settings: Settings, engine: object, moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASKSPARK_AWS_ENDPOINT_URL", moto_endpoint)
    model = script(tmp_path / "m.json", [TOTALS])
    args = ["ask", "total per region", "--file", "s3://lake/sales/orders.csv", "--model", model, "--json"]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["result"]["rows"] == [["east", 1], ["north", 17], ["south", 5]]


# --- no credentials beyond the askspark process -------------------------------------------------------


@pytest.mark.slow
def test_the_worker_and_the_server_hold_no_aws_credentials(
    s3_settings: Settings, engine: object, bucket: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With credentials in askspark's environment and in a credentials file, a question on S3 data runs;
    then neither the Spark server nor the worker waiting for the next job has them in its environment,
    can see the file, or finds the secret in any file it can read."""
    secret = "probe-secret-7f3a9c"
    creds = tmp_path / "aws" / "credentials"
    creds.parent.mkdir()
    creds.write_text(f"[default]\naws_access_key_id = AKIAPROBE\naws_secret_access_key = {secret}\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    bucket.put_object(Bucket="lake", Key="creds/orders.csv", Body=ORDERS.encode())  # type: ignore[attr-defined]
    answer, _ = ask(s3_settings, engine, "totals", TOTALS, files=["s3://lake/creds/orders.csv"])
    assert answer.status == "succeeded", answer.attempts[-1].error
    engine.warm()  # type: ignore[attr-defined]  # the spare worker, started after the run, with creds around
    worker = engine.runner.spare.process.proc.pid  # type: ignore[attr-defined]
    pids = descendants(engine.state.pid) + descendants(worker)  # type: ignore[attr-defined]
    seen = {pid: found for pid in pids if (found := _proc(pid)) is not None}  # skips processes gone since
    own = os.readlink("/proc/self/ns/mnt")
    # bubblewrap itself runs where it was started: as root's child, in the host's mounts plus the view
    # (when askspark runs as root, it is started as the sandbox user); it runs no generated code
    launchers = [pid for pid in seen if _comm(pid) == "bwrap"]
    inside = [pid for pid, (mnt, _) in seen.items() if mnt != own and pid not in launchers]
    assert len(inside) >= 2  # the server's JVM side and the worker
    for pid, (_, environ) in seen.items():
        assert not [v for v in environ if v.startswith(b"AWS_")], pid
    for pid in inside:
        assert not Path(f"/proc/{pid}/root{creds}").exists()  # the file is not in its view
        assert not Path(f"/proc/{pid}/root{Path.home()}/.aws").exists()
    if os.geteuid() == 0:  # the launchers that see the host's files are not root
        assert all(Path(f"/proc/{pid}").stat().st_uid != 0 for pid in launchers if pid in seen)
    readable = [s3_settings.home / "s3cache", s3_settings.engine_dir]
    files = [f for d in readable for f in d.rglob("*") if f.is_file() and f.stat().st_size < 50_000_000]
    assert files and not [f for f in files if secret.encode() in f.read_bytes()]


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _proc(pid: int) -> tuple[str, list[bytes]] | None:
    """A process's mount namespace and environment, or None when it has exited."""
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt"), Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return None


@pytest.mark.slow
def test_the_server_reads_the_cache_without_a_restart(settings: Settings, engine: object) -> None:
    """The cache is one of the server's own directories (like uploads), so a new S3 table needs none."""
    readable = engine.state.readable  # type: ignore[attr-defined]
    assert str(s3.cache_root(settings).resolve()) in readable
