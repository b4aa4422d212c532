"""The Glue catalog beyond the shared checks: formats, pagination, S3 locations, errors (moto on 127.0.0.1)."""

from __future__ import annotations

import sys
from pathlib import Path

import boto3
import pytest

from askspark import api
from askspark.catalog import get_catalog, resolve_table
from askspark.catalog.glue import GlueCatalog, spark_type, table_info
from askspark.engines.base import check_readable
from askspark.errors import MissingExtraError, NotFoundError, ProviderError, UsageError
from askspark.llm.scripted import ScriptedLLM
from askspark.settings import Settings

IDS = {"CatalogId": "210987654321"}


@pytest.fixture(scope="module")
def glue_settings(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    glue = boto3.client("glue", region_name="us-east-1", endpoint_url=moto_endpoint)
    glue.create_database(**IDS, DatabaseInput={"Name": "lake"})
    for i in range(5):
        glue.create_table(**IDS, DatabaseName="lake", TableInput=_table(f"t{i}", "s3://bucket/lake/t"))
    glue.create_table(**IDS, DatabaseName="lake", TableInput=_table("events", "s3://bucket/events"))
    return Settings(
        home=tmp_path_factory.mktemp("glue-home"),
        aws_endpoint_url=moto_endpoint,
        glue_catalog_id=IDS["CatalogId"],
        catalog="glue",
    )


def _table(name: str, location: str) -> dict[str, object]:
    return {
        "Name": name,
        "Parameters": {"classification": "json"},
        "StorageDescriptor": {"Columns": [{"Name": "id", "Type": "bigint"}], "Location": location},
    }


def test_listing_follows_every_page(glue_settings: Settings) -> None:
    catalog = GlueCatalog(glue_settings)
    catalog.page_size = 2  # six tables: three pages
    assert catalog.list_tables("lake") == ["events", "t0", "t1", "t2", "t3", "t4"]
    assert len(catalog.describe_all()) >= 6


def test_an_s3_table_in_a_missing_bucket_is_described_but_refused_by_the_local_engine(
    glue_settings: Settings,
) -> None:
    """The local engine reads S3 through its cache (tests/test_s3.py); a bucket that is not there is an
    error naming it, before any model call. (Before issue 15 every s3:// table was refused: a UsageError.)"""
    info = resolve_table("glue:lake.events", glue_settings)
    assert (info.location, info.format) == ("s3://bucket/events", "json")
    with pytest.raises(NotFoundError) as refused:
        api.ask(
            "how many events?", ["glue:lake.events"], model=ScriptedLLM(replies=[]), settings=glue_settings
        )
    assert "S3" in refused.value.message and "s3://bucket/events" in refused.value.message
    assert "aws s3 sync" in (refused.value.suggestion or "")


def test_unknown_catalog_id_suggests_the_closest(glue_settings: Settings) -> None:
    with pytest.raises(UsageError) as unknown:
        resolve_table("glu:lake.events", glue_settings)
    assert "did you mean 'glue'" in (unknown.value.suggestion or "")


def test_missing_boto3_names_the_extra(glue_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(MissingExtraError) as missing:
        get_catalog("glue", glue_settings)
    assert "askspark[glue]" in (missing.value.suggestion or "")


def test_an_unreachable_endpoint_is_a_provider_error(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, aws_endpoint_url="http://127.0.0.1:9")  # discard port: refused
    catalog = GlueCatalog(settings)
    catalog.client.meta.config.retries = {"max_attempts": 0}
    with pytest.raises(ProviderError) as down:
        catalog.list_databases()
    assert "aws_endpoint_url" in (down.value.suggestion or "")


@pytest.mark.parametrize(
    ("storage", "params", "fmt", "options"),
    [
        ({"SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.serde2.OpenCSVSerde",
                        "Parameters": {"separatorChar": ";", "quoteChar": "'"}}},
         {"skip.header.line.count": "1"}, "csv", {"sep": ";", "header": "true", "quote": "'"}),
        ({"SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"}}, {}, "json", {}),
        ({"InputFormat": "org.apache.hadoop.hive.ql.io.orc.OrcInputFormat"}, {}, "orc", {}),
        ({"SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                        "Parameters": {"field.delim": "\t"}}}, {}, "csv", {"sep": "\t", "header": "false"}),
        ({}, {"classification": "parquet"}, "parquet", {}),
    ],
)  # fmt: skip
def test_format_and_reader_options_come_from_serde_input_format_or_classification(
    storage: dict[str, object], params: dict[str, str], fmt: str, options: dict[str, str]
) -> None:
    info = table_info(
        "db", {"Name": "t", "Parameters": params, "StorageDescriptor": {"Location": "/x", **storage}}
    )
    assert (info.format, info.options) == (fmt, options)


def test_types_row_counts_and_file_uris() -> None:
    assert spark_type("varchar(20)") == "string" and spark_type("array<char(3)>") == "array<string>"
    assert spark_type("decimal(10,2)") == "decimal(10,2)" and spark_type("struct<a:int>") == "struct<a:int>"
    table = {
        "Name": "t",
        "Parameters": {"numRows": "-1"},
        "StorageDescriptor": {"Location": "file:///data/t", "Parameters": {"recordCount": "42"}},
    }
    info = table_info("db", table)
    assert (info.location, info.row_count) == ("/data/t", 42)  # -1 (unknown) is skipped


def test_an_iceberg_table_registered_in_glue_is_refused_with_a_pointer() -> None:
    table = {
        "Name": "t",
        "Parameters": {"table_type": "ICEBERG", "metadata_location": "s3://b/t/metadata/1.json"},
        "StorageDescriptor": {"Location": "/data/t"},
    }
    info = table_info("db", table)
    with pytest.raises(UsageError) as refused:
        check_readable([info], "local")
    assert "ICEBERG" in refused.value.message and "iceberg:DB.TABLE" in (refused.value.suggestion or "")


def test_samples_of_a_headerless_csv_match_columns_by_position(tmp_path: Path) -> None:
    from askspark.catalog.files import attach_samples

    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "part-0.csv").write_text("1,Oslo\n2,Bergen\n")
    table = {
        "Name": "t",
        "StorageDescriptor": {
            "Columns": [{"Name": "id", "Type": "int"}, {"Name": "city", "Type": "string"}],
            "Location": f"file://{tmp_path / 't'}",
            "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"},
        },
    }
    info = attach_samples(table_info("db", table), 3)
    assert [c.samples for c in info.columns] == [["1", "2"], ["Oslo", "Bergen"]]
    s3 = attach_samples(table_info("db", {**table, "StorageDescriptor": {"Location": "s3://b/t"}}), 3)
    assert s3.columns == []  # nothing read, nothing raised
