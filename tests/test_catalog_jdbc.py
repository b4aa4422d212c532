"""The jdbc catalog beyond the shared conformance checks (tests/test_catalog_conformance.py): types and
nullability, credentials kept out of URLs, prompts and generated code.

A real PostgreSQL server (the session's ``pg`` fixture), read by the local engine through Spark's JDBC source.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from askspark import api
from askspark.catalog import get_catalog, jdbc
from askspark.catalog.base import TableInfo
from askspark.engines.base import Job, Limits, TableBinding, bindings_for
from askspark.engines.local import LocalEngine
from askspark.errors import CatalogUnavailableError, UsageError
from askspark.llm.scripted import ScriptedLLM
from askspark.settings import Settings
from pg_server import Postgres

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def orders(jdbc_settings: Settings) -> TableInfo:
    return get_catalog("jdbc", jdbc_settings).describe("public", "orders")


def test_describes_nullability_types_and_the_url(jdbc_settings: Settings, orders: TableInfo) -> None:
    """Beyond the conformance shop: NOT NULL columns, numeric, timestamp and boolean types."""
    assert {c.name: c.type for c in orders.columns} == {
        "id": "int",
        "amount": "decimal(10,2)",
        "country": "string",
        "placed_at": "timestamp",
    }
    assert [c.nullable for c in orders.columns] == [False, False, True, True]
    assert orders.options == {"url": jdbc_settings.jdbc_url}
    customers = get_catalog("jdbc", jdbc_settings).describe("public", "customers")
    assert {c.name: c.type for c in customers.columns} == {"id": "bigint", "name": "string", "vip": "boolean"}


def test_a_question_is_answered_and_the_prompt_has_no_password(
    orders: TableInfo, engine: object, jdbc_settings: Settings, pg: Postgres
) -> None:
    code = """
def answer(spark, tables):
    return spark.sql("SELECT country, CAST(SUM(amount) AS DOUBLE) AS total FROM orders GROUP BY country ORDER BY country")
"""
    llm = ScriptedLLM(replies=[f"```python\n{code.strip()}\n```"])
    answer = api.ask(
        "total order amount per country", [orders], engine=engine, model=llm, settings=jdbc_settings
    )  # type: ignore[arg-type]
    assert answer.status == "succeeded", answer.error
    assert answer.result is not None and answer.result.rows == [["DE", 17.5], ["FR", 3.25]]
    prompts = " ".join(m.content for call in llm.calls for m in call.messages)
    assert "order total in EUR" in prompts and pg.password not in prompts
    assert pg.password not in answer.model_dump_json()


def test_urls_with_credentials_and_wrong_passwords_are_refused(
    jdbc_settings: Settings, tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match="must not carry credentials"):
        jdbc.target(jdbc_settings.jdbc_url + "?password=x")
    with pytest.raises(UsageError, match="only PostgreSQL"):
        jdbc.target("jdbc:mysql://127.0.0.1/shop")
    wrong = tmp_path / "wrong"
    wrong.write_text("nope")
    bad = jdbc_settings.model_copy(update={"jdbc_password_file": wrong})
    with pytest.raises(CatalogUnavailableError) as err:
        get_catalog("jdbc", bad).list_databases()
    assert "nope" not in str(err.value.to_dict())


HUNTER = """
import gc, glob, json, os, sys

