"""Issue 12's ablation: each accuracy lever on its own and all together, held-out accuracy and seconds.

Every configuration is one `askspark eval` run of the same held-out questions with the embedded model,
one after the other on one machine (never in parallel: they would slow each other unevenly). A lever is
a setting (docs/settings.md), turned on alone over a base with every lever off and one candidate:

    .venv/bin/python benchmarks/ablation.py --suite events [--configs none,all,checks,...]
    .venv/bin/python benchmarks/eval_table.py --suites events --configs abl-none,abl-all,abl-checks,...

Each run writes `benchmarks/results/issue12-abl-CONFIG-SUITE.{json,md,log}`, the files eval_table.py
reads (a run stopped early is read from its log and marked partial).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
LEVERS = {
    "join_keys": "ASKSPARK_CONTEXT_JOIN_KEYS",
    "values": "ASKSPARK_CONTEXT_VALUES",
    "type_hints": "ASKSPARK_CONTEXT_TYPE_HINTS",
    "examples": "ASKSPARK_CONTEXT_EXAMPLES",
    "cross_table_feedback": "ASKSPARK_CONTEXT_CROSS_TABLE_FEEDBACK",
    "checks": "ASKSPARK_RESULT_CHECKS",
    "rewrites": "ASKSPARK_REWRITES",
}
NEEDS = {"rewrites": {"checks"}}  # a rewrite repairs what a check found: it is measured with the checks
# The order runs go in: the two ends first, then the levers by the misses they were built for.
CONFIGS = [
    "none",
    "all",
    "checks",
    "rewrites",
    "join_keys",
    "examples",
    "type_hints",
    "values",
    "cross_table_feedback",
]


def environment(config: str) -> dict[str, str]:
    """The settings of one configuration: 'none' (every lever off), 'all', or one lever on alone;
    one candidate in each, so the levers are measured apart from the vote."""
    on = set(LEVERS) if config == "all" else ({config} | NEEDS.get(config, set())) & set(LEVERS)
    env = {var: "true" if lever in on else "false" for lever, var in LEVERS.items()}
    return {**os.environ, **env, "ASKSPARK_CANDIDATES": "1"}


def run(config: str, suite: str, tags: str) -> int:
    stem = RESULTS / f"issue12-abl-{config}-{suite}"
    command = [
        str(Path(sys.executable).parent / "askspark"), "eval", str(ROOT / "suites" / f"{suite}.jsonl"),
        "--model", "embedded", "--tags", tags, "--out", f"{stem}.json", "--markdown", f"{stem}.md",
    ]  # fmt: skip
    with open(f"{stem}.log", "w") as log:
        return subprocess.run(
            command, env=environment(config), stdout=log, stderr=subprocess.STDOUT
        ).returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="events")
    parser.add_argument("--tags", default="heldout")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    args = parser.parse_args()
    for config in args.configs.split(","):
        if config not in CONFIGS:
            parser.error(f"unknown config {config!r}; one of {', '.join(CONFIGS)}")
        print(f"{config}: exit {run(config, args.suite, args.tags)}", flush=True)


if __name__ == "__main__":
    main()
