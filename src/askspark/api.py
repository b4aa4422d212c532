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
from askspark.engines.base import Engine, check_readable, data_dirs, get_engine
from askspark.errors import UsageError
from askspark.llm.base import LLM, get_llm
from askspark.record import Answer, ChosenTable
from askspark.runs.loop import Listener, Run
from askspark.runs.store import RunStore
from askspark.settings import Settings, get_settings, with_overrides

_lock = threading.RLock()  # re-entered: the auto engine asks for the engines it delegates to
_engines: dict[tuple[str, str, str], Engine] = {}
_llms: dict[str, LLM] = {}
_stores: dict[str, RunStore] = {}


def engine_for(engine_id: str, settings: Settings, tables: Sequence[TableInfo] = ()) -> Engine:
    """A started engine, shared by every question in this process.

    The engine may read the data of every catalog table and of ``tables`` (e.g. ad-hoc files), so a
    first question about a new file does not have to restart it.
    """
    key = (engine_id, str(settings.home), settings.remote or "")
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
    """Catalog tables by name (or already described) and ad-hoc files, as table definitions.

    A name is ``db.table`` (or a unique bare ``table``) in the default catalog (setting ``catalog``), or
    ``CATALOG:db.table`` in another one, e.g. ``glue:sales.orders``. A TableInfo (e.g. from
    ``get_catalog("hive", settings).describe(...)``) is taken as it is. Unknown names raise NotFoundError.
    """
    from askspark.catalog import resolve_table
    from askspark.catalog.files import infer_table, table_name_for

    selected = [t if isinstance(t, TableInfo) else resolve_table(t, settings) for t in tables]
    for path in files:
        name = table_name_for(path)
        selected.append(infer_table(path, database="files", name=name, sample_values=settings.sample_values))
    if not selected:
        raise _nothing_selected(settings)
    return selected


def choose_tables(question: str, settings: Settings) -> tuple[list[TableInfo], list[ChosenTable]]:
    """Tables of the default catalog picked by the question (no table or file named), and why.

    Raises:
        UsageError: the catalog is empty, or no table shares a word with the question.
    """
    from askspark.catalog import all_tables, get_catalog, resolve_table
    from askspark.context.selection import TableIndex

    candidates = all_tables(get_catalog(settings.catalog, settings))
    if not candidates:
        raise _nothing_selected(settings)
    chosen = TableIndex(candidates).choose(question, settings.auto_tables, settings.auto_min_score)
    if not chosen:
        names = [t.qualified_name for t in candidates]
        raise UsageError(
            "no table of the catalog matches the question's words",
            suggestion=f"name the tables with --table; some tables: {', '.join(names[:20])}",
            available=names[:200],
        )
    why = [
        ChosenTable(table=c.table.qualified_name, score=round(c.score, 3), reason=c.reason) for c in chosen
    ]
    # The listing may be light (no samples, no planned files): describe the chosen tables in full.
    return [resolve_table(c.table.qualified_name, settings) for c in chosen], why


def _nothing_selected(settings: Settings) -> UsageError:
    known = [t.qualified_name for t in catalog_tables(settings)]
    return UsageError(
        "no data selected: name at least one table or file",
        suggestion=f"add --table DB.TABLE or --file PATH; tables in the catalog: {', '.join(known) or '(none)'}",
        available=known,
    )


def ask(
    question: str,
    tables: Sequence[str | TableInfo] = (),
    files: Sequence[str | Path] = (),
    *,
    engine: str | Engine | None = None,
    model: str | LLM | None = None,
    max_attempts: int | None = None,
    row_limit: int | None = None,
    catalog: str | None = None,
    remote: str | None = None,
    settings: Settings | None = None,
    listener: Listener | None = None,
) -> Answer:
    """Answer a question about the selected tables and files with PySpark code that ran.

    Args:
        question: the question in plain English.
        tables: catalog tables as ``db.table`` (or a unique bare ``table``), ``CATALOG:db.table`` for a
            catalog other than the default. With no tables and no files, the tables are picked from the
            default catalog by the question (``Answer.chosen_tables`` says which and why).
            TableInfo objects from any catalog are taken as they are.
        files: CSV, Parquet or JSON files to ask about, registered for this question only.
        engine: an engine id (default from settings: ``local``) or a started Engine.
        model: a model id (``embedded``, ``openai:NAME``, ...) or an LLM object.
        max_attempts, row_limit, catalog, remote: override the settings of the same names for this
            question (``remote``: the Spark Connect endpoint of the ``connect`` engine, ``sc://host:port``).
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
        catalog=catalog,
        remote=remote,
        settings=settings,
        listener=listener,
    ).execute()


def prepare_run(
    question: str,
    tables: Sequence[str | TableInfo] = (),
    files: Sequence[str | Path] = (),
    *,
    engine: str | Engine | None = None,
    model: str | LLM | None = None,
    max_attempts: int | None = None,
    row_limit: int | None = None,
    catalog: str | None = None,
    remote: str | None = None,
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
    settings = with_overrides(
        settings or get_settings(),
        max_attempts=max_attempts,
        row_limit=row_limit,
        catalog=catalog,
        remote=remote,
    )
    start = time.perf_counter()
    chosen: list[ChosenTable] = []
    if tables or files:
        selected = select_tables(tables, files, settings)
    else:
        selected, chosen = choose_tables(question, settings)
    check_readable(
        selected,
        engine.id if engine is not None and not isinstance(engine, str) else engine or settings.engine,
    )
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
    if chosen:
        run.answer.chosen_tables = chosen
        if listener is not None:
            listener("chosen", {"tables": [c.model_dump() for c in chosen]})
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
