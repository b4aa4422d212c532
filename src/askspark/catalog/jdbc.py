"""The ``jdbc`` catalog: tables of a PostgreSQL database, read by the engine through Spark's JDBC source.

Describing: askspark connects with pg8000 (pure Python) and reads ``information_schema`` for columns and
types, ``pg_description`` for comments and ``pg_class.reltuples`` for a row estimate; it never scans a
table. A schema is a "database" of the catalog; a table's ``location`` is ``schema.table`` and its
format ``jdbc``.

Credentials: the URL (``jdbc_url``) and user hold no secret; the password comes from
``jdbc_password_file`` or ``ASKSPARK_JDBC_PASSWORD`` and is used only by trusted code: here, and by the
engine, which binds a JDBC table on its own control session as a global temporary view before the job
(see :meth:`askspark.engines.bindings.Bindings.bind`). The job sent to the sandboxed worker names
only the view, so neither the prompt nor the generated code ever holds the password.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import Any

from askspark.catalog.base import Catalog, Column, TableInfo
from askspark.errors import CatalogUnavailableError, NotFoundError, UsageError, missing_extra, unknown_name
from askspark.settings import Settings

DRIVER_JAR = "/usr/share/java/postgresql.jar"
DRIVER_CLASS = "org.postgresql.Driver"
_URL = re.compile(r"jdbc:postgresql://(?P<host>[^:/?]+)(?::(?P<port>\d+))?/(?P<db>[^?;]+)(?P<rest>.*)")
_SYSTEM = ("pg_catalog", "information_schema", "pg_toast")

# PostgreSQL type -> Spark SQL type, as Spark's PostgreSQL dialect reads them (so the dry run's empty
# stand-ins have the types the real read will have).
_TYPES = {
    "smallint": "smallint",
    "integer": "int",
    "bigint": "bigint",
    "real": "float",
    "double precision": "double",
    "boolean": "boolean",
    "date": "date",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamp",
    "bytea": "binary",
}

_COLUMNS = """
SELECT c.column_name, c.data_type, c.numeric_precision, c.numeric_scale, c.is_nullable,
       col_description(format('%I.%I', c.table_schema, c.table_name)::regclass, c.ordinal_position)
