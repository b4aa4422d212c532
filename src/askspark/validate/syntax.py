"""The first stage of static validation: parse the code; what every later check reads.

Positions: ``line`` is 1-based; ``column`` is a 1-based character column.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from askspark.record import ErrorKind, Failure


@dataclass(frozen=True)
class Source:
    """Code that parsed, as every check takes it (one signature: ``check(source) -> failures``)."""

    code: str
    tree: ast.Module
    lines: list[str]
    allow_writes: bool = False  # DataFrame writes and SQL INSERT/MERGE/UPDATE/DELETE are permitted


def column_of(lines: list[str], lineno: int, col_offset: int) -> int:
    """The 1-based character column of an ast UTF-8 byte offset."""
    text = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
    return len(text.encode()[:col_offset].decode(errors="ignore")) + 1


def parse(code: str) -> tuple[ast.Module | None, Failure | None]:
    """The module, or the syntax failure that stops validation."""
    try:
        return ast.parse(code, filename="<answer>"), None
    except SyntaxError as error:
        where = f" (line {error.lineno})" if error.lineno else ""
        snippet = (error.text or "").strip()
        return None, Failure(
            kind=ErrorKind.SYNTAX,
            rule="python-syntax",
            message=f"the code is not valid Python: {error.msg}{where}" + (f": {snippet}" if snippet else ""),
            line=error.lineno,
            column=error.offset,
            suggestion="fix the Python syntax; reply with one complete code block",
        )
