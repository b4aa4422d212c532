"""One small shop, published in every catalog: the data and builders for the catalog conformance suite.

Adding a catalog to the suite = writing one builder that publishes ``shop.orders`` (Parquet,
partitioned by ``year``, where the catalog holds files) and ``shop.customers`` (CSV where the catalog can
hold CSV) with the comments below, and adding it to ``BUILDERS``; what varies by catalog (formats, a
local location, exact row counts, samples) is declared on its :class:`CatalogCase`. File data lies under
the test home (``uploads``, or the hive warehouse), which the session's sandboxed Spark server may read,
so no case restarts it. The hive and jdbc builders reuse the session's Derby metastore and PostgreSQL
server (tests/conftest.py), started only when their cases run.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from askspark.catalog import Catalog, get_catalog
from askspark.settings import Settings

ORDERS = [  # order_id, customer_id, amount, year
    (1, 10, 100.0, 2023),
    (2, 11, 50.0, 2023),
    (3, 10, 25.5, 2024),
    (4, 12, 74.5, 2024),
    (5, 13, 10.0, 2024),
    (6, 11, 40.0, 2024),
]
CUSTOMERS = [(10, "Ada", "UK"), (11, "Bo", "SE"), (12, "Cy", "UK"), (13, "Di", "FR")]
ORDERS_COMMENT = "one row per order placed in the web shop"
AMOUNT_COMMENT = "order total in EUR"
YEAR_COMMENT = "year the order was placed"
CUSTOMERS_COMMENT = "registered shop customers"
COUNTRY_COMMENT = "ISO country code of the billing address"


@dataclass
class CatalogCase:
    """A catalog publishing the shop, and what the shared checks may expect of it."""

    id: str  # the catalog id, as in askspark.catalog.CATALOGS
    settings: Settings  # settings under which get_catalog(id) finds the shop
    orders_format: str = "parquet"
    customers_format: str = "csv"
    partitioned: bool = True  # reports orders' partition key ``year``
    location_is_dir: bool = True  # orders' location is a local directory (not e.g. a JDBC URL)
    exact_row_counts: bool = True  # row_count is exact; False: None or a non-negative estimate
    samples: bool = True  # describe returns sample values

    @property
    def catalog(self) -> Catalog:
        return get_catalog(self.id, self.settings)

    def name(self, table: str) -> str:
        """The table's name as a user writes it: ``glue:shop.orders``; ``shop.orders`` for local."""
        return f"shop.{table}" if self.id == "local" else f"{self.id}:shop.{table}"


def data_root(home: Path, case: str) -> Path:
    root = home / "uploads" / "conformance" / case
    root.mkdir(parents=True, exist_ok=True)
    return root


def write_orders(root: Path) -> Path:
    """orders as Hive-style partitions: ``orders/year=2023/part-0.parquet``."""
    base = root / "orders"
    for year in sorted({r[3] for r in ORDERS}):
        rows = [r for r in ORDERS if r[3] == year]
        part = base / f"year={year}"
        part.mkdir(parents=True, exist_ok=True)
        table = pa.table(
            {
                "order_id": pa.array([r[0] for r in rows], pa.int64()),
                "customer_id": pa.array([r[1] for r in rows], pa.int64()),
                "amount": pa.array([r[2] for r in rows], pa.float64()),
            }
        )
        pq.write_table(table, part / "part-0.parquet")
    return base


