"""The local catalog: schema inference, the SQLite-backed LocalCatalog and the northwind sample data."""

from __future__ import annotations

import decimal
import hashlib
import importlib
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from askspark.catalog import CATALOGS, Catalog, Column, LocalCatalog, TableInfo, get_catalog
from askspark.catalog.files import infer_table, spark_type, table_name_for
from askspark.catalog.sample import generate_northwind
from askspark.errors import AskSparkError, NotFoundError, UsageError
from askspark.settings import Settings


def infer(path: Path, **kwargs: object) -> TableInfo:
    return infer_table(path, database="db", name="t", **kwargs)  # type: ignore[arg-type]


def columns(info: TableInfo) -> dict[str, Column]:
    return {c.name: c for c in info.columns}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def catalog(tmp_path: Path) -> LocalCatalog:
    return LocalCatalog(Settings(home=tmp_path / "home"))


@pytest.fixture
def people_csv(tmp_path: Path) -> Path:
    return write(
        tmp_path / "people.csv",
        "id,name,score,born,active\n"
        '1,"Ann ""A"" Lee",2.5,2001-02-03,true\n'
        "2,,3,1999-12-31,false\n"
        "3,Bo,,2000-01-01,\n"
        "4,Bo,1.25,2002-05-06,true\n",
    )


# --- names and types -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("data/Sales 2023.csv", "sales_2023"),
        ("2023-orders.parquet", "t_2023_orders"),
        ("x/Events.JSONL", "events"),
        ("logs.csv.gz", "logs"),
        ("some/dir", "dir"),
        ("!!!.csv", "table"),
    ],
)
def test_table_name_for(path: str, expected: str) -> None:
    assert table_name_for(path) == expected


@pytest.mark.parametrize(
    ("arrow_type", "expected"),
    [
        (pa.int8(), "tinyint"),
        (pa.int16(), "smallint"),
        (pa.int32(), "int"),
        (pa.int64(), "bigint"),
        (pa.float32(), "float"),
        (pa.float64(), "double"),
        (pa.bool_(), "boolean"),
        (pa.string(), "string"),
        (pa.large_string(), "string"),
        (pa.date32(), "date"),
        (pa.timestamp("us", tz="UTC"), "timestamp"),
        (pa.timestamp("s"), "timestamp"),
        (pa.decimal128(10, 2), "decimal(10,2)"),
        (pa.binary(), "binary"),
        (pa.null(), "string"),
        (pa.list_(pa.int32()), "array<int>"),
        (
            pa.struct([("a", pa.int64()), ("b c", pa.list_(pa.string()))]),
            "struct<a:bigint,`b c`:array<string>>",
        ),
        (pa.map_(pa.string(), pa.float64()), "map<string,double>"),
        (pa.dictionary(pa.int32(), pa.string()), "string"),
    ],
)
def test_spark_type(arrow_type: pa.DataType, expected: str) -> None:
    assert spark_type(arrow_type) == expected


# --- CSV -----------------------------------------------------------------------------------------


def test_csv_types_nullability_samples_and_count(people_csv: Path) -> None:
    info = infer(people_csv)
    cols = columns(info)
    assert [c.name for c in info.columns] == ["id", "name", "score", "born", "active"]
    assert {n: c.type for n, c in cols.items()} == {
        "id": "bigint",
        "name": "string",
        "score": "double",
        "born": "date",
        "active": "boolean",
    }
    assert {n: c.nullable for n, c in cols.items()} == {
        "id": False,
        "name": True,
        "score": True,
        "born": False,
        "active": True,
    }
    assert cols["name"].samples == ['Ann "A" Lee', "Bo"]  # distinct, non-null, first-seen order
    assert cols["born"].samples == ["2001-02-03", "1999-12-31", "2000-01-01"]
    assert cols["active"].samples == ["true", "false"]
    assert info.row_count == 4  # the header is not a row
    assert info.format == "csv"
    assert info.location == str(people_csv.resolve())
    assert info.options["header"] == "true"
    assert info.options["escape"] == '"'  # doubled quotes inside quoted fields, as pyarrow read them
    assert "sep" not in info.options


def test_csv_sample_limit_and_long_values_cut(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "v\n" + "\n".join(["x" * 200, "b", "c", "d"]) + "\n")
    samples = columns(infer(path, sample_values=2))["v"].samples
    assert len(samples) == 2
    assert len(samples[0]) == 80 and samples[0].startswith("xxx")
    assert samples[1] == "b"
    assert columns(infer(path, sample_values=0))["v"].samples == []


