"""What a run learns from earlier runs: verified answers and the conversation it continues (issue 13).

- **Verified answers.** :func:`verify` marks a succeeded run's answer as right: the store keeps its
  question, final code, tables and a fingerprint of their schemas (``verified`` table of ``runs.db``).
  A new question on tables that include a verified answer's tables gets the most similar ones as worked
  examples (``context/verified.py``); one that asks the same again re-runs the verified code, through
  the same validation, dry run and sandbox as any code, and falls back to the model when it no longer
  runs (a schema change). Only verified answers are ever replayed.
- **Follow-ups.** A run may follow an earlier run (``Request.follow_up``): it runs on that run's tables
  (unless it names its own, in the same catalog), and its prompt carries the earlier turns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from askspark.catalog.base import TableInfo
from askspark.context.conversation import Turn
from askspark.context.verified import Worked, fingerprint, rank, replayable, usable
from askspark.errors import UsageError
from askspark.record import Answer
from askspark.runs.store import RunStore, Verified
from askspark.settings import Settings

if TYPE_CHECKING:
    from askspark.request import Request
    from askspark.runs.loop import Run

AD_HOC_DATABASE = "files"  # tables made from files for one question (api.select_tables)


def verify(store: RunStore, run_id: str, settings: Settings) -> Verified:
    """Mark a succeeded run's answer as right, with its tables' schemas as they are now.

    Raises:
        NotFoundError: no such run. UsageError: the run did not succeed, or ran on ad-hoc files.
    """
    from askspark.catalog import resolve_table

    answer = store.get(run_id)
    check_verifiable(answer)
    tables = [resolve_table(_qualified(name), settings) for name in answer.tables]
    entry = Verified(
        run_id=answer.run_id,
        question=answer.question,
        code=answer.code or "",
        tables=tuple(answer.tables),
        fingerprint=fingerprint(tables),
        verified_at=datetime.now(UTC).isoformat(),
    )
    store.verify(entry)
    return entry


def check_verifiable(answer: Answer) -> None:
    """Only an answer that ran, on catalog tables, can be verified."""
    if answer.status != "succeeded" or not answer.code:
        raise UsageError(
            f"run {answer.run_id} {answer.status if answer.status != 'succeeded' else 'has no code'}: "
            "only a succeeded run's answer can be verified",
            suggestion="verify a run whose status is succeeded (see 'askspark runs list')",
            run_id=answer.run_id,
            status=answer.status,
        )
    if any(name.startswith(f"{AD_HOC_DATABASE}.") for name in answer.tables):
        raise UsageError(
            f"run {answer.run_id} ran on files given for one question, which a later question cannot name",
            suggestion="register the file with 'askspark catalog add DB.TABLE PATH', ask again, verify that run",
            run_id=answer.run_id,
        )


def unverify(store: RunStore, run_id: str) -> None:
    """Take a verification back (NotFoundError: no such run; UsageError: it was not verified)."""
    store.get(run_id)
    if not store.unverify(run_id):
        raise UsageError(f"run {run_id} is not verified", suggestion="verify it with 'askspark runs verify'")


def _qualified(name: str) -> str:
    """A run's table name with its catalog explicit: a local table is recorded without ``local:``."""
    return name if ":" in name else f"local:{name}"


# -- follow-ups -------------------------------------------------------------------------------------


def parent_of(store: RunStore, run_id: str, catalog: str | None, settings: Settings) -> Answer:
    """The run a follow-up continues, checked: it exists and its tables are of the catalog asked for.

    Raises:
        NotFoundError: no such run. UsageError: a run of another catalog, or one on ad-hoc files.
    """
    parent = store.get(run_id)
    theirs = catalogs_of(parent.tables)
    asked = catalog or settings.catalog
    if catalog is not None and theirs and theirs != {asked}:
        raise UsageError(
            f"run {run_id} asked about tables of the {', '.join(sorted(theirs))} catalog, not {asked!r}: "
            "a follow-up continues on the same catalog",
            suggestion=f"drop --catalog {asked}, or ask a new question (without --follow-up)",
            run_id=run_id,
        )
    return parent


def catalogs_of(tables: Sequence[str]) -> set[str]:
    return {name.partition(":")[0] if ":" in name else "local" for name in tables}


def parent_tables(parent: Answer) -> list[str]:
    """The tables a follow-up that names none runs on: its parent's, catalog explicit."""
    if any(name.startswith(f"{AD_HOC_DATABASE}.") for name in parent.tables):
        raise UsageError(
            f"run {parent.run_id} ran on files given for that question only",
            suggestion="give the same files again with --file, or register them with 'askspark catalog add'",
            run_id=parent.run_id,
        )
    return [_qualified(name) for name in parent.tables]


def check_same_catalog(parent: Answer, tables: Sequence[TableInfo]) -> None:
    """A follow-up's tables must come from its parent's catalog (UsageError otherwise)."""
    theirs, ours = catalogs_of(parent.tables), {t.catalog for t in tables}
    if theirs and not ours <= theirs:
        raise UsageError(
            f"run {parent.run_id} asked about tables of the {', '.join(sorted(theirs))} catalog; this "
            f"follow-up names tables of {', '.join(sorted(ours - theirs))}",
            suggestion="a follow-up continues on the same catalog: name its tables, or start a new question",
            run_id=parent.run_id,
        )


def turns(store: RunStore, parent: Answer, count: int) -> list[Turn]:
    """The last ``count`` turns of the conversation up to ``parent``, oldest first."""
    chain = store.conversation(parent.run_id, count) if count > 0 else []
    return [Turn(a.run_id, a.question, a.code if a.status == "succeeded" else None) for a in chain]


# -- verified answers for a new question -------------------------------------------------------------


def recall(
    store: RunStore, question: str, tables: Sequence[TableInfo], settings: Settings
) -> tuple[list[Worked], Verified | None]:
    """The verified answers to show as examples and the one to replay (or None) for this question."""
    names = [t.qualified_name for t in tables]
    entries = {v.run_id: v for v in store.verified() if usable(names, v.tables)}
    if not entries:
        return [], None
    worked = [Worked(v.run_id, v.question, v.code) for v in entries.values()]
    same = (
        replayable(question, worked, settings.verified_replay_similarity)
        if settings.verified_replay
        else None
    )
    shown = rank(question, worked, settings.verified_examples)  # the replayed one too: if it fails
    return shown, entries[same.run_id] if same is not None else None


def attach(run: Run, request: Request) -> None:
    """Give a prepared run what it learns from earlier runs: a follow-up its conversation; a new
    question the verified answers like it (and the one to replay). Given code needs neither."""
    if request.follow_up is not None:
        parent = run.store.get(request.follow_up)
        run.answer.follow_up_of = parent.run_id
        run.answer.conversation_id = parent.conversation_id or parent.run_id
        run.turns = turns(run.store, parent, run.settings.follow_up_turns)
    elif request.code is None:
        run.worked, run.replay = recall(run.store, request.question, run.tables, run.settings)
        run.answer.verified_examples = [w.run_id for w in run.worked]
