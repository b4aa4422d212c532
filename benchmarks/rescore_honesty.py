"""An eval report's honesty under today's `Confidence` rules, recomputed from its stored run documents.

`askspark eval` flags an answer when a result check still fired or its confidence is low. When that
rule changes, an earlier run can be scored again without asking again: the run documents in the eval's
`ASKSPARK_HOME` keep every candidate's group and failure. Prints both rates, as run and as rescored,
and the questions whose flag changed.

    .venv/bin/python benchmarks/rescore_honesty.py benchmarks/results/issue12-r3after-events.json /tmp/home-after
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path
from typing import Any

from askspark.record import Confidence


def rescored(document: dict[str, Any]) -> bool:
    """Whether today's rules flag the answer: a check that fired, or low confidence."""
    if document.get("suspect"):
        return True
    stored = document.get("confidence")
    if not stored:
        return False
    voted = [
        a for a in document["attempts"] if any(c.get("group") is not None for c in a.get("candidates") or [])
    ]
    candidates = voted[-1]["candidates"]
    groups: dict[int, list[bool]] = {}
    for c in candidates:
        if c.get("group") is not None:
            groups.setdefault(c["group"], []).append((c.get("error") or {}).get("kind") == "suspect_result")
    doubted = sum(len(flags) for group, flags in groups.items() if group != 0 and all(flags))
    fields = {k: stored[k] for k in ("agree", "executed", "share", "asked")}
    return Confidence(**fields, generated=len(candidates), doubted=doubted).low


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("report", help="an `askspark eval --out` JSON report")
    parser.add_argument("home", help="the ASKSPARK_HOME the eval ran with (its runs.db)")
    args = parser.parse_args()
    db = sqlite3.connect(f"{args.home}/runs.db")
    rows = []
    for q in json.loads(Path(args.report).read_text())["results"]:
        if q["status"] != "succeeded":
            continue
        document = json.loads(
            db.execute("SELECT document FROM runs WHERE id = ?", (q["run_id"],)).fetchone()[0]
        )
        rows.append((q["id"], q["correct"], bool(q.get("flagged")), rescored(document)))
    print("| rule | wrong answers flagged | right answers flagged |\n| --- | ---: | ---: |")
    for label, index in (("as run", 2), ("rescored", 3)):
        wrong = [r for r in rows if not r[1]]
        right = [r for r in rows if r[1]]
        print(
            f"| {label} | {sum(r[index] for r in wrong)}/{len(wrong)} | {sum(r[index] for r in right)}/{len(right)} |"
        )
    for question, correct, before, after in rows:
        if before != after:
            print(
                f"- {question} ({'right' if correct else 'wrong'}): {'flagged' if after else 'no longer flagged'}"
            )


if __name__ == "__main__":
    main()
