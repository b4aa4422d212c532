"""The checks every catalog passes, on a catalog holding a known small table set.

Each catalog's test module has a fixture yielding a :class:`KnownTables`; the checks below take it. They
are written to be folded into the parametrized catalog conformance suite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from askspark import api
from askspark.catalog.base import Catalog
from askspark.errors import NotFoundError
from askspark.llm.scripted import ScriptedLLM
from askspark.record import Answer
from askspark.settings import Settings


@dataclass
class KnownTables:
    """A catalog and what it is known to hold."""

    catalog: Catalog
    database: str
    tables: list[str]  # every table of ``database``, sorted
    table: str  # the one described in detail
    columns: dict[str, str]  # its columns: name -> Spark type
    comments: dict[str, str]  # column comments it has
    partition_columns: list[str]
    format: str
    row_count: int | None  # the estimate the catalog must report
    location_prefix: str  # where its data lives
    question: str  # asked end to end about ``table``
    code: str  # the scripted model's answer
    expected_rows: list[list[Any]]
    table_comment: str | None = None
    other_databases: list[str] = field(default_factory=list)


def check_lists(known: KnownTables) -> None:
    databases = known.catalog.list_databases()
    assert known.database in databases and set(known.other_databases) <= set(databases)
    assert known.catalog.list_tables(known.database) == known.tables


def check_describe(known: KnownTables) -> None:
    info = known.catalog.describe(known.database, known.table)
    assert (info.database, info.name) == (known.database, known.table)
    assert {c.name: c.type for c in info.columns} == known.columns
    assert {c.name: c.comment for c in info.columns if c.name in known.comments} == known.comments
    assert info.partition_columns == known.partition_columns
    assert info.format == known.format
    assert info.location.startswith(known.location_prefix), info.location
    assert info.row_count == known.row_count
    assert info.comment == known.table_comment


def check_unknown(known: KnownTables) -> None:
    typo = known.table[:-1] + "x"
    with pytest.raises(NotFoundError) as err:
        known.catalog.describe(known.database, typo)
    assert err.value.suggestion and f"{known.database}.{known.table}" in err.value.suggestion
    with pytest.raises(NotFoundError):
        known.catalog.list_tables(known.database + "_nope")


def check_answer(known: KnownTables, engine: Any, settings: Settings) -> tuple[Answer, ScriptedLLM]:
    """A question answered end to end on the local engine, the model scripted."""
    info = known.catalog.describe(known.database, known.table)
    llm = ScriptedLLM(replies=[f"```python\n{known.code.strip()}\n```"])
    answer = api.ask(known.question, [info], engine=engine, model=llm, settings=settings)
    assert answer.status == "succeeded", answer.error
    assert answer.result is not None
    assert answer.result.rows == known.expected_rows
    return answer, llm
