"""What every catalog returns: table definitions the context and the engines can use."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, Field


class Column(BaseModel):
    """One column of a table. ``type`` is a Spark SQL type string (``bigint``, ``decimal(10,2)``, ...)."""

    name: str
    type: str
    nullable: bool = True
    comment: str | None = None
    samples: list[str] = Field(default_factory=list)


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

    @property
    def full_name(self) -> str:
        return f"{self.database}.{self.name}"

    def schema_ddl(self) -> str:
        """The schema as Spark DDL (``\\`a\\` bigint, \\`b\\` string``) for readers and empty stand-ins."""
        return ", ".join(f"`{c.name.replace('`', '``')}` {c.type}" for c in self.columns)


class Catalog(Protocol):
    """A source of table definitions, selected by a string id."""

    id: str

    def list_databases(self) -> list[str]: ...

    def list_tables(self, database: str) -> list[str]: ...

    def describe(self, database: str, table: str) -> TableInfo:
        """The table's definition; raises NotFoundError naming the known tables when missing."""
        ...