def test_csv_without_header_gets_spark_column_names(tmp_path: Path) -> None:
    info = infer(write(tmp_path / "raw.csv", "1,2.5,2023-01-02\n2,3.5,2023-01-03\n"))
    assert [(c.name, c.type) for c in info.columns] == [("_c0", "bigint"), ("_c1", "double"), ("_c2", "date")]
    assert info.options["header"] == "false"
    assert info.row_count == 2


def test_csv_with_numeric_header_names_keeps_header(tmp_path: Path) -> None:
    info = infer(write(tmp_path / "wide.csv", "region,2023,2024\nnorth,1,2\nsouth,3,4\n"))
    assert [c.name for c in info.columns] == ["region", "2023", "2024"]
    assert info.options["header"] == "true"
    assert info.row_count == 2


def test_csv_header_option_overrides_the_guess(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "a,b\nc,d\n")
    info = infer(path, options={"header": "false"})
    assert [c.name for c in info.columns] == ["_c0", "_c1"]
    assert info.row_count == 2


def test_csv_empty_and_repeated_header_names_made_unique(tmp_path: Path) -> None:
    info = infer(write(tmp_path / "a.csv", "a,,a\nx,1,y\n"))
    assert [c.name for c in info.columns] == ["a", "_c1", "a_2"]


def test_csv_delimiter_and_multiline_options(tmp_path: Path) -> None:
    info = infer(write(tmp_path / "a.csv", 'k;note\n1;"two\nlines"\n2;plain\n'))
    assert info.options["sep"] == ";"
    assert info.options["multiLine"] == "true"
    assert info.row_count == 2
    assert columns(info)["note"].samples == ["two\nlines", "plain"]


def test_csv_types_come_from_the_whole_file(tmp_path: Path) -> None:
    # more than one of pyarrow's 1 MiB blocks: a late string must still win
    info = infer(write(tmp_path / "late.csv", "a,b\n" + "1,2\n" * 300_000 + "x,\n"))
    assert columns(info)["a"].type == "string"
    assert columns(info)["b"].nullable is True
    assert info.row_count == 300_001


def test_csv_directory_counts_all_files(tmp_path: Path) -> None:
    write(tmp_path / "d" / "part-1.csv", "a,b\n1,x\n2,y\n")
    write(tmp_path / "d" / "part-2.csv", "a,b\n3.5,z\n")
    write(tmp_path / "d" / "_SUCCESS", "")
    info = infer(tmp_path / "d")
    assert info.format == "csv"
    assert info.row_count == 3
    assert columns(info)["a"].type == "double"  # int and double files unify to double


# --- Parquet -------------------------------------------------------------------------------------


