"""Fast checks of the hive and jdbc catalogs' pure parts (no JVM, no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from askspark.catalog import hive, jdbc
from askspark.engines.base import bindings_for, data_dirs
from askspark.errors import UsageError
from askspark.settings import Settings

DESCRIBE = [
    ("id", "bigint", "order id"),
    ("country", "string", None),
    ("# Partition Information", "", ""),
    ("# col_name", "data_type", "comment"),
    ("country", "string", None),
    ("", "", ""),
    ("# Detailed Table Information", "", ""),
    ("Comment", "orders", ""),
    ("Statistics", "1566 bytes, 3 rows", ""),
    ("Location", "file:/data/wh/sales.db/orders", ""),
    ("Provider", "hive", ""),
    ("Serde Library", "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe", ""),
    ("Storage Properties", "[serialization.format=|, field.delim=|]", ""),
]


def test_describe_rows_become_a_table_info() -> None:
    info = hive.table_info("sales", "orders", DESCRIBE)
    assert [(c.name, c.type, c.comment) for c in info.columns] == [
        ("id", "bigint", "order id"),
        ("country", "string", None),
    ]
    assert info.partition_columns == ["country"] and info.row_count == 3 and info.comment == "orders"
    assert info.location == "/data/wh/sales.db/orders"
    assert (info.format, info.options["sep"], info.options["nullValue"]) == ("csv", "|", "\\N")


@pytest.mark.parametrize(
    ("stats", "rows"),
    [
        ("1566 bytes, 3 rows", 3),
        ("9 bytes, 0 rows", None),
        ("0 bytes, 0 rows", 0),
        ("12 bytes", None),
        (None, None),
    ],
)
def test_row_estimate(stats: str | None, rows: int | None) -> None:
    assert hive.row_estimate(stats) == rows


def test_an_external_metastore_is_used_by_uri_without_a_local_server(tmp_path: Path) -> None:
    conf = hive.session_conf(Settings(home=tmp_path, hive_metastore_uri="thrift://127.0.0.1:9083"))
    assert conf["spark.hadoop.hive.metastore.uris"] == "thrift://127.0.0.1:9083"
    assert not any("javax.jdo" in key for key in conf) and not (tmp_path / "hive" / "derby.json").exists()


def test_jdbc_urls_are_parsed_and_rerouted() -> None:
    target = jdbc.target("jdbc:postgresql://db.internal:6543/shop?sslmode=disable")
    assert (target.host, target.port, target.database) == ("db.internal", 6543, "shop")
    assert target.url_via("127.0.0.1", 15432) == "jdbc:postgresql://127.0.0.1:15432/shop?sslmode=disable"
    assert (
        jdbc.target("jdbc:postgresql://db/shop").url_via("127.0.0.1", 1)
        == "jdbc:postgresql://127.0.0.1:1/shop"
    )
    with pytest.raises(UsageError, match="needs a database URL"):
        jdbc.target(None)


@pytest.mark.parametrize(
    ("pg", "spark"),
    [(("integer", None, None), "int"), (("numeric", 12, 3), "decimal(12,3)"), (("numeric", None, None), "decimal(38,18)"),
     (("character varying", None, None), "string"), (("timestamp with time zone", None, None), "timestamp")],
)  # fmt: skip
def test_postgres_types_map_as_spark_reads_them(pg: tuple[str, int | None, int | None], spark: str) -> None:
    assert jdbc.spark_type(*pg) == spark


def test_the_password_comes_from_a_file_or_the_environment(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    assert jdbc.credentials(Settings(home=tmp_path, jdbc_user="u", jdbc_password_file=secret)) == (
        "u",
        "s3cret",
    )
    from_env = Settings(home=tmp_path, jdbc_user="u", jdbc_password="p")  # type: ignore[arg-type]
    assert jdbc.credentials(from_env) == ("u", "p")
    assert "p" not in repr(from_env.jdbc_password) and '"p"' not in from_env.model_dump_json()


def test_jdbc_tables_have_no_data_directory() -> None:
    from askspark.catalog.base import Column, TableInfo

    info = TableInfo(
        database="public",
        name="t",
        columns=[Column(name="a", type="int")],
        format="jdbc",
        location='"public"."t"',
    )
    assert data_dirs([info]) == [] and bindings_for([info])[0].format == "jdbc"
