"""Started engines, shared by every question in this process and closed at exit.

Engines are expensive to start (a Spark server, a Ray runtime), so one process keeps each warm. The cache
lives here, below the API, so an engine that delegates to others (``auto``, ``emr-serverless``'s dry run)
asks for them without importing the layers above it.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Sequence

from askspark.catalog.base import TableInfo
from askspark.engines.base import Engine, data_dirs, get_engine
from askspark.settings import Settings

_lock = threading.RLock()  # re-entered: the auto engine asks for the engines it delegates to
_engines: dict[tuple[str, str, str], Engine] = {}


def engine_for(engine_id: str, settings: Settings, tables: Sequence[TableInfo] = ()) -> Engine:
    """A started engine, shared by every question in this process.

    The engine may read the data of every local catalog table and of ``tables`` (e.g. ad-hoc files), so a
    first question about a new file does not have to restart it.
    """
    key = (engine_id, str(settings.home), settings.remote or "")
    with _lock:
        if key not in _engines:
            _engines[key] = get_engine(engine_id, settings, data_dirs([*catalog_tables(settings), *tables]))
        return _engines[key]


def catalog_tables(settings: Settings) -> list[TableInfo]:
    """Every table of the local catalog, described (their directories are what a local engine reads)."""
    from askspark.catalog.local import LocalCatalog

    catalog = LocalCatalog(settings)
    return [catalog.describe(db, t) for db in catalog.list_databases() for t in catalog.list_tables(db)]


def close_engines(engine_id: str | None = None) -> None:
    """Stop the cached engines (of one id, or all); a shared server from 'askspark engine start' stays up."""
    with _lock:
        keys = [k for k in _engines if engine_id is None or k[0] == engine_id]
        engines = [_engines.pop(k) for k in keys]
    for engine in engines:
        engine.close()


@atexit.register
def close_all() -> None:
    """Stop every engine this process started."""
    close_engines()