def test_parquet_types_nullability_and_count(tmp_path: Path) -> None:
    table = pa.table(
        {
            "i8": pa.array([1, 2, 3], pa.int8()),
            "i32": pa.array([1, None, 3], pa.int32()),
            "f": pa.array([1.5, 2.5, 3.5], pa.float32()),
            "price": pa.array([decimal.Decimal("1.10"), None, decimal.Decimal("3.30")], pa.decimal128(10, 2)),
            "ts": pa.array([datetime(2024, 1, 1, 12)] * 3, pa.timestamp("us")),
            "tags": pa.array([["a"], [], ["b", "c"]], pa.list_(pa.string())),
            "point": pa.array([{"x": 1, "y": 2.0}] * 3),
            "raw": pa.array([b"\x01", b"\x02", b"\x01"], pa.binary()),
            "nothing": pa.nulls(3),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    info = infer(tmp_path / "t.parquet")
    cols = columns(info)
    assert {n: c.type for n, c in cols.items()} == {
        "i8": "tinyint",
        "i32": "int",
        "f": "float",
        "price": "decimal(10,2)",
        "ts": "timestamp",
        "tags": "array<string>",
        "point": "struct<x:bigint,y:double>",
        "raw": "binary",
        "nothing": "string",
    }
    assert cols["i8"].nullable is False
    assert cols["i32"].nullable is True
    assert cols["price"].samples == ["1.10", "3.30"]
    assert cols["raw"].samples == ["X'01'", "X'02'"]
    assert cols["tags"].samples == ['["a"]', "[]", '["b", "c"]']
    assert cols["nothing"].samples == []
    assert info.row_count == 3
    assert info.format == "parquet"
    assert info.options == {}


def test_partitioned_parquet_directory(tmp_path: Path) -> None:
    root = tmp_path / "events"
    for year, country, rows in [
        ("2023", "DE", 2),
        ("2024", "US", 3),
        ("__HIVE_DEFAULT_PARTITION__", "FR", 1),
    ]:
        part = root / f"year={year}" / f"country={country}"
        part.mkdir(parents=True)
        pq.write_table(pa.table({"n": list(range(rows))}), part / "part-0.parquet")
    write(root / "_SUCCESS", "")
    write(root / ".part-0.parquet.crc", "junk")
    info = infer(root)
    cols = columns(info)
    assert info.partition_columns == ["year", "country"]
    assert [c.name for c in info.columns] == ["n", "year", "country"]
    assert cols["year"].type == "int"
    assert cols["country"].type == "string"
    assert cols["year"].nullable is True  # the default partition holds nulls
    assert cols["country"].nullable is False
    assert cols["country"].samples == ["FR", "DE", "US"] or sorted(cols["country"].samples) == [
        "DE",
        "FR",
        "US",
    ]
    assert info.row_count == 6
    assert info.location == str(root.resolve())


# --- JSON ----------------------------------------------------------------------------------------


def test_ndjson_nested_types(tmp_path: Path) -> None:
    path = write(
        tmp_path / "events.jsonl",
        '{"id": 1, "user": {"name": "a"}, "tags": ["x"], "at": "2024-01-02T03:04:05"}\n'
        '{"id": 2, "user": null, "tags": [], "at": "2024-01-03T00:00:00"}\n',
    )
    info = infer(path)
    cols = columns(info)
    assert {n: c.type for n, c in cols.items()} == {
        "id": "bigint",
        "user": "struct<name:string>",
        "tags": "array<string>",
        "at": "timestamp",
    }
    assert cols["user"].nullable and not cols["id"].nullable
    assert cols["user"].samples == ['{"name": "a"}']
    assert info.format == "json" and info.row_count == 2 and info.options == {}


def test_json_array_file_reads_multiline(tmp_path: Path) -> None:
    info = infer(write(tmp_path / "a.json", '[{"a": 1}, {"a": 2, "b": "x"}]'))
    assert [c.name for c in info.columns] == ["a", "b"]
    assert info.options == {"multiLine": "true"}
    assert info.row_count == 2


# --- bad inputs ----------------------------------------------------------------------------------


def test_missing_path_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError) as err:
        infer(tmp_path / "nope.csv")
    assert "nope.csv" in err.value.message


def test_unsupported_extension_lists_formats(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        infer(write(tmp_path / "a.xlsx", "x"))
    assert "xlsx" in err.value.message
    for fmt in ("csv", "parquet", "json"):
        assert fmt in (err.value.suggestion or "")


def test_unknown_format_argument(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        infer(write(tmp_path / "a.csv", "a\n1\n"), fmt="avro")
    assert "avro" in err.value.message


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bad.parquet", "this is not parquet"),
        ("bad.jsonl", '{"a": 1}\n{not json\n'),
        ("bad.csv", "a,b\n1,2,3\n"),
    ],
)
def test_unparseable_file_is_usage_error(tmp_path: Path, name: str, content: str) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(UsageError) as err:
        infer(path)
    assert str(path.resolve()) in err.value.message
    assert err.value.suggestion
    assert err.value.__cause__ is not None  # pyarrow's error is chained and quoted


def test_mixed_directory_and_empty_directory(tmp_path: Path) -> None:
    write(tmp_path / "mixed" / "a.csv", "a\n1\n")
    write(tmp_path / "mixed" / "b.jsonl", '{"a": 1}\n')
    with pytest.raises(UsageError, match="mixes formats"):
        infer(tmp_path / "mixed")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError):
        infer(tmp_path / "empty")


# --- LocalCatalog --------------------------------------------------------------------------------


def test_add_list_describe_remove(catalog: LocalCatalog, people_csv: Path) -> None:
    added = catalog.add("hr", "people", people_csv, comment="staff")
    assert catalog.list_databases() == ["hr"]
    assert catalog.list_tables("hr") == ["people"]
    described = catalog.describe("hr", "people")
    assert described == added
    assert described.comment == "staff" and described.full_name == "hr.people"
    assert described.row_count == 4
    catalog.remove("hr", "people")
    assert catalog.list_databases() == []
    with pytest.raises(NotFoundError):
        catalog.describe("hr", "people")


