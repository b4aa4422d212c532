"""The ``hive`` catalog: databases and tables of a Hive metastore, read through a trusted Spark session.

The metastore is an external one (``hive_metastore_uri``, thrift) or askspark's own: a Derby network
server on 127.0.0.1 with its data under ``home/hive`` (see :mod:`askspark.catalog.metastore`), which
survives restarts and serves every askspark process at once.

Reading: a classic (not Connect) Spark session with Hive support, started in this process on first use
and kept for the process. It runs only askspark's own code (listing and DESCRIBE), never generated
code. Binding: tables are bound by location (direct reads of their files with the stored schema, as for
the local catalog), so the sandboxed engine server needs no metastore at all and generated code has no
route to it: it cannot drop or alter a metastore table even with validation off.

The same session is how tables get into askspark's own metastore: ``HiveCatalog(settings).session()``.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from askspark.catalog.base import Catalog, Column, TableInfo
from askspark.errors import NotFoundError, UsageError, missing_extra, unknown_name
from askspark.settings import Settings

_lock = threading.Lock()
_sessions: dict[tuple[str, ...], Any] = {}

# Hive SerDe / input format -> (Spark reader format, reader options). Datasource tables name their
# provider directly.
_SERDES = {
    "ParquetHiveSerDe": "parquet",
    "OrcSerde": "orc",
    "JsonSerDe": "json",
    "OpenCSVSerde": "csv",
    "LazySimpleSerDe": "csv",  # Hive's delimited text
}
_READABLE = {"parquet", "orc", "json", "csv"}
_STATS = re.compile(r"(\d+) bytes(?:, (\d+) rows)?")


def session_conf(settings: Settings) -> dict[str, str]:
    """Spark settings of the trusted Hive session: the external metastore, or the local Derby server."""
    conf = {
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": str(settings.hive_warehouse),
        "spark.ui.enabled": "false",
        "spark.driver.memory": "1g",
        "spark.sql.shuffle.partitions": "2",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
    }
    if settings.hive_metastore_uri:
        return conf | {"spark.hadoop.hive.metastore.uris": settings.hive_metastore_uri}
    from askspark.catalog import metastore

    state = metastore.ensure_running(settings)
    return conf | {
        "spark.driver.extraClassPath": metastore.CLIENT_JAR,
        "spark.hadoop.javax.jdo.option.ConnectionURL": state.jdbc_url(),
        "spark.hadoop.javax.jdo.option.ConnectionDriverName": "org.apache.derby.jdbc.ClientDriver",
        "spark.hadoop.javax.jdo.option.ConnectionUserName": metastore.USER,
        "spark.hadoop.javax.jdo.option.ConnectionPassword": metastore.password(settings),
        "spark.hadoop.datanucleus.schema.autoCreateAll": "true",
        "spark.hadoop.hive.metastore.schema.verification": "false",
    }


def trusted_session(settings: Settings) -> Any:
    """The process's classic Spark session with Hive support (one per process: one SparkContext)."""
    key = (settings.hive_metastore_uri or "", str(settings.home))
    with _lock:
        if key not in _sessions:
            if _sessions:
                raise UsageError(
                    "this process already has a Hive session for another metastore",
                    suggestion="use one hive metastore per process",
                )
            _sessions[key] = _build_session(session_conf(settings))
        return _sessions[key]


def _build_session(conf: dict[str, str]) -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - pyspark is a core dependency
        raise missing_extra("the hive catalog", "hive", "pyspark") from exc
    builder = SparkSession.builder.master("local[1]").appName("askspark-hive-catalog")
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def stop_sessions() -> None:
    """Stop this process's Hive session (its JVM); the metastore server stays up."""
    with _lock:
        sessions = list(_sessions.values())
        _sessions.clear()
    for spark in sessions:
        spark.stop()


