"""Issue 13 measurements with the embedded model, in one process (one Spark server, one loaded model):

* business terms (`suites/retail_terms.jsonl`) with and without the knowledge entries of
  `suites/retail.knowledge.yaml` (imported into the home's local catalog first);
* "I can't answer that from this data" (`suites/clarify.jsonl`): how many unanswerable questions come back
  `needs_clarification`, and how many answerable ones do.

The work is interleaved (two term questions in both conditions, then two clarification questions) so a run
stopped early still compares like with like; each result is appended to `OUT/results.jsonl` as it ends, and
the table is printed from that file (also with `--table` alone, for a run still going or stopped).

    ASKSPARK_HOME=/tmp/home-k .venv/bin/python benchmarks/knowledge_eval.py benchmarks/results/issue13
    .venv/bin/python benchmarks/knowledge_eval.py benchmarks/results/issue13 --table
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT / "suites"


def order() -> list[tuple[str, Any]]:
    """(condition, question) in the interleaved order described above."""
    from askspark.evals.suite import load_suite

    terms = load_suite(SUITES / "retail_terms.jsonl")
    clarify = load_suite(SUITES / "clarify.jsonl")
    un = [q for q in clarify if q.unanswerable]
    answerable = [q for q in clarify if not q.unanswerable]
    mixed = [q for pair in itertools.zip_longest(un, answerable) for q in pair if q is not None]
    term_jobs = iter([(c, q) for q in terms for c in ("with", "without")])
    clarify_jobs = iter([("clarify", q) for q in mixed])
    jobs: list[tuple[str, Any]] = []
    while chunk := list(itertools.islice(term_jobs, 4)) + list(itertools.islice(clarify_jobs, 2)):
        jobs += chunk
    return jobs


def measure(out: Path, max_attempts: int) -> None:
    from askspark.catalog.knowledge import KnowledgeStore, read_file
    from askspark.evals.run import EvalRun
    from askspark.settings import get_settings

    settings = get_settings()
    store = KnowledgeStore(settings)
    for entry in read_file(SUITES / "retail.knowledge.yaml").entries:
        store.put(entry)
    off = settings.model_copy(update={"knowledge": False})
    runners = {
        "with": EvalRun(settings=settings, model="embedded", max_attempts=max_attempts),
        "without": EvalRun(settings=off, model="embedded", max_attempts=max_attempts),
        "clarify": EvalRun(settings=settings, model="embedded", max_attempts=max_attempts),
    }
    done = {(r["condition"], r["id"]) for r in read(out)}
    with (out / "results.jsonl").open("a") as f:
        for condition, question in order():
            if (condition, question.id) in done:
                continue  # a rerun resumes where the last one stopped
            result = runners[condition].run([question]).results[0]
            f.write(json.dumps({"condition": condition, **result.model_dump(mode="json")}) + "\n")
            f.flush()
            print(f"{condition} {'ok ' if result.correct else 'BAD'} {result.id} {result.status}", flush=True)


def read(out: Path) -> list[dict[str, Any]]:
    path = out / "results.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def rate(k: int, n: int) -> str:
    return f"{k}/{n} = {k / n:.0%}" if n else "0/0"


def table(results: list[dict[str, Any]]) -> str:
    """Accuracy with and without knowledge on the questions both conditions finished, and both
    clarification rates."""
    by = {c: {r["id"]: r for r in results if r["condition"] == c} for c in ("with", "without", "clarify")}
    both = sorted(set(by["with"]) & set(by["without"]))
    clar = list(by["clarify"].values())
    un = [r for r in clar if r["unanswerable"]]
    answerable = [r for r in clar if not r["unanswerable"]]
    lines = [
        "| measure | result |",
        "| --- | --- |",
        f"| business terms, with knowledge | {rate(sum(by['with'][i]['correct'] for i in both), len(both))} |",
        f"| business terms, without knowledge | {rate(sum(by['without'][i]['correct'] for i in both), len(both))} |",
        f"| unanswerable questions declined (needs_clarification) | {rate(sum(r['correct'] for r in un), len(un))} |",
        "| answerable questions declined | "
        f"{rate(sum(r['status'] == 'needs_clarification' for r in answerable), len(answerable))} |",
        f"| answerable questions answered right | {rate(sum(r['correct'] for r in answerable), len(answerable))} |",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="Directory of results.jsonl")
    parser.add_argument("--table", action="store_true", help="Only print the table of what is there.")
    parser.add_argument("--max-attempts", type=int, default=3)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.table:
        measure(args.out, args.max_attempts)
    print(table(read(args.out)), end="")


if __name__ == "__main__":
    main()