def test_unknown_names_are_not_found_with_suggestions(catalog: LocalCatalog, people_csv: Path) -> None:
    catalog.add("hr", "people", people_csv)
    catalog.add("hr", "teams", people_csv)
    with pytest.raises(NotFoundError) as err:
        catalog.describe("hr", "peple")
    assert "peple" in err.value.message
    assert "hr.people" in (err.value.suggestion or "") and "hr.teams" in (err.value.suggestion or "")
    with pytest.raises(NotFoundError) as err:
        catalog.describe("sales", "people")
    assert "sales" in err.value.message and "hr" in (err.value.suggestion or "")
    with pytest.raises(NotFoundError):
        catalog.list_tables("sales")
    with pytest.raises(NotFoundError):
        catalog.remove("hr", "nope")
    with pytest.raises(NotFoundError):
        catalog.add("hr", "x", people_csv.parent / "missing.csv")


def test_invalid_names_rejected(catalog: LocalCatalog, people_csv: Path) -> None:
    with pytest.raises(UsageError) as err:
        catalog.add("hr", "my people", people_csv)
    assert "my_people" in (err.value.suggestion or "")
    with pytest.raises(UsageError):
        catalog.add("1db", "people", people_csv)


def test_resolve_qualified_bare_and_ambiguous(catalog: LocalCatalog, people_csv: Path) -> None:
    catalog.add("hr", "people", people_csv)
    catalog.add("hr", "staff", people_csv)
    catalog.add("crm", "people", people_csv)
    assert catalog.resolve("crm.people").database == "crm"
    assert catalog.resolve("staff").full_name == "hr.staff"
    assert catalog.resolve("STAFF").full_name == "hr.staff"
    with pytest.raises(UsageError) as err:
        catalog.resolve("people")
    assert not isinstance(err.value, NotFoundError)
    assert "crm.people" in err.value.message and "hr.people" in err.value.message
    with pytest.raises(NotFoundError) as err:
        catalog.resolve("staf")
    assert "hr.staff" in (err.value.suggestion or "")


def test_re_adding_replaces(catalog: LocalCatalog, people_csv: Path, tmp_path: Path) -> None:
    catalog.add("hr", "people", people_csv)
    other = write(tmp_path / "other.csv", "x\n1\n")
    catalog.add("hr", "people", other)
    assert catalog.list_tables("hr") == ["people"]
    assert [c.name for c in catalog.describe("hr", "people").columns] == ["x"]