def answer(spark, tables):
    seen = {}
    def note(key, fn):
        try:
            seen[key] = str(fn())
        except Exception as exc:
            seen[key] = "error: " + type(exc).__name__ + ": " + str(exc)[:8000]
    view = [name for name in tables if name.startswith("global_temp.") or name == "orders"]
    note("env", lambda: dict(os.environ))
    note("proc_environ", lambda: [open(p, "rb").read() for p in glob.glob("/proc/[0-9]*/environ")])
    note("proc_cmdline", lambda: [open(p, "rb").read() for p in glob.glob("/proc/[0-9]*/cmdline")])
    note("secret_file", lambda: open(SECRET).read())
    note("home_files", lambda: [open(p, errors="replace").read()[:2000] for p in glob.glob(HOME + "/**", recursive=True)
                                if os.path.isfile(p)])
    note("etc_tmp_run", lambda: [p for d in ("/etc", "/tmp", "/run", "/root") for p in glob.glob(d + "/**", recursive=True)])
    note("conf", lambda: spark.conf.getAll)
    note("set", lambda: spark.sql("SET -v").collect())
    note("views", lambda: spark.sql("SHOW TABLES IN global_temp").collect())
    names = [r[1] for r in spark.sql("SHOW TABLES IN global_temp").collect()]
    for name in names:
        note("explain " + name, lambda: spark.sql(f"EXPLAIN EXTENDED SELECT * FROM global_temp.{name}").collect())
        note("describe " + name, lambda: spark.sql(f"DESCRIBE TABLE EXTENDED global_temp.{name}").collect())
        note("create " + name, lambda: spark.sql(f"SHOW CREATE TABLE global_temp.{name}").collect())
        note("plan " + name, lambda: spark.table(f"global_temp.{name}")._explain_string(extended=True))
    note("bound", lambda: {k: v._explain_string(extended=True) for k, v in tables.items()})
    note("job", lambda: [o for o in gc.get_objects() if isinstance(o, dict) and "tables" in o])
    note("no_password_read", lambda: spark.read.format("jdbc").option("url", URL)
         .option("dbtable", "public.secrets_table").option("user", USER).load().collect())
    note("guessed_password_read", lambda: spark.read.format("jdbc").option("url", URL)
         .option("dbtable", "public.secrets_table").option("user", USER).option("password", "guess").load().collect())
    text = json.dumps(seen)
    return spark.createDataFrame([(k, v[:20000]) for k, v in seen.items()], "what string, found string")
"""


def test_generated_code_cannot_find_the_password(
    orders: TableInfo, engine: object, jdbc_settings: Settings, pg: Postgres, tmp_path: Path
) -> None:
    """Validation off: code hunting for the password in env, files, conf, plans and the job finds nothing,
    and reading the database itself without the password is refused."""
    from askspark.engines.server import BRIDGE_PORT

    info = orders
    url = jdbc.target(pg.url).url_via("127.0.0.1", BRIDGE_PORT)
    code = HUNTER.replace("URL", repr(url)).replace("USER", repr(pg.user))
    code = code.replace("SECRET", repr(str(jdbc_settings.jdbc_password_file)))
    code = code.replace("HOME", repr(str(jdbc_settings.home)))
    job = Job(
        run_id="hostile-jdbc",
        attempt=1,
        code=code,
        tables=bindings_for([info]),
        limits=Limits(timeout_seconds=90, max_result_bytes=5_000_000),
        output_dir=str(tmp_path / "out"),
        dry_run=False,
    )
    execution = engine.run(job)  # type: ignore[attr-defined]
    assert execution.ok, execution.error
    found = dict(execution.result.rows)  # type: ignore[union-attr]
    assert any("JDBCRelation" in v for k, v in found.items() if k.startswith("explain")), found.keys()
    # Both reads fail; the server log shows the database itself refused the guess (the bridge reached it).
    assert found["no_password_read"].startswith("error:") and found["guessed_password_read"].startswith(
        "error:"
    )
    assert f'password authentication failed for user "{pg.user}"' in pg.log.read_text()
    assert "not for the model" not in " ".join(found.values())
    assert found["secret_file"].startswith("error: FileNotFoundError"), found["secret_file"]
    everything = " ".join(found.values()) + execution.logs
    assert pg.password not in everything
    assert pg.password not in Path(engine.state.log).read_text(errors="replace")  # type: ignore[attr-defined]
    assert os.stat(jdbc_settings.jdbc_password_file).st_mode & 0o077 == 0  # type: ignore[arg-type]


def test_the_scrub_leaves_the_jdbc_views_of_jobs_in_flight(engine: LocalEngine) -> None:
    """Two questions at once (the HTTP server): one job's scrub must not drop another's JDBC view."""
    spark = engine.control()
    spark.range(3).createOrReplaceGlobalTempView("askspark_inflight_t")
    view = TableBinding(
        name="t",
        full_name="pg.t",
        format="view",
        location="global_temp.askspark_inflight_t",
        schema_ddl="id bigint",
    )
    job = Job(run_id="r", attempt=1, code="", tables=[view], limits=Limits(), output_dir="/nonexistent")
    names = lambda: {t.name for t in spark.catalog.listTables("global_temp")}  # noqa: E731
    with engine.runner.bindings.lock:
        engine.runner.bindings.in_use.add("askspark_inflight_t")
    engine.scrub_catalog()
    assert "askspark_inflight_t" in names()
    engine.runner.bindings.release(job)
    engine.scrub_catalog()
    assert "askspark_inflight_t" not in names()
