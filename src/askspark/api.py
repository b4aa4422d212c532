"""The Python API: ``askspark.ask(question, tables=[...], files=[...]) -> Answer``.

Every interface (this one, the CLI, the HTTP API) builds one :class:`~askspark.request.Request` and hands
it to :func:`prepare`. Engines, models and run stores are expensive to start, so one process keeps them
warm across questions (their caches live below this module) and closes the engines at exit.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from askspark.catalog.base import TableInfo
from askspark.catalog.s3 import localize
from askspark.engines.base import ENGINES, Engine, check_readable
from askspark.engines.cache import catalog_tables, close_all, engine_for
from askspark.errors import UsageError, unknown_name
from askspark.llm.base import LLM, PROVIDERS
from askspark.llm.cache import llm_for
from askspark.record import Answer, ChosenTable
from askspark.request import Request
from askspark.runs import memory
from askspark.runs.loop import Listener, Run
from askspark.runs.store import store_for
from askspark.settings import Settings, get_settings

# Re-exported: callers reach the process's caches through the API.
__all__ = [
    "Request",
    "Selection",
    "ask",
    "catalog_tables",
    "choose_tables",
    "close_all",
    "engine_for",
    "llm_for",
    "prepare",
    "run_code",
    "select",
    "select_tables",
    "store_for",
]


def select_tables(
    tables: Sequence[str | TableInfo], files: Sequence[str | Path], settings: Settings
) -> list[TableInfo]:
    """Catalog tables by name (or already described) and ad-hoc files, as table definitions.

    A name is ``db.table`` (or a unique bare ``table``) in the default catalog (setting ``catalog``), or
    ``CATALOG:db.table`` in another one, e.g. ``glue:sales.orders``. A TableInfo (e.g. from
    ``get_catalog("hive", settings).describe(...)``) is taken as it is. Unknown names raise NotFoundError.
    """
    from askspark.catalog import resolve_table

    selected = [t if isinstance(t, TableInfo) else resolve_table(t, settings) for t in tables]
    for path in files:
        selected.append(_file_table(path, settings))
    if not selected:
        raise _nothing_selected(settings)
    return selected


def _file_table(path: str | Path, settings: Settings) -> TableInfo:
    """An ad-hoc file as a table; an ``s3://`` file is read (schema, samples) from its cached copy."""
    from askspark.catalog import s3
    from askspark.catalog.files import infer_table, table_name_for

    if not s3.is_s3(path):
        return infer_table(
            path, database="files", name=table_name_for(path), sample_values=settings.sample_values
        )
    return s3.describe_file(str(path), settings, table_name_for(s3.file_name(str(path))))


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
    settings: Settings | None = None,
    listener: Listener | None = None,
    **options: Any,
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
        settings: settings to use instead of the environment's.
        listener: called with ``(event, data)`` as the run progresses.
        options: the other fields of :class:`~askspark.request.Request`: ``max_attempts``,
            ``row_limit``, ``catalog`` and ``remote`` override the settings of the same names for this
            question (``remote``: the Spark Connect endpoint of the ``connect`` engine, ``sc://host:port``);
            ``code`` runs given code instead of asking the model (see :func:`run_code`).

    Returns:
        The answer document; ``status`` is ``succeeded`` or ``failed``, never an empty failure.
    """
    # An id goes into the request (it overrides the setting); a started engine or model is used as it is.
    named = {"engine": engine, "model": model}
    ids = {k: v for k, v in named.items() if isinstance(v, str)}
    request = Request.of(question, tables, files, **ids, **options)
    started_engine = None if engine is None or isinstance(engine, str) else engine
    llm = None if model is None or isinstance(model, str) else model
    run = prepare(request, settings, listener, engine=started_engine, llm=llm)
    return execute(run, request)


def run_code(
    code: str,
    question: str,
    tables: Sequence[str | TableInfo] = (),
    files: Sequence[str | Path] = (),
    *,
    rerun_of: str | None = None,
    **options: Any,
) -> Answer:
    """Run code a person wrote or edited (e.g. the UI's edited answer) on the selected tables.

    It is untrusted like the model's code: static validation, dry run and the sandbox, one attempt,
    recorded as a new run (``model`` is ``user-code``; ``rerun_of`` names the run it was edited from).
    ``options`` are :func:`ask`'s keyword arguments.
    """
    return ask(question, tables, files, code=code, rerun_of=rerun_of, **options)


@dataclass
class Selection:
    """The tables a request runs on, resolved once, and how long the catalog took."""

    tables: list[TableInfo]
    chosen: list[ChosenTable] = field(default_factory=list)  # when picked by the question: which and why
    seconds: float = 0.0


def select(
    request: Request, settings: Settings, *, engine: Engine | None = None, llm: LLM | None = None
) -> Selection:
    """Resolve the request's tables (named, described, files, or picked by the question) and check what
    can be checked before running: the engine can read them, the engine and model provider exist.

    ``settings`` are the request's (:meth:`Request.settings`). An interface that accepts a run before
    running it (HTTP) calls this to refuse bad input at once, and hands the selection to :func:`prepare`.

    Raises:
        UsageError, NotFoundError: unknown tables, files, engine or model provider; unreadable tables.
    """
    request.check()
    if engine is None and settings.engine not in ENGINES:
        raise unknown_name("engine", settings.engine, ENGINES)
    provider = settings.model.partition(":")[0]
    if llm is None and request.code is None and provider not in PROVIDERS:
        raise unknown_name("model provider", provider, PROVIDERS)
    start = time.perf_counter()
    parent = follow_up_parent(request, settings)
    if request.names_data:
        selection = Selection(select_tables([*request.described, *request.tables], request.files, settings))
    elif parent is not None:  # "now split that by region" names no table: the earlier run's tables
        selection = Selection(select_tables(memory.parent_tables(parent), [], settings))
    else:
        selection = Selection(*choose_tables(request.question, settings))
    if parent is not None:
        memory.check_same_catalog(parent, selection.tables)
    engine_id = engine.id if engine is not None else settings.engine
    selection.tables = localize(selection.tables, settings, engine_id)  # s3:// data: the local cache
    check_readable(selection.tables, engine_id)
    selection.seconds = time.perf_counter() - start
    return selection


def follow_up_parent(request: Request, settings: Settings) -> Answer | None:
    """The run a follow-up question continues (checked), or None for a new question."""
    if request.follow_up is None:
        return None
    return memory.parent_of(store_for(settings), request.follow_up, request.catalog, settings)


def prepare(
    request: Request,
    settings: Settings | None = None,
    listener: Listener | None = None,
    run_id: str | None = None,
    *,
    engine: Engine | None = None,
    llm: LLM | None = None,
    selection: Selection | None = None,
) -> Run:
    """A run of ``request`` ready to execute (:func:`execute`); bad input raises now, not later.

    ``engine`` and ``llm`` are started parts to use instead of the ids of the request and settings;
    ``selection`` the request's tables when already resolved by :func:`select`. A request with ``code``
    loads no model.
    """
    settings = request.settings(settings or get_settings())
    if selection is None:
        selection = select(request, settings, engine=engine, llm=llm)
    if llm is None and request.code is None:
        llm = llm_for(settings.model, settings)
    start = time.perf_counter()
    engine = engine or engine_for(settings.engine, settings, selection.tables)
    engine_seconds = time.perf_counter() - start
    run = Run(
        request.question,
        selection.tables,
        llm=llm,
        engine=engine,
        store=store_for(settings),
        settings=settings,
        listener=listener,
        run_id=run_id,
        knowledge=knowledge_for(selection.tables, settings),
    )
    run.answer.timings |= {"catalog": selection.seconds, "engine": engine_seconds}
    memory.attach(run, request)  # a follow-up's earlier turns; verified answers like the question
    if selection.chosen:
        run.answer.chosen_tables = selection.chosen
        if listener is not None:
            listener("chosen", {"tables": [c.model_dump() for c in selection.chosen]})
    return run


def knowledge_for(tables: Sequence[TableInfo], settings: Settings) -> list[Any]:
    """The knowledge entries of the selected tables' catalogs (none when the setting is off)."""
    from askspark.catalog.knowledge import load_knowledge

    return load_knowledge(settings, [t.catalog for t in tables]) if settings.knowledge else []


def execute(run: Run, request: Request) -> Answer:
    """Run the prepared run: the repair loop, or one attempt of the request's given code."""
    if request.code is not None:
        return run.execute_code(request.code, request.rerun_of)
    return run.execute()
