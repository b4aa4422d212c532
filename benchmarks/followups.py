"""Follow-up questions and verified answers, measured on suites/followups/northwind.jsonl (issue 13).

Three parts, each printed as a table:

1. ``lexical`` (always; no Spark, no model, instant): the first question of every conversation is a
   verified answer; for each of its paraphrases, is the verified answer replayed (``replayable``), and
   is it among the worked examples (``rank``, recall@1 and @2)? And the false replays: every other
   question of the suite (a later turn written out in full, a different question) against all the
   verified ones: how many would replay a verified answer (must be 0).
2. ``--model MODEL`` (slow): every conversation asked turn by turn as follow-ups (``follow_up``), and
   every turn written out in full as a new question; each answer scored against the turn's reference
   (``evals.run.score``): accuracy per turn number, side by side.
3. ``--model MODEL --verified``: each conversation's first reference answer is run, verified, and each
   paraphrase asked: how many were answered by replay, how many with the verified example in the
   prompt, and the accuracy of each. The verifications are taken back at the end.

    ASKSPARK_HOME=/tmp/bench-home .venv/bin/python benchmarks/followups.py [--model embedded] \\
        [--limit N] [--verified] [--out benchmarks/results/followups.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

SUITE = Path(__file__).parent.parent / "suites" / "followups" / "northwind.jsonl"


def load(path: Path = SUITE) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


def lexical(conversations: list[dict[str, Any]]) -> dict[str, Any]:
    """Replay and example recall of paraphrases, and false replays of other questions."""
    from askspark.context.verified import Worked, rank, replayable

    verified = [Worked(c["id"], c["turns"][0]["full"], "") for c in conversations]
    replayed = wrong = at1 = at2 = total = 0
    for conv in conversations:
        for paraphrase in conv["paraphrases"]:
            total += 1
            hit = replayable(paraphrase, verified)
            replayed += hit is not None and hit.run_id == conv["id"]
            wrong += hit is not None and hit.run_id != conv["id"]
            top = [w.run_id for w in rank(paraphrase, verified, 2)]
            at1 += top[:1] == [conv["id"]]
            at2 += conv["id"] in top
    others = [t["full"] for c in conversations for t in c["turns"][1:]]
    false = [q for q in others if replayable(q, verified) is not None]
    return {
        "paraphrases": total, "replayed": replayed, "replayed_wrong": wrong,
        "example_recall_at_1": at1 / total, "example_recall_at_2": at2 / total,
        "other_questions": len(others), "false_replays": len(false), "false_replay_questions": false,
    }  # fmt: skip


def question(conv: dict[str, Any], index: int, text: str) -> Any:
    from askspark.evals.suite import Question

    turn = conv["turns"][index]
    return Question(
        id=f"{conv['id']}#{index + 1}", question=text, tables=conv["tables"], reference=turn["reference"],
        ordered=turn["ordered"],
    )  # fmt: skip


def conversations_run(conversations: list[dict[str, Any]], model: str, settings: Any) -> list[dict[str, Any]]:
    """Each turn asked as a follow-up and in full; one row per turn with both verdicts."""
    from askspark import api
    from askspark.evals.reference import EVAL_ROW_LIMIT, compute_expected
    from askspark.evals.run import score

    engine, llm = api.engine_for(settings.engine, settings), api.llm_for(model, settings)
    rows = []
    for conv in conversations:
        parent = None
        for i, turn in enumerate(conv["turns"]):
            full = question(conv, i, turn["full"])
            expected = compute_expected(full, engine, settings)
            options: dict[str, Any] = {"follow_up": parent} if parent else {}
            chained = api.ask(turn["question"], conv["tables"] if parent is None else (), engine=engine,
                              model=llm, settings=settings, row_limit=EVAL_ROW_LIMIT, **options)  # fmt: skip
            parent = chained.run_id
            alone = api.ask(turn["full"], conv["tables"], engine=engine, model=llm, settings=settings,
                            row_limit=EVAL_ROW_LIMIT)  # fmt: skip
            follow = score(question(conv, i, turn["question"]), chained, expected, settings.max_attempts)
            written = score(full, alone, expected, settings.max_attempts)
            rows.append({"id": full.id, "turn": i + 1, "follow_up": follow.correct, "full": written.correct,
                         "follow_up_seconds": chained.seconds, "full_seconds": alone.seconds})  # fmt: skip
            print(f"  {full.id}: follow-up {'ok' if follow.correct else 'WRONG'}, "
                  f"full {'ok' if written.correct else 'WRONG'}", flush=True)  # fmt: skip
    return rows


def verified_run(conversations: list[dict[str, Any]], model: str, settings: Any) -> list[dict[str, Any]]:
    """Verify each first turn's reference answer, then ask its paraphrases: replay, example, accuracy."""
    from askspark import api
    from askspark.evals.reference import EVAL_ROW_LIMIT, compute_expected
    from askspark.evals.run import score
    from askspark.runs import memory

    engine, llm, store = (
        api.engine_for(settings.engine, settings),
        api.llm_for(model, settings),
        api.store_for(settings),
    )
    rows, ids = [], []
    try:
        for conv in conversations:
            first = question(conv, 0, conv["turns"][0]["full"])
            expected = compute_expected(first, engine, settings)
            run = api.run_code(
                first.reference or "", first.question, conv["tables"], engine=engine, settings=settings
            )
            ids.append(memory.verify(store, run.run_id, settings).run_id)
            for paraphrase in conv["paraphrases"]:
                answer = api.ask(paraphrase, conv["tables"], engine=engine, model=llm, settings=settings,
                                 row_limit=EVAL_ROW_LIMIT)  # fmt: skip
                how = (
                    "replay"
                    if answer.verified
                    else "example"
                    if run.run_id in answer.verified_examples
                    else "none"
                )
                verdict = score(question(conv, 0, paraphrase), answer, expected, settings.max_attempts)
                rows.append(
                    {"id": first.id, "paraphrase": paraphrase, "how": how, "correct": verdict.correct}
                )
                print(
                    f"  {first.id} {paraphrase!r}: {how}, {'ok' if verdict.correct else 'WRONG'}", flush=True
                )
    finally:
        for run_id in ids:
            store.unverify(run_id)
    return rows


