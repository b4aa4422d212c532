"""TPC-H data: the 8 tables generated offline by DuckDB's ``dbgen``, written as Parquet and registered.

``askspark catalog tpch --scale 0.1`` writes ``warehouse/tpch/<table>/data.parquet`` and registers the
tables as database ``tpch`` with the TPC-H specification's column descriptions as comments. DuckDB's
generator is deterministic: the same scale factor gives the same rows every time.

The ``tpch`` extension is loaded from the file the ``duckdb-extension-tpch`` package ships inside
site-packages, never installed from the network (``pip install 'askspark[tpch]'``).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from askspark.catalog.base import TableInfo
from askspark.catalog.local import LocalCatalog
from askspark.errors import UsageError, missing_extra
from askspark.settings import Settings

DATABASE = "tpch"
DEFAULT_SCALE = 0.1
MAX_SCALE = 10.0  # SF 1 is ~1 GB of Parquet and ~40 s of generation; 10 is the most a laptop should try
_SCALE_MARK = re.compile(r"TPC-H scale factor ([0-9.]+)")

TABLE_COMMENTS = {
    "lineitem": "order lines: one row per item of an order (the fact table)",
    "orders": "customer orders",
    "customer": "customers",
    "part": "parts (products) that suppliers sell",
    "partsupp": "which supplier sells which part, with its stock and cost",
    "supplier": "suppliers",
    "nation": "the 25 nations",
    "region": "the 5 regions nations belong to",
}
COLUMN_COMMENTS: dict[str, dict[str, str]] = {
    "lineitem": {
        "l_orderkey": "order (orders.o_orderkey)",
        "l_partkey": "part sold (part.p_partkey)",
        "l_suppkey": "supplier of the part (supplier.s_suppkey)",
        "l_linenumber": "line number within the order",
        "l_quantity": "units ordered",
        "l_extendedprice": "quantity * part retail price, before discount",
        "l_discount": "discount as a fraction (0.00 to 0.10); revenue = l_extendedprice * (1 - l_discount)",
        "l_tax": "tax as a fraction (0.00 to 0.08)",
        "l_returnflag": "R = returned, A = accepted, N = not yet known",
        "l_linestatus": "O = open (shipped after 1995-06-17), F = fulfilled",
        "l_shipdate": "date the line was shipped",
        "l_commitdate": "date the delivery was promised for",
        "l_receiptdate": "date the customer received it",
        "l_shipinstruct": "e.g. DELIVER IN PERSON, COLLECT COD, NONE, TAKE BACK RETURN",
        "l_shipmode": "AIR, AIR REG, FOB, MAIL, RAIL, SHIP or TRUCK",
        "l_comment": "free text",
    },
    "orders": {
        "o_orderkey": "order id",
        "o_custkey": "customer who ordered (customer.c_custkey)",
        "o_orderstatus": "F = all lines fulfilled, O = all open, P = partly",
        "o_totalprice": "total price of the order",
        "o_orderdate": "date the order was placed",
        "o_orderpriority": "1-URGENT, 2-HIGH, 3-MEDIUM, 4-NOT SPECIFIED or 5-LOW",
        "o_clerk": "clerk who took the order",
        "o_shippriority": "shipping priority (always 0)",
        "o_comment": "free text",
    },
    "customer": {
        "c_custkey": "customer id",
        "c_name": "customer name, e.g. Customer#000000001",
        "c_address": "street address",
        "c_nationkey": "nation of the customer (nation.n_nationkey)",
        "c_phone": "phone number; its first two characters are the country code",
        "c_acctbal": "account balance (may be negative)",
        "c_mktsegment": "market segment: AUTOMOBILE, BUILDING, FURNITURE, HOUSEHOLD or MACHINERY",
        "c_comment": "free text",
    },
    "part": {
        "p_partkey": "part id",
        "p_name": "name: five colour words, e.g. 'goldenrod lavender spring chocolate lace'",
        "p_mfgr": "manufacturer, e.g. Manufacturer#1",
        "p_brand": "brand, e.g. Brand#13",
        "p_type": "type: three words, e.g. 'PROMO BURNISHED COPPER'",
        "p_size": "size, 1 to 50",
        "p_container": "container: size word + kind, e.g. 'SM CASE', 'MED BOX', 'LG PACK', 'JUMBO PKG'",
        "p_retailprice": "retail price",
        "p_comment": "free text",
    },
    "partsupp": {
        "ps_partkey": "part (part.p_partkey)",
        "ps_suppkey": "supplier (supplier.s_suppkey)",
        "ps_availqty": "units the supplier has available",
        "ps_supplycost": "cost of one unit from this supplier",
        "ps_comment": "free text",
    },
    "supplier": {
        "s_suppkey": "supplier id",
        "s_name": "supplier name, e.g. Supplier#000000001",
        "s_address": "street address",
        "s_nationkey": "nation of the supplier (nation.n_nationkey)",
        "s_phone": "phone number",
        "s_acctbal": "account balance",
        "s_comment": "free text",
    },
    "nation": {
        "n_nationkey": "nation id",
        "n_name": "nation name in capitals, e.g. GERMANY, UNITED STATES",
        "n_regionkey": "region of the nation (region.r_regionkey)",
        "n_comment": "free text",
    },
    "region": {
        "r_regionkey": "region id",
        "r_name": "AFRICA, AMERICA, ASIA, EUROPE or MIDDLE EAST",
        "r_comment": "free text",
    },
}
TABLES = tuple(TABLE_COMMENTS)


def connect_duckdb() -> Any:
    """An in-memory DuckDB connection with the ``tpch`` extension loaded from its package file.

    Raises:
        MissingExtraError: duckdb or duckdb-extension-tpch is not installed.
    """
    try:
        import duckdb
        import duckdb_extension_tpch
    except ImportError as exc:
        raise missing_extra("TPC-H data generation", "tpch", exc.name or "duckdb") from None
    path = Path(duckdb_extension_tpch.__file__).parent / "extensions" / f"v{duckdb.__version__}"
    extension = path / "tpch.duckdb_extension"
    if not extension.is_file():
        raise UsageError(
            f"no tpch extension for duckdb {duckdb.__version__} at {extension}",
            suggestion="install matching versions: pip install 'askspark[tpch]'",
        )
    conn = duckdb.connect(config={"autoinstall_known_extensions": False, "threads": 1})
    conn.execute(f"LOAD '{extension}'")
    return conn


def generate(conn: Any, scale: float) -> None:
    """Fill ``conn`` with the 8 TPC-H tables at ``scale``."""
    if not 0 < scale <= MAX_SCALE:
        raise UsageError(
            f"scale factor {scale:g} is out of range", suggestion=f"use a value in (0, {MAX_SCALE:g}]"
        )
    conn.execute(f"CALL dbgen(sf={float(scale)!r})")


def generate_tpch(settings: Settings, scale: float = DEFAULT_SCALE) -> list[TableInfo]:
    """Generate TPC-H at ``scale`` into the warehouse as Parquet and register database ``tpch``."""
    conn = connect_duckdb()
    try:
        generate(conn, scale)
        catalog = LocalCatalog(settings)
        return [_write_and_register(conn, catalog, settings, name, scale) for name in TABLES]
    finally:
        conn.close()


def _write_and_register(
    conn: Any, catalog: LocalCatalog, settings: Settings, name: str, scale: float
) -> TableInfo:
    directory = settings.warehouse / DATABASE / name
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    staging = directory / ".data.parquet.tmp"
    # One thread and the table's own order: the same scale factor writes the same file every time.
    conn.execute(f"COPY (SELECT * FROM {name}) TO '{staging}' (FORMAT parquet, COMPRESSION snappy)")
    os.replace(staging, directory / "data.parquet")
    comment = f"TPC-H {TABLE_COMMENTS[name]} (TPC-H scale factor {scale:g})"
    return catalog.add(
        DATABASE, name, directory, fmt="parquet", comment=comment, column_comments=COLUMN_COMMENTS[name]
    )


def registered_scale(settings: Settings) -> float | None:
    """The scale factor of the registered ``tpch`` database, or None when it is not (fully) there."""
    catalog = LocalCatalog(settings)
    if DATABASE not in catalog.list_databases() or set(catalog.list_tables(DATABASE)) < set(TABLES):
        return None
    match = _SCALE_MARK.search(catalog.describe(DATABASE, "lineitem").comment or "")
    return float(match.group(1)) if match else None
