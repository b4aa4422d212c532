"""Where the time of one question goes: a full ``askspark.ask`` with the scripted model, stage by stage.

Every figure comes from the run's own record (``Answer.timings`` and each ``Attempt.timings``), so
this is what any answer document shows; "other" is the wall time no stage accounts for. The question
is TPC-H Q3 (three tables, a join and a top 10) at SF 0.1 and, for contrast, a one-table question on
the northwind sample. Questions alternate, the first (cold) run of each is reported apart.

    .venv/bin/python benchmarks/stages.py [--runs 7]

Stages: catalog (read the selected tables' definitions), engine (get the started engine), prompt
(build the messages), generate (the model: here scripted, so ~0), validate (static checks), dry run
(the worker calls answer() on empty tables with the real schemas; Spark analyzes the plan),
execute = bind (real tables) + analyze (answer() on them) + collect (the bounded preview) + write
(the result file), keep result (move it to the run's directory), store (save the answer document;
several times per run), prepare (the engine waits for the last job's catalog scrub and takes a ready
worker: with the scripted model, questions come back to back and the spare worker started after the
last job may still be starting; with a real model it starts while the model writes), worker (the whole
exchange with the sandboxed worker: execute + dry run + job parsing and session open).

Writes benchmarks/results/stages.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
NORTHWIND_SQL = (
    "SELECT country, SUM(quantity * unit_price * (1 - discount)) AS revenue FROM orders GROUP BY country"
)
ROWS = (
    ("catalog", "catalog", "run"),
    ("engine", "engine", "run"),
    ("prompt", "prompt", "attempt"),
    ("generate (scripted model)", "generate", "attempt"),
    ("validate (static)", "validate", "attempt"),
    ("dry run", "dry_run", "attempt"),
    ("execute: bind tables", "bind", "attempt"),
    ("execute: analyze (answer() on real tables)", "analyze", "attempt"),
    ("execute: collect preview", "collect", "attempt"),
    ("execute: write result file", "write", "attempt"),
    ("execute (total, worker side)", "execute", "attempt"),
    ("keep result (move to run dir)", "keep_result", "attempt"),
    ("engine: prepare (last job's cleanup, ready worker)", "prepare", "attempt"),
    ("worker exchange (dry run + execute + session)", "worker", "attempt"),
    ("store (answer document saves)", "store", "run"),
)


def scripted(code: str) -> Any:
    from askspark.llm.base import Completion, Message
    from askspark.llm.scripted import ScriptedLLM

    def reply(messages: list[Message], temperature: float) -> Completion:
        return Completion(text=f"```python\n{code}```\n", model="bench")

    return ScriptedLLM(fn=reply, style="python", id="scripted-bench")


def stage_times(answer: Any) -> dict[str, float]:
    attempt = answer.attempts[-1]
    times = {}
    for _, key, where in ROWS:
        source = answer.timings if where == "run" else attempt.timings
        times[key] = source.get(key, 0.0)
    times["total"] = answer.seconds + answer.timings.get("catalog", 0.0) + answer.timings.get("engine", 0.0)
    top = ("catalog", "engine", "prompt", "generate", "validate", "prepare", "worker", "keep_result", "store")
    times["other"] = times["total"] - sum(times[k] for k in top)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    from askspark import api
    from askspark.catalog.sample import generate_northwind
    from askspark.catalog.tpch import generate_tpch
    from askspark.evals.suite import load_suite, select
    from askspark.settings import Settings

    settings = Settings(home=Path(tempfile.mkdtemp(prefix="askspark-stages-")))
    generate_northwind(settings)
    generate_tpch(settings, 0.1)
    q3 = select(load_suite(ROOT / "suites" / "tpch.jsonl"), ids=["q03"])[0]
    questions = {
        "tpch-q3": (q3.question, q3.tables, q3.reference or ""),
        "northwind": (
            "What is the revenue per country?",
            ["northwind.orders"],
            f'def answer(spark, tables):\n    return spark.sql("""{NORTHWIND_SQL}""")\n',
        ),
    }
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in questions}
    cold: dict[str, dict[str, float]] = {}
    for i in range(args.runs + 1):
        for name, (question, tables, code) in questions.items():
            answer = api.ask(question, tables, model=scripted(code), settings=settings)
            assert answer.succeeded, answer.error
            times = stage_times(answer)
            if i == 0:
                cold[name] = times
            else:
                samples[name].append(times)
    api.close_all()
    shutil.rmtree(settings.home, ignore_errors=True)  # a temporary home: data and results
    medians = {n: {k: statistics.median(s[k] for s in runs) for k in runs[0]} for n, runs in samples.items()}
    names = list(questions)
    header = " | ".join(f"{n} median ms | share" for n in names)
    lines = [
        f"One question with the scripted model, stage by stage: median of {args.runs} warm runs "
        "(first run per question reported apart)",
        "",
        f"| stage | {header} | {' | '.join(f'{n} first run ms' for n in names)} |",
        "| --- | "
        + " | ".join("---: | ---:" for _ in names)
        + " | "
        + " | ".join("---:" for _ in names)
        + " |",
    ]
    extra = (("other (not covered by a timer)", "other", ""), ("total (ask() wall time)", "total", ""))
    for label, key, _ in (*ROWS, *extra):
        cells = " | ".join(
            f"{medians[n][key] * 1000:.1f} | {medians[n][key] / medians[n]['total']:.0%}" for n in names
        )
        firsts = " | ".join(f"{cold[n][key] * 1000:.1f}" for n in names)
        lines.append(f"| {label} | {cells} | {firsts} |")
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "stages.md").write_text(f"Run {started}; `benchmarks/stages.py --runs {args.runs}`\n\n{text}")
    (RESULTS / "stages.json").write_text(
        json.dumps({"started": started, "runs": args.runs, "median": medians, "first_run": cold}, indent=2)
    )


if __name__ == "__main__":
    main()
