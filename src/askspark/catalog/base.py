"""What every catalog returns: table definitions the context and the engines can use."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, Field

from askspark.errors import NotFoundError, UsageError, unknown_name


class Column(BaseModel):
    """One column of a table. ``type`` is a Spark SQL type string (``bigint``, ``decimal(10,2)``, ...)."""

    name: str
    type: str
    nullable: bool = True
    comment: str | None = None
    samples: list[str] = Field(default_factory=list)
    # Every distinct value of a low-cardinality text column (bounded when gathered); None when unknown
    # or when there are too many to list. Shown to the model under the privacy setting, like samples.
    values: list[str] | None = None


class TableInfo(BaseModel):
    """A table's full definition: enough to prompt a model and to bind the data on any engine."""

    database: str
    name: str
    columns: list[Column]
    format: str  # parquet | csv | json
    location: str  # a directory or file path (or URI) the engine can read
    options: dict[str, str] = Field(default_factory=dict)  # reader options, e.g. header for CSV
    partition_columns: list[str] = Field(default_factory=list)
    row_count: int | None = None
    comment: str | None = None
    catalog: str = "local"  # the id of the catalog the table came from
    # Explicit data files to read instead of ``location`` (Iceberg: the files of one snapshot);
    # None reads ``location``, an empty list is an empty table.
    paths: list[str] | None = None
    # Parquet field ids by top-level column: the engine reads columns by id, not by name, so a renamed
    # column of an Iceberg table still finds its data in files written before the rename.
    field_ids: dict[str, int] = Field(default_factory=dict)
    # Declared foreign keys: column -> "table.column" it references (a catalog's constraints, or the
    # user's); the context shows them as join conditions when both tables are selected.
    foreign_keys: dict[str, str] = Field(default_factory=dict)
    # Catalog-specific facts shown by ``askspark catalog describe`` (Iceberg: snapshots, partition spec).
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.database}.{self.name}"

    @property
    def qualified_name(self) -> str:
        """``db.table`` for the local catalog, ``catalog:db.table`` for any other."""
        return self.full_name if self.catalog == "local" else f"{self.catalog}:{self.full_name}"

    def schema_ddl(self) -> str:
        """The schema as Spark DDL (``\\`a\\` bigint, \\`b\\` string``) for readers and empty stand-ins."""
        return ", ".join(f"`{c.name.replace('`', '``')}` {c.type}" for c in self.columns)


class Catalog(Protocol):
    """A source of table definitions, selected by a string id.

    Every method the code calls on a catalog is declared here. ``resolve`` and ``describe_all`` have
    defaults built on the three required methods: a catalog subclasses this protocol to inherit them
    and overrides one where it knows better (a faster lookup, snapshot names, one batched call).
    """

    id: str

    def list_databases(self) -> list[str]: ...

    def list_tables(self, database: str) -> list[str]: ...

    def describe(self, database: str, table: str) -> TableInfo:
        """The table's definition; raises NotFoundError naming the known tables when missing."""
        ...

    def resolve(self, name: str) -> TableInfo:
        """``db.table`` through describe; a bare name searched in every database.

        Raises:
            NotFoundError: no such table (naming the closest ones).
            UsageError: a bare name that more than one database has.
        """
        if "." in name:
            database, _, table = name.partition(".")
            return self.describe(database, table)
        full = [f"{db}.{t}" for db in self.list_databases() for t in self.list_tables(db)]
        matches = [f for f in full if f.split(".", 1)[1].lower() == name.lower()]
        if not matches:
            raise unknown_name("table", name, full, NotFoundError)
        if len(matches) > 1:
            raise UsageError(
                f"table name {name!r} is ambiguous: {', '.join(matches)}",
                suggestion=f"name it with its database, e.g. {matches[0]}",
                candidates=matches,
            )
        database, _, table = matches[0].partition(".")
        return self.describe(database, table)

    def describe_all(self) -> list[TableInfo]:
        """Every table of the catalog, described (a catalog with a batched call overrides this)."""
        return [self.describe(db, t) for db in self.list_databases() for t in self.list_tables(db)]
