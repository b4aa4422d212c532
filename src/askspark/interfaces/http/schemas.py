"""Request and response bodies of the HTTP API.

``AskRequest`` takes the seeds' field names (``prompt``, ``selected_tables``, ``s3_input_path``,
``execution_engine``) and our own (``question``, ``tables``, ``files``, ``engine``); both normalize to
one :class:`RunRequest`, which is what the run store keeps so an accepted run can be run again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from askspark.errors import UsageError
from askspark.record import Answer

# The seeds' execution engines and ours: their Spark backend is our local Spark server.
ENGINE_ALIASES = {"lambda": "local", "spark": "local", "pyspark": "local"}


class TableRef(BaseModel):
    """A catalog table as the seeds name it."""

    model_config = ConfigDict(extra="forbid")
    database: str = Field(min_length=1)
    table: str = Field(min_length=1)


class RunRequest(BaseModel):
    """One run to do: a question (and, for a re-run, given code) on tables and files."""

    question: str
    tables: list[str] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    engine: str | None = None
    model: str | None = None
    max_attempts: int | None = None
    row_limit: int | None = None
    code: str | None = None  # set for a re-run of edited code: no model is asked
    rerun_of: str | None = None


class AskRequest(BaseModel):
    """``POST /v1/ask`` and ``POST /v1/runs``: the seeds' payload or ours (unknown fields are errors)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"question": "Total revenue per country", "tables": ["northwind.orders"]},
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
    tables: list[str] = Field(default_factory=list, description="Catalog tables as db.table.")
    selected_tables: list[TableRef] = Field(default_factory=list, description="The seeds' table list.")
    files: list[str] = Field(default_factory=list, description="Uploaded files (paths from /v1/uploads).")
    s3_input_path: str | None = Field(None, description="The seeds' one input file (an uploaded file).")
    engine: str | None = Field(None, description="Engine id (default from settings: local).")
    execution_engine: str | None = Field(None, description="The seeds' name for engine.")
    model: str | None = Field(None, description="Model id (default from settings).")
    max_attempts: int | None = Field(None, ge=1, le=20)
    row_limit: int | None = Field(None, ge=1)

    def to_run(self) -> RunRequest:
        """Our field names, with the seeds' merged in; a missing or doubly given question is an error."""
        question = _one("question", self.question, "prompt", self.prompt)
        if question is None or not question.strip():
            raise UsageError(
                "the question is empty", suggestion='send {"question": "...", "tables": ["db.table"]}'
            )
        engine = _one("engine", self.engine, "execution_engine", self.execution_engine)
        return RunRequest(
            question=question,
            tables=[*self.tables, *(f"{t.database}.{t.table}" for t in self.selected_tables)],
            files=[*self.files, *([self.s3_input_path] if self.s3_input_path else [])],
            engine=ENGINE_ALIASES.get(engine.lower(), engine) if engine else None,
            model=self.model,
            max_attempts=self.max_attempts,
            row_limit=self.row_limit,
        )


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
