"""The eval report: per-question results, the summary over them, and their JSON and Markdown forms."""

from __future__ import annotations

import json
import resource
import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from askspark.engines.base import Engine
from askspark.processes import descendants

STAGES = ("catalog", "prompt", "generate", "validate", "dry_run", "execute", "result_write")
"""Stages timed per question. ``execute`` includes ``result_write`` (the full result written as Parquet
and moved to the run's directory); the run's ``catalog`` step happens once, not per attempt."""


class OtherReading(BaseModel):
    """A candidate result the answer did not choose, scored like the answer (issue 12: was the right
    result written but not chosen, or never written?)."""

    code: str
    count: int  # candidates that gave it
    suspect: bool = False  # it failed a result check
    rows: list[list[Any]] = Field(default_factory=list)  # the first five
    correct: bool | None = None  # None: its preview was cut, so it cannot be compared


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
    # The answer said it may be wrong: candidates disagreed or a result check fired (issue 12's honesty).
    flagged: bool = False
    confidence: str | None = None  # "agree/executed" when candidates voted
    confidence_text: str | None = None  # why it is low, in the answer's words ("1 of 3 readings agree; ...")
    alternatives: list[OtherReading] = Field(default_factory=list)
    unanswerable: bool = False  # the suite expects needs_clarification (issue 13)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Honesty(BaseModel):
    """How often an answer that ran carried a doubt signal, split by whether it was right."""

    wrong: int  # answers that ran and were wrong
    wrong_flagged: int
    right: int
    right_flagged: int
    right_elsewhere: int = 0  # wrong answers with the right result among the other readings

    @classmethod
    def of(cls, results: Sequence[QuestionResult]) -> Honesty:
        ran = [r for r in results if r.status == "succeeded"]
        wrong = [r for r in ran if not r.correct]
        right = [r for r in ran if r.correct]
        return cls(
            wrong=len(wrong),
            wrong_flagged=sum(r.flagged for r in wrong),
            right=len(right),
            right_flagged=sum(r.flagged for r in right),
            right_elsewhere=sum(any(a.correct for a in r.alternatives) for r in wrong),
        )

    def line(self) -> str:
        def rate(k: int, n: int) -> str:
            return f"{k}/{n} = {k / n:.0%}" if n else "0/0"

        return (
            f"wrong answers flagged {rate(self.wrong_flagged, self.wrong)}; right answers flagged "
            f"{rate(self.right_flagged, self.right)}; wrong answers with the right result among the "
            f"other readings {rate(self.right_elsewhere, self.wrong)}"
        )


class Clarifying(BaseModel):
    """How often the answer was "I can't answer that from this data", split by what the suite expects."""

    unanswerable: int
    declined_unanswerable: int  # came back needs_clarification, as they should
    answerable: int
    declined_answerable: int  # came back needs_clarification though the data answers them

    @classmethod
    def of(cls, results: Sequence[QuestionResult]) -> Clarifying | None:
        """None when the suite has no unanswerable question and no answer declined."""
        declined = [r for r in results if r.status == "needs_clarification"]
        if not declined and not any(r.unanswerable for r in results):
            return None
        return cls(
            unanswerable=sum(r.unanswerable for r in results),
            declined_unanswerable=sum(r.unanswerable for r in declined),
            answerable=sum(not r.unanswerable for r in results),
            declined_answerable=sum(not r.unanswerable for r in declined),
        )

    def line(self) -> str:
        def rate(k: int, n: int) -> str:
            return f"{k}/{n} = {k / n:.0%}" if n else "0/0"

        return (
            f"unanswerable declined {rate(self.declined_unanswerable, self.unanswerable)}; "
            f"answerable declined {rate(self.declined_answerable, self.answerable)}"
        )


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
    honesty: Honesty | None = None
    clarification: Clarifying | None = None


class Report(BaseModel):
    suite: str
    model: str
    engine: str
    tags: list[str]
    max_attempts: int
    started_at: str
    summary: Summary
    results: list[QuestionResult]


# -- summary ---------------------------------------------------------------------------------------


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
        peak_rss_mb=peak_rss_mb(), spark_rss_mb=spark_rss_mb(engine), honesty=Honesty.of(results),
        clarification=Clarifying.of(results),
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
    total_kb, found = 0, False
    for pid in descendants(root):
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
    if s.honesty is not None:
        lines.append(f"| honesty (flagged: low agreement or a result check) | {s.honesty.line()} |")
    if s.clarification is not None:
        lines.append(f"| needs_clarification (issue 13) | {s.clarification.line()} |")
    if s.spark_rss_mb is not None:
        lines.append(f"| peak RSS of the Spark server | {s.spark_rss_mb:.0f} MB |")
    return "\n".join(lines) + "\n"


def _cell(text: str, width: int) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "…"
