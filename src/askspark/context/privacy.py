"""What the model may see of the data: the schema only, sample values, or masked sample values.

Applied to the table definitions before any prompt is built, so no other path to the model can carry
a raw value. A column's level is the most private of the ``privacy`` setting and every
``privacy_columns`` pattern it matches: a pattern can hide more, never less.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence

from askspark.catalog.base import TableInfo

LEVELS = ("schema", "masked", "samples")  # most private first


def column_level(table: TableInfo, column: str, default: str, patterns: Mapping[str, str]) -> str:
    """The privacy level of ``table.column``: the most private of ``default`` and the matching patterns."""
    names = (column, f"{table.name}.{column}", f"{table.database}.{table.name}.{column}")
    return level_of(names, default, patterns)


def level_of(names: Sequence[str], default: str, patterns: Mapping[str, str]) -> str:
    """The most private of ``default`` and the levels of the patterns matching any of ``names``."""
    levels = [default] + [
        level
        for pattern, level in patterns.items()
        if any(fnmatch.fnmatchcase(n.lower(), pattern.lower()) for n in names)
    ]
    return min(levels, key=LEVELS.index)


def mask_value(value: str) -> str:
    """A type-preserving mask: letters become x/X and digits 9, so the shape (and a date's or an email's
    format) survives but the value does not. A number keeps its sign, digits count and decimal point."""
    masked = re.sub(r"[0-9]", "9", value)
    masked = re.sub(r"[a-z]", "x", masked)
    masked = re.sub(r"[A-Z]", "X", masked)
    # Letters outside ASCII (accented names) are masked too, whatever their script.
    return "".join("x" if ch.isalpha() and ch not in "xX" else ch for ch in masked)


def visible_tables(tables: Sequence[TableInfo], default: str, patterns: Mapping[str, str]) -> list[TableInfo]:
    """Copies of ``tables`` holding only what the model may see: samples and distinct values dropped or
    masked per column."""
    shown = []
    for table in tables:
        copy = table.model_copy(deep=True)
        for col in copy.columns:
            level = column_level(table, col.name, default, patterns)
            if level == "schema":
                col.samples, col.values = [], None
            elif level == "masked":
                col.samples = _dedupe(mask_value(v) for v in col.samples)
                col.values = _dedupe(mask_value(v) for v in col.values) if col.values is not None else None
        shown.append(copy)
    return shown


def _dedupe(values: Iterable[str]) -> list[str]:
    """Masked samples without repeats (``99`` three times tells the model nothing more)."""
    out: list[str] = []
    for v in values:
        if v not in out:
            out.append(v)
    return out