def write_customers(root: Path) -> Path:
    """customers as one CSV file with a header, in its own directory."""
    base = root / "customers"
    base.mkdir(parents=True, exist_ok=True)
    with open(base / "customers.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["customer_id", "name", "country"])
        writer.writerows(CUSTOMERS)
    return base


# --- builders ---------------------------------------------------------------------------------------


def local_case(request: pytest.FixtureRequest, tmp: Path) -> CatalogCase:
    from askspark.catalog.local import LocalCatalog

    home: Path = request.getfixturevalue("home")
    root = data_root(home, "local")
    settings = Settings(
        home=tmp / "local-home", timeout_seconds=300, catalog="local"
    )  # shared machine: slow first query
    catalog = LocalCatalog(settings)
    catalog.add(
        "shop",
        "orders",
        write_orders(root),
        comment=ORDERS_COMMENT,
        column_comments={"amount": AMOUNT_COMMENT, "year": YEAR_COMMENT},
    )
    catalog.add(
        "shop",
        "customers",
        write_customers(root) / "customers.csv",
        comment=CUSTOMERS_COMMENT,
        column_comments={"country": COUNTRY_COMMENT},
    )
    return CatalogCase("local", settings)


def glue_case(request: pytest.FixtureRequest, tmp: Path) -> CatalogCase:
    import boto3

    home: Path = request.getfixturevalue("home")
    endpoint: str = request.getfixturevalue("moto_endpoint")
    root = data_root(home, "glue")
    glue = boto3.client("glue", region_name="us-east-1", endpoint_url=endpoint)
    database = "shop"
    catalog_id = "123456789012"
    ids = {"CatalogId": catalog_id}
    drop_glue_database(glue, ids, database)  # a builder may run once per test module
    glue.create_database(**ids, DatabaseInput={"Name": database})
    glue.create_table(**ids, DatabaseName=database, TableInput=glue_orders_input(write_orders(root)))
    glue.create_table(**ids, DatabaseName=database, TableInput=glue_customers_input(write_customers(root)))
    settings = Settings(
        home=tmp / "glue-home",
        timeout_seconds=300,  # the machine is shared: a loaded first query can take a minute
        catalog="glue",
        aws_endpoint_url=endpoint,
        aws_region="us-east-1",
        glue_catalog_id=catalog_id,
    )
    return CatalogCase("glue", settings)


def drop_glue_database(glue: object, ids: dict[str, str], database: str) -> None:
    try:
        for t in glue.get_tables(**ids, DatabaseName=database)["TableList"]:  # type: ignore[attr-defined]
            glue.delete_table(**ids, DatabaseName=database, Name=t["Name"])  # type: ignore[attr-defined]
        glue.delete_database(**ids, Name=database)  # type: ignore[attr-defined]
    except glue.exceptions.EntityNotFoundException:  # type: ignore[attr-defined]
        pass


def glue_orders_input(location: Path) -> dict[str, object]:
    """A Parquet table partitioned by year, as a Glue crawler would define it (file:// location)."""
    return {
        "Name": "orders",
        "Description": ORDERS_COMMENT,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "recordCount": str(len(ORDERS))},
        "PartitionKeys": [{"Name": "year", "Type": "int", "Comment": YEAR_COMMENT}],
        "StorageDescriptor": {
            "Columns": [
                {"Name": "order_id", "Type": "bigint"},
                {"Name": "customer_id", "Type": "bigint"},
                {"Name": "amount", "Type": "double", "Comment": AMOUNT_COMMENT},
            ],
            "Location": f"file://{location}",
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {
                "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
            },
        },
    }


def glue_customers_input(location: Path) -> dict[str, object]:
    """A CSV table with a header line (LazySimpleSerDe, plain path location)."""
    return {
        "Name": "customers",
        "Description": CUSTOMERS_COMMENT,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "classification": "csv",
            "skip.header.line.count": "1",
            "numRows": str(len(CUSTOMERS)),
        },
        "StorageDescriptor": {
            "Columns": [
                {"Name": "customer_id", "Type": "bigint"},
                {"Name": "name", "Type": "varchar(40)"},
                {"Name": "country", "Type": "string", "Comment": COUNTRY_COMMENT},
            ],
            "Location": str(location),
            "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "SerdeInfo": {
                "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                "Parameters": {"field.delim": ","},
            },
        },
    }


def iceberg_case(request: pytest.FixtureRequest, tmp: Path) -> CatalogCase:
    home: Path = request.getfixturevalue("home")
    root = data_root(home, "iceberg") / tmp.name
    settings = Settings(
        home=tmp / "iceberg-home",
        timeout_seconds=300,  # the machine is shared: a loaded first query can take a minute
        catalog="iceberg",
        iceberg_uri=f"sqlite:///{tmp / 'iceberg.db'}",
        iceberg_warehouse=f"file://{root}",
    )
    publish_iceberg_shop(settings)
    return CatalogCase("iceberg", settings, customers_format="parquet")


def publish_iceberg_shop(settings: Settings) -> None:
    """shop.orders partitioned by identity(year) and shop.customers, written by pyiceberg."""
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.transforms import IdentityTransform
    from pyiceberg.types import DoubleType, IntegerType, LongType, NestedField, StringType

    from askspark.catalog.iceberg import IcebergCatalog

    catalog = IcebergCatalog(settings).catalog
    catalog.create_namespace("shop")
    orders_schema = Schema(
        NestedField(1, "order_id", LongType(), required=False),
        NestedField(2, "customer_id", LongType(), required=False),
        NestedField(3, "amount", DoubleType(), required=False, doc=AMOUNT_COMMENT),
        NestedField(4, "year", IntegerType(), required=False, doc=YEAR_COMMENT),
    )
    spec = PartitionSpec(
        PartitionField(source_id=4, field_id=1000, transform=IdentityTransform(), name="year")
    )
    orders = catalog.create_table(
        "shop.orders", schema=orders_schema, partition_spec=spec, properties={"comment": ORDERS_COMMENT}
    )
    orders.append(
        pa.table(
            {
                "order_id": pa.array([r[0] for r in ORDERS], pa.int64()),
                "customer_id": pa.array([r[1] for r in ORDERS], pa.int64()),
                "amount": pa.array([r[2] for r in ORDERS], pa.float64()),
                "year": pa.array([r[3] for r in ORDERS], pa.int32()),
            }
        )
    )
    customers_schema = Schema(
        NestedField(1, "customer_id", LongType(), required=False),
        NestedField(2, "name", StringType(), required=False),
        NestedField(3, "country", StringType(), required=False, doc=COUNTRY_COMMENT),
    )
    customers = catalog.create_table(
        "shop.customers", schema=customers_schema, properties={"comment": CUSTOMERS_COMMENT}
    )
    customers.append(
        pa.table(
            {
                "customer_id": pa.array([c[0] for c in CUSTOMERS], pa.int64()),
                "name": [c[1] for c in CUSTOMERS],
                "country": [c[2] for c in CUSTOMERS],
            }
        )
    )


