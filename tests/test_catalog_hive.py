"""The hive catalog beyond the shared conformance checks (tests/test_catalog_conformance.py): Hive serde
tables, hostile DDL, a metastore restart seen by two processes, an external metastore by Thrift URI.

Real Derby network server and real Spark with Hive: the session's one trusted Hive session (a JVM, the
``hive_catalog`` fixture of tests/conftest.py), the shared local engine for the end-to-end runs.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from askspark import api
from askspark.catalog import hive, metastore
from askspark.catalog.base import TableInfo
from askspark.engines.base import Job, Limits, bindings_for
from askspark.llm.scripted import ScriptedLLM
from askspark.settings import Settings

pytestmark = pytest.mark.slow

TABLES = [
    """CREATE TABLE sales.orders (id bigint COMMENT 'order id', amount decimal(10,2) COMMENT 'order total in EUR',
       country string COMMENT 'ISO country code') USING parquet PARTITIONED BY (country) COMMENT 'one row per order'""",
    "INSERT INTO sales.orders VALUES (1, 10.50, 'DE'), (2, 3.25, 'FR'), (3, 7.00, 'DE')",
    "ANALYZE TABLE sales.orders COMPUTE STATISTICS",
    "CREATE TABLE sales.customers (id bigint COMMENT 'customer id', name string) STORED AS PARQUET",
    "INSERT INTO sales.customers VALUES (1, 'Ada'), (2, 'Linus')",
    """CREATE TABLE sales.events (id int, kind string) ROW FORMAT DELIMITED FIELDS TERMINATED BY ','
       STORED AS TEXTFILE""",
    "INSERT INTO sales.events VALUES (1, 'click'), (2, NULL)",
]


@pytest.fixture(scope="module", autouse=True)
def sales(hive_catalog: hive.HiveCatalog) -> Iterator[None]:
    """The ``sales`` tables on the session's metastore, dropped again so that they never compete with
    the conformance suite's ``shop`` when tables are chosen by the question."""
    spark = hive_catalog.session()
    spark.sql("CREATE DATABASE IF NOT EXISTS sales COMMENT 'shop data'")
    for table in ("orders", "customers", "events"):
        spark.sql(f"DROP TABLE IF EXISTS sales.{table}")
    for statement in TABLES:
        spark.sql(statement)
    yield
    spark.sql("DROP DATABASE IF EXISTS sales CASCADE")


def test_hive_serde_tables_map_to_spark_readers(hive_catalog: hive.HiveCatalog) -> None:
    customers = hive_catalog.describe("sales", "customers")
    assert (customers.format, customers.row_count) == ("parquet", None)  # never analyzed: no estimate
    assert customers.columns[0].comment == "customer id"
    events = hive_catalog.describe("sales", "events")
    assert events.format == "csv" and events.options["sep"] == ","
    assert events.options["nullValue"] == "\\N"


def test_a_decimal_partitioned_table_reads_end_to_end(
    hive_catalog: hive.HiveCatalog, engine: object, settings: Settings
) -> None:
    """Beyond the conformance shop: a decimal column, a string partition key, a table comment."""
    info = hive_catalog.describe("sales", "orders")
    assert info.partition_columns == ["country"] and info.row_count == 3
    assert {c.name: c.type for c in info.columns}["amount"] == "decimal(10,2)"
    sql = "SELECT country, CAST(SUM(amount) AS DOUBLE) AS total FROM orders GROUP BY country ORDER BY country"
    assert ask(info, sql, engine, settings) == [["DE", 17.5], ["FR", 3.25]]


def test_hive_text_table_reads_with_its_delimiter(
    hive_catalog: hive.HiveCatalog, engine: object, settings: Settings
) -> None:
    info = hive_catalog.describe("sales", "events")
    assert ask(info, "SELECT id FROM events WHERE kind IS NULL", engine, settings) == [[2]]


