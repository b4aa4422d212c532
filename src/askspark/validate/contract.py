"""The second stage of static validation: the ``answer(spark, tables)`` contract.

A top-level ``def answer(spark, tables)`` (``answer(ray, tables)`` for Ray code) that returns a value,
and no module-level statements besides imports, defs and simple constants: loading the module must not
run anything.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from askspark.record import ErrorKind, Failure
from askspark.validate.rules import CONTRACT_HINTS
from askspark.validate.syntax import Source, column_of


def _contract(rule: str, message: str, node: ast.stmt | None, lines: list[str], suggestion: str) -> Failure:
    line = node.lineno if node is not None else None
    column = column_of(lines, node.lineno, node.col_offset) if node is not None else None
    return Failure(
        kind=ErrorKind.CONTRACT, rule=rule, message=message, line=line, column=column, suggestion=suggestion
    )


def _hint(first: str) -> str:
    return CONTRACT_HINTS.get(first, CONTRACT_HINTS["spark"])


def _simple_constant(node: ast.expr) -> bool:
    """Literals, names and arithmetic on them: values whose evaluation has no side effects."""
    if isinstance(node, ast.Constant | ast.Name):
        return True
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return all(_simple_constant(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _simple_constant(k) for k in node.keys) and all(
            _simple_constant(v) for v in node.values
        )
    if isinstance(node, ast.UnaryOp):
        return _simple_constant(node.operand)
    if isinstance(node, ast.BinOp):
        return _simple_constant(node.left) and _simple_constant(node.right)
    return isinstance(node, ast.Attribute) and _simple_constant(node.value)


def _allowed_top_level(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.AsyncFunctionDef | ast.Pass):
        return True
    if isinstance(stmt, ast.Expr):  # a docstring
        return isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)
    if isinstance(stmt, ast.Assign):
        names = all(isinstance(t, ast.Name) for t in stmt.targets)
        return names and _simple_constant(stmt.value)
    if isinstance(stmt, ast.AnnAssign):
        return isinstance(stmt.target, ast.Name) and (stmt.value is None or _simple_constant(stmt.value))
    return False


def _module_statements(tree: ast.Module, lines: list[str]) -> Iterator[Failure]:
    for stmt in tree.body:
        if not _allowed_top_level(stmt):
            text = ast.unparse(stmt).splitlines()[0]
            text = text if len(text) <= 60 else text[:57] + "..."
            yield _contract(
                "module-statement",
                f"the top-level statement `{text}` runs when the module loads; only imports, function "
                "definitions and simple constant assignments are allowed outside functions",
                stmt,
                lines,
                "move this code inside answer(spark, tables) or a helper function",
            )


def _body_nodes(func: ast.FunctionDef) -> Iterator[ast.AST]:
    """Nodes of a function's own body, not of functions or lambdas nested in it."""
    stack: list[ast.AST] = list(func.body)
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            stack.extend(ast.iter_child_nodes(node))


def _signature_ok(func: ast.FunctionDef, first: str) -> bool:
    args = func.args
    names = [a.arg for a in [*args.posonlyargs, *args.args]]
    extras = args.vararg or args.kwarg or args.kwonlyargs or args.defaults
    return names == [first, "tables"] and not extras


def _answer_failures(func: ast.FunctionDef, lines: list[str], first: str) -> Iterator[Failure]:
    hint = _hint(first)
    if not _signature_ok(func, first):
        yield _contract(
            "answer-signature",
            f"answer has the signature ({ast.unparse(func.args)}); it must take exactly ({first}, tables), "
            "no defaults, *args or **kwargs",
            func,
            lines,
            hint,
        )
    nodes = list(_body_nodes(func))
    if any(isinstance(n, ast.Yield | ast.YieldFrom) for n in nodes):
        yield _contract("answer-return", "answer is a generator (it uses yield)", func, lines, hint)
    elif not any(isinstance(n, ast.Return) and n.value is not None for n in nodes):
        yield _contract("answer-return", "answer never returns a value", func, lines, hint)


def contract_failures(source: Source, first: str = "spark") -> list[Failure]:
    """The ``answer(spark, tables)`` contract (``answer(ray, tables)`` for Ray) and the
    no-module-side-effects rule."""
    tree, lines = source.tree, source.lines
    failures = list(_module_statements(tree, lines))
    defs = [s for s in tree.body if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef)]
    answers = [d for d in defs if d.name == "answer"]
    if not answers:
        failures.insert(
            0,
            _contract(
                "missing-answer", f"no top-level function answer({first}, tables)", None, lines, _hint(first)
            ),
        )
    elif isinstance(answers[-1], ast.AsyncFunctionDef):
        failures.append(_contract("answer-signature", "answer is async", answers[-1], lines, _hint(first)))
    else:
        failures.extend(_answer_failures(answers[-1], lines, first))
    return failures
