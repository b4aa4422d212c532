"""Schemas that fit: tables and columns pruned to the question within a token budget.

With many wide tables the schemas alone can pass the model's context window, and a run then fails as
a provider error before any code is written. When the rendered schemas pass the budget, they are
pruned in steps, each step only as far as needed: first the comments and values of columns the
question does not name are dropped, then those columns themselves (keeping join keys, key-like
columns and the columns whose names or comments share a word with the question), then the tables
the question matches least. Pure: the caller supplies the renderer and the token counter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from askspark.catalog.base import Column, TableInfo
from askspark.context.joins import is_key_like
from askspark.context.selection import terms

Named = Sequence[tuple[TableInfo, str]]
Counter = Callable[[str], int]


def estimate_tokens(text: str) -> int:
    """A conservative token count when no tokenizer is at hand: code-like text runs about 3.5-4
    characters per token with Qwen's tokenizer, so chars/3 over-counts a little, never under."""
    return len(text) // 3 + 1


def relevant(column: Column, question_terms: set[str]) -> bool:
    """The column's name or comment shares a word with the question."""
    return bool(set(terms(column.name)) & question_terms or set(terms(column.comment or "")) & question_terms)


def table_relevance(table: TableInfo, view: str, question_terms: set[str]) -> int:
    """How many question words the table's name, comment and columns share (to drop the least first)."""
    own = set(terms(view)) | set(terms(table.name)) | set(terms(table.comment or ""))
    return 3 * len(own & question_terms) + sum(relevant(c, question_terms) for c in table.columns)


def _bare(column: Column) -> Column:
    return column.model_copy(update={"comment": None, "samples": [], "values": None})


def _lighten(tables: Named, kept: set[tuple[str, str]]) -> list[tuple[TableInfo, str]]:
    """Step 1: columns the question does not name lose their comments, samples and values."""
    return [
        (t.model_copy(update={"columns": [c if (v, c.name) in kept else _bare(c) for c in t.columns]}), v)
        for t, v in tables
    ]


def _narrow(tables: Named, kept: set[tuple[str, str]], extra: int) -> list[tuple[TableInfo, str]]:
    """Step 2: each table keeps its kept columns and only its first ``extra`` other columns."""
    out = []
    for t, v in tables:
        first = {c.name for c in [c for c in t.columns if (v, c.name) not in kept][:extra]}
        columns = [c for c in t.columns if (v, c.name) in kept or c.name in first]
        out.append((t.model_copy(update={"columns": columns}), v))
    return out


def fit(
    tables: Named,
    question: str,
    render: Callable[[Named], str],
    budget: int,
    *,
    keys: set[tuple[str, str]] | None = None,
    count: Counter = estimate_tokens,
) -> list[tuple[TableInfo, str]]:
    """``tables`` pruned until ``count(render(tables)) <= budget`` (at least one table is always kept).

    ``keys`` are (view, column) pairs that survive every step but the last (join keys).
    """
    current = list(tables)
    if count(render(current)) <= budget:
        return current
    qt = set(terms(question))
    kept = (keys or set()) | {
        (v, c.name) for t, v in tables for c in t.columns if is_key_like(c.name) or relevant(c, qt)
    }
    current = _lighten(current, kept)
    extra = max((len(t.columns) for t, _ in current), default=0)
    while count(render(current)) > budget and extra > 0:
        extra //= 2
        current = _narrow(_lighten(tables, kept), kept, extra)
    ranked = sorted(current, key=lambda tv: table_relevance(tv[0], tv[1], qt))  # least relevant first
    while count(render(current)) > budget and len(current) > 1:
        dropped = ranked.pop(0)
        current = [tv for tv in current if tv[1] != dropped[1]]
    return current
