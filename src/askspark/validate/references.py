"""Which tables generated code refers to, read statically: engines bind only those (issue 16).

Every bound table costs the worker a read plan and a temporary view, once for the dry run and once for
the execution, so an attempt that selected six tables and touches one paid for six. The references
are the tables named by the SQL strings handed to ``.sql(...)`` (parsed with sqlglot, as
:mod:`askspark.validate.sql` finds them), by ``tables["name"]``, ``tables.get("name")`` and
``tables.name`` lookups on ``answer``'s second parameter, and by ``.table("name")`` calls.

When the code could reach a table in any other way, the answer is ``None`` (bind every selected table,
as before): a dynamic or formatted string (an f-string, ``+``, ``.format``), ``tables`` used as a whole
(iterated, passed on, ``len``), the session's catalog, reflection (``getattr``, ``eval``), a statement
that is not a query, or SQL that does not parse. Wrong in the safe direction only: an extra name binds
an extra table; a missing one would break the code.
"""

from __future__ import annotations

import ast
import re

from sqlglot import exp
from sqlglot.errors import SqlglotError

from askspark.validate.rules import EXPRESSION_METHODS
from askspark.validate.sql import _method, _parse, _sql_argument, _sql_text, string_assignments

# Calls that can reach a name the code does not spell out.
_OPAQUE_CALLS = frozenset({"getattr", "eval", "exec", "compile", "globals", "locals", "vars", "__import__"})
# Attributes that reach tables: fine only as the called function with a literal argument (.catalog never).
_TABLE_METHODS = frozenset({"sql", "table"})
_DICT_METHODS = frozenset(name for name in dir(dict) if not name.startswith("_")) - {"get"}
_SUBQUERY = re.compile(r"\bselect\b", re.IGNORECASE)  # an expression string with a query inside


class _Unknown(Exception):
    """The code's table references cannot be determined statically."""


def table_references(code: str) -> set[str] | None:
    """The lower-cased table names the code refers to (a qualified ``db.name`` also as ``name``), or
    None when that cannot be told statically (then every selected table must be bound)."""
    try:
        return _references(ast.parse(code), code.splitlines())
    except (SyntaxError, ValueError, _Unknown):
        return None


def _references(tree: ast.Module, lines: list[str]) -> set[str]:
    param = _tables_parameter(tree)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    strings = string_assignments(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == param:
            found |= _lookup(node, parents)
        elif isinstance(node, ast.Name) and node.id.startswith("__"):
            raise _Unknown  # __builtins__ and the like
        elif isinstance(node, ast.Attribute):
            _check_attribute(node, parents.get(node))
        elif isinstance(node, ast.Call):
            found |= _call_references(node, param, strings, lines)
    return found


def _tables_parameter(tree: ast.Module) -> str:
    """The name of ``answer``'s second parameter (``tables`` by the contract)."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "answer" and len(node.args.args) >= 2:
            return node.args.args[1].arg
    raise _Unknown


def _names(text: str) -> set[str]:
    """A table name as written and its last part: ``northwind.orders`` is also the view ``orders``."""
    name = text.replace("`", "").strip().lower()
    return {name, name.rsplit(".", 1)[-1]}


def _literal(node: ast.expr | None) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    raise _Unknown


def _lookup(node: ast.Name, parents: dict[ast.AST, ast.AST]) -> set[str]:
    """The table of one use of ``tables``: a literal key (a view or full name, as the worker's dict has
    both) or attribute, else unknown."""
    parent = parents.get(node)
    if isinstance(parent, ast.Subscript) and parent.value is node:
        return {_literal(parent.slice).lower()}
    if not (isinstance(parent, ast.Attribute) and parent.value is node) or parent.attr in _DICT_METHODS:
        raise _Unknown  # tables passed on, iterated, measured, or its keys/values/items read
    if parent.attr != "get":
        return {parent.attr.lower()}  # tables.orders
    call = parents.get(parent)
    if isinstance(call, ast.Call) and call.func is parent and call.args:
        return {_literal(call.args[0]).lower()}
    raise _Unknown


def _check_attribute(node: ast.Attribute, parent: ast.AST | None) -> None:
    """``spark.catalog`` lists and reads views; ``q = spark.sql`` calls it under another name;
    ``x.__dict__``/``__builtins__`` reach functions by name."""
    called = isinstance(parent, ast.Call) and parent.func is node
    if node.attr == "catalog" or node.attr.startswith("__") or (node.attr in _TABLE_METHODS and not called):
        raise _Unknown  # (a dunder reaches builtins and dicts by another road)


def _call_references(call: ast.Call, param: str, strings: dict[str, ast.expr], lines: list[str]) -> set[str]:
    """The tables one call names: a ``.sql`` query's tables, a ``.table`` name; unknown for reflection."""
    if isinstance(call.func, ast.Name) and call.func.id in _OPAQUE_CALLS:
        raise _Unknown
    method = _method(call) if isinstance(call.func, ast.Attribute) else None
    if method == "sql":
        return _format_references(call, param) | _sql_references(call, strings, lines)
    if method == "table":
        return _names(_literal(call.args[0] if call.args else None))
    if method in EXPRESSION_METHODS and any(
        isinstance(a, ast.Constant) and isinstance(a.value, str) and _SUBQUERY.search(a.value)
        for a in call.args
    ):
        raise _Unknown  # a subquery inside an expression string: not parsed here
    return set()


def _format_references(call: ast.Call, param: str) -> set[str]:
    """``spark.sql("... {t} ...", t=...)`` formats a string argument into the query as it is (a table
    name), a DataFrame as a view of it: a literal or a ``tables`` lookup is known, anything else not."""
    names: set[str] = set()
    for keyword in call.keywords:
        value = keyword.value
        if keyword.arg in ("args", "sqlQuery"):
            continue
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            names |= _names(value.value)
        elif not _is_lookup(value, param):
            raise _Unknown  # a variable may hold a table's name (or **kwargs, anything)
    return names


def _is_lookup(node: ast.expr, param: str) -> bool:
    """``tables["x"]`` or ``tables.get("x")`` (their tables are read where ``tables`` is used)."""
    target = node.func if isinstance(node, ast.Call) else node
    inner = target.value if isinstance(target, ast.Subscript | ast.Attribute) else None
    return isinstance(inner, ast.Name) and inner.id == param


def _sql_references(call: ast.Call, strings: dict[str, ast.expr], lines: list[str]) -> set[str]:
    """The tables of a static query; unknown for a built string, a non-query or SQL that does not parse."""
    arg = _sql_argument(call, strings)
    if arg is None or isinstance(arg, ast.JoinedStr):
        raise _Unknown
    found = _sql_text(arg, call, lines)
    if found is None:
        raise _Unknown
    try:
        statements = _parse(found[0])
    except SqlglotError:
        raise _Unknown from None
    return {name for statement in statements for name in _statement_tables(statement)}


def _statement_tables(statement: exp.Expr) -> set[str]:
    if not isinstance(statement, exp.Query | exp.Values):
        raise _Unknown  # SHOW, DESCRIBE, TABLE t ...: the validator refuses them; bind all regardless
    names: set[str] = set()
    for table in statement.find_all(exp.Table):
        if not table.name:
            raise _Unknown  # IDENTIFIER('t') or a table function: the name is not an identifier here
        names |= _names(".".join(part for part in (table.db, table.name) if part))
    return names
