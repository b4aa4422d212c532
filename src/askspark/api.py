"""The Python API: ``askspark.ask(question, tables=[...], files=[...]) -> Answer``.

Engines and models are expensive to start (a Spark server, a 1 GB model), so one process keeps them
warm across questions and closes them at exit.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Sequence
from pathlib import Path

from askspark.catalog.base import TableInfo
from askspark.engines.base import Engine, data_dirs, get_engine
from askspark.errors import UsageError
from askspark.llm.base import LLM, get_llm
from askspark.record import Answer
from askspark.runs.loop import Listener, Run
from askspark.runs.store import RunStore
from askspark.settings import Settings, get_settings, with_overrides

_lock = threading.Lock()
_engines: dict[tuple[str, str], Engine] = {}
_llms: dict[str, LLM] = {}
_stores: dict[str, RunStore] = {}


def engine_for(engine_id: str, settings: Settings, tables: Sequence[TableInfo] = ()) -> Engine:
    """A started engine, shared by every question in this process.

    The engine may read the data of every catalog table and of ``tables`` (e.g. ad-hoc files), so a
    first question about a new file does not have to restart it.
    """
    key = (engine_id, str(settings.home))
    with _lock:
        if key not in _engines:
            _engines[key] = get_engine(engine_id, settings, data_dirs([*catalog_tables(settings), *tables]))
        return _engines[key]


def catalog_tables(settings: Settings) -> list[TableInfo]:
    from askspark.catalog.local import LocalCatalog

    catalog = LocalCatalog(settings)
    return [catalog.describe(db, t) for db in catalog.list_databases() for t in catalog.list_tables(db)]


def llm_for(model_id: str, settings: Settings) -> LLM:
    with _lock:
        if model_id not in _llms:
            _llms[model_id] = get_llm(model_id, settings)
        return _llms[model_id]


def store_for(settings: Settings) -> RunStore:
    key = str(settings.home)
    with _lock:
        if key not in _stores:
            _stores[key] = RunStore(settings.home / "runs.db")
        return _stores[key]


@atexit.register
def close_all() -> None:
    """Stop the engines this process started (a shared server from 'askspark engine start' stays up)."""
    with _lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.close()


def select_tables(
    tables: Sequence[str | TableInfo], files: Sequence[str | Path], settings: Settings
) -> list[TableInfo]:
    """Catalog tables by name (or already described, e.g. by the hive or jdbc catalog) and ad-hoc files,
    as table definitions. Unknown names raise NotFoundError."""
    from askspark.catalog.files import infer_table, table_name_for
    from askspark.catalog.local import LocalCatalog

    catalog = LocalCatalog(settings)
    selected = [t if isinstance(t, TableInfo) else catalog.resolve(t) for t in tables]
    for path in files:
        name = table_name_for(path)
        selected.append(infer_table(path, database="files", name=name, sample_values=settings.sample_values))
    if not selected:
        known = [f"{db}.{t}" for db in catalog.list_databases() for t in catalog.list_tables(db)]
        raise UsageError(
            "no data selected: name at least one table or file",
            suggestion=f"add --table DB.TABLE or --file PATH; tables in the catalog: {', '.join(known) or '(none)'}",
            available=known,
        )
    return selected


def ask(
    question: str,
    tables: Sequence[str | TableInfo] = (),
    files: Sequence[str | Path] = (),
    *,
    engine: str | Engine | None = None,
    model: str | LLM | None = None,
    max_attempts: int | None = None,
    row_limit: int | None = None,
    settings: Settings | None = None,
    listener: Listener | None = None,
) -> Answer:
    """Answer a question about the selected tables and files with PySpark code that ran.

    Args:
        question: the question in plain English.
        tables: local catalog tables as ``db.table`` (or a unique bare ``table``), or TableInfo objects
            from any catalog (``get_catalog("hive", settings).describe("sales", "orders")``).
        files: CSV, Parquet or JSON files to ask about, registered for this question only.
        engine: an engine id (default from settings: ``local``) or a started Engine.
        model: a model id (``embedded``, ``openai:NAME``, ...) or an LLM object.
        max_attempts, row_limit: override the settings of the same names for this question.
        settings: settings to use instead of the environment's.
        listener: called with ``(event, data)`` as the run progresses.

    Returns:
        The answer document; ``status`` is ``succeeded`` or ``failed``, never an empty failure.
    """
    if not question or not question.strip():
        raise UsageError("the question is empty", suggestion="ask something about the selected data")
    settings = with_overrides(settings or get_settings(), max_attempts=max_attempts, row_limit=row_limit)
    selected = select_tables(tables, files, settings)
    llm = model if isinstance(model, LLM) else llm_for(model or settings.model, settings)
    eng = (
        engine
        if engine is not None and not isinstance(engine, str)
        else engine_for(engine or settings.engine, settings, selected)
    )
    run = Run(
        question,
        selected,
        llm=llm,
        engine=eng,
        store=store_for(settings),
        settings=settings,
        listener=listener,
    )
    return run.execute()
