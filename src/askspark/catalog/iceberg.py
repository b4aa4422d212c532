"""Apache Iceberg tables through pyiceberg: a SQL catalog (SQLite) or a REST catalog by URI.

Reading route (offline, no Iceberg Spark runtime): pyiceberg plans the scan of the current snapshot
(or the one named ``db.table@SNAPSHOT_ID``) into its list of Parquet data files; the engine reads exactly
those files with the Iceberg schema, matching columns by Parquet field id, so renamed columns keep
their data and columns added later read as null. Tables whose snapshot has delete files (row-level
deletes, merge-on-read) are refused: reading their data files alone would return deleted rows.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from askspark.catalog.base import Catalog, Column, TableInfo
from askspark.errors import NotFoundError, ProviderError, UsageError, missing_extra, unknown_name
from askspark.settings import Settings


class IcebergCatalog(Catalog):
    """Namespaces and tables of an Iceberg catalog (settings: iceberg_uri, iceberg_warehouse)."""

    id = "iceberg"

    def __init__(self, settings: Settings) -> None:
        try:
            from pyiceberg.catalog import load_catalog
        except ImportError:
            raise missing_extra("the iceberg catalog", "iceberg", "pyiceberg") from None
        self.settings = settings
        self.catalog = load_catalog("askspark", **catalog_properties(settings))

    def list_databases(self) -> list[str]:
        """Namespace names (dotted for nested namespaces), sorted."""
        return sorted(".".join(ns) for ns in self.catalog.list_namespaces())

    def list_tables(self, database: str) -> list[str]:
        """Table names of the namespace, sorted; NotFoundError naming the known namespaces when missing."""
        from pyiceberg.exceptions import NoSuchNamespaceError

        try:
            return sorted(ident[-1] for ident in self.catalog.list_tables(database))
        except NoSuchNamespaceError:
            raise unknown_name("database", database, self.list_databases(), NotFoundError) from None

    def describe(self, database: str, table: str, snapshot_id: int | None = None) -> TableInfo:
        """The table's schema, partition spec, snapshots and data files (current or given snapshot)."""
        from pyiceberg.exceptions import NoSuchTableError

        try:
            loaded = self.catalog.load_table((database, table))
        except NoSuchTableError:
            known = [f"{database}.{t}" for t in self.list_tables(database)]
            raise unknown_name("table", f"{database}.{table}", known, NotFoundError) from None
        return table_info(database, table, loaded, snapshot_id, samples=self.settings.sample_values)

    def describe_all(self) -> list[TableInfo]:
        """Every table's schema and comments from its metadata, without planning scans or reading data
        (for picking tables by the question; the chosen ones are described in full)."""
        tables = []
        for database in self.list_databases():
            for name in self.list_tables(database):
                tables.append(
                    table_info(database, name, self.catalog.load_table((database, name)), plan=False)
                )
        return tables

    def resolve(self, name: str) -> TableInfo:
        """``db.table`` or ``db.table@SNAPSHOT_ID`` (time travel to that snapshot)."""
        name, _, snapshot = name.partition("@")
        database, dot, table = name.rpartition(".")
        if not dot:
            raise UsageError(
                f"name the Iceberg table with its namespace: {name!r}", suggestion="e.g. db.table"
            )
        if snapshot and not snapshot.isdigit():
            raise UsageError(
                f"invalid snapshot id {snapshot!r}", suggestion="see 'askspark catalog describe'"
            )
        return self.describe(database, table, int(snapshot) if snapshot else None)


def catalog_properties(settings: Settings) -> dict[str, str]:
    """pyiceberg catalog properties: REST for an http(s) URI, otherwise a SQL catalog."""
    uri = settings.iceberg_uri or f"sqlite:///{settings.home / 'iceberg' / 'catalog.db'}"
    warehouse = settings.iceberg_warehouse or f"file://{settings.home / 'iceberg' / 'warehouse'}"
    if uri.startswith(("http://", "https://")):
        return {
            "type": "rest",
            "uri": uri,
            **({"warehouse": warehouse} if settings.iceberg_warehouse else {}),
        }
    if uri.startswith("sqlite:///"):
        os.makedirs(os.path.dirname(uri[len("sqlite:///") :]) or ".", exist_ok=True)
        if warehouse.startswith("file://"):
            os.makedirs(warehouse[len("file://") :], exist_ok=True)
    return {"type": "sql", "uri": uri, "warehouse": warehouse}


