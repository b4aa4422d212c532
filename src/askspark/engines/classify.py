"""Turn an exception's text into a short, structured :class:`Failure` for the repair prompt.

The texts come from the Spark Connect client (``[ERROR_CLASS] message SQLSTATE: ...`` followed by a
logical plan and a ``JVM stacktrace:``), from classic pyspark, from gRPC, and from plain Python
(possibly a whole ``Traceback``). The model needs the headline, Spark's own hint and the position,
never the JVM frames or plan dumps: those waste tokens and drown the one line that matters.

Kinds are decided in this order: environment signals (memory, connection, permission, time) that
new code cannot fix or that override any error class, then the Python exception type, then the Spark
error class, then the Python exception name found in the text; anything else is ``runtime``.
"""

from __future__ import annotations

import re
import signal
from typing import Any

from askspark.contract import Contract
from askspark.record import ErrorKind, Failure

MESSAGE_CAP = 400

# Python exception types that decide the kind on their own.
_EXC_TYPE_KINDS: dict[str, ErrorKind] = {
    "MemoryError": ErrorKind.OUT_OF_MEMORY,
    "PermissionError": ErrorKind.PERMISSION,
    "TimeoutError": ErrorKind.TIMEOUT,
    "ConnectionRefusedError": ErrorKind.ENGINE_UNAVAILABLE,
    "ConnectionError": ErrorKind.ENGINE_UNAVAILABLE,
    "ConnectionResetError": ErrorKind.ENGINE_UNAVAILABLE,
    "SyntaxError": ErrorKind.SYNTAX,
    "IndentationError": ErrorKind.SYNTAX,
    "TabError": ErrorKind.SYNTAX,
}
# Environment signals, searched in the text before the JVM stack trace; first match wins.
_TEXT_KINDS: list[tuple[re.Pattern[str], ErrorKind]] = [
    (
        re.compile(r"OutOfMemoryError|Java heap space|GC overhead limit exceeded|\bMemoryError\b"),
        ErrorKind.OUT_OF_MEMORY,
    ),
    # An executor of the local server ends at its first OutOfMemoryError (-XX:+ExitOnOutOfMemoryError,
    # whose exit status is 3) before its task can report one: Spark only says the executor exited.
    (re.compile(r"running tasks\) Reason: Command exited with code 3\b"), ErrorKind.OUT_OF_MEMORY),
    (
        re.compile(
            r"StatusCode\.UNAVAILABLE|Connection refused|failed to connect|Connection reset by peer|"
            r"SESSION_CLOSED|SESSION_NOT_FOUND|RETRIES_EXCEEDED|"
            r"stopped SparkContext|SparkContext was shut down",
            re.I,
        ),
        ErrorKind.ENGINE_UNAVAILABLE,
    ),
    (
        re.compile(
            r"Permission denied|AccessDenied|Access Denied|\bPermissionError\b|INSUFFICIENT_PERMISSIONS"
        ),
        ErrorKind.PERMISSION,
    ),
    (
        re.compile(r"DEADLINE_EXCEEDED|OPERATION_CANCELED|\btimed out\b|\bTimeoutError\b", re.I),
        ErrorKind.TIMEOUT,
    ),
]
# Spark error classes (the part in [BRACKETS]) by kind.
_CLASS_KINDS: list[tuple[re.Pattern[str], ErrorKind]] = [
    (
        re.compile(
            r"^(UNRESOLVED_COLUMN|UNRESOLVED_FIELD|UNRESOLVED_MAP_KEY|UNRESOLVED_USING_COLUMN_FOR_JOIN|"
            r"FIELD_NOT_FOUND|COLUMN_NOT_FOUND|CANNOT_RESOLVE_DATAFRAME_COLUMN|AMBIGUOUS_REFERENCE|"
            r"AMBIGUOUS_COLUMN_OR_FIELD|AMBIGUOUS_COLUMN_REFERENCE|MISSING_ATTRIBUTES)\b"
        ),
        ErrorKind.UNRESOLVED_COLUMN,
    ),
    (
        re.compile(r"^(TABLE_OR_VIEW_NOT_FOUND|SCHEMA_NOT_FOUND|CATALOG_NOT_FOUND|VIEW_NOT_FOUND)\b"),
        ErrorKind.UNRESOLVED_TABLE,
    ),
    (
        re.compile(
            r"^(DATATYPE_MISMATCH|CAST_\w+|INVALID_\w*TYPE\w*|\w*DATATYPE\w*|INCOMPATIBLE_\w*TYPE\w*|"
            r"CANNOT_PARSE_TIMESTAMP|CANNOT_UP_CAST_DATATYPE|UNEXPECTED_INPUT_TYPE|ARITHMETIC_OVERFLOW)\b"
        ),
        ErrorKind.TYPE_MISMATCH,
    ),
    (re.compile(r"^(PARSE_\w+|UNCLOSED_BRACKETED_COMMENT|INVALID_SQL_SYNTAX)\b"), ErrorKind.SYNTAX),
    (re.compile(r"^(OPERATION_CANCELED)\b"), ErrorKind.TIMEOUT),
    (re.compile(r"^(INVALID_HANDLE|RETRIES_EXCEEDED)\b"), ErrorKind.ENGINE_UNAVAILABLE),
    (re.compile(r"^(UNABLE_TO_ACQUIRE_MEMORY)\b"), ErrorKind.OUT_OF_MEMORY),
]
_DEFAULT_SUGGESTIONS: dict[ErrorKind, str] = {
    ErrorKind.UNRESOLVED_COLUMN: "use only columns that exist in the table schemas; check spelling and "
    "qualify columns after joins",
    ErrorKind.UNRESOLVED_TABLE: "use only the tables you were given: tables['name'] or spark.table('name')",
    ErrorKind.TYPE_MISMATCH: "cast the values to compatible types (F.col(...).cast(...), try_cast) or use "
    "functions that accept these types",
    ErrorKind.SYNTAX: "fix the syntax at the reported position",
    ErrorKind.TIMEOUT: "make the query cheaper: filter early, aggregate before joining, avoid cross "
    "joins, and do not collect() large data",
    ErrorKind.OUT_OF_MEMORY: "hold less data at once: aggregate or filter before collect()/toPandas(), "
    "and avoid collect_list over large groups",
    ErrorKind.PERMISSION: "the engine may not access this resource; this is not something new code can fix",
    ErrorKind.ENGINE_UNAVAILABLE: "the Spark engine could not be reached; start it or check its address "
    "(not a problem with the code)",
}
# Spark error classes (prefixes) without a hint of their own in the message.
_CLASS_SUGGESTIONS: dict[str, str] = {
    "UNRESOLVED_ROUTINE": "use a built-in Spark SQL function (as in pyspark.sql.functions); check the name",
    "WRONG_NUM_ARGS": "call the function with the number of arguments it takes",
    "NOT_": "pass a Column (F.col('name')) or a column name where a column is expected",
    "ATTRIBUTE_NOT_SUPPORTED": "use F.col('name') or df['name'] for columns; there is no such attribute",
    "UNSUPPORTED_FEATURE": "use a different construct; Spark does not support this one",
}
_EXC_SUGGESTIONS: dict[str, str] = {
    "KeyError": "the key does not exist; use only the table names you were given in tables[...] and "
    "existing dictionary keys",
    "AttributeError": "the object has no such attribute or method; use the documented PySpark "
    "DataFrame/Column API, and F.col('name') for columns",
    "NameError": "define or import the name before using it (e.g. from pyspark.sql import functions as F)",
    "ZeroDivisionError": "guard the division in Python, or divide in Spark with F.try_divide",
    "TypeError": "check the argument types: PySpark functions take Columns or column names",
}

