"""Knowledge: a small semantic layer a team writes about its data, stored with the catalog.

An entry is attached to a database (``retail``), a table (``retail.sales``) or a column
(``retail.sales.amount``) and says what the catalog cannot: a description, synonyms people use, a
business term with its definition and, where it has one, a Spark SQL expression
(``net revenue = amount - discount``), and join paths (``sales.product_id = products.id``).

The local catalog keeps its knowledge in its own ``catalog.db``; any other catalog (Glue, Hive,
Iceberg, JDBC: someone else's metastore, which askspark must not write to) in
``HOME/knowledge/CATALOG.db``. The same SQLite table in both. A YAML file of entries (``askspark
knowledge export`` / ``import``) is what a team keeps in git::

    catalog: local
    entries:
      - target: retail.sales
        description: One row per sale line.
        synonyms: [transactions]
      - target: retail.sales
        term: net revenue
        description: Revenue after discounts.
        expression: amount - discount
      - target: retail
        joins: ["sales.product_id = products.id"]

Unknown keys are refused (``extra="forbid"``) with the file, entry and key named.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from askspark.errors import NotFoundError, StoreUnavailableError, UsageError, unknown_name
from askspark.settings import Settings

_SCHEMA = """
CREATE TABLE IF NOT EXISTS knowledge (
    catalog TEXT NOT NULL,
    target TEXT NOT NULL,
    term TEXT NOT NULL,
    entry TEXT NOT NULL,
    PRIMARY KEY (catalog, target, term)
)
"""
_TARGET = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}")
_JOIN = re.compile(r"\s*[\w.`]+\s*=\s*[\w.`]+\s*")


class Entry(BaseModel):
    """One piece of knowledge about a database, a table or a column."""

    model_config = ConfigDict(extra="forbid")

    target: str = Field(description="db, db.table or db.table.column the entry is about")
    term: str | None = Field(
        default=None, description="a business term defined on the target; none: about the target"
    )
    description: str | None = Field(
        default=None, description="what the target holds, or the term's definition"
    )
    synonyms: list[str] = Field(default_factory=list, description="other words people use for it")
    expression: str | None = Field(default=None, description="the term as a Spark SQL expression")
    joins: list[str] = Field(default_factory=list, description="join paths, 'a.x = b.y'")

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        if not _TARGET.fullmatch(value.strip()):
            raise ValueError(f"target {value!r} must be db, db.table or db.table.column")
        return value.strip().lower()

    @field_validator("term")
    @classmethod
    def _term(cls, value: str | None) -> str | None:
        value = " ".join(value.split()) if value else None
        return value or None

    @field_validator("joins")
    @classmethod
    def _joins(cls, value: list[str]) -> list[str]:
        bad = [j for j in value if not _JOIN.fullmatch(j)]
        if bad:
            raise ValueError(f"join {bad[0]!r} must read 'table.column = table.column'")
        return [" ".join(j.split()) for j in value]

    @property
    def id(self) -> str:
        """``db.table`` for an entry about the target, ``db.table#term`` for a term."""
        return f"{self.target}#{self.term}" if self.term else self.target

    @property
    def database(self) -> str:
        return self.target.split(".")[0]

    @property
    def table(self) -> str | None:
        """``db.table`` of a table or column entry, None for a database entry."""
        parts = self.target.split(".")
        return ".".join(parts[:2]) if len(parts) > 1 else None

    def is_empty(self) -> bool:
        return not (self.description or self.synonyms or self.expression or self.joins)


class KnowledgeFile(BaseModel):
    """The YAML document of ``export`` and ``import``."""

    model_config = ConfigDict(extra="forbid")

    catalog: str = "local"
    entries: list[Entry] = Field(default_factory=list)


def split_id(entry_id: str) -> tuple[str, str | None]:
    """``("retail.sales", "net revenue")`` for ``retail.sales#net revenue``."""
    target, _, term = entry_id.partition("#")
    return target.strip().lower(), (" ".join(term.split()) or None)


