"""Development datasets for the accuracy suites, generated deterministically (same bytes every run).

Each dataset is one module here with ``generate(settings) -> list[TableInfo]``: it writes its tables
as Parquet under the warehouse and registers them in the local catalog as database ``NAME``. The
registry maps a database name to its generator, so ``askspark eval`` can create whatever a suite
needs and ``askspark catalog dataset NAME`` can (re)generate one by hand.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from askspark.errors import unknown_name

if TYPE_CHECKING:
    from askspark.catalog.base import TableInfo
    from askspark.settings import Settings

# database name -> "module:function"; northwind and tpch keep their own modules.
DATASETS: dict[str, str] = {
    "northwind": "askspark.catalog.sample:generate_northwind",
    "events": "askspark.catalog.devsets.events:generate",
    "retail": "askspark.catalog.devsets.retail:generate",
    "clinic": "askspark.catalog.devsets.clinic:generate",
    "sensors": "askspark.catalog.devsets.sensors:generate",
}


def generate(name: str, settings: Settings) -> list[TableInfo]:
    """Write and register dataset ``name``; an unknown name says which exist."""
    if name not in DATASETS:
        raise unknown_name("dataset", name, DATASETS)
    module_name, _, function = DATASETS[name].partition(":")
    return getattr(importlib.import_module(module_name), function)(settings)  # type: ignore[no-any-return]
