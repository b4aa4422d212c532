"""The written answer on a suite: how often the model's sentences are grounded, what they cost, and
which chart each result gets.

Each question's reference code runs on the local engine (no model writes code, so only the written
answer is measured); then the model writes its sentences from the bounded result, exactly as the run
does (context/written.py), and the grounding check (results/grounding.py) keeps or drops them.

Run: ``ASKSPARK_HOME=var/home .venv/bin/python benchmarks/written_answer.py [SUITE] [--model embedded]
[--limit N]`` (defaults: suites/northwind.jsonl, the embedded model, every question). Prints one row per
question and a summary: grounded rate, seconds per written answer (median, mean), chart kinds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from pathlib import Path

from askspark import api
from askspark.context.written import MAX_TOKENS, answer_messages, clean_reply
from askspark.llm.base import get_llm
from askspark.results.chart import choose_chart
from askspark.results.grounding import ungrounded
from askspark.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("suite", nargs="?", default=str(ROOT / "suites" / "northwind.jsonl"))
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    settings = get_settings()
    llm = get_llm(args.model, settings)
    cases = [json.loads(line) for line in Path(args.suite).read_text().splitlines() if line.strip()]
    rows = [measure(case, llm, settings) for case in cases[: args.limit or None]]
    report([r for r in rows if r is not None])


def measure(case: dict, llm: object, settings: object) -> dict | None:
    """One question: the reference result, its chart kind, the model's sentences and their verdict."""
    answer = api.run_code(case["reference"], case["question"], case["tables"], settings=settings)  # type: ignore[arg-type]
    if not answer.succeeded or answer.result is None or not answer.result.rows:
        return None
    chart = choose_chart(answer.result)
    start = time.perf_counter()
    reply = llm.complete(
        answer_messages(case["question"], answer.result), temperature=0.0, max_tokens=MAX_TOKENS
    )  # type: ignore[attr-defined]
    seconds = time.perf_counter() - start
    text = clean_reply(reply.text)
    missing = ungrounded(text, answer.result, case["question"])
    row = {
        "id": case["id"],
        "chart": chart["mark"]["type"] if chart else "-",
        "seconds": seconds,
        "missing": missing,
    }
    print(
        f"{row['id']:<36} {row['chart']:<6} {seconds:6.1f} s  {'ok' if not missing else 'DROPPED ' + ', '.join(missing[:3])}"
    )
    print(f"    {text[:160]}")
    return row


def report(rows: list[dict]) -> None:
    if not rows:
        print("no question returned rows")
        return
    grounded = sum(1 for r in rows if not r["missing"])
    seconds = [r["seconds"] for r in rows]
    print()
    print("| questions | grounded | median s | mean s | charts |")
    print("| --- | --- | --- | --- | --- |")
    kinds = ", ".join(f"{k} {n}" for k, n in Counter(r["chart"] for r in rows).most_common())
    print(
        f"| {len(rows)} | {grounded}/{len(rows)} ({grounded / len(rows):.0%}) | "
        f"{statistics.median(seconds):.1f} | {statistics.mean(seconds):.1f} | {kinds} |"
    )


if __name__ == "__main__":
    main()
