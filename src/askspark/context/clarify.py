"""Evidence for "I can't answer that from this data": what exists closest to what is missing, and
whether the model's claim that something is missing is plainly wrong.

The model says what is missing in its own words (``NEEDS_CLARIFICATION: ...``, llm/extract.py). Two
deterministic checks stand next to it: :func:`closest` lists the tables, columns, stored values and
knowledge terms whose names are nearest to those words (what the person could ask about instead), and
:func:`contradiction` refuses a claim that names, in quotes or as an identifier, a column, table or
defined term the selected data does hold (a small model sometimes gives up on a column it was shown);
the run then retries with that said. A third, :func:`absent_from_errors`, needs no word from the model:
when every attempt failed on the same column or table and no selected table holds anything of that
name, the data cannot answer the question as the model reads it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from askspark.catalog.base import TableInfo
from askspark.catalog.knowledge import Entry
from askspark.context.selection import STOPWORDS, split_identifier, stem
from askspark.record import Attempt, ErrorKind, Failure
from askspark.results.checks import singular

MAX_CLOSEST = 5
MIN_SIMILARITY = 0.72
_QUOTED = re.compile(r"[`'\"]([^`'\"]{2,60})[`'\"]")
_IDENTIFIER = re.compile(r"\b[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+\b")
# Words that describe the gap, not the thing missing.
_FILLER = frozenset(
    [
        "column",
        "columns",
        "table",
        "tables",
        "value",
        "values",
        "field",
        "fields",
        "data",
        "term",
        "terms",
        "definition",
        "defined",
        "missing",
        "exist",
        "exists",
        "no",
        "not",
        "does",
        "doesnt",
        "there",
        "information",
        "about",
        "selected",
        "given",
    ]
)


def _words(text: str) -> list[str]:
    return [w for w in split_identifier(text) if w not in STOPWORDS and w not in _FILLER and len(w) > 2]


def candidates(tables: Sequence[TableInfo], knowledge: Sequence[Entry]) -> dict[str, str]:
    """Every name that exists, as shown to a person -> the text it is matched by."""
    out: dict[str, str] = {}
    for t in tables:
        out[f"table {t.name}"] = t.name
        for c in t.columns:
            out[f"column {t.name}.{c.name}"] = c.name
            for v in (c.values or [])[:25]:
                out[f"value {t.name}.{c.name} = {v!r}"] = v
    for e in knowledge:
        if e.term:
            out[f"term {e.term!r}"] = e.term
        for s in e.synonyms:
            out[f"{s!r} (another name for {e.term or e.target})"] = s
    return out


def _similarity(words: Sequence[str], name: str) -> float:
    """How close a name is to the missing words: the best word-to-word ratio, stems equal count 1."""
    parts = split_identifier(name)
    if not parts or not words:
        return 0.0
    best = 0.0
    for w in words:
        for p in parts:
            ratio = 1.0 if stem(w) == stem(p) else difflib.SequenceMatcher(None, w, p).ratio()
            best = max(best, ratio)
    return best


def closest(missing: str, tables: Sequence[TableInfo], knowledge: Sequence[Entry] = ()) -> list[str]:
    """The names nearest to what is missing, best first (at most ``MAX_CLOSEST``)."""
    words = _words(missing)
    scored = [(_similarity(words, text), shown) for shown, text in candidates(tables, knowledge).items()]
    good = sorted((s for s in scored if s[0] >= MIN_SIMILARITY), key=lambda s: (-s[0], s[1]))
    return [shown for _, shown in good[:MAX_CLOSEST]]


def contradiction(missing: str, tables: Sequence[TableInfo], knowledge: Sequence[Entry] = ()) -> str | None:
    """A sentence naming what the claim calls missing but the data holds, or None.

    Only names the claim sets apart (quoted, or written as an identifier like ``unit_price``) count:
    a plain word in the model's sentence may be context ("the sales table has no refund column").
    """
    named = {n.strip().lower() for n in _QUOTED.findall(missing) + _IDENTIFIER.findall(missing)}
    for t in tables:
        for c in t.columns:
            if c.name.lower() in named:
                return f"{c.name} is a column of {t.name}"
        if t.name.lower() in named:
            return f"{t.name} is one of the selected tables"
    for e in knowledge:
        if e.term and e.term.lower() in named and (e.description or e.expression):
            return f"the term {e.term!r} is defined in the business knowledge"
    return None


# Spark's messages for a name that does not resolve: the name is the last back-quoted part.
UNRESOLVED_NAME = {
    ErrorKind.UNRESOLVED_COLUMN: re.compile(r"with name ((?:`[^`]*`\.)*`([^`]*)`)"),
    ErrorKind.UNRESOLVED_TABLE: re.compile(r"table or view ((?:`[^`]*`\.)*`([^`]*)`) cannot be found", re.I),
}
MIN_EVIDENCE = 2  # attempts that failed on the name: one may be a slip


def unresolved_name(failure: Failure | None) -> str | None:
    """The column or table a failure says does not resolve, without its qualifier; else None."""
    if failure is None or (pattern := UNRESOLVED_NAME.get(failure.kind)) is None:
        return None
    found = pattern.search(failure.message)
    return found.group(2) if found else None


def absent_from_errors(attempts: Sequence[Attempt], tables: Sequence[TableInfo]) -> str | None:
    """What the data lacks ("there is no column `shipping_cost` in the selected tables") when every
    failed attempt, and at least ``MIN_EVIDENCE``, failed on that one name and no selected table has a
    table or column called so (nor spelt so but for case, underscores or a plural); else None."""
    failed = [a.error for a in attempts if a.error is not None]
    names = {(n or "").lower() for n in map(unresolved_name, failed)}
    if len(failed) < MIN_EVIDENCE or len(names) != 1 or len(name := names.pop()) < 3:
        return None
    if _spelt(name) in {_spelt(n) for t in tables for n in [t.name, *(c.name for c in t.columns)]}:
        return None
    kind = "table" if failed[-1].kind is ErrorKind.UNRESOLVED_TABLE else "column"
    return f"there is no {kind} `{name}` in the selected tables"


def _spelt(name: str) -> str:
    return singular(name.replace("_", ""))