_ERROR_CLASS = re.compile(r"\[([A-Z][A-Z0-9_]*(?:\.[A-Z][A-Z0-9_]*)*)\]")
_PY_EXCEPTION_LINE = re.compile(
    r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Timeout)): ?(.*)$"
)
_GRPC = re.compile(r"status = (StatusCode\.\w+)\s+details = \"(.*?)\"\s*(?:\n|$)", re.S)
_SQL_BLOCK = re.compile(r"== SQL(?: \(line (\d+), position (\d+)\))? ==\n(.*?)\n([ \-]*\^+)[^\n]*", re.S)
_DATAFRAME_BLOCK = re.compile(r"== DataFrame ==\n\"(\w+)\" was called from\n(\S+)")
_SQL_POSITION = re.compile(r"\bline (\d+),? pos(?:ition)? (\d+)\b")
_HINTS = re.compile(
    r"(Did you mean one of the following\? \[[^\]]*\]"
    r"|Use `try_\w+` [^.]*\."
    r"|Add the columns or the expression to the GROUP BY[^.]*\."
    r"|Rewrite the query [^.]*\."
    r"|could be: \[[^\]]*\])"
)
# Lines of Spark's message that help nobody fix the code, or that invite a forbidden conf change.
_NOISE_LINE = re.compile(r"^(Search path:|If you did not qualify|To tolerate the error on drop)")
_NOISE_SENTENCE = re.compile(
    r"\s*(If necessary set \"?[\w.]+\"? to \"?\w+\"? to bypass this error\."
    r"|Please, refer to '[^']*' for a fix\.)"
)
_PLAN_LINE = re.compile(r"^\s*([+:]- |'?[A-Z][A-Za-z]+ \[|'?[A-Z][A-Za-z]+ \(|'UnresolvedRelation)")