class KnowledgeStore:
    """The knowledge entries of one catalog, in SQLite (see the module docstring for where)."""

    def __init__(self, settings: Settings, catalog: str = "local") -> None:
        self.catalog = catalog
        name = "catalog.db" if catalog == "local" else f"knowledge/{catalog}.db"
        self.path = settings.home / name
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection; SQLite's errors (disk full, read-only, locked) as the one error shape."""
        try:
            with closing(sqlite3.connect(self.path, timeout=30)) as conn, conn:
                yield conn
        except sqlite3.OperationalError as exc:
            raise StoreUnavailableError(
                f"the knowledge store {self.path} cannot be used: {exc}",
                suggestion="free space on its disk, make it writable, or stop the process holding its lock",
                reason=type(exc).__name__,
            ) from exc

    def entries(self, target: str | None = None) -> list[Entry]:
        """Every entry, or those about ``target`` and what is below it, sorted by id."""
        with self._connect() as conn:
            rows = conn.execute("SELECT entry FROM knowledge WHERE catalog = ?", (self.catalog,)).fetchall()
        entries = sorted((Entry.model_validate_json(r[0]) for r in rows), key=lambda e: e.id)
        if target:
            target = target.lower()
            entries = [e for e in entries if e.target == target or e.target.startswith(f"{target}.")]
        return entries

    def get(self, entry_id: str) -> Entry:
        """The entry ``db.table`` or ``db.table#term``; NotFoundError naming the closest ids."""
        target, term = split_id(entry_id)
        with self._connect() as conn:
            row = conn.execute(
                "SELECT entry FROM knowledge WHERE catalog = ? AND target = ? AND term = ?",
                (self.catalog, target, term or ""),
            ).fetchone()
        if row is None:
            raise unknown_name("knowledge entry", entry_id, [e.id for e in self.entries()], NotFoundError)
        return Entry.model_validate_json(row[0])

    def put(self, entry: Entry) -> Entry:
        """Add the entry, or replace the one with the same target and term."""
        if entry.is_empty():
            raise UsageError(
                f"knowledge entry {entry.id!r} says nothing",
                suggestion="give a description, synonyms, an expression or joins",
            )
        with self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO knowledge VALUES (?, ?, ?, ?)",
                (self.catalog, entry.target, entry.term or "", entry.model_dump_json(exclude_defaults=True)),
            )
        return entry

    def remove(self, entry_id: str) -> Entry:
        entry = self.get(entry_id)
        with self._connect() as conn:
            conn.execute(
                "DELETE FROM knowledge WHERE catalog = ? AND target = ? AND term = ?",
                (self.catalog, entry.target, entry.term or ""),
            )
        return entry

    def replace_all(self, entries: Sequence[Entry]) -> None:
        """The catalog's knowledge becomes exactly ``entries`` (an import with ``--replace``)."""
        with self._connect() as conn:
            conn.execute("DELETE FROM knowledge WHERE catalog = ?", (self.catalog,))
        for entry in entries:
            self.put(entry)


def load_knowledge(settings: Settings, catalogs: Sequence[str]) -> list[Entry]:
    """Every entry of the given catalogs (each catalog's store read once)."""
    return [e for c in dict.fromkeys(catalogs) for e in KnowledgeStore(settings, c).entries()]


# --- YAML -----------------------------------------------------------------------------------------


def parse_yaml(text: str, source: str = "knowledge file") -> KnowledgeFile:
    """A knowledge file from YAML text; a clear UsageError naming the entry and key when it is wrong."""
    import yaml

    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"{source}: not valid YAML: {exc}", suggestion="check the indentation") from None
    if isinstance(data, list):  # a bare list of entries is fine too
        data = {"entries": data}
    if not isinstance(data, dict):
        raise UsageError(f"{source}: expected a mapping with 'entries'", suggestion=_EXAMPLE)
    try:
        return KnowledgeFile.model_validate(data)
    except ValidationError as exc:
        raise UsageError(f"{source}: {_first_error(exc)}", suggestion=_EXAMPLE) from None


_EXAMPLE = (
    "each entry takes target, term, description, synonyms, expression, joins; e.g. "
    "{target: retail.sales, term: net revenue, expression: amount - discount}"
)


def _first_error(exc: ValidationError) -> str:
    """'entries[2]: unknown key 'defintion'' from pydantic's first error."""
    first = exc.errors()[0]
    loc = first["loc"]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    if first["type"] == "extra_forbidden":
        parent = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[:-1]).lstrip(".")
        return f"{parent or 'top level'}: unknown key {loc[-1]!r}"
    return f"{where}: {first['msg']}" if where else first["msg"]


def dump_yaml(entries: Sequence[Entry], catalog: str = "local") -> str:
    """The entries as a YAML document ``parse_yaml`` reads back to the same entries."""
    import yaml

    doc = {"catalog": catalog, "entries": [e.model_dump(exclude_defaults=True) for e in entries]}
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def read_file(path: str | Path) -> KnowledgeFile:
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(
            f"knowledge file {str(path)!r} does not exist", suggestion="check the path"
        ) from None
    return parse_yaml(text, str(path))


def from_comments(tables: Sequence[Any]) -> list[Entry]:
    """Description entries from the comments a catalog already holds (Glue descriptions, Hive and
    Iceberg table and column comments), so they can be kept, edited and exported with the rest."""
    entries = []
    for t in tables:
        if t.comment:
            entries.append(Entry(target=t.full_name, description=t.comment))
        entries += [
            Entry(target=f"{t.full_name}.{c.name}", description=c.comment)
            for c in t.columns
            if c.comment and _TARGET.fullmatch(f"{t.full_name}.{c.name}")
        ]
    return entries


def check_target(entry: Entry, settings: Settings, catalog: str) -> None:
    """NotFoundError (naming the closest) when the entry's database, table or column does not exist.

    Checked for the local catalog only: another catalog is someone else's service, and an entry written
    ahead of a table it describes is harmless (only entries about selected tables are ever shown).
    """
    if catalog != "local":
        return
    from askspark.catalog.local import LocalCatalog

    local = LocalCatalog(settings)
    if entry.table is None:
        if entry.database not in local.list_databases():
            raise unknown_name("database", entry.database, local.list_databases(), NotFoundError)
        return
    database, _, name = entry.table.partition(".")
    info = local.describe(database, name)
    column = entry.target.split(".")[2] if entry.target.count(".") == 2 else None
    names = {c.name.lower(): c.name for c in info.columns}
    if column is not None and column not in names:
        known = [f"{info.full_name}.{n}" for n in names.values()]
        raise unknown_name("column", entry.target, known, NotFoundError)
