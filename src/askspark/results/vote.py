"""Several candidate codes per attempt, chosen by what they return: group equal results, take the largest.

Pure functions over :class:`Reading` records (a candidate's code, its result or None, its failure),
so the vote is tested without a model or an engine. Readings are in generation order: index 0 is the
greedy candidate, which wins ties. A reading whose result a check found suspect still counts as a
reading (it ran and said something), but a group of clean readings is chosen before any suspect one,
and suspect readings do not count against a clean answer's confidence (:class:`Confidence`).

Equality is injected (``same``); the default, :func:`same_result`, is the eval scorer's comparison
(:func:`askspark.results.compare.same_result`: rows in any order, tolerant numbers and timestamps,
columns matched by content).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from askspark.record import Alternative, Confidence, ErrorKind, Failure, ResultPreview
from askspark.results import compare

Same = Callable[[ResultPreview, ResultPreview], bool]

ALTERNATIVE_ROWS = 20
"""Rows kept in the preview of each alternative reading (the answer document stays small)."""


def same_result(a: ResultPreview, b: ResultPreview) -> bool:
    """Whether two results are equal under the eval scorer's rules (the one place the vote asks)."""
    return compare.same_result(a, b)


@dataclass(frozen=True)
class Reading:
    """One distinct candidate code and what running it gave."""

    code: str
    result: ResultPreview | None = None
    failure: Failure | None = None

    @property
    def ran(self) -> bool:
        """It returned a result (clean or suspect)."""
        return self.result is not None

    @property
    def clean(self) -> bool:
        return self.result is not None and self.failure is None

    @property
    def suspect(self) -> bool:
        return self.failure is not None and self.failure.kind == ErrorKind.SUSPECT_RESULT


@dataclass(frozen=True)
class Vote:
    """The groups of equal results (indexes into the readings, each in generation order), the chosen
    group first; ``asked`` is the number of candidates the setting allows."""

    groups: list[list[int]]
    asked: int
    generated: int = 0  # readings the vote saw, run or not
    doubted: tuple[bool, ...] = ()  # per group: its readings failed a result check

    @property
    def winner(self) -> int | None:
        """The reading that answers: the earliest of the chosen group."""
        return self.groups[0][0] if self.groups else None

    @property
    def executed(self) -> int:
        return sum(len(g) for g in self.groups)

    def confidence(self) -> Confidence | None:
        if not self.groups:
            return None
        agree = len(self.groups[0])
        doubted = sum(len(g) for g, d in zip(self.groups[1:], self.doubted[1:], strict=False) if d)
        return Confidence(
            agree=agree, executed=self.executed, share=agree / self.executed, asked=self.asked,
            generated=self.generated, doubted=doubted,
        )  # fmt: skip

    def alternatives(self, readings: Sequence[Reading], rows: int = ALTERNATIVE_ROWS) -> list[Alternative]:
        """Each other distinct result: its earliest code, its preview cut to ``rows``, how many gave it."""
        out = []
        for rank, group in enumerate(self.groups[1:], 1):
            first = readings[group[0]]
            assert first.result is not None
            preview = first.result.model_copy(
                update={
                    "rows": first.result.rows[:rows],
                    "truncated": first.result.truncated or len(first.result.rows) > rows,
                }
            )
            suspect = rank < len(self.doubted) and self.doubted[rank]
            out.append(Alternative(code=first.code, result=preview, count=len(group), suspect=suspect))
        return out


def group_results(readings: Sequence[Reading], same: Same = same_result) -> list[list[int]]:
    """Readings that ran, grouped by equal result; each group and the list in generation order."""
    groups: list[list[int]] = []
    for index, reading in enumerate(readings):
        if reading.result is None:
            continue
        for group in groups:
            representative = readings[group[0]].result
            assert representative is not None
            if same(representative, reading.result):
                group.append(index)
                break
        else:
            groups.append([index])
    return groups


def vote(readings: Sequence[Reading], asked: int, same: Same = same_result) -> Vote:
    """The largest group wins, clean before suspect; ties go to the group holding the earliest reading
    (the greedy one when it ran)."""
    # Each group's rank: doubted (no clean reading) last, then larger first, then earlier first.
    keyed = sorted(
        ((not any(readings[i].clean for i in g), -len(g), g[0]), g) for g in group_results(readings, same)
    )
    doubted = tuple(key[0] for key, _ in keyed)
    return Vote(groups=[g for _, g in keyed], asked=asked, generated=len(readings), doubted=doubted)


def enough(readings: Sequence[Reading], generated: int, asked: int, same: Same = same_result) -> bool:
    """Whether to stop generating: ``asked`` candidates are done, some result has a strict majority of
    ``asked``, or the first two (or more) candidates all ran and agree (identical code agrees)."""
    if generated >= asked:
        return True
    groups = group_results(readings, same)
    if any(len(g) * 2 > asked for g in groups):
        return True
    return generated >= 2 and len(groups) == 1 and all(r.clean for r in readings)