def hive_case(request: pytest.FixtureRequest, tmp: Path) -> CatalogCase:
    """The shop created through the hive catalog's trusted Spark session, on the session's Derby
    metastore: orders a partitioned Parquet table, customers a comma-delimited Hive text table."""
    catalog = request.getfixturevalue("hive_catalog")
    settings: Settings = request.getfixturevalue("settings")
    spark = catalog.session()
    orders = ", ".join(f"({o}, {c}, {a}, {y})" for o, c, a, y in ORDERS)
    customers = ", ".join(f"({c}, '{n}', '{k}')" for c, n, k in CUSTOMERS)
    for statement in [
        "CREATE DATABASE IF NOT EXISTS shop",
        "DROP TABLE IF EXISTS shop.orders",
        "DROP TABLE IF EXISTS shop.customers",
        f"""CREATE TABLE shop.orders (order_id bigint, customer_id bigint, amount double COMMENT '{AMOUNT_COMMENT}',
            year int COMMENT '{YEAR_COMMENT}') USING parquet PARTITIONED BY (year) COMMENT '{ORDERS_COMMENT}'""",
        f"INSERT INTO shop.orders VALUES {orders}",
        f"""CREATE TABLE shop.customers (customer_id bigint, name string, country string COMMENT '{COUNTRY_COMMENT}')
            COMMENT '{CUSTOMERS_COMMENT}' ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' STORED AS TEXTFILE""",
        f"INSERT INTO shop.customers VALUES {customers}",
        "ANALYZE TABLE shop.orders COMPUTE STATISTICS",  # the metastore's row counts
        "ANALYZE TABLE shop.customers COMPUTE STATISTICS",
    ]:
        spark.sql(statement)
    # The hive catalog keeps no sample values (it never reads data to describe a table).
    update = {"catalog": "hive", "timeout_seconds": 300}  # shared machine: slow first query
    return CatalogCase("hive", settings.model_copy(update=update), samples=False)


def jdbc_case(request: pytest.FixtureRequest, tmp: Path) -> CatalogCase:
    """The shop as PostgreSQL schema ``shop`` in the session's test database; the engine reads it through
    Spark's JDBC source. Only that schema is listed (``jdbc_schemas``), so the database's other test
    tables do not compete when tables are chosen by the question."""
    pg = request.getfixturevalue("pg")
    settings: Settings = request.getfixturevalue("jdbc_settings")
    orders = ", ".join(f"({o}, {c}, {a}, {y})" for o, c, a, y in ORDERS)
    customers = ", ".join(f"({c}, '{n}', '{k}')" for c, n, k in CUSTOMERS)
    pg.run_sql(f"""
        DROP SCHEMA IF EXISTS shop CASCADE;
        CREATE SCHEMA shop;
        CREATE TABLE shop.orders (order_id bigint, customer_id bigint, amount double precision, year integer);
        COMMENT ON TABLE shop.orders IS '{ORDERS_COMMENT}';
        COMMENT ON COLUMN shop.orders.amount IS '{AMOUNT_COMMENT}';
        COMMENT ON COLUMN shop.orders.year IS '{YEAR_COMMENT}';
        INSERT INTO shop.orders VALUES {orders};
        CREATE TABLE shop.customers (customer_id bigint, name varchar(40), country text);
        COMMENT ON TABLE shop.customers IS '{CUSTOMERS_COMMENT}';
        COMMENT ON COLUMN shop.customers.country IS '{COUNTRY_COMMENT}';
        INSERT INTO shop.customers VALUES {customers};
        GRANT USAGE ON SCHEMA shop TO {pg.user};
        GRANT SELECT ON ALL TABLES IN SCHEMA shop TO {pg.user};
        ANALYZE shop.orders;
        ANALYZE shop.customers;
    """)  # ANALYZE: pg_class.reltuples, the catalog's row count, is exact for tables this small
    return CatalogCase(
        "jdbc",
        settings.model_copy(update={"catalog": "jdbc", "jdbc_schemas": "shop", "timeout_seconds": 300}),
        orders_format="jdbc",
        customers_format="jdbc",
        partitioned=False,  # PostgreSQL tables here are not partitioned
        location_is_dir=False,  # the location is "shop"."orders"
        samples=False,  # describing reads information_schema only, never table rows
    )


BUILDERS: dict[str, Callable[[pytest.FixtureRequest, Path], CatalogCase]] = {
    "local": local_case,
    "glue": glue_case,
    "iceberg": iceberg_case,
    "hive": hive_case,
    "jdbc": jdbc_case,
}
