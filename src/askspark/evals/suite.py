"""Evaluation suites: questions with a reference answer, one JSON object per line (``.jsonl``).

Each line::

    {"id": "orders-per-country", "question": "How many orders per country?",
     "tables": ["northwind.orders"],
     "reference": "def answer(spark, tables):\\n    return ...",   # or "expected": {...}
     "ordered": false, "tolerance": 1e-6, "tags": ["heldout", "aggregate"]}

An ``"unanswerable": true`` question (no reference) is right when the answer's status is
``needs_clarification``: the data lacks a column, table, value or term the question needs.

``reference`` is Python code under the answer contract; the harness runs it through the same engine
to get the expected result. ``expected`` (``{"columns": [...], "rows": [[...], ...]}``) gives the
result inline instead. A question may have both: then ``expected`` is the expectation (e.g. another
engine's answer, as in the TPC-H suite, whose rows come from DuckDB) and ``reference`` is only what the
``reference`` model answers, so running the suite with it checks the reference against the expectation.
Blank lines and lines starting with ``#`` or ``//`` are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_validator

from askspark.errors import NotFoundError, UsageError

DEFAULT_TOLERANCE = 1e-6


class Expected(BaseModel):
    """A result given inline: column names (informative only) and rows."""

    columns: list[str] = Field(default_factory=list)
    rows: list[list[Any]]


class Question(BaseModel):
    """One suite question. The model only ever sees ``question`` and ``tables``."""

    id: str
    question: str
    tables: list[str]
    reference: str | None = None
    expected: Expected | None = None
    ordered: bool = False
    tolerance: float = Field(DEFAULT_TOLERANCE, ge=0)
    tags: list[str] = Field(default_factory=list)
    notes: str | None = None  # for suite authors; never shown to the model
    # The selected data cannot answer it: right when the answer is needs_clarification (no reference).
    unanswerable: bool = False

    @model_validator(mode="after")
    def _one_answer(self) -> Question:
        if self.reference is None and self.expected is None and not self.unanswerable:
            raise ValueError("give 'reference' (code), 'expected' (a result) or both")
        if not self.tables:
            raise ValueError("name at least one table")
        if not self.question.strip():
            raise ValueError("the question is empty")
        return self


def load_suite(path: str | Path) -> list[Question]:
    """The questions of a ``.jsonl`` suite, in file order; ids must be unique.

    Raises:
        NotFoundError: the file does not exist.
        UsageError: a line is not valid JSON or not a valid question (the line number is named).
    """
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"suite file {str(path)!r} does not exist", suggestion="check the path") from None
    questions: list[Question] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "//")):
            continue
        try:
            question = Question.model_validate(json.loads(stripped))
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{number}: not valid JSON: {exc.msg}", line=number) from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            message = f"{where}: {first['msg']}" if where else first["msg"]
            raise UsageError(f"{path}:{number}: invalid question: {message}", line=number) from None
        if question.id in seen:
            raise UsageError(f"{path}:{number}: duplicate question id {question.id!r}", line=number)
        seen.add(question.id)
        questions.append(question)
    if not questions:
        raise UsageError(f"suite file {str(path)!r} holds no questions")
    return questions


def select(
    questions: Sequence[Question],
    tags: Iterable[str] = (),
    ids: Iterable[str] = (),
    limit: int | None = None,
) -> list[Question]:
    """Questions carrying any of ``tags`` (all when none), restricted to ``ids`` when given, at most ``limit``."""
    wanted_tags = {t.strip() for tag in tags for t in tag.split(",") if t.strip()}
    wanted_ids = {i.strip() for name in ids for i in name.split(",") if i.strip()}
    unknown = wanted_ids - {q.id for q in questions}
    if unknown:
        raise UsageError(f"unknown question ids: {', '.join(sorted(unknown))}")
    chosen = [
        q
        for q in questions
        if (not wanted_tags or wanted_tags & set(q.tags)) and (not wanted_ids or q.id in wanted_ids)
    ]
    return chosen[:limit] if limit is not None and limit >= 0 else chosen
