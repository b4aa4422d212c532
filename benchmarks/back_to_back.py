"""Back-to-back questions with a scripted model: how long each waits for a worker and the last job's scrub.

A scripted model answers at once, so questions reach the engine back to back (as the HTTP API's queue
does); an attempt's ``prepare`` timing is its wait for a ready sandboxed worker and the last job's catalog
scrub. Side by side in one run, on one warm engine, blocks of ``--questions`` questions alternate between
- before: the order before issue 16 (``Runner.ready_ahead = False``): scrub waited first, the next
  worker started only after a job ended;
- after:  the next worker starts when a job takes one, and the scrub overlaps taking it.

    .venv/bin/python benchmarks/back_to_back.py [--questions 10] [--blocks 2]

Prints the median per question of prepare, the worker exchange (the query, dry run included) and the
whole ``ask()``; and the prepare time of every question of the last block of each. Not a test.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

SQL = "SELECT country, SUM(quantity * unit_price * (1 - discount)) AS revenue FROM orders GROUP BY country"
CODE = f'def answer(spark, tables):\n    return spark.sql("""{SQL}""")\n'


def block(api: Any, settings: Any, questions: int) -> list[dict[str, float]]:
    from askspark.llm.scripted import ScriptedLLM

    found = []
    for _ in range(questions):
        start = time.perf_counter()
        llm = ScriptedLLM(fn=lambda *_: f"```python\n{CODE}```")
        answer = api.ask(
            "What is the revenue per country?", ["northwind.orders"], model=llm, settings=settings
        )
        assert answer.succeeded, answer.error
        timings = answer.attempts[-1].timings
        found.append(
            {"prepare": timings["prepare"], "worker": timings["worker"], "total": time.perf_counter() - start}
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--blocks", type=int, default=2)
    args = parser.parse_args()

    from askspark import api
    from askspark.catalog.sample import generate_northwind
    from askspark.engines.runner import Runner
    from askspark.settings import Settings

    settings = Settings(home=Path(tempfile.mkdtemp(prefix="askspark-b2b-")))
    generate_northwind(settings)
    engine = api.engine_for("local", settings)
    engine.warm()  # type: ignore[attr-defined]
    block(api, settings, 2)  # JIT and caches warm for both
    runs: dict[str, list[list[dict[str, float]]]] = {"before": [], "after": []}
    for _ in range(args.blocks):
        for name, ahead in (("before", False), ("after", True)):
            Runner.ready_ahead = ahead
            engine.warm()  # type: ignore[attr-defined]  # each block starts like the other: a worker ready
            time.sleep(2)
            runs[name].append(block(api, settings, args.questions))
    api.close_all()
    shutil.rmtree(settings.home, ignore_errors=True)  # a temporary home: data and results
    print(
        f"\n{args.questions} back-to-back questions (scripted model), {args.blocks} alternating blocks; median ms\n"
    )
    print("| order | prepare (wait for worker + scrub) | worker exchange | whole ask() |")
    print("| --- | ---: | ---: | ---: |")
    for name, blocks in runs.items():
        rows = [r for b in blocks for r in b]
        med = {k: statistics.median(r[k] for r in rows) * 1000 for k in ("prepare", "worker", "total")}
        print(f"| {name} | {med['prepare']:.0f} | {med['worker']:.0f} | {med['total']:.0f} |")
    for name, blocks in runs.items():
        print(
            f"\n{name}: prepare ms per question (last block): "
            + ", ".join(f"{r['prepare'] * 1000:.0f}" for r in blocks[-1])
        )


if __name__ == "__main__":
    main()
