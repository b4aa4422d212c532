"""The embedded catalog: table definitions in a SQLite file under ``settings.home``.

A table's schema is inferred once, when it is added, and stored as JSON; describing a table never
reads its data again.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from askspark.catalog.base import Catalog, Column, TableInfo
from askspark.errors import NotFoundError, UsageError, unknown_name
from askspark.settings import Settings

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tables (
    database TEXT NOT NULL,
    name TEXT NOT NULL,
    info TEXT NOT NULL,
    added_at TEXT NOT NULL,
    PRIMARY KEY (database, name)
)
"""
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class LocalCatalog(Catalog):
    """Databases and tables registered on this machine, stored in ``settings.home / "catalog.db"``."""

    id = "local"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = settings.home / "catalog.db"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection that commits on success and is always closed."""
        with closing(sqlite3.connect(self.path, timeout=30)) as conn, conn:
            yield conn

    # --- reading ---------------------------------------------------------------------------------

    def list_databases(self) -> list[str]:
        """Databases holding at least one table, sorted."""
        with self._connect() as conn:
            return [row[0] for row in conn.execute("SELECT DISTINCT database FROM tables ORDER BY database")]

    def list_tables(self, database: str) -> list[str]:
        """Tables of ``database``, sorted; NotFoundError when it has none."""
        database = self._known_db(database)
        with self._connect() as conn:
            rows = conn.execute("SELECT name FROM tables WHERE database = ? ORDER BY name", (database,))
            return [row[0] for row in rows]

    def describe(self, database: str, table: str) -> TableInfo:
        """The stored definition of ``database.table``; NotFoundError naming the known ones when missing."""
        database = self._known_db(database)
        with self._connect() as conn:
            row = conn.execute(
                "SELECT info FROM tables WHERE database = ? AND name = ?", (database, table.lower())
            ).fetchone()
        if row is None:
            known = [t for t in self._full_names() if t.startswith(f"{database}.")]
            raise unknown_name("table", f"{database}.{table}", known, NotFoundError)
        return TableInfo.model_validate_json(row[0])

    def _full_names(self) -> list[str]:
        with self._connect() as conn:
            rows = conn.execute("SELECT database, name FROM tables ORDER BY database, name").fetchall()
        return [f"{db}.{name}" for db, name in rows]

    def _known_db(self, database: str) -> str:
        databases = self.list_databases()
        if database.lower() not in databases:
            raise unknown_name("database", database, databases, NotFoundError)
        return database.lower()

    # --- writing ---------------------------------------------------------------------------------

    def add(
        self,
        database: str,
        name: str,
        path: str | Path,
        *,
        fmt: str | None = None,
        comment: str | None = None,
        copy: bool = False,
        column_comments: dict[str, str] | None = None,
        options: dict[str, str] | None = None,
    ) -> TableInfo:
        """Register the data at ``path`` as ``database.name``, replacing a table of that name.

        Args:
            database: Database name (an SQL identifier; stored lowercase).
            name: Table name (an SQL identifier; stored lowercase).
            path: A CSV, Parquet or JSON file, or a directory of them.
            fmt: ``csv``, ``parquet`` or ``json``; guessed from the file extensions when None.
            comment: What the table holds, shown to the model.
            copy: Copy the data into ``settings.warehouse / database / name`` first.
            column_comments: Comments by column name.
            options: CSV reader options overriding the guessed ones (``header``, ``sep``).

        Raises:
            NotFoundError: ``path`` or a commented column does not exist.
            UsageError: A bad name, an unsupported format or unreadable data.
        """
        from askspark.catalog.files import infer_table  # pyarrow is imported only when needed

        database, name = _identifier("database", database), _identifier("table", name)
        info = infer_table(
            path,
            database=database,
            name=name,
            fmt=fmt,
            sample_values=self.settings.sample_values,
            options=options,
        )
        info.comment = comment
        for column, text in (column_comments or {}).items():
            _column(info, column).comment = text
        if copy:
            info.location = str(self._copy_in(Path(info.location), database, name))
        self._store(info)
        return info

    def remove(self, database: str, name: str) -> None:
        """Unregister ``database.name``; data copied into the warehouse for it is deleted too."""
        info = self.describe(database, name)
        with self._connect() as conn:
            conn.execute("DELETE FROM tables WHERE database = ? AND name = ?", (info.database, info.name))
        managed = self._managed_dir(info.database, info.name)
        if Path(info.location).is_relative_to(managed) and managed.exists():
            shutil.rmtree(managed)

    def set_comment(self, database: str, table: str, column: str | None, comment: str | None) -> TableInfo:
        """Set (or clear, with None) the comment of a column, or of the table when ``column`` is None."""
        info = self.describe(database, table)
        if column is None:
            info.comment = comment
        else:
            _column(info, column).comment = comment
        self._store(info)
        return info

    def _store(self, info: TableInfo) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO tables (database, name, info, added_at) VALUES (?, ?, ?, ?)",
                (info.database, info.name, info.model_dump_json(), datetime.now(UTC).isoformat()),
            )

    def _managed_dir(self, database: str, name: str) -> Path:
        return (self.settings.warehouse / database / name).resolve()

    def _copy_in(self, source: Path, database: str, name: str) -> Path:
        """Copy a file or directory into the table's warehouse directory; the copy's location."""
        target = self._managed_dir(database, name)
        if source.is_relative_to(target):
            return source  # already there
        staging = target.with_name(f".{name}.copying")
        shutil.rmtree(staging, ignore_errors=True)
        if source.is_dir():
            shutil.copytree(source, staging)
        else:
            staging.mkdir(parents=True)
            shutil.copy2(source, staging / source.name)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        return target if source.is_dir() else target / source.name


def _identifier(kind: str, name: str) -> str:
    """``name`` lowercased, when it is a plain SQL identifier."""
    if not _NAME.fullmatch(name):
        from askspark.catalog.files import table_name_for

        raise UsageError(
            f"invalid {kind} name {name!r}: use letters, digits and underscores, not starting with a digit",
            suggestion=f"for example {table_name_for(name)!r}",
        )
    return name.lower()


def _column(info: TableInfo, name: str) -> Column:
    for column in info.columns:
        if column.name == name:
            return column
    raise unknown_name(
        "column",
        f"{info.full_name}.{name}",
        [f"{info.full_name}.{c.name}" for c in info.columns],
        NotFoundError,
    )
