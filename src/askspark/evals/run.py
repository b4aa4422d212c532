"""Run a suite through the real pipeline, score each answer against the expected result, report.

How a question runs: the harness holds the expected result; the pipeline (``askspark.ask``) only
gets the question text and the table names, exactly as a user's question would. The expected result
comes from running the question's reference code as a job on the *same* engine (sandboxed worker,
same bindings), into a temporary directory that is removed afterwards. Nothing the model sees is
derived from it.

How answers are scored (:func:`compare`), leniently but exactly as documented here:

* **Rows**: the answer must have as many rows as the expected result. ``ordered`` questions compare
  row *i* with row *i*; otherwise rows are compared as multisets (both sides sorted by a stable key,
  with a one-by-one matching fallback so values equal within tolerance but sorted differently
  still match).
* **Columns**: names are ignored and so is order. Every expected column must be found, by value, as
  a distinct column of the answer; the answer may have *extra* columns (a model that also shows the
  count next to the requested average is not wrong). Fewer columns than expected is wrong.
* **Values**: ``None`` equals only ``None``. Numbers (int, float, decimal; not booleans) compare as
  floats: equal when ``|a - e| <= max(tolerance * max(|a|, |e|), 1e-9)`` (relative ``1e-6`` by
  default, per question ``tolerance``), or when the answer rounded the value: an answer written
  with ``d >= 2`` decimals that equals the expected value rounded to ``d`` decimals. Dates and
  timestamps compare as ISO strings; a timestamp at midnight equals its date (``date_trunc``
  returns timestamps). Strings compare exactly (case-sensitive). Arrays and structs compare element
  by element.
* A truncated answer (more rows than the row limit) is wrong unless every row was compared.

Failure kinds (``failure_kind`` of a question that is not correct):

* ``wrong_result``: the code ran and returned a result that differs from the expected one.
* ``exhausted``: the run failed after using every allowed attempt.
* ``validation``: the run stopped early (same error twice) on a failure before execution: no code,
  syntax, policy, contract, or the analyzer's dry run (unresolved column/table, type mismatch).
* ``runtime``: the run stopped early on a failure while executing (runtime error, timeout, memory).
* ``infrastructure``: the engine or the model provider was unavailable (not the model's fault).
* ``reference_error``: the reference code itself failed (a broken suite question).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import os
import re
import resource
import shutil
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from askspark.engines.base import Engine, Job, Limits, bindings_for
from askspark.errors import AskSparkError
from askspark.evals.suite import Question
from askspark.llm.base import LLM, Completion, Message
from askspark.record import Answer, ErrorKind
from askspark.settings import Settings

ABS_TOLERANCE = 1e-9
MIN_ROUNDED_DECIMALS = 2
EVAL_ROW_LIMIT = 5000
"""Rows kept of each answer and reference: suite results are far smaller, so nothing is cut off."""
STAGES = ("catalog", "prompt", "generate", "validate", "dry_run", "execute", "result_write")
"""Stages timed per question. ``execute`` includes ``result_write`` (the full result written as Parquet
and moved to the run's directory); the run's ``catalog`` step happens once, not per attempt."""
_BEFORE_EXECUTION = {
    ErrorKind.NO_CODE, ErrorKind.SYNTAX, ErrorKind.POLICY, ErrorKind.CONTRACT,
    ErrorKind.UNRESOLVED_COLUMN, ErrorKind.UNRESOLVED_TABLE, ErrorKind.TYPE_MISMATCH,
}  # fmt: skip
_INFRASTRUCTURE = {ErrorKind.ENGINE_UNAVAILABLE, ErrorKind.PROVIDER, ErrorKind.PERMISSION}
_MIDNIGHT = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ]00:00(?::00(?:\.0+)?)?$")

Progress = Callable[[int, int, "QuestionResult"], None]


# -- scoring ---------------------------------------------------------------------------------------


def _same_position_first(position: int, k: int) -> tuple[bool, int]:
    return (k != position, k)


def normalize(value: Any) -> Any:
    """One cell in comparable form: numbers as float, dates as ISO strings, arrays/structs as tuples."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float | decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict):
        return tuple((str(k), normalize(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return tuple(normalize(v) for v in value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _decimals(value: float) -> int:
    """Decimals in the shortest repr of ``value`` (``12.5`` -> 1, ``1e-05`` -> 5)."""
    text = repr(value)
    if "e" in text or "E" in text:
        mantissa, _, exponent = text.lower().partition("e")
        frac = mantissa.partition(".")[2].rstrip("0")
        return max(0, len(frac) - int(exponent))
    return len(text.partition(".")[2].rstrip("0"))


def numbers_equal(answer: float, expected: float, tolerance: float) -> bool:
    if math.isnan(answer) or math.isnan(expected):
        return math.isnan(answer) and math.isnan(expected)
    if math.isinf(answer) or math.isinf(expected):
        return answer == expected
    if abs(answer - expected) <= max(tolerance * max(abs(answer), abs(expected)), ABS_TOLERANCE):
        return True
    places = _decimals(answer)
    return places >= MIN_ROUNDED_DECIMALS and abs(round(expected, places) - answer) <= 10 ** -(places + 3)


def values_equal(answer: Any, expected: Any, tolerance: float) -> bool:
    """Whether two normalized cells are equal under the rules in the module docstring."""
    if answer is None or expected is None:
        return answer is None and expected is None
    if isinstance(answer, bool) or isinstance(expected, bool):
        return answer is expected
    if isinstance(answer, float) and isinstance(expected, float):
        return numbers_equal(answer, expected, tolerance)
    if isinstance(answer, str) and isinstance(expected, str):
        return answer == expected or _day(answer) == _day(expected) is not None
    if isinstance(answer, tuple) and isinstance(expected, tuple):
        return len(answer) == len(expected) and all(
            values_equal(a, e, tolerance) for a, e in zip(answer, expected, strict=True)
        )
    return bool(answer == expected)


def _day(text: str) -> str | None:
    """The date of an ISO date or midnight timestamp string; None for anything else."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return text
    match = _MIDNIGHT.match(text)
    return match.group(1) if match else None


def _sort_key(value: Any) -> tuple[int, Any]:
    """A total order over normalized cells that puts values equal within tolerance next to each other."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, float):
        return (2, 0.0 if math.isnan(value) else float(f"{value:.5g}"))
    if isinstance(value, str):
        return (3, _day(value) or value)
    return (4, repr(value))


def rows_equal(answer: Sequence[Any], expected: Sequence[Any], tolerance: float) -> bool:
    return all(values_equal(a, e, tolerance) for a, e in zip(answer, expected, strict=True))


def _multiset_match(answer: list[tuple[Any, ...]], expected: list[tuple[Any, ...]], tolerance: float) -> bool:
    """Whether the rows match as multisets: sorted pairwise first, then one-by-one matching."""

    def key(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(_sort_key(v) for v in row)

    a_sorted, e_sorted = sorted(answer, key=key), sorted(expected, key=key)
    if all(rows_equal(a, e, tolerance) for a, e in zip(a_sorted, e_sorted, strict=True)):
        return True
    unmatched = list(a_sorted)
    for row in e_sorted:
        for i, candidate in enumerate(unmatched):
            if rows_equal(candidate, row, tolerance):
                del unmatched[i]
                break
        else:
            return False
    return True


def _rows_match(
    answer: list[tuple[Any, ...]], expected: list[tuple[Any, ...]], ordered: bool, tolerance: float
) -> bool:
    if ordered:
        return all(rows_equal(a, e, tolerance) for a, e in zip(answer, expected, strict=True))
    return _multiset_match(answer, expected, tolerance)


class Verdict(BaseModel):
    """The outcome of comparing one answer with the expected result."""

    correct: bool
    reason: str = ""
    mapping: list[int] | None = None  # answer column index of each expected column, when correct


MAX_MAPPINGS = 2000


def compare(
    answer_rows: Sequence[Sequence[Any]],
    expected_rows: Sequence[Sequence[Any]],
    *,
    ordered: bool = False,
    tolerance: float = 1e-6,
    expected_width: int | None = None,
) -> Verdict:
    """Score an answer's rows against the expected rows (see the module docstring for the rules)."""
    answer = [tuple(normalize(v) for v in row) for row in answer_rows]
    expected = [tuple(normalize(v) for v in row) for row in expected_rows]
    if len(answer) != len(expected):
        return Verdict(correct=False, reason=f"expected {len(expected)} rows, got {len(answer)}")
    width = len(expected[0]) if expected else (expected_width or 0)
    got = len(answer[0]) if answer else width
    if not expected:
        return Verdict(correct=True, reason="both results are empty", mapping=list(range(width)))
    if got < width:
        return Verdict(correct=False, reason=f"expected {width} columns, got {got}")
    columns_a = [tuple(row[k] for row in answer) for k in range(got)]
    columns_e = [tuple(row[j] for row in expected) for j in range(width)]
    candidates: list[list[int]] = []
    for j, column in enumerate(columns_e):
        found = [
            k
            for k in range(got)
            if _rows_match([(v,) for v in columns_a[k]], [(v,) for v in column], ordered, tolerance)
        ]
        if not found:
            return Verdict(
                correct=False, reason=f"no answer column holds the values of expected column {j + 1}"
            )
        found.sort(key=partial(_same_position_first, j))
        candidates.append(found)
    for tried, mapping in enumerate(_mappings(candidates), start=1):
        projected = [tuple(row[k] for k in mapping) for row in answer]
        if _rows_match(projected, expected, ordered, tolerance):
            return Verdict(correct=True, mapping=list(mapping))
        if tried >= MAX_MAPPINGS:
            break
    what = "in the expected order" if ordered else "as a set of rows"
    return Verdict(correct=False, reason=f"every column matches on its own, but the rows differ {what}")


def _mappings(candidates: list[list[int]], used: tuple[int, ...] = ()) -> Any:
    """Injective assignments of answer columns to expected columns, in candidate order."""
    if len(used) == len(candidates):
        yield used
        return
    for k in candidates[len(used)]:
        if k not in used:
            yield from _mappings(candidates, (*used, k))


# -- results ---------------------------------------------------------------------------------------


class ExpectedResult(BaseModel):
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool = False


class QuestionResult(BaseModel):
    """One question's outcome in the report."""

    id: str
    question: str
    tags: list[str]
    correct: bool
    first_attempt_correct: bool
    attempts: int
    status: str  # succeeded | failed | reference_error | error
    failure_kind: str | None = None
    last_error: str | None = None  # kind: message of the last failed attempt
    reason: str = ""  # why a result that ran is wrong
    stop_reason: str | None = None
    seconds: float = 0.0
    stage_seconds: dict[str, float] = Field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    run_id: str | None = None
    code: str | None = None
    answer_rows: int | None = None
    expected_rows: int | None = None
    answer_preview: list[list[Any]] = Field(default_factory=list)
    expected_preview: list[list[Any]] = Field(default_factory=list)
    attempt_log: list[dict[str, Any]] = Field(default_factory=list)  # each attempt: code, stage, error

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Summary(BaseModel):
    questions: int
    correct: int
    execution_accuracy: float
    first_attempt_correct: int
    first_attempt_accuracy: float
    mean_attempts: float
    attempts_used: dict[int, int] = Field(default_factory=dict)  # attempts -> questions that used that many
    failures: dict[str, int]
    median_seconds: float
    mean_seconds: float
    total_seconds: float
    stage_seconds: dict[str, float]
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    peak_rss_mb: float
    spark_rss_mb: float | None = None


class Report(BaseModel):
    suite: str
    model: str
    engine: str
    tags: list[str]
    max_attempts: int
    started_at: str
    summary: Summary
    results: list[QuestionResult]


# -- running ---------------------------------------------------------------------------------------


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


def failure_kind(answer: Answer, max_attempts: int) -> str:
    """The failure kind of a failed run (see the module docstring)."""
    error = answer.error
    if error is not None and error.kind in _INFRASTRUCTURE:
        return "infrastructure"
    if len(answer.attempts) >= max_attempts:
        return "exhausted"
    if error is not None and error.kind in _BEFORE_EXECUTION:
        return "validation"
    return "runtime"


def stage_seconds(answer: Answer) -> dict[str, float]:
    """Seconds per stage, summed over the attempts (see ``STAGES``)."""

    def total(*keys: str) -> float:
        return round(sum(a.timings.get(k, 0.0) for a in answer.attempts for k in keys), 3)

    seconds = {stage: total(stage) for stage in STAGES}
    seconds["catalog"] = round(answer.timings.get("catalog", 0.0), 3)
    seconds["result_write"] = total("write", "keep_result")
    return seconds


def score(question: Question, answer: Answer, expected: ExpectedResult, max_attempts: int) -> QuestionResult:
    """One question's result from its answer document and the expected result."""
    result = QuestionResult(
        id=question.id, question=question.question, tags=question.tags, correct=False,
        first_attempt_correct=False, attempts=len(answer.attempts), status=answer.status,
        stop_reason=answer.stop_reason, seconds=round(answer.seconds, 3), stage_seconds=stage_seconds(answer),
        prompt_tokens=sum(a.prompt_tokens or 0 for a in answer.attempts),
        completion_tokens=sum(a.completion_tokens or 0 for a in answer.attempts),
        run_id=answer.run_id, code=answer.code, expected_rows=len(expected.rows),
        expected_preview=expected.rows[:5],
        attempt_log=[
            {"number": a.number, "stage": a.stage, "temperature": a.temperature, "code": a.code,
             "error": f"{a.error.kind.value}: {a.error.message[:300]}" if a.error else None}
            for a in answer.attempts
        ],
    )  # fmt: skip
    failed = [a for a in answer.attempts if a.error is not None]
    if failed and failed[-1].error is not None:
        result.last_error = f"{failed[-1].error.kind.value}: {failed[-1].error.message[:300]}"
    if not answer.succeeded or answer.result is None:
        result.failure_kind = failure_kind(answer, max_attempts)
        return result
    result.answer_rows = len(answer.result.rows)
    result.answer_preview = answer.result.rows[:5]
    if answer.result.truncated or expected.truncated:
        result.failure_kind, result.reason = (
            "wrong_result",
            "a result was truncated: cannot compare every row",
        )
        return result
    verdict = compare(
        answer.result.rows, expected.rows, ordered=question.ordered, tolerance=question.tolerance,
        expected_width=len(expected.columns),
    )  # fmt: skip
    result.correct, result.reason = verdict.correct, verdict.reason
    result.first_attempt_correct = verdict.correct and len(answer.attempts) == 1
    if not verdict.correct:
        result.failure_kind = "wrong_result"
    return result


@dataclass
class EvalRun:
    """Runs questions through ``askspark.ask`` with one model and engine."""

    settings: Settings
    model: str = "embedded"
    engine: str | None = None
    max_attempts: int | None = None
    progress: Progress | None = None

    def run(self, questions: Sequence[Question], suite: str = "", tags: Sequence[str] = ()) -> Report:
        from askspark import api

        started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        attempts = self.max_attempts or self.settings.max_attempts
        settings = self.settings.model_copy(update={"max_attempts": attempts})
        engine = api.engine_for(self.engine or settings.engine, settings)
        llm = None if self.model == "reference" else api.llm_for(self.model, settings)
        results: list[QuestionResult] = []
        for index, question in enumerate(questions, start=1):
            result = self.one(question, engine, llm, settings, attempts)
            results.append(result)
            if self.progress is not None:
                self.progress(index, len(questions), result)
        return Report(
            suite=suite, model=self.model, engine=getattr(engine, "id", str(self.engine)), tags=list(tags),
            max_attempts=attempts, started_at=started, summary=summarize(results, engine), results=results,
        )  # fmt: skip

    def one(
        self, question: Question, engine: Engine, llm: LLM | None, settings: Settings, attempts: int
    ) -> QuestionResult:
        from askspark.api import ask

        base = QuestionResult(
            id=question.id, question=question.question, tags=question.tags, correct=False,
            first_attempt_correct=False, attempts=0, status="error",
        )  # fmt: skip
        try:
            expected = compute_expected(question, engine, settings)
        except AskSparkError as exc:
            return base.model_copy(
                update={
                    "status": "reference_error",
                    "failure_kind": "reference_error",
                    "last_error": exc.message,
                }
            )
        if llm is None and question.reference is None:
            return base.model_copy(
                update={
                    "status": "error",
                    "failure_kind": "reference_error",
                    "last_error": "no reference code",
                }
            )
        model = llm if llm is not None else reference_model(question)
        start = time.perf_counter()
        try:
            answer = ask(
                question.question, question.tables, engine=engine, model=model, settings=settings,
                max_attempts=attempts, row_limit=EVAL_ROW_LIMIT,
            )  # fmt: skip
        except AskSparkError as exc:
            return base.model_copy(
                update={
                    "failure_kind": "infrastructure", "last_error": f"{exc.code}: {exc.message}",
                    "seconds": round(time.perf_counter() - start, 3),
                }
            )  # fmt: skip
        return score(question, answer, expected, attempts)


def summarize(results: Sequence[QuestionResult], engine: Engine | None = None) -> Summary:
    n = len(results)
    correct = sum(r.correct for r in results)
    first = sum(r.first_attempt_correct for r in results)
    failures: dict[str, int] = {}
    for r in results:
        if r.failure_kind:
            failures[r.failure_kind] = failures.get(r.failure_kind, 0) + 1
    seconds = [r.seconds for r in results]
    prompt = sum(r.prompt_tokens for r in results)
    completion = sum(r.completion_tokens for r in results)
    return Summary(
        questions=n, correct=correct, execution_accuracy=round(correct / n, 4) if n else 0.0,
        first_attempt_correct=first, first_attempt_accuracy=round(first / n, 4) if n else 0.0,
        mean_attempts=round(sum(r.attempts for r in results) / n, 3) if n else 0.0,
        attempts_used=dict(sorted(Counter(r.attempts for r in results).items())),
        failures=dict(sorted(failures.items())),
        median_seconds=round(statistics.median(seconds), 3) if seconds else 0.0,
        mean_seconds=round(statistics.fmean(seconds), 3) if seconds else 0.0,
        total_seconds=round(sum(seconds), 3),
        stage_seconds={s: round(sum(r.stage_seconds.get(s, 0.0) for r in results), 3) for s in STAGES},
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion,
        peak_rss_mb=peak_rss_mb(), spark_rss_mb=spark_rss_mb(engine),
    )  # fmt: skip


def peak_rss_mb() -> float:
    """Peak resident memory of this process (the model lives here; Spark is a separate JVM)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def spark_rss_mb(engine: Engine | None) -> float | None:
    """Peak resident memory (VmHWM, summed) of the engine's Spark server: its launcher process and
    every process under it (the JVM runs inside the sandbox's own session). None when not local."""
    root = engine.state.pid if engine is not None and engine.state is not None else None
    if not root:
        return None
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total_kb, found, todo = 0, False, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total_kb += int(line.split()[1])
                        found = True
        except OSError:
            continue
    return round(total_kb / 1024, 1) if found else None


# -- output ----------------------------------------------------------------------------------------


def to_json(report: Report) -> str:
    return json.dumps(report.model_dump(mode="json"), indent=2, default=str)


def to_markdown(report: Report) -> str:
    """The per-question table and the summary, as Markdown."""
    s = report.summary
    lines = [
        f"## askspark eval: {Path(report.suite).name or 'suite'} — model `{report.model}`, engine `{report.engine}`",
        "",
        f"tags: {', '.join(report.tags) or 'all'}; max attempts {report.max_attempts}; started {report.started_at}",
        "",
        "| id | tags | correct | 1st try | attempts | status | failure | seconds | tokens |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report.results:
        failure = r.failure_kind or ""
        if r.reason and failure == "wrong_result":
            failure += f" ({r.reason})"
        elif r.last_error and failure:
            failure += f" ({_cell(r.last_error, 80)})"
        lines.append(
            f"| {r.id} | {', '.join(r.tags)} | {'yes' if r.correct else 'no'} | "
            f"{'yes' if r.first_attempt_correct else 'no'} | {r.attempts} | {r.status} | {_cell(failure, 120)} | "
            f"{r.seconds:.1f} | {r.tokens} |"
        )
    failures = ", ".join(f"{k} {v}" for k, v in s.failures.items()) or "none"
    used = ", ".join(f"{k}: {v}" for k, v in s.attempts_used.items()) or "none"
    stages = ", ".join(f"{k} {v:.1f}" for k, v in s.stage_seconds.items())
    lines += [
        "",
        "| metric | value |",
        "| --- | --- |",
        f"| questions | {s.questions} |",
        f"| execution accuracy | {s.correct}/{s.questions} = {s.execution_accuracy:.1%} |",
        f"| first-attempt accuracy | {s.first_attempt_correct}/{s.questions} = {s.first_attempt_accuracy:.1%} |",
        f"| mean attempts | {s.mean_attempts:.2f} |",
        f"| attempts used (attempts: questions) | {used} |",
        f"| failures by kind | {failures} |",
        f"| median / mean seconds per question | {s.median_seconds:.1f} / {s.mean_seconds:.1f} |",
        f"| seconds by stage (sum; execute includes result_write) | {stages} |",
        f"| tokens (prompt + completion) | {s.prompt_tokens} + {s.completion_tokens} = {s.total_tokens} |",
        f"| peak RSS of this process | {s.peak_rss_mb:.0f} MB |",
    ]
    if s.spark_rss_mb is not None:
        lines.append(f"| peak RSS of the Spark server | {s.spark_rss_mb:.0f} MB |")
    return "\n".join(lines) + "\n"


def _cell(text: str, width: int) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "…"
