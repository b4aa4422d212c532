"""The expected result of a suite question: its inline rows, or its reference code run on the engine.

The reference runs as a job on the *same* engine as the answers (sandboxed worker, same bindings), into
a temporary directory that is removed afterwards. ``--model reference`` also answers each question
with its own reference code through the real pipeline (:func:`reference_model`).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from askspark.engines.base import Engine, Job, Limits, bindings_for
from askspark.errors import AskSparkError
from askspark.evals.suite import Question
from askspark.llm.base import LLM, Completion, Message
from askspark.settings import Settings

EVAL_ROW_LIMIT = 5000
"""Rows kept of each answer and reference: suite results are far smaller, so nothing is cut off."""


class ExpectedResult(BaseModel):
    """A question's expected table: column names and rows as the worker returns them."""

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool = False


def reference_model(question: Question) -> LLM:
    """A scripted model that answers ``question`` with its own reference code (``--model reference``)."""
    from askspark.llm.scripted import ScriptedLLM

    code = question.reference or ""

    def reply(messages: list[Message], temperature: float) -> Completion:
        return Completion(text=f"```python\n{code.strip()}\n```\n", model="reference")

    return ScriptedLLM(fn=reply, style="python", id="reference")


def compute_expected(question: Question, engine: Engine, settings: Settings) -> ExpectedResult:
    """The expected result: the inline one, or the reference code run as a job on ``engine``.

    Raises:
        AskSparkError: the reference failed (its error kind and message are in the text).
    """
    if question.expected is not None:
        return ExpectedResult(columns=question.expected.columns, rows=question.expected.rows)
    from askspark.api import select_tables

    tables = select_tables(question.tables, [], settings)
    scratch = Path(tempfile.mkdtemp(prefix="eval-reference-"))
    try:
        job = Job(
            run_id=f"eval-reference-{uuid.uuid4().hex[:8]}", attempt=1, code=question.reference or "",
            tables=bindings_for(tables), output_dir=str(scratch),
            limits=Limits(
                timeout_seconds=settings.timeout_seconds, row_limit=EVAL_ROW_LIMIT,
                max_result_bytes=max(settings.max_result_bytes, 20_000_000), memory_mb=settings.worker_memory_mb,
            ),
        )  # fmt: skip
        execution = engine.run(job)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not execution.ok or execution.result is None:
        error = execution.error
        text = f"{error.kind.value}: {error.message}" if error else "no result"
        raise AskSparkError(f"the reference of {question.id!r} failed: {text}")
    result = execution.result
    return ExpectedResult(
        columns=[c.name for c in result.columns], rows=result.rows, truncated=result.truncated
    )