# --- cleaning the text --------------------------------------------------------------------------


def _last_exception(text: str) -> tuple[str | None, str]:
    """For a Python traceback: the final exception's type name and message, else (None, text)."""
    marker = "Traceback (most recent call last):"
    if marker not in text:
        return None, text
    lines = text[text.rindex(marker) + len(marker) :].splitlines()
    for index, line in enumerate(lines):
        if line and not line[0].isspace():
            match = _PY_EXCEPTION_LINE.match(line)
            if match:
                rest = [match.group(2), *lines[index + 1 :]]
                return match.group(1).rsplit(".", 1)[-1], "\n".join(rest)
            return None, "\n".join(lines[index:])
    return None, text


def _cut_stacktrace(text: str) -> str:
    """Everything before the JVM frames: ``JVM stacktrace:``, a first ``\\tat`` frame, ``Caused by``."""
    for marker in (
        "\nJVM stacktrace:",
        "JVM stacktrace:",
        "\n\tat ",
        "\nCaused by:",
        "\n\tdebug_error_string",
    ):
        if marker in text:
            text = text[: text.index(marker)]
    return text


def _unwrap_grpc(text: str) -> str:
    """``<_MultiThreadedRendezvous ... status = X details = "Y" ...>`` as ``X: Y``."""
    match = _GRPC.search(text)
    return f"{match.group(1)}: {match.group(2)}" if match else text


def _collapse_blocks(text: str) -> str:
    """Plan-context blocks (``== SQL ==`` with carets, ``== DataFrame ==``) as one short clause."""

    def sql(match: re.Match[str]) -> str:
        query, carets = match.group(3).splitlines()[-1], match.group(4)
        start = len(carets) - len(carets.lstrip(" -"))
        fragment = query[start : len(carets)].strip() if match.group(1) else query.strip()
        return f" (at: {fragment[:120]})"

    text = _SQL_BLOCK.sub(sql, text)
    return _DATAFRAME_BLOCK.sub(lambda m: f' (in "{m.group(1)}" called from {m.group(2)})', text)


def _meaningful_lines(text: str) -> list[str]:
    """Message lines without plan dumps (after a ``SQLSTATE ...;`` line) and boilerplate."""
    kept: list[str] = []
    in_plan = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            in_plan = False
            continue
        if in_plan or _NOISE_LINE.match(line) or (kept and _PLAN_LINE.match(raw)):
            continue
        kept.append(line)
        in_plan = bool(re.search(r"SQLSTATE: \w+;[^;]*;?$", line)) and line.endswith(";")
    return kept


