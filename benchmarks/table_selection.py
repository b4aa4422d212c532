"""Table selection recall on a generated catalog of 236 tables and 68 questions with known answers.

For each question the selector picks up to k tables (the ``auto_tables`` setting, plus the relative
score floor ``auto_min_score``); recall is the share of the question's relevant tables it picked,
averaged over questions. Also shown: recall of the plain top-k ranking (no floor), the mean number of
tables picked (what the prompt pays for) and the time per question.

    .venv/bin/python benchmarks/table_selection.py [--floor 0.35]
"""

from __future__ import annotations

import argparse
import statistics
import time


def measure(k: int, floor: float, questions: list[tuple[str, list[str]]]) -> dict[str, float]:
    from askspark.context.selection import TableIndex
    from askspark.evals.selection_catalog import selection_catalog

    index = TableIndex(selection_catalog())
    recalls, hits_all, sizes, seconds = [], [], [], []
    for question, relevant in questions:
        start = time.perf_counter()
        chosen = {c.table.full_name for c in index.choose(question, k, floor)}
        seconds.append(time.perf_counter() - start)
        found = len(chosen & set(relevant))
        recalls.append(found / len(relevant))
        hits_all.append(float(found == len(relevant)))
        sizes.append(len(chosen))
    return {
        "recall": statistics.mean(recalls),
        "all_found": statistics.mean(hits_all),
        "mean_chosen": statistics.mean(sizes),
        "ms": 1000 * statistics.median(seconds),
    }


def main() -> None:
    from askspark.evals.selection_catalog import HELD_OUT, QUESTIONS, selection_catalog

    parser = argparse.ArgumentParser()
    parser.add_argument("--floor", type=float, default=0.35, help="auto_min_score (default 0.35)")
    args = parser.parse_args()
    start = time.perf_counter()
    from askspark.context.selection import TableIndex

    TableIndex(selection_catalog())
    build_ms = 1000 * (time.perf_counter() - start)
    print(f"catalog: {len(selection_catalog())} tables; index built in {build_ms:.0f} ms")
    sets = {"tuned": QUESTIONS, "held-out": HELD_OUT}
    print(
        f"{'questions':>14} {'k':>3} {'floor':>6} {'recall@k':>9} {'all found':>10} {'mean chosen':>12} {'ms/q':>6}"
    )
    for label, questions in sets.items():
        for k in (1, 2, 3, 4, 6, 8):
            for floor in (0.0, args.floor):
                m = measure(k, floor, questions)
                print(
                    f"{label + f' ({len(questions)})':>14} {k:>3} {floor:>6.2f} {m['recall']:>9.3f} "
                    f"{m['all_found']:>10.3f} {m['mean_chosen']:>12.2f} {m['ms']:>6.2f}"
                )


if __name__ == "__main__":
    main()
