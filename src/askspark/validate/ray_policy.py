"""The policy for Ray code (``def answer(ray, tables) -> ray.data.Dataset``).

The same wall as for Spark code (no imports beyond an allow-list, no dunders, no dynamic code, no
files), adapted to Ray: Python functions in ``map``/``map_batches``/``filter`` are Ray Data's normal
way and are allowed, but the code may not touch the Ray runtime (``ray.init``, ``ray.shutdown``,
tasks, actors, the object store, runtime environments, jobs) nor read or write files itself: the
tables arrive as Datasets and the harness keeps the result.
"""

from __future__ import annotations

import ast

from askspark.record import Failure
from askspark.validate.policy import PolicyVisitor
from askspark.validate.rules import RAY_ALLOWED_MODULES, RAY_RUNTIME, RAY_SUGGESTIONS, SUGGESTIONS
from askspark.validate.syntax import Source


class RayPolicyVisitor(PolicyVisitor):
    """:class:`PolicyVisitor` with Ray's allowed modules and Ray's runtime off limits."""

    allowed_modules = RAY_ALLOWED_MODULES
    suggestions = {**SUGGESTIONS, **RAY_SUGGESTIONS}

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


def ray_policy_failures(source: Source) -> list[Failure]:
    """Every Ray policy failure in the module."""
    return RayPolicyVisitor(source.lines).run(source.tree)
