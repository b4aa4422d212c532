"""Catalogs: where table definitions come from, selected by a string id."""

from __future__ import annotations

import importlib

from askspark.catalog.base import Catalog, Column, TableInfo
from askspark.catalog.local import LocalCatalog
from askspark.errors import unknown_name
from askspark.settings import Settings

__all__ = ["CATALOGS", "Catalog", "Column", "LocalCatalog", "TableInfo", "get_catalog"]

CATALOGS: dict[str, str] = {
    "local": "askspark.catalog.local:LocalCatalog",
    "hive": "askspark.catalog.hive:HiveCatalog",
    "jdbc": "askspark.catalog.jdbc:JdbcCatalog",
}


def get_catalog(catalog_id: str, settings: Settings) -> Catalog:
    """Resolve a catalog id to a catalog, importing its module only when used."""
    if catalog_id not in CATALOGS:
        raise unknown_name("catalog", catalog_id, CATALOGS)
    module_name, _, factory = CATALOGS[catalog_id].partition(":")
    return getattr(importlib.import_module(module_name), factory)(settings)
