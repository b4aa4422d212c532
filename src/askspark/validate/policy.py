"""The third stage of static validation: the policy, an AST visitor over the rule tables.

The policy is a cheap first line in front of the sandbox, not the sandbox itself: it rejects the
constructs a data question never needs and that reach outside the DataFrame API (imports beyond an
allow-list, introspection through dunders, dynamic code, the session's configuration and lifecycle,
the JVM, files, writes, Python UDFs). Each rejection names a stable ``rule`` id and tells the model
what to write instead (the tables and messages are in :mod:`askspark.validate.rules`), because the
message goes straight back into the next prompt.

Positions: ``line`` is 1-based; ``column`` is a 1-based character column.
"""

from __future__ import annotations

import ast

from askspark.record import ErrorKind, Failure
from askspark.validate.rules import (
    ALLOWED_MODULES,
    ALLOWED_STDLIB,
    ATTRIBUTE_RULES,
    DUNDER,
    DUNDER_IN_TEXT,
    ESCAPE_MODULES,
    FORBIDDEN_BUILTINS,
    FORBIDDEN_FUNCTIONS,
    REASONS,
    SESSION_LOOKUPS,
    SUGGESTIONS,
    UDF_NAMES,
    WRITE_RULES,
)
from askspark.validate.syntax import Source, column_of


def module_allowed(module: str, allowed: frozenset[str] = ALLOWED_MODULES) -> bool:
    """An allow-listed module, or a public submodule of an allowed stdlib one (collections.abc)."""
    if module in allowed:
        return True
    root, *rest = module.split(".")
    return root in ALLOWED_STDLIB and not any(p.startswith("_") or p in ESCAPE_MODULES for p in rest)


def _name_rule(name: str) -> str | None:
    """The rule an imported name breaks, judged by the name alone."""
    if DUNDER.match(name):
        return "dunder-access"
    if name in ESCAPE_MODULES:
        return "import-not-allowed"
    if name in ATTRIBUTE_RULES:
        return ATTRIBUTE_RULES[name]
    return "private-access" if name.startswith("_") else None


class PolicyVisitor(ast.NodeVisitor):
    """Collects every policy failure in a module (all of them, not just the first)."""

    # What a policy changes (the Ray policy: other modules, its own suggestions).
    allowed_modules: frozenset[str] = ALLOWED_MODULES
    suggestions: dict[str, str] = SUGGESTIONS

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
        """Whether code may import ``module``."""
        return module_allowed(module, self.allowed_modules)

    def report(self, rule: str, message: str, node: ast.AST) -> None:
        if rule in WRITE_RULES and self.allow_writes:
            return
        line, column = self._position(node)
        self.failures.append(
            Failure(
                kind=ErrorKind.POLICY,
                rule=rule,
                message=message,
                line=line,
                column=column,
                suggestion=self.suggestions.get(rule),
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
        elif DUNDER.match(name) and name != "__name__":
            self.report("dunder-access", f"the special name '{name}' is not allowed", node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        rule = self._attribute_rule(node)
        if rule:
            self.report(rule, self._attribute_message(node, rule), node)
        self.generic_visit(node)

    def _attribute_rule(self, node: ast.Attribute) -> str | None:
        attr = node.attr
        if DUNDER.match(attr):
            return "dunder-access"
        if attr == "read" and self._is_read_table(node):
            return None  # spark.read.table('x') is spark.table('x')
        if attr in ATTRIBUTE_RULES:
            return ATTRIBUTE_RULES[attr]
        if attr in ESCAPE_MODULES and self._root_name(node) in self.module_names:
            return "import-not-allowed"
        if attr == "client" and self._root_name(node) == "spark":
            return "forbidden-call"
        if attr in SESSION_LOOKUPS and self._root_name(node) == "SparkSession":
            return "session-builder"
        return "private-access" if attr.startswith("_") else None

    def _attribute_message(self, node: ast.Attribute, rule: str) -> str:
        text = ast.unparse(node)
        text = text if len(text) <= 80 else "..." + text[-77:]
        if rule == "dunder-access":
            return f"'{text}' reads the special attribute '{node.attr}' (object introspection)"
        if rule == "private-access":
            return f"'{text}' reads the private attribute '{node.attr}'"
        return f"'{text}' {REASONS.get(rule, 'is not allowed')}"

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
        found = DUNDER_IN_TEXT.search(node.value) if isinstance(node.value, str) else None
        if found:
            self.report("dunder-access", f"the string mentions the special name '{found.group(0)}'", node)


def policy_failures(source: Source) -> list[Failure]:
    """Every policy failure in the module."""
    return PolicyVisitor(source.lines, allow_writes=source.allow_writes).run(source.tree)
