"""Static validation of generated code, cheapest check first.

``validate_static(code)`` returns every failure it finds (an empty list means the code may run):

1. Python syntax (``syntax``/``python-syntax``) - stops here, nothing else can be checked;
2. the contract (``contract``): a top-level ``def answer(spark, tables)`` that returns a value, and no
   module-level statements besides imports, defs and simple constants;
3. the policy (``policy``, one ``rule`` id per construct, see :data:`RULES`);
4. the SQL strings handed to ``spark.sql`` (``syntax``/``sql-parse`` and ``policy`` rules).

Lines are 1-based; columns are 1-based characters.
"""

from __future__ import annotations

from askspark.record import Failure
from askspark.validate.policy import SUGGESTIONS, contract_failures, parse, policy_failures
from askspark.validate.sql import sql_failures

# Every rule id validate_static can report, by kind.
RULES: dict[str, tuple[str, ...]] = {
    "syntax": ("python-syntax", "sql-parse"),
    "contract": ("missing-answer", "answer-signature", "answer-return", "module-statement"),
    "policy": tuple(dict.fromkeys([*SUGGESTIONS, "sql-ddl", "sql-write", "sql-multiple"])),
    "ray-policy": ("ray-runtime", "ray-file-access"),
}


def _position(failure: Failure) -> tuple[int, int]:
    return failure.line or 0, failure.column or 0


def _unique(failures: list[Failure]) -> list[Failure]:
    """Drop repeats of the same rule at the same place (one construct can trip a rule twice)."""
    seen: set[tuple[str | None, int | None, int | None, str]] = set()
    kept = []
    for failure in failures:
        key = (failure.rule, failure.line, failure.column, failure.message)
        if key not in seen:
            seen.add(key)
            kept.append(failure)
    return kept


def validate_static(code: str, *, allow_writes: bool = False, contract: str = "spark") -> list[Failure]:
    """All static failures of ``code``; an empty list means it passes.

    ``allow_writes`` permits DataFrame writes and SQL INSERT/MERGE/UPDATE/DELETE. ``contract="ray"``
    checks ``answer(ray, tables)`` code under the Ray policy instead (:mod:`askspark.validate.ray_policy`).
    """
    tree, syntax_error = parse(code)
    if tree is None:
        return [syntax_error] if syntax_error else []
    lines = code.splitlines()
    if contract == "ray":
        from askspark.validate.ray_policy import ray_policy_failures

        ray_found = ray_policy_failures(tree, lines)
        return contract_failures(tree, lines, "ray") + _unique(sorted(ray_found, key=_position))
    contract_found = contract_failures(tree, lines)
    found = policy_failures(tree, lines, allow_writes=allow_writes)
    found += sql_failures(tree, code, allow_writes=allow_writes)
    return contract_found + _unique(sorted(found, key=_position))


__all__ = ["RULES", "validate_static"]
