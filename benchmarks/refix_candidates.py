"""Which failed candidates of an earlier eval today's rules before the run would change, with no model call.

    .venv/bin/python benchmarks/refix_candidates.py benchmarks/results/issue12-r4after-events.json /tmp/home-B-events

The run documents in the eval's ``ASKSPARK_HOME`` keep every candidate's code and failure. Each
candidate that failed to run (not one whose result a check doubted) is passed through
``runs/rewrites.fix_before_run`` with the schemas of its tables from that home's catalog; printed: the
candidates a rule changes, by rule, and the question and its verdict. A changed candidate is not
known to run or to be right: this counts where the rules reach, it does not score them.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections import Counter
from pathlib import Path

from askspark.catalog.local import LocalCatalog
from askspark.engines.base import view_names
from askspark.evals.suite import load_suite
from askspark.runs.rewrites import fix_before_run
from askspark.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", help="an `askspark eval --out` JSON report")
    parser.add_argument("home", help="the ASKSPARK_HOME the eval ran with (its runs.db and catalog)")
    args = parser.parse_args()
    report = json.loads(Path(args.report).read_text())
    questions = {q.id: q for q in load_suite(ROOT / "suites" / Path(report["suite"]).name)}
    catalog, db = LocalCatalog(Settings(home=args.home)), sqlite3.connect(f"{args.home}/runs.db")
    fixed: Counter[str] = Counter()
    failed = 0
    for result in report["results"]:
        row = db.execute("SELECT document FROM runs WHERE id = ?", (result["run_id"],)).fetchone()
        if row is None:
            continue
        tables = [catalog.describe(*t.split(".", 1)) for t in questions[result["id"]].tables]
        named = list(zip(tables, view_names(tables), strict=True))
        for attempt in json.loads(row[0])["attempts"]:
            for candidate in attempt.get("candidates") or []:
                error = candidate.get("error")
                if not error or not candidate.get("code") or error["kind"] == "suspect_result":
                    continue
                failed += 1
                if (found := fix_before_run(candidate["code"], result["question"], named)) is not None:
                    fixed[found[0]] += 1
                    right = "right" if result["correct"] else "wrong"
                    print(f"{result['id']} ({right}): {error['kind']} -> {found[0]}")
    print(f"\n{sum(fixed.values())} of {failed} candidates that failed to run are changed by a rule:")
    for rules, count in fixed.most_common():
        print(f"  {rules}: {count}")


if __name__ == "__main__":
    main()
