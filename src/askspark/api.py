"""The Python API: ``askspark.ask(question, tables=[...], files=[...]) -> Answer``.

Engines and models are expensive to start (a Spark server, a 1 GB model), so one process keeps them
warm across questions and closes them at exit.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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


def select_tables(tables: Sequence[str], files: Sequence[str | Path], settings: Settings) -> list[TableInfo]:
    """Catalog tables by name and ad-hoc files, as table definitions. Unknown names raise NotFoundError."""
    from askspark.catalog.files import infer_table, table_name_for
    from askspark.catalog.local import LocalCatalog

    catalog = LocalCatalog(settings)
    selected = [catalog.resolve(name) for name in tables]
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
    tables: Sequence[str] = (),
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
        tables: catalog tables as ``db.table`` (or a unique bare ``table``).
        files: CSV, Parquet or JSON files to ask about, registered for this question only.
        engine: an engine id (default from settings: ``local``) or a started Engine.
        model: a model id (``embedded``, ``openai:NAME``, ...) or an LLM object.
        max_attempts, row_limit: override the settings of the same names for this question.
        settings: settings to use instead of the environment's.
        listener: called with ``(event, data)`` as the run progresses.

    Returns:
        The answer document; ``status`` is ``succeeded`` or ``failed``, never an empty failure.
    """
    return prepare_run(
        question,
        tables,
        files,
        engine=engine,
        model=model,
        max_attempts=max_attempts,
        row_limit=row_limit,
        settings=settings,
        listener=listener,
    ).execute()


def prepare_run(
    question: str,
    tables: Sequence[str] = (),
    files: Sequence[str | Path] = (),
    *,
    engine: str | Engine | None = None,
    model: str | LLM | None = None,
    max_attempts: int | None = None,
    row_limit: int | None = None,
    settings: Settings | None = None,
    listener: Listener | None = None,
    run_id: str | None = None,
    with_model: bool = True,
) -> Run:
    """A run ready to execute, with the arguments of :func:`ask`; bad input raises now, not later.

    ``with_model=False`` prepares a run of given code (:meth:`Run.execute_code`): no model is loaded.
    """
    if not question or not question.strip():
        raise UsageError("the question is empty", suggestion="ask something about the selected data")
    settings = with_overrides(settings or get_settings(), max_attempts=max_attempts, row_limit=row_limit)
    start = time.perf_counter()
    selected = select_tables(tables, files, settings)
    catalog_seconds = time.perf_counter() - start
    llm = None
    if with_model:
        llm = model if isinstance(model, LLM) else llm_for(model or settings.model, settings)
    start = time.perf_counter()
    eng = (
        engine
        if engine is not None and not isinstance(engine, str)
        else engine_for(engine or settings.engine, settings, selected)
    )
    engine_seconds = time.perf_counter() - start
    run = Run(
        question,
        selected,
        llm=llm,
        engine=eng,
        store=store_for(settings),
        settings=settings,
        listener=listener,
        run_id=run_id,
    )
    run.answer.timings |= {"catalog": catalog_seconds, "engine": engine_seconds}
    return run


def run_code(
    code: str,
    question: str,
    tables: Sequence[str] = (),
    files: Sequence[str | Path] = (),
    *,
    rerun_of: str | None = None,
    **options: Any,
) -> Answer:
    """Run code a person wrote or edited (e.g. the UI's edited answer) on the selected tables.

    It is untrusted like the model's code: static validation, dry run and the sandbox, one attempt,
    recorded as a new run (``model`` is ``user-code``; ``rerun_of`` names the run it was edited from).
    ``options`` are :func:`prepare_run`'s keyword arguments.
    """
    if not code or not code.strip():
        raise UsageError("the code is empty", suggestion="give a function def answer(spark, tables): ...")
    return prepare_run(question, tables, files, with_model=False, **options).execute_code(code, rerun_of)
