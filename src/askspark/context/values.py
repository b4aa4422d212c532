"""Question-aware notes on the data: stored values that match words of the question, and type hints.

A question says "USA" where the table stores 'United States', or "laptops" where it stores 'Laptop':
the model, shown the stored spelling, filters on it. Values come from the columns' complete distinct
values (``Column.values``) or their samples, after the privacy settings have been applied (masked
values match nothing). Pure: no I/O.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from askspark.catalog.base import TableInfo
from askspark.context.selection import STOPWORDS

_TIME_WORDS = re.compile(
    r"\b(day|days|daily|date|dates|hour|hours|hourly|per hour|weekday|morning|evening)\b", re.I
)
_HOUR_WORDS = re.compile(r"\b(hour|hours|hourly|o'?clock|am|pm|morning|evening|night)\b", re.I)
_CLOSE = 0.88  # spelling similarity for a match: 'colour' ~ 'color', not 'product' ~ 'Produce'
_TIMESTAMP = re.compile(r"timestamp(_ntz|_ltz)?\b", re.I)


@dataclass(frozen=True)
class ValueMatch:
    view: str
    column: str
    value: str  # the stored spelling
    asked: str  # the words of the question it matches


def _phrases(question: str, longest: int = 3) -> list[str]:
    """The question's words and runs of up to ``longest`` words, for multi-word values."""
    found = re.findall(r"[A-Za-z0-9][A-Za-z0-9'&.-]*", question)
    out = []
    for n in range(longest, 0, -1):
        for i in range(len(found) - n + 1):
            run = found[i : i + n]
            if n == 1 and run[0].lower() in STOPWORDS:
                continue
            out.append(" ".join(run).strip(".'"))
    return out


def _initials(value: str) -> str:
    return "".join(w[0] for w in re.findall(r"[A-Za-z]+", value) if w.lower() not in {"of", "the", "and"})


def matches(asked: str, value: str) -> bool:
    """Case-insensitive, plural-tolerant, close spelling or initials (``USA`` ~ 'United States of
    America', ``US`` ~ 'United States')."""
    a, v = asked.lower(), value.lower()
    if len(a) < 2 or not re.search(r"[a-z]", v):
        return False
    if a == v or a.rstrip("s") == v.rstrip("s"):
        return True
    if asked.isupper() and 2 <= len(asked) <= 5 and " " in value.strip():
        initials = _initials(value).lower()
        return initials == a or (a == "usa" and initials == "us") or (a == "us" and initials == "usa")
    if len(a) < 5 or len(v) < 5 or 2 * min(len(a), len(v)) < _CLOSE * (len(a) + len(v)):
        return False  # too short to judge, or too different in length to reach the ratio
    return difflib.SequenceMatcher(None, a, v).ratio() >= _CLOSE


def matching_values(
    question: str, tables: Sequence[tuple[TableInfo, str]], limit: int = 8
) -> list[ValueMatch]:
    """Stored values of text columns that match words of the question (at most ``limit``)."""
    # A word that names a table or column is about the schema, not a value ("product" is no 'Produce').
    schema = {w.lower() for t, v in tables for w in (t.name, v, *(c.name for c in t.columns))}
    phrases = [
        p for p in _phrases(question) if p.lower() not in schema and p.lower().rstrip("s") not in schema
    ]
    found: list[ValueMatch] = []
    for table, view in tables:
        for col in table.columns:
            for value in col.values if col.values is not None else col.samples:
                hit = next((p for p in phrases if matches(p, value)), None)
                if hit is not None and value != hit:  # the same spelling needs no note
                    found.append(ValueMatch(view, col.name, value, hit))
    return found[:limit]


def time_hints(question: str, tables: Sequence[tuple[TableInfo, str]]) -> list[str]:
    """Guidance for timestamp columns when the question asks by day or hour: comparing a timestamp with
    a date string keeps only midnight, so say how to take the day and the hour."""
    if not _TIME_WORDS.search(question):
        return []
    columns = [
        (view, col.name)
        for table, view in tables
        for col in table.columns
        if _TIMESTAMP.match(col.type) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", col.name)
    ]
    if not columns:
        return []
    names = ", ".join(f"{v}.{c}" for v, c in columns[:4])
    col = columns[0][1]
    hints = [
        f"{names} {'is a timestamp' if len(columns) == 1 else 'are timestamps'}: for a day use "
        f"to_date({col}) = DATE'2025-03-10' or GROUP BY to_date({col}), never {col} = '2025-03-10'."
    ]
    if _HOUR_WORDS.search(question):
        hints.append(f"For the hour of day use hour({col}); for one hour, date_trunc('HOUR', {col}).")
    return hints
