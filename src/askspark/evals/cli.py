"""``askspark eval SUITE``: run a suite through the pipeline; a Markdown table on stdout, JSON with --out.

Mount it on the main app with ``app.command("eval")(eval_command)``; it also runs on its own:
``python -m askspark.evals.cli SUITE [options]``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from askspark.engines.base import ENGINES
from askspark.errors import AskSparkError
from askspark.llm.base import PROVIDERS


def ensure_sample(tables: set[str], settings: object) -> None:
    """Generate the deterministic datasets (``northwind`` and the development sets) a suite needs when
    the catalog lacks any of their tables."""
    from askspark.catalog.devsets import DATASETS, generate
    from askspark.catalog.local import LocalCatalog

    catalog = LocalCatalog(settings)  # type: ignore[arg-type]
    databases = set(catalog.list_databases())
    for database in sorted({t.split(".", 1)[0] for t in tables} & set(DATASETS)):
        needed = {t.split(".", 1)[1] for t in tables if t.startswith(f"{database}.")}
        present = set(catalog.list_tables(database)) if database in databases else set()
        if not needed <= present:
            print(f"generating the dataset {database!r} (the suite needs it)", file=sys.stderr)
            generate(database, settings)  # type: ignore[arg-type]


def _ensure_tpch(tables: set[str], settings: object) -> None:
    """Generate TPC-H at the suite's scale factor (0.1) when a suite needs database ``tpch`` and it is
    missing; refuse a different scale, whose answers differ from the suite's."""
    from askspark.catalog.tpch import DATABASE, DEFAULT_SCALE, generate_tpch, registered_scale

    if not any(t.startswith(f"{DATABASE}.") for t in tables):
        return
    scale = registered_scale(settings)  # type: ignore[arg-type]
    if scale is None:
        print(f"generating TPC-H at scale factor {DEFAULT_SCALE:g} (the suite needs it)", file=sys.stderr)
        generate_tpch(settings, DEFAULT_SCALE)  # type: ignore[arg-type]
    elif scale != DEFAULT_SCALE:
        raise AskSparkError(
            f"database tpch holds scale factor {scale:g}; the suite's answers are for {DEFAULT_SCALE:g}",
            suggestion=f"askspark catalog tpch --scale {DEFAULT_SCALE:g}",
        )


def eval_command(
    suite: Annotated[Path, typer.Argument(help="The suite: a .jsonl file, one question per line.")],
    model: Annotated[
        str | None,
        typer.Option(
            help=f"Model id, PROVIDER or PROVIDER:NAME (providers: {', '.join(PROVIDERS)}), or 'reference' "
            "to answer with the reference code."
        ),
    ] = None,
    engine: Annotated[
        str | None, typer.Option(help=f"Engine id: {', '.join(ENGINES)} (default: local).")
    ] = None,
    tags: Annotated[
        list[str], typer.Option("--tags", help="Only questions with any of these tags (repeatable or a,b).")
    ] = [],  # noqa: B006
    ids: Annotated[list[str], typer.Option("--id", help="Only these question ids (repeatable or a,b).")] = [],  # noqa: B006
    limit: Annotated[int | None, typer.Option(help="At most this many questions.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the JSON report to this file.")] = None,
    markdown: Annotated[
        Path | None, typer.Option(help="Also write the Markdown report to this file.")
    ] = None,
    max_attempts: Annotated[int | None, typer.Option(help="Attempts per question (default 5).")] = None,
) -> None:
    """Run an evaluation suite and score the answers against the reference results."""
    from askspark.evals.report import QuestionResult, to_json, to_markdown
    from askspark.evals.run import EvalRun
    from askspark.evals.suite import load_suite, select
    from askspark.settings import get_settings

    try:
        settings = get_settings()
        questions = select(load_suite(suite), tags=tags, ids=ids, limit=limit)
        if not questions:
            raise AskSparkError(
                "no question of the suite matches the selection", suggestion="check --tags / --id"
            )
        ensure_sample({t for q in questions for t in q.tables}, settings)
        _ensure_tpch({t for q in questions for t in q.tables}, settings)

        def progress(index: int, total: int, r: QuestionResult) -> None:
            mark = "ok " if r.correct else "BAD"
            why = f" {r.failure_kind}" if r.failure_kind else ""
            print(
                f"[{index}/{total}] {mark} {r.id}: {r.attempts} attempt(s), {r.seconds:.1f} s{why}",
                file=sys.stderr, flush=True,
            )  # fmt: skip

        run = EvalRun(
            settings=settings, model=model or settings.model, engine=engine, max_attempts=max_attempts,
            progress=progress,
        )  # fmt: skip
        report = run.run(questions, suite=str(suite), tags=tags)
    except AskSparkError as exc:
        print(json.dumps(exc.to_dict(), indent=2), file=sys.stderr)
        raise typer.Exit(2) from None
    text = to_markdown(report)
    print(text, end="")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(to_json(report) + "\n", encoding="utf-8")
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(text, encoding="utf-8")


def main() -> None:
    typer.run(eval_command)


if __name__ == "__main__":
    main()
