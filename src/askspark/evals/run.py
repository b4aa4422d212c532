"""Run a suite through the real pipeline, score each answer against the expected result, report.

How a question runs: the harness holds the expected result; the pipeline (``askspark.ask``) only
gets the question text and the table names, exactly as a user's question would. The expected result
comes from running the question's reference code as a job on the *same* engine (sandboxed worker,
same bindings), into a temporary directory that is removed afterwards. Nothing the model sees is
derived from it.

How answers are scored: by :func:`askspark.results.compare.compare` (its module docstring states
the rules: rows as multisets unless ``ordered``, columns matched by value, numbers within ``tolerance``,
dates and timestamps as moments). A truncated answer or reference (more rows than the row limit) is
wrong, since not every row can be compared. The expected result comes from :mod:`askspark.evals.reference`;
the report and its summary are in :mod:`askspark.evals.report`.

Failure kinds (``failure_kind`` of a question that is not correct):

* ``wrong_result``: the code ran and returned a result that differs from the expected one.
* ``exhausted``: the run failed after using every allowed attempt.
* ``validation``: the run stopped early (same error twice) on a failure before execution: no code,
  syntax, policy, contract, or the analyzer's dry run (unresolved column/table, type mismatch).
* ``runtime``: the run stopped early on a failure while executing (runtime error, timeout, memory).
* ``infrastructure``: the engine or the model provider was unavailable (not the model's fault).
* ``reference_error``: the reference code itself failed (a broken suite question).
* ``needs_clarification``: the answer said the data cannot answer the question, though it can;
  ``answered_unanswerable``: an unanswerable question (``unanswerable``) got an answer or a failure.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from askspark.engines.base import Engine
from askspark.errors import AskSparkError
from askspark.evals.reference import EVAL_ROW_LIMIT, ExpectedResult, compute_expected, reference_model
from askspark.evals.report import STAGES, OtherReading, QuestionResult, Report, summarize
from askspark.evals.suite import Question
from askspark.llm.base import LLM
from askspark.record import Alternative, Answer, ErrorKind
from askspark.results.compare import Verdict, compare
from askspark.settings import Settings

_BEFORE_EXECUTION = {
    ErrorKind.NO_CODE, ErrorKind.SYNTAX, ErrorKind.POLICY, ErrorKind.CONTRACT,
    ErrorKind.UNRESOLVED_COLUMN, ErrorKind.UNRESOLVED_TABLE, ErrorKind.TYPE_MISMATCH,
}  # fmt: skip
_INFRASTRUCTURE = {ErrorKind.ENGINE_UNAVAILABLE, ErrorKind.PROVIDER, ErrorKind.PERMISSION}

Progress = Callable[[int, int, QuestionResult], None]


def failure_kind(answer: Answer, max_attempts: int) -> str:
    """The failure kind of a failed run (see the module docstring)."""
    if answer.status == "needs_clarification":
        return "needs_clarification"
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
             "rewrite": a.rewrite,
             "error": f"{a.error.kind.value}: {a.error.message[:300]}" if a.error else None}
            for a in answer.attempts
        ],
    )  # fmt: skip
    confidence = answer.confidence
    if confidence is not None:
        result.confidence = f"{confidence.agree}/{confidence.executed}"
        result.confidence_text = confidence.text
    result.flagged = bool(answer.suspect) or (confidence is not None and confidence.low)
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
    verdict = verdict_of(answer.result.rows, question, expected)
    result.correct, result.reason = verdict.correct, verdict.reason
    result.alternatives = [other_reading(a, question, expected) for a in answer.alternatives]
    result.first_attempt_correct = verdict.correct and len(answer.attempts) == 1
    if not verdict.correct:
        result.failure_kind = "wrong_result"
    return result


def verdict_of(rows: list[list[Any]], question: Question, expected: ExpectedResult) -> Verdict:
    """``rows`` against the expected result, by the question's order and tolerance."""
    return compare(
        rows, expected.rows, ordered=question.ordered, tolerance=question.tolerance,
        expected_width=len(expected.columns),
    )  # fmt: skip


def other_reading(alternative: Alternative, question: Question, expected: ExpectedResult) -> OtherReading:
    """An unchosen result, scored by the answer's rules when its preview holds every row."""
    rows = alternative.result.rows
    correct = None
    if not alternative.result.truncated and not expected.truncated:
        correct = verdict_of(rows, question, expected).correct
    return OtherReading(
        code=alternative.code, count=alternative.count, suspect=alternative.suspect, rows=rows[:5],
        correct=correct,
    )  # fmt: skip


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
        base = QuestionResult(
            id=question.id, question=question.question, tags=question.tags, correct=False,
            first_attempt_correct=False, attempts=0, status="error",
        )  # fmt: skip
        if question.unanswerable:
            return self.unanswerable(question, base, engine, llm, settings, attempts)
        try:
            expected = compute_expected(question, engine, settings)
        except AskSparkError as exc:
            return _failed(base, "reference_error", exc.message, status="reference_error")
        if llm is None and question.reference is None:
            return _failed(base, "reference_error", "no reference code")
        model = llm if llm is not None else reference_model(question)
        answer, error, seconds = _asked(question, engine, model, settings, attempts)
        if answer is None:
            return _failed(base, "infrastructure", error, seconds=seconds)
        return score(question, answer, expected, attempts)

    def unanswerable(
        self,
        question: Question,
        base: QuestionResult,
        engine: Engine,
        llm: LLM | None,
        settings: Settings,
        attempts: int,
    ) -> QuestionResult:
        """Ask a question the data cannot answer; right when the answer is needs_clarification."""
        if llm is None:  # the reference model has no code to give for it
            return _failed(
                base, "reference_error", "an unanswerable question has no reference", unanswerable=True
            )
        answer, error, seconds = _asked(question, engine, llm, settings, attempts)
        if answer is None:
            return _failed(base, "infrastructure", error, seconds=seconds, unanswerable=True)
        return score_unanswerable(question, answer, attempts)


def score_unanswerable(question: Question, answer: Answer, max_attempts: int) -> QuestionResult:
    """An unanswerable question is right when the answer says what is missing instead of answering."""
    empty = ExpectedResult(columns=[], rows=[], truncated=False)
    result = score(question, answer, empty, max_attempts)
    declined = answer.status == "needs_clarification"
    result.correct = result.first_attempt_correct = declined
    result.failure_kind = None if declined else "answered_unanswerable"
    result.reason = answer.clarification.missing if answer.clarification else result.reason
    result.unanswerable = True
    return result


def _asked(
    question: Question, engine: Engine, model: LLM, settings: Settings, attempts: int
) -> tuple[Answer | None, str, float]:
    """askspark's answer to the question; or None, the infrastructure error and the seconds it took."""
    from askspark.api import ask

    start = time.perf_counter()
    try:
        answer = ask(
            question.question, question.tables, engine=engine, model=model, settings=settings,
            max_attempts=attempts, row_limit=EVAL_ROW_LIMIT,
        )  # fmt: skip
    except AskSparkError as exc:
        return None, f"{exc.code}: {exc.message}", round(time.perf_counter() - start, 3)
    return answer, "", 0.0


def _failed(base: QuestionResult, kind: str, error: str, **fields: Any) -> QuestionResult:
    """``base`` as a question that failed with ``kind`` before an answer could be scored."""
    return base.model_copy(update={"failure_kind": kind, "last_error": error, **fields})
