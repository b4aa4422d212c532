"""Static checks of the SQL strings in generated code.

Every string passed as the first argument of ``<x>.sql(...)`` is parsed with sqlglot's Spark dialect.
A query that does not parse is a ``syntax`` failure (rule ``sql-parse``); a statement that is not a
query (DDL, DML, ``SET``, ``ADD JAR``, anything sqlglot keeps as an opaque ``Command``) is a ``policy``
failure, as are direct file reads and JVM-reflection functions. SQL expression strings handed to
``F.expr``/``selectExpr``/``filter``/``where`` are only scanned with patterns: sqlglot cannot parse a
bare Spark expression reliably enough to reject code over it.

Lines are the Python code's (1-based); columns are 1-based characters. A position inside the SQL
maps onto the code exactly when the literal is plain text (no escapes, no substitutions); otherwise
the failure points at the start of the string literal.
"""

from __future__ import annotations

import ast
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from askspark.record import ErrorKind, Failure
from askspark.validate.rules import EXPRESSION_METHODS, FILE_FORMATS, FILE_FUNCTIONS, FORBIDDEN_FUNCTIONS
from askspark.validate.syntax import Source

# Writes are allowed with allow_writes=True; LOAD DATA reads local files, so it never is.
WRITE_STATEMENTS = (exp.Insert, exp.Merge, exp.Update, exp.Delete)

_PLACEHOLDER = "askspark_p{}"
_CLASS_REPR = re.compile(r"<class '(?:\w+\.)*(\w+)'>")  # sqlglot names its node classes in messages
_FORMAT_FIELD = re.compile(r"(?<!\{)\{(\w+)\}(?!\})")
_FORBIDDEN_CALL_PATTERN = re.compile(r"\b(" + "|".join(sorted(FORBIDDEN_FUNCTIONS)) + r")\s*\(", re.I)
_FILE_PATTERN = re.compile(r"\b(read_files\s*\(|(" + "|".join(sorted(FILE_FORMATS)) + r")\s*\.\s*`)", re.I)
_TABLES_HINT = "use tables['name'] or spark.table('name'), or query the table by name in spark.sql"


@dataclass(frozen=True)
class SqlSite:
    """Where a SQL text sits in the code: its first character's line and column."""

    line: int
    column: int
    exact: bool  # the SQL text is the literal's source text, so SQL positions map onto the code
    substituted: bool = False  # placeholders replaced {..} fields: parse errors may be ours, skip them

    def at(self, sql_line: int, sql_col: int) -> tuple[int, int]:
        """The code position of a 1-based (line, column) inside the SQL text."""
        if not self.exact:
            return self.line, self.column
        if sql_line == 1:
            return self.line, self.column + sql_col - 1
        return self.line + sql_line - 1, sql_col


def _fail(kind: ErrorKind, rule: str, message: str, site: SqlSite, suggestion: str) -> Failure:
    return Failure(
        kind=kind, rule=rule, message=message, line=site.line, column=site.column, suggestion=suggestion
    )


def _parse(sql: str) -> list[exp.Expr]:
    """All statements in ``sql``; sqlglot's 'falling back to Command' warnings are not for our log."""
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return [s for s in sqlglot.parse(sql, read="spark") if s is not None]
    finally:
        logger.setLevel(level)


def _parse_failure(error: SqlglotError, site: SqlSite) -> Failure:
    """sqlglot's first error as a syntax failure positioned in the code, without terminal colours."""
    info = error.errors[0] if isinstance(error, ParseError) and error.errors else {}
    highlight = info.get("highlight") or ""
    sql_line, end_col = info.get("line") or 1, info.get("col") or 1
    sql_col = max(1, end_col - len(highlight) + 1)  # sqlglot reports the token's last column
    description = _CLASS_REPR.sub(r"\1", info.get("description") or str(error).splitlines()[0])
    context = (info.get("start_context") or "")[-60:].replace("\n", " ")
    near = f" near '{context}>>>{highlight}<<<'" if highlight else ""
    line, column = site.at(sql_line, sql_col)
    return Failure(
        kind=ErrorKind.SYNTAX,
        rule="sql-parse",
        message=f"the SQL passed to spark.sql does not parse: {description}{near} "
        f"(SQL line {sql_line}, column {sql_col})",
        line=line,
        column=column,
        suggestion="fix the SQL syntax (Spark SQL dialect) or build the query with the DataFrame API",
    )


def _keyword(stmt: exp.Expr) -> str:
    """The statement's leading keywords for messages: CREATE FUNCTION, ADD JAR, SET, ..."""
    if isinstance(stmt, exp.Create | exp.Drop):
        verb = "CREATE" if isinstance(stmt, exp.Create) else "DROP"
        return f"{verb} {stmt.args.get('kind') or ''}".strip()
    words = stmt.sql(dialect="spark").split()
    count = 2 if isinstance(stmt, exp.Command) else 1
    return " ".join(words[:count]).upper() or type(stmt).__name__.upper()


