"""Catalogs: where table definitions come from, selected by a string id.

A table is named ``db.table`` (or a bare ``table`` when one database has it) in the default catalog
(setting ``catalog``), or ``CATALOG:db.table`` in any other, e.g. ``glue:sales.orders``. The CLI and the
Python API take the same names.
"""

from __future__ import annotations

import importlib
import re

from askspark.catalog.base import Catalog, Column, TableInfo
from askspark.catalog.local import LocalCatalog
from askspark.errors import unknown_name
from askspark.settings import Settings

__all__ = [
    "CATALOGS",
    "Catalog",
    "Column",
    "LocalCatalog",
    "TableInfo",
    "all_tables",
    "get_catalog",
    "resolve_table",
    "split_catalog",
]

CATALOGS: dict[str, str] = {
    "local": "askspark.catalog.local:LocalCatalog",
    "glue": "askspark.catalog.glue:GlueCatalog",
    "iceberg": "askspark.catalog.iceberg:IcebergCatalog",
    "hive": "askspark.catalog.hive:HiveCatalog",
    "jdbc": "askspark.catalog.jdbc:JdbcCatalog",
}

_PREFIX = re.compile(r"([A-Za-z][A-Za-z0-9_-]*):(.+)")


def get_catalog(catalog_id: str, settings: Settings) -> Catalog:
    """Resolve a catalog id to a catalog, importing its module only when used."""
    if catalog_id not in CATALOGS:
        raise unknown_name("catalog", catalog_id, CATALOGS)
    module_name, _, factory = CATALOGS[catalog_id].partition(":")
    return getattr(importlib.import_module(module_name), factory)(settings)  # type: ignore[no-any-return]


def split_catalog(name: str, default: str) -> tuple[str, str]:
    """``("glue", "sales.orders")`` for ``glue:sales.orders``; the default catalog for an unprefixed name."""
    match = _PREFIX.fullmatch(name.strip())
    return (match.group(1), match.group(2)) if match else (default, name.strip())


def resolve_table(name: str, settings: Settings, catalog_id: str | None = None) -> TableInfo:
    """The table named ``[CATALOG:]db.table`` or ``[CATALOG:]table`` (unique bare name).

    Raises:
        UsageError: an unknown catalog id (with did-you-mean) or an ambiguous bare name.
        NotFoundError: no such database or table (naming the closest ones).
    """
    catalog_id, rest = split_catalog(name, catalog_id or settings.catalog)
    catalog = get_catalog(catalog_id, settings)
    info = catalog.resolve(rest)
    info.catalog = catalog_id
    return info


def all_tables(catalog: Catalog) -> list[TableInfo]:
    """Every table of the catalog, described, each tagged with the catalog's id."""
    tables = catalog.describe_all()
    for t in tables:
        t.catalog = catalog.id
    return tables