def ask(info: TableInfo, sql: str, engine: object, settings: Settings) -> list[list[object]]:
    """The rows of ``sql`` over ``info``, asked end to end on the local engine with the model scripted."""
    code = f"def answer(spark, tables):\n    return spark.sql({sql!r})\n"
    llm = ScriptedLLM(replies=[f"```python\n{code}```"])
    answer = api.ask("a question", [info], engine=engine, model=llm, settings=settings)  # type: ignore[arg-type]
    assert answer.status == "succeeded", answer.error
    assert answer.result is not None
    return answer.result.rows


HOSTILE = """
def answer(spark, tables):
    tried = []
    for statement in [
        "DROP TABLE sales.orders",
        "DROP DATABASE sales CASCADE",
        "ALTER TABLE sales.orders RENAME TO sales.gone",
        "CREATE TABLE sales.planted (x int)",
        "INSERT OVERWRITE TABLE sales.orders SELECT * FROM orders WHERE 1 = 0",
    ]:
        try:
            spark.sql(statement).collect()
            tried.append("ok: " + statement)
        except Exception as exc:
            tried.append("failed: " + statement)
    try:
        tables["orders"].limit(0).write.mode("overwrite").parquet(LOCATION)
        tried.append("ok: overwrite files")
    except Exception:
        tried.append("failed: overwrite files")
    try:
        spark.catalog.dropTempView("orders")
        tried.append("ok: drop view")
    except Exception:
        tried.append("failed: drop view")
    return spark.createDataFrame([(t,) for t in tried], "attempt string")
"""


def _files_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(str(path).encode() + path.read_bytes())
    return digest.hexdigest()


def test_generated_code_cannot_change_the_metastore(
    hive_catalog: hive.HiveCatalog, engine: object, settings: Settings, tmp_path: Path
) -> None:
    """Validation off: DDL, DML and file overwrites run as a real job; the metastore and files stay."""
    before = hive_catalog.describe("sales", "orders")
    files = _files_digest(Path(before.location))
    code = HOSTILE.replace("LOCATION", repr(before.location))
    job = Job(
        run_id="hostile-hive",
        attempt=1,
        code=code,
        tables=bindings_for([before]),
        limits=Limits(timeout_seconds=60),
        output_dir=str(tmp_path / "out"),
        dry_run=False,
    )
    databases = hive_catalog.list_databases()
    execution = engine.run(job)  # type: ignore[attr-defined]
    assert execution.ok, execution.error
    attempts = [row[0] for row in execution.result.rows]  # type: ignore[union-attr]
    ddl = [a for a in attempts if "TABLE" in a or "DATABASE" in a or "files" in a]
    assert all(a.startswith("failed") for a in ddl), attempts
    assert hive_catalog.list_databases() == databases
    assert hive_catalog.list_tables("sales") == ["customers", "events", "orders"]
    assert hive_catalog.describe("sales", "orders") == before
    assert _files_digest(Path(before.location)) == files


LISTER = textwrap.dedent("""
    import sys
    from askspark.catalog.hive import HiveCatalog
    from askspark.settings import Settings

    catalog = HiveCatalog(Settings(home=sys.argv[1]))
    print(",".join(catalog.list_tables("sales")), flush=True)
    sys.stdin.readline()  # stay connected until the other process has read the metastore too
""")


