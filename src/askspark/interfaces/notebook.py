"""Notebooks: ``%load_ext askspark`` adds the ``%ask`` line magic and the ``%%ask`` cell magic, and
``askspark.register(name, frame)`` makes a pandas or Arrow frame askable by name.

    %load_ext askspark
    askspark.register("sales", df)            # -> the table uploads.sales
    %ask --table sales What were total sales per region?

    %%ask --table sales --row-limit 100
    Which region grew most from 2023 to 2024?

A magic's options are the flags of ``askspark ask`` (one per field of :class:`~askspark.request.Options`);
it shows the code, the attempts and the notices, and its value is the result as a pandas DataFrame
(``_`` holds it). ``askspark.ask(...)`` gives the whole :class:`~askspark.record.Answer`, which displays
itself in a notebook and converts with ``to_pandas()`` / ``to_arrow()``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from askspark.catalog.base import TableInfo
from askspark.errors import AskSparkError, UsageError
from askspark.request import Options
from askspark.settings import Settings, get_settings


def register(name: str, frame: Any, *, settings: Settings | None = None) -> TableInfo:
    """Write a pandas DataFrame or an Arrow table as Parquet into the upload area and register it as the
    table ``uploads.NAME`` (its schema inferred), askable as ``uploads.NAME`` (or ``NAME`` when unique).

    Raises:
        UsageError: a bad table name, or a frame that is neither pandas nor Arrow.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from askspark.catalog.uploads import store_upload, upload_table_name

    table = upload_table_name(name)
    data = _arrow(frame, pa)
    return store_upload(
        settings or get_settings(), table, f"{table}.parquet", lambda p: pq.write_table(data, p)
    )


def _arrow(frame: Any, pa: Any) -> Any:
    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pa.RecordBatch):
        return pa.Table.from_batches([frame])
    import pandas as pd

    if isinstance(frame, pd.DataFrame):
        # The index is row labels, not data; columns named by numbers become text names for Spark.
        frame = frame.rename(columns=str)
        return pa.Table.from_pandas(frame, preserve_index=False)
    raise UsageError(
        f"cannot register a {type(frame).__name__}",
        suggestion="pass a pandas DataFrame or a pyarrow Table",
    )


# --- magics ---------------------------------------------------------------------------------------


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext askspark``: register ``%ask`` / ``%%ask``."""
    ipython.register_magic_function(ask_magic, magic_kind="line_cell", magic_name="ask")


def ask_magic(line: str, cell: str | None = None) -> Any:
    """``%ask [options] QUESTION`` or ``%%ask [options]`` with the question as the cell: show the code and
    the attempts; the value is the result as a DataFrame (None when the run failed)."""
    from IPython.display import HTML, display

    from askspark.api import ask

    try:
        question, options = parse_magic(line, cell)
        answer = ask(question, listener=_progress, **options)
    except AskSparkError as exc:
        print(
            f"error: {exc.message}" + (f"\nhint: {exc.suggestion}" if exc.suggestion else ""), file=sys.stderr
        )
        return None
    display(HTML(answer.to_html(rows=0)))
    return answer.to_pandas() if answer.succeeded else None


def parse_magic(line: str, cell: str | None) -> tuple[str, dict[str, Any]]:
    """The question and the options of a magic's line (and cell): flags as ``askspark ask`` takes them."""
    try:
        words = shlex.split(line)
        known, rest = _parser().parse_known_args(words)
    except (ValueError, SystemExit) as exc:  # argparse exits on a flag without its value
        raise UsageError(
            f"cannot read the options {line!r}: {exc}", suggestion="see askspark ask --help"
        ) from None
    unknown = [w for w in rest if w.startswith("--")]
    if unknown:
        raise UsageError(f"unknown option {unknown[0]!r}", suggestion="the options are askspark ask's flags")
    question = cell.strip() if cell is not None else " ".join(rest)
    options = {k: v for k, v in vars(known).items() if v not in (None, [])}
    return question, options


def _parser() -> argparse.ArgumentParser:
    """One flag per request option, as the CLI makes them (a new option is a new flag here too)."""
    from askspark.interfaces.cli import FLAGS

    parser = argparse.ArgumentParser(prog="%ask", add_help=False, exit_on_error=False)
    for name, field in Options.model_fields.items():
        flags = FLAGS.get(name, (f"--{name.replace('_', '-')}",))
        many = isinstance(field.get_default(call_default_factory=True), list)
        parser.add_argument(*flags, dest=name, action="append" if many else "store", default=None)
    return parser


def _progress(event: str, data: dict[str, Any]) -> None:
    """The tables chosen and each attempt's outcome, printed under the cell as they happen."""
    from askspark.interfaces.progress import progress_message

    if event in ("chosen", "attempt"):
        print(progress_message(event, data))