def _tidy(line: str) -> str:
    """One message line without its error class (that is the rule), SQLSTATE or conf advice."""
    # "(org.apache.spark.SparkSQLException) [CLASS] ..." drops the JVM class; without an error class
    # its short name heads the line: "(java.lang.OutOfMemoryError) GC ..." -> "OutOfMemoryError: GC ..."
    line = re.sub(r"^\(([\w.$]+)\)\s*(?=\[)", "", line)
    line = re.sub(r"^\((?:[\w$]+\.)*([\w$]+)\)\s*", r"\1: ", line)
    line = _ERROR_CLASS.sub("", line, count=1).strip() if line.startswith("[") else line
    line = re.sub(r"\s*SQLSTATE: \w+;?(\s*line \d+,? pos \d+;?)?", "", line)
    line = re.sub(r"\s*\(line \d+, pos \d+\)", "", line)  # kept in Failure.line/column instead
    return _NOISE_SENTENCE.sub("", line).strip()


def _cap(text: str, limit: int = MESSAGE_CAP) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut + "…"


def _clean(text: str) -> str:
    """The text without traceback frames, JVM frames, gRPC wrapping, plan dumps or boilerplate."""
    text = _collapse_blocks(_unwrap_grpc(_cut_stacktrace(text.replace("\r\n", "\n"))))
    return " ".join(_tidy(line) for line in _meaningful_lines(text)).strip()


def short_message(text: str) -> str:
    """The first meaningful line(s) of an error text, at most :data:`MESSAGE_CAP` characters."""
    exc_name, body = _last_exception(text)
    message = _clean(body)
    if exc_name and not _ERROR_CLASS.search(body[:200]):
        message = f"{exc_name}: {message}" if message else exc_name
    if not message and text.strip():
        message = text.strip().splitlines()[0]
    return _cap(message)


# --- deciding the kind --------------------------------------------------------------------------


def _error_class(text: str) -> str | None:
    match = _ERROR_CLASS.search(text)
    return match.group(1) if match else None


def _kind(head: str, exc_type: str | None, error_class: str | None) -> ErrorKind:
    for pattern, kind in _TEXT_KINDS:
        if pattern.search(head):
            return kind
    if exc_type in _EXC_TYPE_KINDS:
        return _EXC_TYPE_KINDS[exc_type]
    for pattern, kind in _CLASS_KINDS:
        if error_class and pattern.match(error_class):
            return kind
    return ErrorKind.RUNTIME


def _sql_position(text: str) -> tuple[int | None, int | None]:
    """SQL ``line L pos P`` (0-based pos) or ``(line L, position P)`` (1-based), as 1-based columns."""
    block = re.search(r"== SQL \(line (\d+), position (\d+)\) ==", text)
    if block:
        return int(block.group(1)), int(block.group(2))
    match = _SQL_POSITION.search(text)
    return (int(match.group(1)), int(match.group(2)) + 1) if match else (None, None)


def _python_line(text: str) -> int | None:
    """The last traceback line in code compiled under a ``<name>`` (the generated code), not libraries."""
    found = re.findall(r'File "<[^>]+>", line (\d+)|\(<[^>]+>, line (\d+)\)', text)
    return int(found[-1][0] or found[-1][1]) if found else None


def _suggestion(text: str, kind: ErrorKind, error_class: str | None, exc_type: str | None) -> str | None:
    hints = [m.group(1) for m in _HINTS.finditer(text)]
    if error_class and error_class.startswith("AMBIGUOUS") and hints:
        return f"qualify the column with its DataFrame or alias; it {hints[0]}"
    if hints:
        return " ".join(dict.fromkeys(hints))
    by_class = [hint for prefix, hint in _CLASS_SUGGESTIONS.items() if (error_class or "").startswith(prefix)]
    if by_class:
        return by_class[0]
    return _DEFAULT_SUGGESTIONS.get(kind) or _EXC_SUGGESTIONS.get(exc_type or "")


