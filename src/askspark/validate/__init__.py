"""Static validation of generated code, cheapest check first; one module per stage.

``validate_static(code)`` returns every failure it finds (an empty list means the code may run):

1. Python syntax (``syntax``/``python-syntax``, :mod:`~askspark.validate.syntax`) - stops here,
   nothing else can be checked;
2. the contract (``contract``, :mod:`~askspark.validate.contract`): a top-level
   ``def answer(spark, tables)`` that returns a value, and no module-level statements besides imports,
   defs and simple constants;
3. the checks of the code contract, each ``check(source) -> failures`` (:data:`CHECKS`): the policy
   (``policy``, one ``rule`` id per construct, see :data:`RULES`; :mod:`~askspark.validate.policy`)
   and the SQL strings handed to ``spark.sql`` (``syntax``/``sql-parse`` and ``policy`` rules,
   :mod:`~askspark.validate.sql`); Ray code gets the Ray policy instead.

The rule tables they read are data in :mod:`askspark.validate.rules`.
Lines are 1-based; columns are 1-based characters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from askspark.record import Failure
from askspark.validate.contract import contract_failures
from askspark.validate.policy import policy_failures
from askspark.validate.rules import SUGGESTIONS
from askspark.validate.sql import sql_failures
from askspark.validate.syntax import Source, parse

Check = Callable[[Source], Iterable[Failure]]


def _ray_policy(source: Source) -> list[Failure]:
    from askspark.validate.ray_policy import ray_policy_failures  # Ray code is rare: load it when used

    return ray_policy_failures(source)


# The checks after the contract, per code contract (the first parameter of ``answer``).
CHECKS: dict[str, tuple[Check, ...]] = {
    "spark": (policy_failures, sql_failures),
    "ray": (_ray_policy,),
}

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
    contract = contract if contract in CHECKS else "spark"
    source = Source(code, tree, code.splitlines(), allow_writes=allow_writes)
    found = [failure for check in CHECKS[contract] for failure in check(source)]
    return contract_failures(source, contract) + _unique(sorted(found, key=_position))


__all__ = ["CHECKS", "RULES", "Check", "Source", "validate_static"]