def test_metastore_survives_a_restart_and_serves_two_processes(
    hive_catalog: hive.HiveCatalog, settings: Settings
) -> None:
    """Stop the Derby server; a second process starts it again and sees the tables while this one reads."""
    assert metastore.stop(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYSPARK")}
    other = subprocess.Popen(
        [sys.executable, "-c", LISTER, str(settings.home)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert other.stdout is not None and other.stdin is not None
        assert other.stdout.readline().strip() == "customers,events,orders"
        assert metastore.running(settings) is not None
        assert hive_catalog.list_tables("sales") == ["customers", "events", "orders"]  # both connected now
        assert hive_catalog.describe("sales", "orders").row_count == 3
        other.stdin.write("\n")
        other.stdin.flush()
        assert other.wait(timeout=60) == 0
    finally:
        if other.poll() is None:
            other.kill()


EXTERNAL_CLIENT = textwrap.dedent("""
    import json, sys
    from askspark.catalog.hive import HiveCatalog
    from askspark.settings import Settings

    home, uri, warehouse = sys.argv[1:4]
    catalog = HiveCatalog(Settings(home=home, hive_metastore_uri=uri, hive_warehouse_dir=warehouse))
    spark = catalog.session()
    spark.sql("CREATE DATABASE IF NOT EXISTS ext")
    spark.sql("CREATE TABLE IF NOT EXISTS ext.t (a int COMMENT 'a number') USING parquet")
    spark.sql("INSERT OVERWRITE ext.t VALUES (1), (2)")
    info = catalog.describe("ext", "t")
    print(json.dumps({"databases": catalog.list_databases(), "tables": catalog.list_tables("ext"),
                      "info": info.model_dump()}))
""")


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_an_external_metastore_by_thrift_uri(tmp_path: Path) -> None:
    """A real Hive metastore service (Hive 2.3 from pyspark's jars, its own embedded Derby) on loopback;
    a separate process (one Hive session per process) uses it through ASKSPARK_HIVE_METASTORE_URI."""
    import json
    import socket
    import time

    import pyspark

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    jars = Path(pyspark.__file__).parent / "jars" / "*"
    db, warehouse = tmp_path / "db", tmp_path / "warehouse"
    conf = [f"javax.jdo.option.ConnectionURL=jdbc:derby:;databaseName={db};create=true",
            "datanucleus.schema.autoCreateAll=true", "hive.metastore.schema.verification=false",
            f"hive.metastore.warehouse.dir={warehouse}", "hive.async.log.enabled=false"]  # fmt: skip
    cmd = ["java", "-Xmx512m", "-cp", str(jars), "org.apache.hadoop.hive.metastore.HiveMetaStore"]
    cmd += ["-p", str(port)] + [arg for c in conf for arg in ("--hiveconf", c)]
    service = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 240
        while not _listening(port):
            assert service.poll() is None and time.monotonic() < deadline, (
                "the metastore service did not start"
            )
            time.sleep(1)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK", "ASKSPARK"))}
        args = [str(tmp_path / "home"), f"thrift://127.0.0.1:{port}", str(warehouse)]
        out = subprocess.run(
            [sys.executable, "-c", EXTERNAL_CLIENT, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        found = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        service.kill()
        service.wait()
    assert found["databases"] == ["default", "ext"] and found["tables"] == ["t"]
    info = found["info"]
    assert info["location"] == str(warehouse / "ext.db" / "t") and info["format"] == "parquet"
    assert info["columns"][0] == {
        "name": "a",
        "type": "int",
        "nullable": True,
        "comment": "a number",
        "samples": [],
        "values": None,  # distinct values are gathered for files only, not from a metastore
    }
    assert not (tmp_path / "home" / "hive" / "derby.json").exists()  # no local metastore was started


def test_a_recorded_server_that_stopped_answering_is_stopped_not_left(tmp_path: Path) -> None:
    """Stopping, and starting anew, end the recorded server's process even when its port is silent
    (the test suite once left a Derby JVM running after it had ended)."""
    import json
    import time

    from askspark.processes import free_port, pid_alive

    settings = Settings(home=tmp_path)
    silent = "import time; time.sleep(60)"
    for act in (metastore.stop, metastore._end_stale):
        fake = subprocess.Popen(
            [sys.executable, "-c", silent, metastore.SERVER_CLASS], start_new_session=True
        )  # a process that looks like the Derby server but listens on nothing
        (tmp_path / "hive").mkdir(exist_ok=True)
        (tmp_path / "hive" / "derby.json").write_text(json.dumps({"pid": fake.pid, "port": free_port()}))
        assert metastore.running(settings) is None
        start = time.monotonic()
        assert act(settings)
        assert not pid_alive(fake.pid) and time.monotonic() - start < 15
    other = subprocess.Popen(
        [sys.executable, "-c", silent], start_new_session=True
    )  # not Derby: a reused pid
    try:
        (tmp_path / "hive" / "derby.json").write_text(json.dumps({"pid": other.pid, "port": free_port()}))
        assert not metastore.stop(settings) and pid_alive(other.pid)
    finally:
        other.kill()
        other.wait()