def table_info(
    database: str,
    name: str,
    table: Any,
    snapshot_id: int | None = None,
    *,
    samples: int = 0,
    plan: bool = True,
) -> TableInfo:
    """An Iceberg table as a TableInfo: schema with field ids, identity partitions, data files (when
    ``plan``) and up to ``samples`` sample values per column, read through pyiceberg."""
    snapshot = table.snapshot_by_id(snapshot_id) if snapshot_id is not None else table.current_snapshot()
    if snapshot_id is not None and snapshot is None:
        known = [str(s.snapshot_id) for s in table.snapshots()]
        raise unknown_name("snapshot", str(snapshot_id), known, NotFoundError)
    schema = table.schemas().get(snapshot.schema_id) if snapshot and snapshot.schema_id is not None else None
    schema = schema or table.schema()
    location = _local(table.location())
    paths, fmt, refused = _data_files(table, snapshot) if plan else (None, "parquet", None)
    details: dict[str, Any] = {
        "partition_spec": [_partition_field(f, table.schema()) for f in table.spec().fields],
        "snapshot": snapshot.snapshot_id if snapshot else None,
        "snapshots": [_snapshot(s) for s in table.snapshots()],
        "schema_id": schema.schema_id,
    }
    if refused:
        details["unreadable"] = refused
        details["unreadable_hint"] = (
            "compact the table (rewrite its data files without deletes) or ask about an earlier snapshot, "
            "named TABLE@SNAPSHOT_ID (see 'askspark catalog describe')"
        )
    values = _sample_values(table, snapshot, samples) if paths and not refused else {}
    return TableInfo(
        database=database,
        name=name,
        columns=[
            Column(
                name=f.name,
                type=spark_type(f.field_type),
                nullable=not f.required,
                comment=f.doc,
                samples=values.get(f.name, []),
            )
            for f in schema.fields
        ],
        format=fmt,
        location=_common_dir(location, paths or []),
        partition_columns=[
            table.schema().find_column_name(f.source_id)
            for f in table.spec().fields
            if str(f.transform) == "identity"
        ],
        row_count=int(snapshot.summary["total-records"]) if snapshot and snapshot.summary else 0,
        comment=table.properties.get("comment"),
        catalog="iceberg",
        paths=paths,
        field_ids={f.name: f.field_id for f in schema.fields},
        details=details,
    )


def _sample_values(table: Any, snapshot: Any, limit: int) -> dict[str, list[str]]:
    """Up to ``limit`` distinct values per column from the snapshot's first rows (pyiceberg reads them
    with the snapshot's schema, so renamed columns have their values)."""
    if limit <= 0:
        return {}
    from askspark.catalog.files import column_samples

    try:
        head = table.scan(snapshot_id=snapshot.snapshot_id, limit=200).to_arrow()
    except Exception:  # samples are a nicety: a definition without them is still right
        return {}
    return {n: column_samples(head.column(n), limit) for n in head.column_names}


def _data_files(table: Any, snapshot: Any) -> tuple[list[str], str, str | None]:
    """The snapshot's data files (local paths), their format, and why the table is refused, if it is."""
    if snapshot is None:
        return [], "parquet", None
    try:
        tasks = list(table.scan(snapshot_id=snapshot.snapshot_id).plan_files())
    except Exception as exc:  # an unreachable object store, a corrupt manifest
        raise ProviderError(f"could not plan the Iceberg scan: {exc}") from None
    formats = {str(t.file.file_format.name).lower() for t in tasks} or {"parquet"}
    if any(t.delete_files for t in tasks):
        return (
            [],
            "parquet",
            "the snapshot has delete files (row-level deletes); askspark reads data files only",
        )
    if formats != {"parquet"}:
        return (
            [],
            "parquet",
            f"data files in {', '.join(sorted(formats))}; askspark reads Parquet data files only",
        )
    return [_local(t.file.file_path) for t in tasks], "parquet", None


def spark_type(t: Any) -> str:
    """An Iceberg type as Spark DDL."""
    from pyiceberg import types as it

    simple = {
        it.BooleanType: "boolean",
        it.IntegerType: "int",
        it.LongType: "bigint",
        it.FloatType: "float",
        it.DoubleType: "double",
        it.StringType: "string",
        it.DateType: "date",
        it.TimestampType: "timestamp_ntz",
        it.TimestamptzType: "timestamp",
        it.BinaryType: "binary",
        it.FixedType: "binary",
        it.UUIDType: "binary",
    }
    for kind, ddl in simple.items():
        if isinstance(t, kind):
            return ddl
    if isinstance(t, it.DecimalType):
        return f"decimal({t.precision},{t.scale})"
    if isinstance(t, it.ListType):
        return f"array<{spark_type(t.element_type)}>"
    if isinstance(t, it.MapType):
        return f"map<{spark_type(t.key_type)},{spark_type(t.value_type)}>"
    if isinstance(t, it.StructType):
        return "struct<" + ",".join(f"`{f.name}`:{spark_type(f.field_type)}" for f in t.fields) + ">"
    raise UsageError(f"the Iceberg type {t} has no Spark equivalent askspark can read")


def _partition_field(field: Any, schema: Any) -> dict[str, Any]:
    return {
        "name": field.name,
        "source": schema.find_column_name(field.source_id),
        "transform": str(field.transform),
    }


def _snapshot(s: Any) -> dict[str, Any]:
    when = datetime.fromtimestamp(s.timestamp_ms / 1000, UTC).isoformat()
    summary = s.summary
    return {
        "id": s.snapshot_id,
        "at": when,
        "operation": str(summary.operation.value) if summary else None,
        "records": summary.get("total-records") if summary else None,
    }


def _local(uri: str) -> str:
    return uri[len("file://") :] if uri.startswith("file://") else uri.removeprefix("file:")


def _common_dir(location: str, paths: list[str]) -> str:
    """The table location, or a directory holding every data file when some lie outside it."""
    if all(p.startswith(location.rstrip("/") + "/") for p in paths) or not paths:
        return location
    return os.path.commonpath([location, *paths])
