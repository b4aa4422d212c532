"""Request and response bodies of the HTTP API.

``AskRequest`` takes the seeds' field names (``prompt``, ``selected_tables``, ``s3_input_path``,
``execution_engine``) and every option of :class:`askspark.request.Options` (``question``, ``tables``,
``files``, ``engine``, ``catalog``, ...); both normalize to one :class:`~askspark.request.Request`, which
is what the run store keeps so an accepted run can be run again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from askspark.errors import UsageError
from askspark.record import Answer
from askspark.request import Options, Request

# The seeds' execution engines and ours: their Spark backend is our local Spark server.
ENGINE_ALIASES = {"lambda": "local", "spark": "local", "pyspark": "local"}


class TableRef(BaseModel):
    """A catalog table as the seeds name it."""

    model_config = ConfigDict(extra="forbid")
    database: str = Field(min_length=1)
    table: str = Field(min_length=1)


class AskRequest(Options):
    """``POST /v1/ask`` and ``POST /v1/runs``: the seeds' payload or ours (unknown fields are errors).

    Every ask option is a field (inherited from :class:`Options`); with no tables and no files the
    tables are picked from the catalog by the question. ``files`` are uploaded files: the ``path`` that
    ``POST /v1/uploads`` returned (the API reads no file outside the upload area).
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"question": "Total revenue per country", "tables": ["northwind.orders"]},
                {"question": "Average closing price per symbol"},
                {
                    "prompt": "Average close per symbol",
                    "selected_tables": [{"database": "northwind", "table": "nasdaq"}],
                    "execution_engine": "local",
                },
            ]
        },
    )
    question: str | None = Field(None, description="The question in plain English.")
    prompt: str | None = Field(None, description="The seeds' name for question.")
    selected_tables: list[TableRef] = Field(default_factory=list, description="The seeds' table list.")
    s3_input_path: str | None = Field(None, description="The seeds' input file: uploaded, or s3://.")
    execution_engine: str | None = Field(None, description="The seeds' name for engine.")
    conversation_id: str | None = Field(
        None,
        description="Continue a conversation (the id of its first run, or of any of its runs): the "
        "question follows its newest turn. ``follow_up`` names the exact run to follow instead.",
    )

    def to_request(self) -> Request:
        """Our field names, with the seeds' merged in; a missing or doubly given question is an error."""
        question = _one("question", self.question, "prompt", self.prompt)
        if question is None or not question.strip():
            raise UsageError(
                "the question is empty", suggestion='send {"question": "...", "tables": ["db.table"]}'
            )
        engine = _one("engine", self.engine, "execution_engine", self.execution_engine)
        if self.conversation_id is not None and self.follow_up is not None:
            raise UsageError(
                "both 'conversation_id' and 'follow_up' are given", suggestion="send only one of them"
            )
        options = self.model_dump(include=set(Options.model_fields))
        options["tables"] += [f"{t.database}.{t.table}" for t in self.selected_tables]
        options["files"] += [self.s3_input_path] if self.s3_input_path else []
        options["engine"] = ENGINE_ALIASES.get(engine.lower(), engine) if engine else None
        return Request(question=question, **options)


def _one(name: str, value: str | None, alias: str, other: str | None) -> str | None:
    if value is not None and other is not None and value != other:
        raise UsageError(
            f"both {name!r} and {alias!r} are given, with different values", suggestion=f"send only {name!r}"
        )
    return value if value is not None else other


class RerunRequest(BaseModel):
    """``POST /v1/runs/{id}/rerun``: edited code, run on the same tables through the same checks."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, description="A complete def answer(spark, tables): ... function.")
    row_limit: int | None = Field(None, ge=1)


class Accepted(BaseModel):
    """The answer to an accepted run: where to follow it."""

    run_id: str
    status: str
    links: dict[str, str]


class RunSummary(BaseModel):
    """One line of the run history."""

    run_id: str
    status: str
    question: str
    tables: list[str]
    model: str
    engine: str
    created_at: datetime
    seconds: float
    attempts: int
    summary: str
    rerun_of: str | None = None

    @classmethod
    def of(cls, answer: Answer) -> RunSummary:
        return cls(
            run_id=answer.run_id,
            status=answer.status,
            question=answer.question,
            tables=answer.tables,
            model=answer.model,
            engine=answer.engine,
            created_at=answer.created_at,
            seconds=answer.seconds,
            attempts=len(answer.attempts),
            summary=answer.summary,
            rerun_of=answer.rerun_of,
        )


class TablePreview(BaseModel):
    """A table's definition and its first rows."""

    table: dict[str, Any]
    columns: list[str]
    rows: list[list[Any]]
