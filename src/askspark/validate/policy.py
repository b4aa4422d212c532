"""The Python side of static validation: syntax, the ``answer(spark, tables)`` contract, the policy.

The policy is a cheap first line in front of the sandbox, not the sandbox itself: it rejects the
constructs a data question never needs and that reach outside the DataFrame API (imports beyond an
allow-list, introspection through dunders, dynamic code, the session's configuration and lifecycle,
the JVM, files, writes, Python UDFs). Each rejection names a stable ``rule`` id and tells the model
what to write instead, because the message goes straight back into the next prompt.

Positions: ``line`` is 1-based; ``column`` is a 1-based character column.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from askspark.record import ErrorKind, Failure
from askspark.validate.sql import FORBIDDEN_FUNCTIONS

ALLOWED_MODULES = frozenset(
    {
        "pyspark.sql",
        "pyspark.sql.functions",
        "pyspark.sql.types",
        "pyspark.sql.window",
        "__future__",
    }
)
# Pure standard-library helpers; their public submodules (collections.abc) are fine too.
ALLOWED_STDLIB = frozenset(
    {
        "datetime",
        "math",
        "decimal",
        "re",
        "json",
        "functools",
        "itertools",
        "operator",
        "collections",
        "typing",
        "statistics",
        "string",
    }
)
FORBIDDEN_BUILTINS = frozenset(
    {
        "eval",
        "exec",
        "compile",
        "open",
        "__import__",
        "getattr",
        "setattr",
        "delattr",
        "globals",
        "locals",
        "vars",
        "input",
        "breakpoint",
        "help",
        "exit",
        "quit",
        "memoryview",
        "__build_class__",
    }
)
# Modules that allowed modules import themselves (typing.sys, json.codecs): reaching one through an
# attribute or `from json import codecs` is an import in disguise.
ESCAPE_MODULES = frozenset(
    {
        "sys",
        "os",
        "posix",
        "nt",
        "builtins",
        "importlib",
        "subprocess",
        "inspect",
        "codecs",
        "io",
        "socket",
        "shutil",
        "pathlib",
        "ctypes",
        "pickle",
        "marshal",
        "types",
        "gc",
        "warnings",
        "threading",
        "signal",
        "tempfile",
        "glob",
        "urllib",
        "http",
        "platform",
        "runpy",
        "multiprocessing",
        "py4j",
        "modules",
    }
)
UDF_NAMES = frozenset({"udf", "pandas_udf", "udtf"})
# Attribute (and imported) names and the rule each breaks, whatever object they are read from.
ATTRIBUTE_RULES: dict[str, str] = {
    **dict.fromkeys(["builder", "newSession"], "session-builder"),
    **dict.fromkeys(
        ["sparkContext", "SparkContext", "SparkConf", "_jvm", "_jsc", "_jdf", "_jsparkSession", "_sc", "_jc"],
        "sparkcontext",
    ),
    "rdd": "rdd",
    **dict.fromkeys(["read", "readStream"], "file-access"),
    **dict.fromkeys(["write", "writeTo", "writeStream", "saveAsTable", "insertInto", "mergeInto"], "write"),
    **dict.fromkeys(
        [
            *UDF_NAMES,
            "mapInPandas",
            "mapInArrow",
            "applyInPandas",
            "applyInArrow",
            "applyInPandasWithState",
            "transformWithStateInPandas",
            "transformWithState",
            "foreach",
            "foreachPartition",
            "foreachBatch",
            "dataSource",
            "registerJavaFunction",
            "registerJavaUDAF",
        ],
        "udf",
    ),
    **dict.fromkeys(sorted(FORBIDDEN_FUNCTIONS), "forbidden-function"),
    **dict.fromkeys(
        [
            "addArtifact",
            "addArtifacts",
            "copyFromLocalToFs",
            "interruptAll",
            "interruptTag",
            "interruptOperation",
            "release_session",
            "createGlobalTempView",
            "createOrReplaceGlobalTempView",
            "setCurrentDatabase",
            "setCurrentCatalog",
            "dropTempView",
            "dropGlobalTempView",
            "createTable",
            "createExternalTable",
            "registerFunction",
            "clearCache",
            "refreshTable",
            "refreshByPath",
            "recoverPartitions",
            "attrgetter",  # operator.attrgetter/methodcaller are getattr under another name
            "methodcaller",
            "get_type_hints",  # evaluates annotation strings as code
            "ForwardRef",
        ],
        "forbidden-call",
    ),
}
# What the model should do instead, per rule; the message names the construct.
SUGGESTIONS: dict[str, str] = {
    "import-not-allowed": "import only pyspark.sql (functions as F, types as T, Window) and pure helpers "
    "(datetime, math, decimal, re, json, functools, itertools, operator, collections, typing, "
    "statistics, string); the data is in `tables` and `spark`",
    "dunder-access": "work with DataFrame columns and plain values; do not introspect objects",
    "forbidden-builtin": "compute with DataFrame operations and plain Python; no dynamic code, files, "
    "introspection or interaction",
    "forbidden-call": "leave the session, catalog and artifacts alone; only build and return a DataFrame",
    "session-builder": "use the `spark` argument; the harness owns the SparkSession",
    "spark-conf-set": "do not change the session configuration; write the query so it works with the "
    "current settings (e.g. try_divide, try_cast)",
    "spark-stop": "do not stop the session; the harness owns it - just return the DataFrame",
    "sparkcontext": "use the DataFrame API (spark.table, spark.sql, tables[...]); the SparkContext and "
    "JVM are not available",
    "rdd": "use DataFrame operations (select, groupBy, agg, Window) instead of RDDs",
    "file-access": "use tables['orders'] or spark.table('orders') instead of reading files",
    "write": "do not write data anywhere; return the DataFrame and the harness keeps the result",
    "udf": "express the logic with built-in functions (pyspark.sql.functions, F.expr, F.when, "
    "F.transform); Python UDFs and per-row Python code are not allowed",
    "forbidden-function": "use Spark's built-in functions instead of Java reflection",
    "private-access": "use only the public DataFrame API; private attributes are off limits",
}
# Why an attribute breaks its rule, for messages.
_REASONS: dict[str, str] = {
    "import-not-allowed": "reaches a module that may not be imported",
    "file-access": "reads files or streams instead of the given tables",
    "write": "writes data",
    "udf": "runs Python code per row (a UDF)",
    "session-builder": "creates or looks up a SparkSession",
    "sparkcontext": "reaches the SparkContext/JVM",
    "rdd": "uses the RDD API",
    "forbidden-call": "changes the session, catalog or artifacts, or reads attributes by name",
    "forbidden-function": "calls arbitrary Java methods (reflection)",
}
# Only meaningful on SparkSession itself; `df.active` is more likely a column.
_SESSION_LOOKUPS = frozenset({"getActiveSession", "active"})
_DUNDER = re.compile(r"^__\w+__$")
_DUNDER_IN_TEXT = re.compile(r"__[A-Za-z]\w*__")
_WRITE_RULES = frozenset({"write"})


def column_of(lines: list[str], lineno: int, col_offset: int) -> int:
    """The 1-based character column of an ast UTF-8 byte offset."""
    text = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
    return len(text.encode()[:col_offset].decode(errors="ignore")) + 1


# --- (a) syntax ---------------------------------------------------------------------------------


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


# --- (b) contract -------------------------------------------------------------------------------


def _contract(rule: str, message: str, node: ast.stmt | None, lines: list[str], suggestion: str) -> Failure:
    line = node.lineno if node is not None else None
    column = column_of(lines, node.lineno, node.col_offset) if node is not None else None
    return Failure(
        kind=ErrorKind.CONTRACT, rule=rule, message=message, line=line, column=column, suggestion=suggestion
    )


_SIGNATURE_HINT = "define exactly `def answer(spark, tables):` at the top level and return a DataFrame"
_RAY_SIGNATURE_HINT = (
    "define exactly `def answer(ray, tables):` at the top level and return a ray.data.Dataset"
)


def _hint(first: str) -> str:
    return _RAY_SIGNATURE_HINT if first == "ray" else _SIGNATURE_HINT


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


def contract_failures(tree: ast.Module, lines: list[str], first: str = "spark") -> list[Failure]:
    """The ``answer(spark, tables)`` contract (``answer(ray, tables)`` for Ray) and the
    no-module-side-effects rule."""
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


# --- (c) policy ---------------------------------------------------------------------------------


def _module_allowed(module: str) -> bool:
    """An allow-listed module, or a public submodule of an allowed stdlib one (collections.abc)."""
    if module in ALLOWED_MODULES:
        return True
    root, *rest = module.split(".")
    return root in ALLOWED_STDLIB and not any(p.startswith("_") or p in ESCAPE_MODULES for p in rest)


def _name_rule(name: str) -> str | None:
    """The rule an imported name breaks, judged by the name alone."""
    if _DUNDER.match(name):
        return "dunder-access"
    if name in ESCAPE_MODULES:
        return "import-not-allowed"
    if name in ATTRIBUTE_RULES:
        return ATTRIBUTE_RULES[name]
    return "private-access" if name.startswith("_") else None


class PolicyVisitor(ast.NodeVisitor):
    """Collects every policy failure in a module (all of them, not just the first)."""

    def __init__(self, lines: list[str], *, allow_writes: bool = False) -> None:
        self.lines = lines
        self.allow_writes = allow_writes
        self.failures: list[Failure] = []
        self.module_names: set[str] = set()  # names bound to modules by import statements
        self.parents: dict[ast.AST, ast.AST] = {}

    def run(self, tree: ast.AST) -> list[Failure]:
        for parent in ast.walk(tree):
            for child in ast.iter_child_nodes(parent):
                self.parents[child] = parent
        self.visit(tree)
        return self.failures

    def module_allowed(self, module: str) -> bool:
        """Whether code may import ``module`` (the Ray policy allows other modules)."""
        return _module_allowed(module)

    def report(self, rule: str, message: str, node: ast.AST) -> None:
        if rule in _WRITE_RULES and self.allow_writes:
            return
        line, column = self._position(node)
        self.failures.append(
            Failure(
                kind=ErrorKind.POLICY,
                rule=rule,
                message=message,
                line=line,
                column=column,
                suggestion=SUGGESTIONS.get(rule),
            )
        )

    def _position(self, node: ast.AST) -> tuple[int | None, int | None]:
        """Where to point: an attribute's own name (``x.y.__class__`` at ``__class__``), else the node."""
        if isinstance(node, ast.Attribute) and node.end_lineno and node.end_col_offset is not None:
            return node.end_lineno, column_of(self.lines, node.end_lineno, node.end_col_offset) - len(
                node.attr
            )
        line = getattr(node, "lineno", None)
        return line, column_of(self.lines, line, getattr(node, "col_offset", 0)) if line else None

    # imports

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if not self.module_allowed(alias.name):
                self.report("import-not-allowed", f"import of module '{alias.name}' is not allowed", node)
            self.module_names.add(alias.asname or alias.name.partition(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = "." * node.level + (node.module or "")
        if node.level or not self.module_allowed(module):
            self.report("import-not-allowed", f"import from module '{module}' is not allowed", node)
            return
        for alias in node.names:
            full = f"{module}.{alias.name}"
            rule = None if full in ALLOWED_MODULES else _name_rule(alias.name)  # types as T is fine
            if rule:
                self.report(rule, f"importing '{alias.name}' from '{module}' is not allowed", node)
            elif self.module_allowed(full):
                self.module_names.add(alias.asname or alias.name)

    # names and attributes

    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if not isinstance(node.ctx, ast.Load):
            return
        if name in FORBIDDEN_BUILTINS:
            self.report("forbidden-builtin", f"the builtin '{name}' is not allowed", node)
        elif name in UDF_NAMES:
            self.report("udf", f"'{name}' creates a Python UDF, which is not allowed", node)
        elif name in ("SparkContext", "SparkConf"):
            self.report("sparkcontext", f"'{name}' is not available", node)
        elif _DUNDER.match(name) and name != "__name__":
            self.report("dunder-access", f"the special name '{name}' is not allowed", node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        rule = self._attribute_rule(node)
        if rule:
            self.report(rule, self._attribute_message(node, rule), node)
        self.generic_visit(node)

    def _attribute_rule(self, node: ast.Attribute) -> str | None:
        attr = node.attr
        if _DUNDER.match(attr):
            return "dunder-access"
        if attr == "read" and self._is_read_table(node):
            return None  # spark.read.table('x') is spark.table('x')
        if attr in ATTRIBUTE_RULES:
            return ATTRIBUTE_RULES[attr]
        if attr in ESCAPE_MODULES and self._root_name(node) in self.module_names:
            return "import-not-allowed"
        if attr == "client" and self._root_name(node) == "spark":
            return "forbidden-call"
        if attr in _SESSION_LOOKUPS and self._root_name(node) == "SparkSession":
            return "session-builder"
        return "private-access" if attr.startswith("_") else None

    def _attribute_message(self, node: ast.Attribute, rule: str) -> str:
        text = ast.unparse(node)
        text = text if len(text) <= 80 else "..." + text[-77:]
        if rule == "dunder-access":
            return f"'{text}' reads the special attribute '{node.attr}' (object introspection)"
        if rule == "private-access":
            return f"'{text}' reads the private attribute '{node.attr}'"
        return f"'{text}' {_REASONS.get(rule, 'is not allowed')}"

    def _is_read_table(self, node: ast.Attribute) -> bool:
        parent = self.parents.get(node)
        grandparent = self.parents.get(parent) if parent else None
        return (
            isinstance(parent, ast.Attribute)
            and parent.attr == "table"
            and isinstance(grandparent, ast.Call)
            and grandparent.func is parent
        )

    @staticmethod
    def _root_name(node: ast.expr) -> str | None:
        while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
            node = node.func if isinstance(node, ast.Call) else node.value
        return node.id if isinstance(node, ast.Name) else None

    # calls and constants

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id == "type" and len(node.args) == 3:
            self.report("forbidden-builtin", "type() with three arguments creates classes dynamically", node)
        if isinstance(func, ast.Attribute):
            self._method_call(node, func)
        self.generic_visit(node)

    def _method_call(self, node: ast.Call, func: ast.Attribute) -> None:
        receiver = func.value
        if func.attr in ("set", "unset") and isinstance(receiver, ast.Attribute) and receiver.attr == "conf":
            self.report("spark-conf-set", f"'{ast.unparse(func)}' changes the session configuration", node)
        elif func.attr == "stop":
            self.report("spark-stop", f"'{ast.unparse(func)}()' stops the session the harness owns", node)
        elif func.attr in ("call_function", "call_udf") and node.args:
            first = node.args[0]
            name = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else ""
            if name.lower() in FORBIDDEN_FUNCTIONS:
                self.report("forbidden-function", f"{func.attr}('{name}') calls Java reflection", node)

    def visit_Constant(self, node: ast.Constant) -> None:
        # "__class__" in a string feeds getattr, str.format("{0.__class__}") or attrgetter.
        found = _DUNDER_IN_TEXT.search(node.value) if isinstance(node.value, str) else None
        if found:
            self.report("dunder-access", f"the string mentions the special name '{found.group(0)}'", node)


def policy_failures(tree: ast.AST, lines: list[str], *, allow_writes: bool = False) -> list[Failure]:
    """Every policy failure in the module."""
    return PolicyVisitor(lines, allow_writes=allow_writes).run(tree)