def classify(error_text: str, *, exc_type: str | None = None) -> Failure:
    """A short, structured failure for an exception's text (and, when known, its type name)."""
    exc_name, body = _last_exception(error_text)
    exc_type = (exc_type or exc_name or _python_exception_name(body) or "").rsplit(".", 1)[-1] or None
    head = _cut_stacktrace(body)
    error_class = _error_class(head)
    kind = _kind(head, exc_type, error_class)
    line, column = _sql_position(head)
    if line is None:
        line = _python_line(error_text)
    message = short_message(error_text) or exc_type or "unknown error"
    named = _PY_EXCEPTION_LINE.match(message)  # already headed by an exception name
    if exc_type and not named and not error_class and exc_type not in message[:80]:
        message = _cap(f"{exc_type}: {message}")
    return Failure(
        kind=kind,
        message=message,
        rule=error_class,
        line=line,
        column=column,
        suggestion=_suggestion(head, kind, error_class, exc_type),
    )


def _python_exception_name(text: str) -> str | None:
    """``KeyError: 'x'`` as the last line of a text names its exception."""
    lines = [line for line in text.strip().splitlines() if line and not line[0].isspace()]
    match = _PY_EXCEPTION_LINE.match(lines[-1]) if lines else None
    return match.group(1).rsplit(".", 1)[-1] if match else None


# --- what an engine reports ---------------------------------------------------------------------

TIMEOUT_HINT = "compute less: filter or aggregate earlier, avoid cross joins and Python loops"
_MISSING_COLUMN = re.compile(r"no such column|^KeyError: ['\"]|not (?:found )?in (?:the )?schema", re.I)


def reported(error: dict[str, Any], contract: Contract = Contract.SPARK) -> Failure:
    """A worker's reported exception (``{"type", "text", "line"}``) as a failure, for every engine.

    On top of the text's own kind: a broken contract is ``contract``; a connection error the code raised
    itself (not the Spark client) is the code's fault, ``runtime``; Ray names a missing column in a
    ValueError or KeyError, which the loop knows as ``unresolved_column``.
    """
    failure = classify(error["text"], exc_type=error["type"])
    if failure.line is None and error.get("line") is not None:
        failure.line = error["line"]
    if error["type"] == "ContractError":
        failure.kind = ErrorKind.CONTRACT
    elif failure.kind == ErrorKind.ENGINE_UNAVAILABLE and not _from_spark(error["type"]):
        failure.kind = ErrorKind.RUNTIME  # e.g. ConnectionRefusedError of the code's own network attempt
    if (
        contract is Contract.RAY
        and failure.kind == ErrorKind.RUNTIME
        and _MISSING_COLUMN.search(failure.message)
    ):
        failure.kind = ErrorKind.UNRESOLVED_COLUMN
        failure.suggestion = "use only columns that exist in the table schemas, spelled as listed"
    return failure


def _from_spark(exc_type: str) -> bool:
    """Whether an exception type comes from the Spark Connect client (not the code's own calls)."""
    return any(word in exc_type for word in ("Spark", "Grpc", "Rpc", "Analysis", "Py4J"))


def timed_out(seconds: float, suggestion: str = TIMEOUT_HINT) -> Failure:
    """The attempt ran out of wall-clock time and was stopped."""
    return Failure(
        kind=ErrorKind.TIMEOUT,
        message=f"the attempt ran longer than the {seconds:g} s limit and was stopped",
        suggestion=suggestion,
    )


def died(returncode: int | None, logs: str, worker: str = "the worker") -> Failure:
    """A worker that ended without a report: out of CPU time, out of memory (the cgroup's kill), or crashed."""
    if returncode == -signal.SIGXCPU:
        return Failure(kind=ErrorKind.TIMEOUT, message="the attempt used up its CPU time limit")
    if "MemoryError" in logs or returncode == -signal.SIGKILL:
        return Failure(kind=ErrorKind.OUT_OF_MEMORY, message=f"{worker} ran out of memory and was stopped")
    return Failure(
        kind=ErrorKind.RUNTIME, message=f"{worker} process exited unexpectedly (code {returncode})"
    )