def test_schema_is_stored_not_reinferred(tmp_path: Path, people_csv: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    LocalCatalog(settings).add("hr", "people", people_csv)
    people_csv.write_text("completely,different\nx,y\n")
    info = LocalCatalog(settings).describe("hr", "people")  # a new instance reads the stored definition
    assert [c.name for c in info.columns] == ["id", "name", "score", "born", "active"]
    assert info.row_count == 4
    assert (tmp_path / "home" / "catalog.db").is_file()


def test_copy_into_warehouse_and_remove_deletes_copy(tmp_path: Path, people_csv: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    catalog = LocalCatalog(settings)
    info = catalog.add("hr", "people", people_csv, copy=True)
    target = settings.warehouse / "hr" / "people"
    assert Path(info.location) == (target / "people.csv").resolve()
    assert Path(info.location).read_text() == people_csv.read_text()
    assert catalog.add("hr", "people", people_csv, copy=True).location == info.location  # replace in place
    catalog.remove("hr", "people")
    assert not target.exists()
    assert people_csv.exists()  # the original is never touched


def test_copy_directory(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    write(tmp_path / "d" / "a.csv", "a\n1\n")
    info = LocalCatalog(settings).add("db", "t", tmp_path / "d", copy=True)
    assert Path(info.location) == (settings.warehouse / "db" / "t").resolve()
    assert (Path(info.location) / "a.csv").is_file()


def test_set_comment(catalog: LocalCatalog, people_csv: Path) -> None:
    catalog.add("hr", "people", people_csv, column_comments={"id": "employee number"})
    catalog.set_comment("hr", "people", "score", "last review score")
    catalog.set_comment("hr", "people", None, "everyone")
    info = catalog.describe("hr", "people")
    assert columns(info)["id"].comment == "employee number"
    assert columns(info)["score"].comment == "last review score"
    assert info.comment == "everyone"
    with pytest.raises(NotFoundError):
        catalog.set_comment("hr", "people", "nope", "x")


def test_the_local_catalog_uses_the_protocol_defaults(catalog: LocalCatalog, people_csv: Path) -> None:
    # resolve and describe_all come from the Catalog protocol (test_resolve_qualified_bare_and_ambiguous
    # exercises resolve); the local catalog has nothing faster to offer.
    assert LocalCatalog.resolve is Catalog.resolve and LocalCatalog.describe_all is Catalog.describe_all
    catalog.add("hr", "people", people_csv)
    catalog.add("hr", "staff", people_csv)
    catalog.add("crm", "people", people_csv)
    described = catalog.describe_all()
    assert [t.full_name for t in described] == ["crm.people", "hr.people", "hr.staff"]
    assert described[1] == catalog.describe("hr", "people")


def test_every_registered_catalog_subclasses_the_protocol() -> None:
    for path in CATALOGS.values():
        module, _, name = path.partition(":")
        # Explicitly: a structural match alone would not inherit the defaults.
        assert Catalog in getattr(importlib.import_module(module), name).__mro__, path


def test_get_catalog(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert isinstance(get_catalog("local", settings), LocalCatalog)
    with pytest.raises(UsageError) as err:
        get_catalog("lokal", settings)
    assert "local" in (err.value.suggestion or "")


def test_errors_serialize(catalog: LocalCatalog) -> None:
    with pytest.raises(AskSparkError) as err:
        catalog.describe("nowhere", "t")
    assert err.value.to_dict()["error"]["status"] == 404


# --- northwind -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def northwind(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings(home=tmp_path_factory.mktemp("nw"))
    generate_northwind(settings)
    return settings


def _digests(settings: Settings) -> dict[str, str]:
    root = settings.warehouse / "northwind"
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_northwind_is_deterministic(northwind: Settings, tmp_path: Path) -> None:
    first = _digests(northwind)
    assert set(first) >= {"nasdaq/data.parquet", "orders/data.parquet"}
    other = Settings(home=tmp_path)
    generate_northwind(other)
    assert _digests(other) == first
    generate_northwind(other)  # idempotent
    assert _digests(other) == first
    assert LocalCatalog(other).list_tables("northwind") == ["nasdaq", "orders"]


def test_northwind_registered_with_comments(northwind: Settings) -> None:
    catalog = LocalCatalog(northwind)
    orders = catalog.describe("northwind", "orders")
    assert orders.comment and orders.format == "parquet"
    assert Path(orders.location) == northwind.warehouse / "northwind" / "orders"
    assert "USD" in (columns(orders)["unit_price"].comment or "")
    assert {n: c.type for n, c in columns(orders).items()} == {
        "order_id": "bigint",
        "order_date": "date",
        "customer": "string",
        "country": "string",
        "category": "string",
        "product": "string",
        "quantity": "int",
        "unit_price": "double",
        "discount": "double",
    }
    nasdaq = catalog.resolve("nasdaq")
    assert [c.name for c in nasdaq.columns] == ["date", "symbol", "open", "high", "low", "close", "volume"]
    assert columns(nasdaq)["volume"].type == "bigint"


def test_nasdaq_invariants(northwind: Settings) -> None:
    table = pq.read_table(northwind.warehouse / "northwind" / "nasdaq" / "data.parquet").to_pydict()
    n = len(table["date"])
    assert 2500 <= n <= 4000
    assert LocalCatalog(northwind).describe("northwind", "nasdaq").row_count == n
    assert set(table["symbol"]) == {"AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "META"}
    assert min(table["date"]) == date(2023, 1, 2) and max(table["date"]) <= date(2024, 12, 31)
    assert all(d.weekday() < 5 for d in table["date"])
    assert len(set(zip(table["date"], table["symbol"], strict=True))) == n  # one row per day and symbol
    for o, h, lo, c, v in zip(
        table["open"], table["high"], table["low"], table["close"], table["volume"], strict=True
    ):
        assert h >= max(o, c) and lo <= min(o, c) and lo > 0 and v > 0
        assert all(round(x, 2) == x for x in (o, h, lo, c))


def test_orders_shape(northwind: Settings) -> None:
    table = pq.read_table(northwind.warehouse / "northwind" / "orders" / "data.parquet").to_pydict()
    n = len(table["order_id"])
    assert 4000 <= n <= 6000
    assert table["order_id"] == list(range(1, n + 1))
    assert min(table["order_date"]) >= date(2023, 1, 1) and max(table["order_date"]) <= date(2024, 12, 31)
    assert 100 <= len(set(table["customer"])) <= 250
    assert 10 <= len(set(table["country"])) <= 14
    assert len(set(table["category"])) == 6
    category_of: dict[str, str] = {}
    for product, category in zip(table["product"], table["category"], strict=True):
        assert category_of.setdefault(product, category) == category  # a product has one category
    assert set(table["discount"]) <= {0.0, 0.05, 0.1, 0.15, 0.2}
    assert all(q > 0 for q in table["quantity"])
    december = sum(d.month == 12 for d in table["order_date"])
    july = sum(d.month == 7 for d in table["order_date"])
    assert december > july  # seasonality
