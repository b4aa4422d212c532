"""What several candidates cost per question, side by side with one, in one run (issue 12's cost target).

    .venv/bin/python benchmarks/candidates_cost.py --suite northwind [--tags heldout] [--counts 1,3]

Every question is asked once per candidate count with the embedded model on one warm engine, the
counts taken in turn per question (their order swapped from one question to the next), so that a busy
machine and the model's prompt cache slow them alike; one question is asked first, untimed, to start
the engine and load the model. Printed: per count, questions right, median and
mean seconds per question, and the ratio of the medians to the first count's; the issue's target is a
median at most 2x the single candidate's. Scoring is `askspark eval`'s, so the accuracy columns are
comparable with its reports (each count is run once: its accuracy is one sample, not a measurement
of the vote).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from askspark import api
from askspark.evals.cli import ensure_sample
from askspark.evals.report import QuestionResult
from askspark.evals.run import EvalRun
from askspark.evals.suite import load_suite, select
from askspark.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="northwind")
    parser.add_argument("--tags", default="heldout")
    parser.add_argument("--counts", default="1,3", help="candidate counts, the first is the baseline")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    settings = get_settings()
    questions = select(
        load_suite(ROOT / "suites" / f"{args.suite}.jsonl"), tags=[args.tags], limit=args.limit
    )
    ensure_sample({t for q in questions for t in q.tables}, settings)
    engine = api.engine_for(settings.engine, settings)
    llm = api.llm_for("embedded", settings)
    warm = settings.model_copy(update={"candidates": 1})
    EvalRun(settings=warm).one(questions[0], engine, llm, warm, 1)  # starts Spark, loads the model: not timed
    results: dict[int, list[QuestionResult]] = {c: [] for c in counts}
    for index, question in enumerate(questions):
        order = counts if index % 2 == 0 else counts[::-1]
        for count in order:
            run_settings = settings.model_copy(update={"candidates": count})
            run = EvalRun(settings=run_settings)
            result = run.one(question, engine, llm, run_settings, run_settings.max_attempts)
            results[count].append(result)
            mark = "ok " if result.correct else "BAD"
            print(
                f"[{index + 1}/{len(questions)}] {count}: {mark} {question.id} {result.seconds:.1f} s",
                file=sys.stderr,
            )
    print(table(results, counts))


def table(results: dict[int, list[QuestionResult]], counts: list[int]) -> str:
    """The printed table: one row per candidate count."""
    base = statistics.median(r.seconds for r in results[counts[0]])
    lines = [
        "| candidates | questions | correct | flagged (wrong; right) | median s | mean s | median vs first |",
        "| ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for count in counts:
        rows = results[count]
        seconds = [r.seconds for r in rows]
        wrong = [r for r in rows if not r.correct and r.status == "succeeded"]
        right = [r for r in rows if r.correct]
        flagged = f"{sum(bool(r.flagged) for r in wrong)}/{len(wrong)}; {sum(bool(r.flagged) for r in right)}/{len(right)}"
        median = statistics.median(seconds)
        lines.append(
            f"| {count} | {len(rows)} | {len(right)} | {flagged} | {median:.1f} | {statistics.mean(seconds):.1f} "
            f"| {median / base:.2f}x |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
