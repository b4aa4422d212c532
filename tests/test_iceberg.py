"""Iceberg beyond the shared checks: schema evolution by field id, time travel, deletes, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.types import StringType
from typer.testing import CliRunner

from askspark import api
from askspark.catalog import resolve_table
from askspark.catalog.base import TableInfo
from askspark.catalog.iceberg import IcebergCatalog
from askspark.engines.base import check_readable
from askspark.errors import NotFoundError, UsageError
from askspark.interfaces.cli import app
from askspark.llm.scripted import ScriptedLLM
from askspark.settings import Settings


@pytest.fixture(scope="module")
def ice(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """An Iceberg SQL catalog whose warehouse the session's Spark server may read (under uploads/)."""
    tmp = tmp_path_factory.mktemp("iceberg")
    settings = Settings(
        home=tmp / "home",
        timeout_seconds=300,  # the machine is shared: a loaded first query can take a minute
        iceberg_uri=f"sqlite:///{tmp / 'catalog.db'}",
        iceberg_warehouse=f"file://{home / 'uploads' / 'iceberg-tests' / tmp.name}",
    )
    catalog = IcebergCatalog(settings).catalog
    catalog.create_namespace("inv")
    table = catalog.create_table(
        "inv.stock",
        schema=pa.schema([pa.field("sku", pa.string()), pa.field("qty", pa.int64())]),
    )
    table.append(pa.table({"sku": ["a", "b"], "qty": pa.array([1, 2], pa.int64())}))
    with table.update_schema() as update:  # renamed after the first files were written
        update.rename_column("qty", "quantity")
        update.add_column("note", StringType())
    table = catalog.load_table("inv.stock")
    table.append(
        pa.table(
            {"sku": ["c"], "quantity": pa.array([3], pa.int64()), "note": ["new"]},
            schema=table.schema().as_arrow(),
        )
    )
    return settings


def _sql(query: str) -> ScriptedLLM:
    return ScriptedLLM(replies=[f"```sql\n{query}\n```"])


def test_renamed_and_added_columns_read_by_field_id(ice: Settings, engine: object) -> None:
    answer = api.ask(
        "stock?",
        ["iceberg:inv.stock"],
        engine=engine,  # type: ignore[arg-type]
        model=_sql("SELECT sku, quantity, note FROM stock ORDER BY sku"),
        settings=ice,
    )
    assert answer.succeeded, answer.error
    assert answer.result is not None
    assert answer.result.rows == [["a", 1, None], ["b", 2, None], ["c", 3, "new"]]


def test_time_travel_to_an_earlier_snapshot(ice: Settings, engine: object) -> None:
    info = resolve_table("iceberg:inv.stock", ice)
    first = info.details["snapshots"][0]["id"]
    old = resolve_table(f"iceberg:inv.stock@{first}", ice)
    assert old.row_count == 2 and [c.name for c in old.columns] == ["sku", "qty"]
    answer = api.ask(
        "stock then?",
        [f"iceberg:inv.stock@{first}"],
        engine=engine,  # type: ignore[arg-type]
        model=_sql("SELECT SUM(qty) AS total FROM stock"),
        settings=ice,
    )
    assert answer.succeeded, answer.error
    assert answer.result is not None and answer.result.rows == [[3]]
    with pytest.raises(NotFoundError):
        resolve_table("iceberg:inv.stock@12345", ice)


def test_copy_on_write_deletes_are_read_correctly(ice: Settings, engine: object) -> None:
    catalog = IcebergCatalog(ice).catalog
    table = catalog.create_table("inv.moves", schema=pa.schema([pa.field("id", pa.int64())]))
    table.append(pa.table({"id": pa.array([1, 2, 3], pa.int64())}))
    table.delete("id = 2")  # pyiceberg rewrites the data file (copy-on-write): no delete files
    answer = api.ask(
        "ids?",
        ["iceberg:inv.moves"],
        engine=engine,  # type: ignore[arg-type]
        model=_sql("SELECT id FROM moves ORDER BY id"),
        settings=ice,
    )
    assert answer.succeeded, answer.error
    assert answer.result is not None and answer.result.rows == [[1], [3]]


def test_an_empty_table_reads_as_empty(ice: Settings, engine: object) -> None:
    IcebergCatalog(ice).catalog.create_table("inv.empty", schema=pa.schema([pa.field("id", pa.int64())]))
    info = resolve_table("iceberg:inv.empty", ice)
    assert info.paths == [] and info.row_count == 0
    answer = api.ask(
        "count?",
        ["iceberg:inv.empty"],
        engine=engine,  # type: ignore[arg-type]
        model=_sql("SELECT COUNT(*) AS n FROM empty"),
        settings=ice,
    )
    assert answer.succeeded, answer.error
    assert answer.result is not None and answer.result.rows == [[0]]


def test_tables_with_delete_files_are_refused() -> None:
    # pyiceberg 0.12 writes copy-on-write deletes only, so a merge-on-read table cannot be made here;
    # this checks the refusal path the catalog takes when its scan plan lists delete files.
    info = TableInfo(
        database="inv",
        name="t",
        columns=[],
        format="parquet",
        location="/x",
        catalog="iceberg",
        details={
            "unreadable": "the snapshot has delete files (row-level deletes)",
            "unreadable_hint": "use @ID",
        },
    )
    with pytest.raises(UsageError) as refused:
        check_readable([info], "local")
    assert "delete files" in refused.value.message and refused.value.suggestion == "use @ID"


def test_cli_describe_shows_partition_spec_and_snapshots(
    ice: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("home", "iceberg_uri", "iceberg_warehouse"):
        monkeypatch.setenv(f"ASKSPARK_{key.upper()}", str(getattr(ice, key)))
    runner = CliRunner()
    shown = runner.invoke(app, ["catalog", "describe", "iceberg:inv.stock"])
    assert shown.exit_code == 0, shown.output
    assert "snapshots" in shown.output and "partition_spec" in shown.output
    listed = runner.invoke(app, ["catalog", "list", "--catalog", "iceberg", "--json"])
    assert "stock" in json.loads(listed.output)["inv"]
    missing = runner.invoke(app, ["catalog", "describe", "icebreg:inv.stock"])
    assert missing.exit_code == 2 and "did you mean 'iceberg'" in missing.output
