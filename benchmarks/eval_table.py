"""Side-by-side table of `askspark eval` runs: accuracy, the hard classes, median seconds and honesty.

Reads `benchmarks/results/issue12-CONFIG-SUITE.json` (a finished run's report) or, for a run that was
stopped early, the per-question lines of `issue12-CONFIG-SUITE.log` (marked partial).

    .venv/bin/python benchmarks/eval_table.py --suites northwind,events,retail --configs before,after1,after3
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
HARD = {"join", "window", "top-per-group", "percentile", "self-join", "subquery"}
LINE = re.compile(r"\[\d+/\d+\] (ok |BAD) (\S+): \d+ attempt\(s\), ([\d.]+) s")


def tags_of(suite: str) -> dict[str, list[str]]:
    lines = (ROOT / "suites" / f"{suite}.jsonl").read_text().splitlines()
    questions = [json.loads(x) for x in lines if x.strip() and not x.startswith(("#", "//"))]
    return {q["id"]: q["tags"] for q in questions}


def load(config: str, suite: str) -> tuple[list[dict[str, Any]], bool]:
    """The run's per-question results and whether the run finished."""
    report = RESULTS / f"issue12-{config}-{suite}.json"
    if report.exists():
        return json.loads(report.read_text())["results"], True
    log = RESULTS / f"issue12-{config}-{suite}.log"
    if not log.exists():
        return [], False
    found = [LINE.search(line) for line in log.read_text().splitlines()]
    return [{"id": m[2], "correct": m[1] == "ok ", "seconds": float(m[3])} for m in found if m], False


def row(config: str, suites: list[str]) -> str:
    results, parts = [], []
    for suite in suites:
        got, done = load(config, suite)
        tags = tags_of(suite)
        results += [{**r, "tags": tags.get(r["id"], [])} for r in got]
        parts.append(f"{suite} {len(got)}{'' if done else ' (partial)'}")
    if not results:
        return f"| {config} | none | | | | |"
    right = sum(r["correct"] for r in results)
    hard = [r for r in results if HARD & set(r["tags"])]
    median = statistics.median(r["seconds"] for r in results)
    return (
        f"| {config} | {', '.join(parts)} | {right}/{len(results)} = {right / len(results):.0%} | "
        f"{sum(r['correct'] for r in hard)}/{len(hard)} | {median:.1f} | {honesty(results)} |"
    )


def honesty(results: list[dict[str, Any]]) -> str:
    ran = [r for r in results if r.get("status") == "succeeded"]
    if not ran:
        return "n/a (partial run)"
    wrong = [r for r in ran if not r["correct"]]
    right = [r for r in ran if r["correct"]]
    return (
        f"{sum(bool(r.get('flagged')) for r in wrong)}/{len(wrong)} wrong; "
        f"{sum(bool(r.get('flagged')) for r in right)}/{len(right)} right"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", default="northwind")
    parser.add_argument("--configs", default="before,after1,after3")
    args = parser.parse_args()
    print(
        "| config | held-out questions | correct | join/window/top-per-group/percentile | median s | flagged |"
    )
    print("| --- | --- | ---: | ---: | ---: | --- |")
    for config in args.configs.split(","):
        print(row(config, args.suites.split(",")))


if __name__ == "__main__":
    main()
