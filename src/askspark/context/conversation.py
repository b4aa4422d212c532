"""Follow-up questions as context: the earlier turns of a conversation the model builds on.

A conversation is a chain of runs (``Answer.follow_up_of``). The prompt of a follow-up carries the
earlier questions and the final code that answered them, newest last, so "now split that by region"
can reuse the previous query. Only the last few turns are kept, and only as many as fit their share of
the prompt's token budget (older ones are dropped first; a turn is never cut in half).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from askspark.context.budget import estimate_tokens

HISTORY_SHARE = 4  # earlier turns may take at most 1/HISTORY_SHARE of the prompt's budget


@dataclass(frozen=True)
class Turn:
    """One earlier turn: its run, its question and the code that answered it (None if it failed)."""

    run_id: str
    question: str
    code: str | None


def recent(
    turns: Sequence[Turn],
    budget: int,
    render: Callable[[Sequence[Turn]], str],
    count: Callable[[str], int] = estimate_tokens,
) -> list[Turn]:
    """The newest turns whose rendering fits ``budget`` tokens (0: no limit), oldest first."""
    kept = list(turns)
    while kept and budget and count(render(kept)) > budget:
        kept.pop(0)
    return kept