def per_turn_table(rows: list[dict[str, Any]]) -> str:
    by_turn: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_turn[row["turn"]].append(row)
    lines = ["| turn | questions | follow-up accuracy | written in full | median s (follow-up / full) |",
             "| --- | --- | --- | --- | --- |"]  # fmt: skip
    for turn, group in sorted(by_turn.items()):
        follow, full = sum(r["follow_up"] for r in group), sum(r["full"] for r in group)
        seconds = (statistics.median(r["follow_up_seconds"] for r in group),
                   statistics.median(r["full_seconds"] for r in group))  # fmt: skip
        lines.append(f"| {turn} | {len(group)} | {follow}/{len(group)} | {full}/{len(group)} | "
                     f"{seconds[0]:.1f} / {seconds[1]:.1f} |")  # fmt: skip
    return "\n".join(lines)


def verified_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| answered by | paraphrases | correct |", "| --- | --- | --- |"]
    for how in ("replay", "example", "none"):
        group = [r for r in rows if r["how"] == how]
        lines.append(f"| {how} | {len(group)} | {sum(r['correct'] for r in group)}/{len(group)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="ask the model too (slow): e.g. embedded, or reference")
    parser.add_argument("--limit", type=int, default=0, help="only the first N conversations")
    parser.add_argument("--verified", action="store_true", help="with --model: the verified-answer part")
    parser.add_argument("--out", type=Path, help="write every measurement as JSON here")
    args = parser.parse_args()
    conversations = load()[: args.limit or None]
    report: dict[str, Any] = {"conversations": len(conversations),
                              "turns": sum(len(c["turns"]) for c in conversations)}  # fmt: skip
    report["lexical"] = lexical(load())
    lex = report["lexical"]
    print(
        "| paraphrases | replayed (right / wrong) | example recall@1 | @2 | other questions | false replays |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| {lex['paraphrases']} | {lex['replayed']} / {lex['replayed_wrong']} | "
          f"{lex['example_recall_at_1']:.2f} | {lex['example_recall_at_2']:.2f} | {lex['other_questions']} | "
          f"{lex['false_replays']} |")  # fmt: skip
    if args.model:
        from askspark.settings import get_settings

        settings = get_settings()
        if args.verified:
            report["verified"] = verified_run(conversations, args.model, settings)
            print(verified_table(report["verified"]))
        else:
            report["turns_run"] = conversations_run(conversations, args.model, settings)
            print(per_turn_table(report["turns_run"]))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
