"""Is a written answer grounded in the result? Every number and every quoted name in it must be there.

A model's sentence about a result is worth showing only when it cannot have invented anything: each
number in it must be a value of the bounded preview (or a rounding of one, or a percentage of a share),
a number of the question, or the row count; each quoted name must be a value or a column name. The
check is strict on purpose: a sentence that fails it is dropped and the deterministic summary is used.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal
from typing import Any

from askspark.record import ResultPreview

# 1,234.5 / -3 / 0.25 / 12% / 1.2e6: a number as a sentence writes it (commas as thousands separators).
_NUMBER = re.compile(r"(?<![\w.])[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?%?(?![A-Za-z_\d])")
_QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”|‘([^’]+)’|(?<!\w)'([^']+)'(?!\w)")
_CODE = re.compile(r"```|\bselect\b[\s\S]*\bfrom\b|\bdef \w+\(|^\s*sql\b", re.I)
_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12, "k": 1e3, "m": 1e6, "bn": 1e9}


def ungrounded(text: str, result: ResultPreview, question: str = "") -> list[str]:
    """The numbers and quoted names of ``text`` the result does not hold; empty when it is grounded.

    A reply that is code, or that states no value of the result at all (no number, no cell's text), is
    no answer: small models echo a query instead of answering (the embedded one did on 5 of 5 tries).
    """
    if _CODE.search(text):
        return ["(code, not an answer)"]
    numbers, cells = _facts(result)
    words = cells | {c.name.lower() for c in result.columns}
    written = _numbers_in(text)
    known = numbers | {float(len(result.rows))} | {n for n, _ in _numbers_in(question)}
    problems = [token for value, token in written if not _matches(value, token, known)]
    problems += [name for name in _quoted(text) if name.strip().lower() not in words]
    if not problems and not _states_a_value(text, written, numbers, cells):
        return ["(no value of the result)"]
    return problems


def _states_a_value(
    text: str, written: list[tuple[float, str]], numbers: set[float], cells: set[str]
) -> bool:
    """Whether ``text`` names at least one value of the result: one of its numbers or a cell's text."""
    lowered = text.lower()
    if any(_matches(value, token, numbers) for value, token in written):
        return True
    return any(re.search(rf"(?<!\w){re.escape(cell)}(?!\w)", lowered) for cell in cells if len(cell) >= 2)


def _facts(result: ResultPreview) -> tuple[set[float], set[str]]:
    """The result's numbers (cells, and numbers written inside text and dates) and its cells' text
    (lower-cased)."""
    numbers: set[float] = set()
    words: set[str] = set()
    for row in result.rows:
        for cell in row:
            number = _as_number(cell)
            if number is not None:
                numbers.add(number)
            elif cell is not None:
                text = cell.isoformat() if isinstance(cell, dt.date | dt.time) else str(cell)
                words.add(text.strip().lower())
                numbers |= {n for n, _ in _numbers_in(text.replace("-", " "))}
    return numbers, words


def _as_number(cell: Any) -> float | None:
    if isinstance(cell, bool):
        return None
    if isinstance(cell, int | float | Decimal):
        value = float(cell)
        return value if math.isfinite(value) else None
    return None


def _numbers_in(text: str) -> list[tuple[float, str]]:
    """Each number written in ``text`` with the token as written ('1,234.5', '12%', '3.4 million')."""
    found = []
    for match in _NUMBER.finditer(text):
        token = match.group(0)
        value = float(token.rstrip("%").replace(",", "").replace("−", "-"))
        scale = re.match(r"\s*(thousand|million|billion|trillion|bn|k|m)\b", text[match.end() :], re.I)
        if scale and not token.endswith("%"):
            value *= _SCALES[scale.group(1).lower()]
            token += " " + scale.group(1)
        found.append((value, token))
    return found


def _matches(value: float, token: str, numbers: set[float]) -> bool:
    """Whether a written number is one of ``numbers``, as written or rounded to its digits; a percentage
    may also be a share (12.5% of 0.125)."""
    candidates = [value, value / 100] if token.endswith("%") else [value]
    return any(_rounds_to(n, c, token, share=c != value) for n in numbers for c in candidates)


def _rounds_to(number: float, written: float, token: str, *, share: bool) -> bool:
    """``number`` rounded to the precision ``token`` shows equals ``written`` (3.4 million shows 1e5)."""
    digits = _decimals(token) + (2 if share else 0)
    step = 10.0**-digits
    if " " in token:  # '3.4 million': the precision is of the scaled number (here 0.1 million)
        step *= _SCALES[token.split()[1].lower()]
    return abs(number - written) <= step / 2 + 1e-9 * max(1.0, abs(number))


def _decimals(token: str) -> int:
    digits = token.split()[0].rstrip("%")
    return len(digits.split(".")[1]) if "." in digits and "e" not in digits.lower() else 0


def _quoted(text: str) -> list[str]:
    return [next(g for g in match.groups() if g) for match in _QUOTED.finditer(text)]
