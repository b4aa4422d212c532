"""A short plain-English summary of an answer, written from the result itself (no model call).

A deterministic summary cannot invent numbers: it states what the result holds, its first rows, and
whether it was cut; a failed run's summary names the last error and how many attempts were made.
"""

from __future__ import annotations

from typing import Any

from askspark.record import Answer, ResultPreview


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e15 else f"{value:.4e}"
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _row(result: ResultPreview, row: list[Any]) -> str:
    return ", ".join(f"{c.name} = {_cell(v)}" for c, v in zip(result.columns, row, strict=False))


def summarize_result(result: ResultPreview) -> str:
    """'3 rows × 2 columns (a, b). First: a = 1, b = x.' with the truncation noted."""
    names = ", ".join(c.name for c in result.columns)
    n = len(result.rows)
    if n == 0:
        return f"No rows matched (columns: {names})."
    if n == 1:
        return f"1 row: {_row(result, result.rows[0])}."
    count = f"more than {n}" if result.truncated else str(n)
    text = f"{count} rows × {len(result.columns)} columns ({names}). First: {_row(result, result.rows[0])}"
    if n > 1:
        text += f"; last shown: {_row(result, result.rows[-1])}"
    if result.truncated:
        text += f". Showing the first {n}; the full result is at {result.location}"
    return text + "."


def summarize(answer: Answer) -> str:
    if answer.status == "succeeded" and answer.result is not None:
        return summarize_result(answer.result)
    if answer.clarification is not None:
        c = answer.clarification
        closest = f" Closest that exist: {', '.join(c.closest)}." if c.closest else ""
        return f"Cannot answer from this data: {c.missing.rstrip('.')}.{closest}"
    n = len(answer.attempts)
    if answer.error is None:
        return f"No answer after {n} attempt(s)."
    reason = f" ({answer.stop_reason})" if answer.stop_reason else ""
    return f"No answer after {n} attempt(s){reason}; last error: {answer.error.kind.value}: {answer.error.message}"