class HiveCatalog(Catalog):
    """Databases and tables of a Hive metastore (external by URI, or askspark's local Derby one)."""

    id = "hive"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def session(self) -> Any:
        """The trusted Spark session on this metastore: for creating tables, never for generated code."""
        return trusted_session(self.settings)

    def list_databases(self) -> list[str]:
        return sorted(db.name for db in self.session().catalog.listDatabases())

    def list_tables(self, database: str) -> list[str]:
        database = self._known_db(database)
        return sorted(t.name for t in self.session().catalog.listTables(database) if not t.isTemporary)

    def describe(self, database: str, table: str) -> TableInfo:
        """The table's definition from the metastore; NotFoundError naming the known ones when missing."""
        database = self._known_db(database)
        known = self.list_tables(database)
        if table.lower() not in known:
            raise unknown_name(
                "table", f"{database}.{table}", [f"{database}.{t}" for t in known], NotFoundError
            )
        rows = self.session().sql(f"DESCRIBE TABLE EXTENDED `{database}`.`{table.lower()}`").collect()
        return table_info(database, table.lower(), [(r[0], r[1], r[2]) for r in rows])

    def _known_db(self, database: str) -> str:
        databases = self.list_databases()
        if database.lower() not in databases:
            raise unknown_name("database", database, databases, NotFoundError)
        return database.lower()


def table_info(database: str, name: str, rows: list[tuple[str, str, str | None]]) -> TableInfo:
    """A TableInfo from the rows of ``DESCRIBE TABLE EXTENDED`` (col_name, data_type, comment)."""
    columns, partitions, details = _sections(rows)
    fmt, options = storage_format(details)
    return TableInfo(
        database=database,
        name=name,
        columns=columns,
        format=fmt,
        location=local_path(details.get("Location", "")),
        options=options,
        partition_columns=partitions,
        row_count=row_estimate(details.get("Statistics")),
        comment=details.get("Comment") or None,
    )


def _sections(
    rows: list[tuple[str, str, str | None]],
) -> tuple[list[Column], list[str], dict[str, str]]:
    """Columns, partition column names and the detail rows (``Location``, ``Provider``, ...)."""
    columns: list[Column] = []
    partitions: list[str] = []
    details: dict[str, str] = {}
    section = "columns"
    for name, value, comment in rows:
        if name.startswith("# Partition"):
            section = "partitions"
        elif name.startswith("# Detailed"):
            section = "details"
        elif not name or name.startswith("#"):
            continue
        elif section == "columns":
            columns.append(Column(name=name, type=value, comment=comment or None))
        elif section == "partitions":
            partitions.append(name)
        else:
            details[name] = value
    return columns, partitions, details


def storage_format(details: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The Spark reader format and options for a table's files, from its provider or Hive SerDe."""
    provider = details.get("Provider", "hive").lower()
    props = _properties(details.get("Storage Properties", ""))
    if provider != "hive":
        options = {k: v for k, v in props.items() if k in {"header", "sep", "delimiter", "quote", "escape"}}
        return provider, options
    serde = details.get("Serde Library", "").rsplit(".", 1)[-1]
    fmt = _SERDES.get(serde, serde or "unknown")
    if serde == "LazySimpleSerDe":  # Hive text: ^A-separated unless field.delim says otherwise, \N for null
        return fmt, {"sep": props.get("field.delim", "\x01"), "nullValue": "\\N", "header": "false"}
    if serde == "OpenCSVSerde":
        return fmt, {"sep": props.get("separatorChar", ","), "quote": props.get("quoteChar", '"')}
    return fmt, {}


def readable(info: TableInfo) -> bool:
    """Whether the local engine can read the table's files (Avro, SequenceFile and the like: no)."""
    return info.format in _READABLE


def _properties(text: str) -> dict[str, str]:
    """``[a=1, b=2]`` as a dict (DESCRIBE's rendering of storage properties)."""
    body = text.strip().removeprefix("[").removesuffix("]")
    pairs = (item.split("=", 1) for item in re.split(r", (?=[\w.]+=)", body) if "=" in item)
    return {k.strip(): v for k, v in pairs}


def row_estimate(statistics: str | None) -> int | None:
    """Rows from ``Statistics`` (``1566 bytes, 3 rows``); None without row statistics.

    Hive records ``0 rows`` for tables never analyzed, so zero rows over non-empty files means unknown.
    """
    match = _STATS.match(statistics or "")
    if match is None or match.group(2) is None:
        return None
    size, rows = int(match.group(1)), int(match.group(2))
    return None if rows == 0 and size > 0 else rows


def local_path(location: str) -> str:
    """``file:/a/b`` as ``/a/b``; other URIs unchanged."""
    if location.startswith("file://"):
        return location.removeprefix("file://")
    return location.removeprefix("file:")
