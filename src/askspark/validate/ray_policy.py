"""The policy for Ray code (``def answer(ray, tables) -> ray.data.Dataset``).

The same wall as for Spark code (no imports beyond an allow-list, no dunders, no dynamic code, no
files), adapted to Ray: Python functions in ``map``/``map_batches``/``filter`` are Ray Data's normal
way and are allowed, but the code may not touch the Ray runtime (``ray.init``, ``ray.shutdown``,
tasks, actors, the object store, runtime environments, jobs) nor read or write files itself: the
tables arrive as Datasets and the harness keeps the result.
"""

from __future__ import annotations

import ast

from askspark.validate.policy import ALLOWED_STDLIB, ESCAPE_MODULES, PolicyVisitor

# No numpy, pandas or pyarrow at large: they read and write files (np.load, pd.read_csv, pa.parquet).
RAY_ALLOWED_MODULES = frozenset(
    {"ray", "ray.data", "ray.data.aggregate", "ray.data.expressions", "pyarrow.compute", "__future__"}
)
# Attributes of the ``ray`` module that reach the runtime rather than Ray Data.
RAY_RUNTIME = frozenset(
    {"init", "shutdown", "remote", "get", "put", "wait", "kill", "cancel", "get_actor", "method",
     "available_resources", "cluster_resources", "nodes", "timeline", "util", "job_submission",
     "runtime_context", "get_runtime_context", "is_initialized", "runtime_env", "actor", "cross_language"}
)  # fmt: skip
RAY_SUGGESTIONS = {
    "ray-runtime": "use only Ray Data on the given tables (tables['orders'].filter(...).groupby(...)); the "
    "harness owns the Ray runtime: no ray.init, tasks, actors or ray.get",
    "ray-file-access": "use tables['orders'] instead of reading or writing files; return the Dataset and the "
    "harness keeps the result",
    "import-not-allowed": "import only ray.data (and ray.data.aggregate), pyarrow.compute and pure helpers "
    "(datetime, math, decimal, re, json, functools, itertools, operator, collections, typing, "
    "statistics, string)",
}


class RayPolicyVisitor(PolicyVisitor):
    """:class:`PolicyVisitor` with Ray's allowed modules and Ray's runtime off limits."""

    def module_allowed(self, module: str) -> bool:
        if module in RAY_ALLOWED_MODULES:
            return True
        root, *rest = module.split(".")
        return root in ALLOWED_STDLIB and not any(p.startswith("_") or p in ESCAPE_MODULES for p in rest)

    def _attribute_rule(self, node: ast.Attribute) -> str | None:
        attr = node.attr
        if self._root_name(node) == "ray" and attr in RAY_RUNTIME:
            return "ray-runtime"
        if attr.startswith(("read_", "write_")) or attr in ("from_huggingface", "from_spark", "from_torch"):
            return "ray-file-access"
        return super()._attribute_rule(node)

    def _attribute_message(self, node: ast.Attribute, rule: str) -> str:
        text = ast.unparse(node)
        if rule == "ray-runtime":
            return f"'{text}' reaches the Ray runtime (tasks, actors, objects or the cluster)"
        if rule == "ray-file-access":
            return f"'{text}' reads or writes data outside the given tables"
        return super()._attribute_message(node, rule)

    def report(self, rule: str, message: str, node: ast.AST) -> None:
        super().report(rule, message, node)
        if rule in RAY_SUGGESTIONS and self.failures:
            self.failures[-1].suggestion = RAY_SUGGESTIONS[rule]


def ray_policy_failures(tree: ast.AST, lines: list[str]) -> list:  # type: ignore[type-arg]
    """Every Ray policy failure in the module."""
    return RayPolicyVisitor(lines).run(tree)