def _statement_failure(stmt: exp.Expr, site: SqlSite, allow_writes: bool) -> Failure | None:
    """A failure for a statement that is not a read-only query."""
    if isinstance(stmt, exp.Query | exp.Values):
        return None
    keyword = _keyword(stmt)
    if isinstance(stmt, WRITE_STATEMENTS):
        if allow_writes:
            return None
        return _fail(
            ErrorKind.POLICY,
            "sql-write",
            f"spark.sql runs a statement that changes data ({keyword}); only queries are allowed",
            site,
            "write a SELECT (or WITH ... SELECT) query and return its DataFrame; the harness keeps it",
        )
    rule = "sql-write" if isinstance(stmt, exp.LoadData) else "sql-ddl"
    return _fail(
        ErrorKind.POLICY,
        rule,
        f"spark.sql runs a statement that is not a query ({keyword}); only SELECT, WITH, UNION and "
        "VALUES queries are allowed",
        site,
        "remove the statement: do not create, alter, drop, cache or configure anything; "
        "return the DataFrame of one SELECT query",
    )


def _function_name(node: exp.Func) -> str:
    return (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()


def _node_failures(stmt: exp.Expr, site: SqlSite) -> Iterator[Failure]:
    """File reads, JVM reflection and script transforms anywhere inside one statement."""
    for table in stmt.find_all(exp.Table):
        if table.db.lower() in FILE_FORMATS or "/" in table.name or "://" in table.name:
            yield _fail(
                ErrorKind.POLICY,
                "file-access",
                f"the SQL reads files directly ({table.sql(dialect='spark')})",
                site,
                _TABLES_HINT + " instead of reading files",
            )
    for func in stmt.find_all(exp.Func):
        yield from _function_failures(_function_name(func), site)
    for _ in stmt.find_all(exp.QueryTransform):
        yield _fail(
            ErrorKind.POLICY,
            "forbidden-function",
            "the SQL uses TRANSFORM ... USING, which runs an external program",
            site,
            "express the transformation with Spark SQL functions or the DataFrame API",
        )


def _function_failures(name: str, site: SqlSite) -> Iterator[Failure]:
    if name in FORBIDDEN_FUNCTIONS:
        yield _fail(
            ErrorKind.POLICY,
            "forbidden-function",
            f"the SQL calls {name}(), which invokes arbitrary Java methods",
            site,
            "use Spark's built-in SQL functions instead of reflection",
        )
    elif name in FILE_FUNCTIONS:
        yield _fail(
            ErrorKind.POLICY,
            "file-access",
            f"the SQL calls {name}(), which reads files directly",
            site,
            _TABLES_HINT + " instead of reading files",
        )


def check_sql(sql: str, site: SqlSite, *, allow_writes: bool = False) -> list[Failure]:
    """Failures of one SQL text handed to ``spark.sql``."""
    try:
        statements = _parse(sql)
    except SqlglotError as error:
        return [] if site.substituted else [_parse_failure(error, site)]
    failures: list[Failure] = []
    if len(statements) > 1:
        failures.append(
            _fail(
                ErrorKind.POLICY,
                "sql-multiple",
                f"the SQL holds {len(statements)} statements; spark.sql runs exactly one",
                site,
                "pass one query per spark.sql call; combine steps with WITH (CTEs) or subqueries",
            )
        )
    for stmt in statements:
        bad = _statement_failure(stmt, site, allow_writes)
        failures.extend([bad] if bad else _node_failures(stmt, site))
    return failures


def check_expression(text: str, site: SqlSite) -> list[Failure]:
    """Pattern checks of a SQL expression string (``F.expr``, ``selectExpr``, ``filter``, ...)."""
    failures: list[Failure] = []
    for call in _FORBIDDEN_CALL_PATTERN.finditer(text):
        failures.extend(_function_failures(call.group(1).lower(), site))
    match = _FILE_PATTERN.search(text)
    if match:
        failures.append(
            _fail(
                ErrorKind.POLICY,
                "file-access",
                f"the SQL expression reads files directly ({match.group(0).strip()} ...)",
                site,
                _TABLES_HINT + " instead of reading files",
            )
        )
    return failures


# --- finding the SQL in Python code -------------------------------------------------------------


def _simple_value(node: ast.expr) -> bool:
    """A formatted value we can stand a placeholder in for: a name, attribute, constant or item."""
    if isinstance(node, ast.Name | ast.Constant):
        return True
    if isinstance(node, ast.Attribute):
        return _simple_value(node.value)
    return isinstance(node, ast.Subscript) and _simple_value(node.value) and _simple_value(node.slice)


def _fstring_text(node: ast.JoinedStr) -> str | None:
    """The f-string with placeholders for its fields, or None when a field is not simple."""
    parts = []
    for index, part in enumerate(node.values):
        if isinstance(part, ast.Constant):
            parts.append(str(part.value))
        elif isinstance(part, ast.FormattedValue) and part.format_spec is None and _simple_value(part.value):
            parts.append(_PLACEHOLDER.format(index))
        else:
            return None
    return "".join(parts)


def _literal_site(node: ast.expr, source_lines: list[str]) -> SqlSite:
    """The site of a string literal; exact when its source is quotes around exactly the value."""
    line_text = source_lines[node.lineno - 1] if node.lineno <= len(source_lines) else ""
    start = len(line_text.encode()[: node.col_offset].decode(errors="ignore"))
    segment = ast.get_source_segment("\n".join(source_lines), node) or ""
    match = re.match(r"^([rRuU]?)('''|\"\"\"|'|\")", segment)
    if not (isinstance(node, ast.Constant) and match):
        return SqlSite(node.lineno, start + 1, exact=False)
    opening = len(match.group(0))
    body = segment[opening : len(segment) - len(match.group(2))]
    exact = body == node.value and (bool(match.group(1)) or "\\" not in body)
    return (
        SqlSite(node.lineno, start + opening + 1, exact=True)
        if exact
        else SqlSite(node.lineno, start + 1, False)
    )


def string_assignments(tree: ast.AST) -> dict[str, ast.expr]:
    """Names assigned exactly once, to a string literal or f-string (``query = \"\"\"SELECT ...\"\"\"``)."""
    seen: dict[str, ast.expr | None] = {}
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else []
        targets = [node.target] if isinstance(node, ast.AnnAssign | ast.AugAssign) else targets
        for target in targets:
            if isinstance(target, ast.Name):
                value = None if isinstance(node, ast.AugAssign) else getattr(node, "value", None)
                ok = isinstance(value, ast.JoinedStr) or (
                    isinstance(value, ast.Constant) and isinstance(value.value, str)
                )
                seen[target.id] = value if ok and target.id not in seen else None
    return {name: value for name, value in seen.items() if value is not None}


def _sql_argument(call: ast.Call, strings: dict[str, ast.expr]) -> ast.expr | None:
    """The query argument (positional or ``sqlQuery=``), resolving a name assigned a string once."""
    keyword = [k.value for k in call.keywords if k.arg == "sqlQuery"]
    arg = call.args[0] if call.args else (keyword[0] if keyword else None)
    return strings.get(arg.id) if isinstance(arg, ast.Name) else arg


def _sql_text(arg: ast.expr, call: ast.Call, source_lines: list[str]) -> tuple[str, SqlSite] | None:
    """The SQL text of a call's argument and where it sits, or None when it is not static."""
    site = _literal_site(arg, source_lines)
    if isinstance(arg, ast.JoinedStr):
        text = _fstring_text(arg)
        return (text, SqlSite(site.line, site.column, exact=False, substituted=True)) if text else None
    if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
        return None
    text = arg.value
    # spark.sql("... {orders} ...", orders=df) formats DataFrames into the query: use identifiers.
    if any(k.arg not in (None, "args") for k in call.keywords) and _FORMAT_FIELD.search(text):
        text = _FORMAT_FIELD.sub(lambda m: "askspark_ref_" + m.group(1), text)
        return text, SqlSite(site.line, site.column, exact=False, substituted=True)
    return text, site


def _method(call: ast.Call) -> str | None:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def sql_failures(source: Source) -> list[Failure]:
    """Failures of every static SQL string in the code: ``spark.sql`` queries and SQL expressions."""
    tree, lines, allow_writes = source.tree, source.lines, source.allow_writes
    strings = string_assignments(tree)
    failures: list[Failure] = []
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        method = _method(call)
        if method == "sql" and isinstance(call.func, ast.Attribute):
            arg = _sql_argument(call, strings)
            found = _sql_text(arg, call, lines) if arg is not None else None
            failures.extend(check_sql(found[0], found[1], allow_writes=allow_writes) if found else [])
        elif method == "table" and call.args and isinstance(call.args[0], ast.Constant):
            # spark.table("parquet.`/path`") reads files just as the SQL form does: check it as SQL.
            name = call.args[0].value
            if isinstance(name, str):
                site = _literal_site(call.args[0], lines)
                failures.extend(
                    f for f in check_sql(f"SELECT * FROM {name}", site) if f.rule == "file-access"
                )
        elif method in EXPRESSION_METHODS:
            for arg in call.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    failures.extend(check_expression(arg.value, _literal_site(arg, lines)))
    return failures