FROM information_schema.columns c
WHERE c.table_schema = %s AND c.table_name = %s
ORDER BY c.ordinal_position
"""
_TABLE = """
SELECT obj_description(cl.oid, 'pg_class'), cl.reltuples::bigint
FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace
WHERE n.nspname = %s AND cl.relname = %s
"""


@dataclass(frozen=True)
class Target:
    """Where the database is: parsed from the JDBC URL (which must hold no credentials)."""

    url: str
    host: str
    port: int
    database: str

    def url_via(self, host: str, port: int) -> str:
        """The same URL pointing at another address (the engine's bridge inside its sandbox)."""
        return self.url.replace(f"//{self.host}:{self.port}/", f"//{host}:{port}/", 1).replace(
            f"//{self.host}/", f"//{host}:{port}/", 1
        )


def target(url: str | None) -> Target:
    """The parsed ``jdbc_url``; UsageError when it is missing, not PostgreSQL, or carries a password."""
    if not url:
        raise UsageError(
            "the jdbc catalog needs a database URL",
            suggestion="set ASKSPARK_JDBC_URL=jdbc:postgresql://HOST:PORT/DATABASE (and ASKSPARK_JDBC_USER)",
        )
    match = _URL.fullmatch(url)
    if match is None:
        raise UsageError(
            f"unsupported JDBC URL {url.split('?')[0]!r}: only PostgreSQL is supported",
            suggestion="use jdbc:postgresql://HOST:PORT/DATABASE",
        )
    if re.search(r"(?i)password|user=", match["rest"]):
        raise UsageError(
            "the JDBC URL must not carry credentials (they would reach the engine's plans and logs)",
            suggestion="set ASKSPARK_JDBC_USER and ASKSPARK_JDBC_PASSWORD_FILE instead",
        )
    return Target(url, match["host"], int(match["port"] or 5432), match["db"])


def credentials(settings: Settings) -> tuple[str, str]:
    """User and password for trusted code only (the catalog and the engine's control session)."""
    if not settings.jdbc_user:
        raise UsageError("the jdbc catalog needs a user", suggestion="set ASKSPARK_JDBC_USER")
    if settings.jdbc_password_file is not None:
        try:
            lines = settings.jdbc_password_file.read_text().splitlines()
        except OSError as exc:
            raise UsageError(
                f"cannot read the jdbc password file {settings.jdbc_password_file}: {exc.strerror}",
                suggestion="fix ASKSPARK_JDBC_PASSWORD_FILE",
            ) from None
        return settings.jdbc_user, lines[0] if lines else ""
    secret = settings.jdbc_password.get_secret_value() if settings.jdbc_password else ""
    return settings.jdbc_user, secret


def reader_options(settings: Settings, table: str, url: str) -> dict[str, str]:
    """Spark JDBC reader options for ``table`` at ``url``, credentials included: trusted side only."""
    user, password = credentials(settings)
    return {"url": url, "dbtable": table, "user": user, "password": password, "driver": DRIVER_CLASS}


def spark_type(data_type: str, precision: int | None, scale: int | None) -> str:
    """The Spark SQL type Spark's JDBC source reads a PostgreSQL column as."""
    if data_type == "numeric":
        return f"decimal({precision},{scale or 0})" if precision else "decimal(38,18)"
    return _TYPES.get(data_type, "string")  # text, varchar, char, uuid, json, ... are read as strings


class JdbcCatalog(Catalog):
    """Schemas and tables of the PostgreSQL database at ``jdbc_url``."""

    id = "jdbc"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.target = target(settings.jdbc_url)

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        try:
            import pg8000.dbapi
        except ImportError as exc:
            raise missing_extra("the jdbc catalog", "jdbc", "pg8000") from exc
        user, password = credentials(self.settings)
        try:
            conn = pg8000.dbapi.connect(
                user=user,
                password=password,
                host=self.target.host,
                port=self.target.port,
                database=self.target.database,
                timeout=30,
            )
        except (pg8000.dbapi.Error, OSError) as exc:
            raise CatalogUnavailableError(
                f"cannot connect to PostgreSQL at {self.target.host}:{self.target.port}/{self.target.database}",
                suggestion="check ASKSPARK_JDBC_URL, ASKSPARK_JDBC_USER and the password, and that the server runs",
                reason=type(exc).__name__,  # not str(exc): the driver's message may echo connection details
            ) from None
        with closing(conn):
            yield conn

    def _query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with self._connect() as conn:
            cursor = conn.cursor()
            cursor.execute(sql, params)
            return [tuple(row) for row in cursor.fetchall()]

    def list_databases(self) -> list[str]:
        """Schemas holding tables or views (all but the system ones, or those of ``jdbc_schemas``)."""
        rows = self._query("SELECT DISTINCT table_schema FROM information_schema.tables ORDER BY 1")
        wanted = {s.strip() for s in self.settings.jdbc_schemas.split(",") if s.strip()}
        return [r[0] for r in rows if r[0] not in _SYSTEM and (not wanted or r[0] in wanted)]

    def list_tables(self, database: str) -> list[str]:
        database = self._known_schema(database)
        rows = self._query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1", database
        )
        return [r[0] for r in rows]

    def describe(self, database: str, table: str) -> TableInfo:
        """Columns, types, comments and row estimate; NotFoundError naming the known tables when missing."""
        database = self._known_schema(database)
        known = self.list_tables(database)
        if table not in known:
            raise unknown_name(
                "table", f"{database}.{table}", [f"{database}.{t}" for t in known], NotFoundError
            )
        columns = [
            Column(name=name, type=spark_type(kind, prec, scale), nullable=null == "YES", comment=comment)
            for name, kind, prec, scale, null, comment in self._query(_COLUMNS, database, table)
        ]
        rows = self._query(_TABLE, database, table)
        comment, tuples = rows[0] if rows else (None, -1)
        return TableInfo(
            database=database,
            name=table,
            columns=columns,
            format="jdbc",
            location=f'"{database}"."{table}"',
            options={"url": self.target.url},
            row_count=int(tuples) if tuples is not None and tuples >= 0 else None,
            comment=comment,
        )

    def _known_schema(self, database: str) -> str:
        schemas = self.list_databases()
        if database not in schemas:
            raise unknown_name("database", database, schemas, NotFoundError)
        return database
