"""Several candidates per attempt, chosen by what they return: the pure vote, then real Spark with a
scripted model."""

from __future__ import annotations

from typing import Any

import pytest

from askspark import api
from askspark.llm.base import Completion, Message, complete_many
from askspark.llm.scripted import ScriptedLLM
from askspark.record import ColumnInfo, Confidence, ErrorKind, Failure, ResultPreview
from askspark.results.vote import Reading, enough, group_results, same_result, vote
from askspark.runs.loop import agreement_notice, candidate_temperatures
from askspark.settings import Settings


def preview(rows: list[list[Any]], columns: tuple[str, ...] = ("n",)) -> ResultPreview:
    return ResultPreview(
        columns=[ColumnInfo(name=c, type="bigint") for c in columns],
        rows=rows,
        truncated=False,
        row_count=len(rows),
    )


ONE, TWO = preview([[1]]), preview([[2]])
SUSPECT = Failure(kind=ErrorKind.SUSPECT_RESULT, message="the result is empty")
INVALID = Failure(kind=ErrorKind.POLICY, message="import os is not allowed")


# -- the vote, pure ---------------------------------------------------------------------------------


def test_largest_group_wins_and_the_others_are_alternatives() -> None:
    readings = [Reading("a", ONE), Reading("b", TWO), Reading("c", preview([[2.0000000001]]))]
    chosen = vote(readings, asked=3)
    assert chosen.groups == [[1, 2], [0]] and chosen.winner == 1
    confidence = chosen.confidence()
    assert confidence is not None
    assert (confidence.agree, confidence.executed, confidence.asked) == (2, 3, 3)
    assert confidence.share == pytest.approx(2 / 3)
    [other] = chosen.alternatives(readings)
    assert other.code == "a" and other.count == 1 and other.result.rows == [[1]]


def test_a_tie_goes_to_the_greedy_candidate() -> None:
    assert vote([Reading("a", ONE), Reading("b", TWO)], asked=2).winner == 0
    # ...or to the earliest one that ran when the greedy one failed
    assert vote([Reading("a", None, INVALID), Reading("b", ONE), Reading("c", TWO)], asked=3).winner == 1


def test_failed_candidates_are_not_counted() -> None:
    chosen = vote([Reading("a", None, INVALID), Reading("b", ONE), Reading("c", ONE)], asked=3)
    confidence = chosen.confidence()
    assert chosen.winner == 1 and confidence is not None and (confidence.agree, confidence.executed) == (2, 2)
    assert vote([Reading("a", None, INVALID)], asked=3).confidence() is None


def test_a_clean_group_beats_a_larger_suspect_one() -> None:
    readings = [Reading("a", TWO, SUSPECT), Reading("b", TWO, SUSPECT), Reading("c", ONE)]
    assert vote(readings, asked=3).winner == 2


def test_a_reading_that_failed_a_check_does_not_count_against_a_clean_answer() -> None:
    readings = [Reading("a", ONE), Reading("b", ONE), Reading("c", TWO, SUSPECT)]
    chosen = vote(readings, asked=3)
    confidence = chosen.confidence()
    assert confidence is not None and (confidence.agree, confidence.executed, confidence.doubted) == (2, 3, 1)
    assert not confidence.low and confidence.text == "2 of 3 readings agree; 1 failed a result check"
    [other] = chosen.alternatives(readings)
    assert other.suspect and other.result.rows == [[2]]
    assert agreement_notice(confidence, [other]) == confidence.text  # no clean other reading to show


def test_a_clean_other_reading_makes_it_low() -> None:
    readings = [Reading("a", ONE), Reading("b", ONE), Reading("c", TWO)]
    confidence = vote(readings, asked=3).confidence()
    assert confidence is not None and confidence.low and confidence.text == "2 of 3 readings agree"


@pytest.mark.parametrize(
    ("readings", "text"),
    [
        (
            [Reading("a", None, INVALID), Reading("b", None, INVALID), Reading("c", ONE)],
            "1 of 3 readings gave this answer and none confirmed it; 2 did not run",
        ),
        (
            [Reading("a", ONE), Reading("b", TWO, SUSPECT), Reading("c", TWO, SUSPECT)],
            "1 of 3 readings gave this answer and none confirmed it; 2 failed a result check",
        ),
    ],
)
def test_a_lone_reading_is_low(readings: list[Reading], text: str) -> None:
    """Several candidates were written and only one result stands: nothing confirms it."""
    confidence = vote(readings, asked=3).confidence()
    assert confidence is not None and confidence.lone and confidence.low and confidence.text == text


def test_confidence_of_an_older_document_reads_as_before() -> None:
    """Documents stored before ``generated``/``doubted`` were kept: low means another reading, as then."""
    older = Confidence.model_validate({"agree": 2, "executed": 3, "share": 2 / 3, "asked": 3})
    assert older.low and older.text == "2 of 3 readings agree"
    assert not Confidence.model_validate({"agree": 2, "executed": 2, "share": 1.0, "asked": 3}).low
    dumped = older.model_dump()
    assert dumped["low"] is True and Confidence.model_validate(dumped) == older  # computed fields round-trip


def test_alternative_previews_are_bounded() -> None:
    big = preview([[i] for i in range(50)])
    [other] = vote([Reading("a", ONE), Reading("b", big)], asked=2).alternatives(
        [Reading("a", ONE), Reading("b", big)], rows=20
    )
    assert len(other.result.rows) == 20 and other.result.truncated


def test_equal_results_follow_the_scorer() -> None:
    assert same_result(preview([[1], [2]]), preview([[2], [1]]))  # row order does not matter
    assert same_result(preview([[1, "x"]], ("n", "s")), preview([["x", 1]], ("s", "n")))  # nor column order
    assert not same_result(preview([[1]]), preview([[1], [1]]))
    assert not same_result(preview([[1]]), preview([[1, 2]], ("n", "m")))
    assert group_results([Reading("a", ONE), Reading("b", None, INVALID), Reading("c", ONE)]) == [[0, 2]]


@pytest.mark.parametrize(
    ("readings", "generated", "asked", "stop"),
    [
        ([Reading("a", ONE), Reading("b", ONE)], 2, 5, True),  # the first two agree
        ([Reading("a", ONE)], 2, 5, True),  # the second repeated the first's code
        ([Reading("a", ONE), Reading("b", TWO)], 2, 5, False),  # they disagree
        ([Reading("a", None, INVALID), Reading("b", ONE)], 2, 3, False),  # one failed: not an agreement
        ([Reading("a", ONE), Reading("b", TWO), Reading("c", ONE)], 3, 5, False),  # 2 of 5 is no majority
        ([Reading("a", ONE), Reading("b", TWO), Reading("c", ONE), Reading("d", ONE)], 4, 5, True),
        ([Reading("a", ONE), Reading("b", TWO)], 5, 5, True),  # all asked are done
        ([Reading("a", ONE)], 1, 3, False),
    ],
)
def test_when_to_stop_generating(readings: list[Reading], generated: int, asked: int, stop: bool) -> None:
    assert enough(readings, generated, asked) is stop


def test_candidate_temperatures_rise_above_the_attempts() -> None:
    assert candidate_temperatures(0.0, 3) == [0.0, 0.5, 0.7]
    temperatures = candidate_temperatures(0.8, 4)
    assert temperatures[0] == 0.8 and all(t > 0.8 for t in temperatures[1:])


def test_complete_many_loops_complete_and_scripted_serves_replies_in_order() -> None:
    llm = ScriptedLLM(replies=["one", "two", "three"])
    messages = [Message(role="user", content="q")]
    out = complete_many(llm, messages, temperatures=[0.0, 0.5], max_tokens=10)
    assert [c.text for c in out] == ["one", "two"] and [c.temperature for c in llm.calls] == [0.0, 0.5]

    class Batched(ScriptedLLM):
        def complete_many(
            self, messages: list[Message], *, temperatures: Any, max_tokens: int
        ) -> list[Completion]:
            return [Completion(text=f"batch {t}") for t in temperatures]

    assert [c.text for c in complete_many(Batched(), messages, temperatures=[0.1], max_tokens=5)] == [
        "batch 0.1"
    ]


# -- on real Spark ----------------------------------------------------------------------------------

COUNT_ALL = "SELECT COUNT(*) AS n FROM nasdaq"
COUNT_SYMBOL = "SELECT COUNT(symbol) AS n FROM nasdaq"
COUNT_DISTINCT = "SELECT COUNT(DISTINCT symbol) AS n FROM nasdaq"
POLICY = "import os\n\ndef answer(spark, tables):\n    return spark.sql('SELECT 1 AS n')"


def code(sql: str) -> str:
    return f'```python\ndef answer(spark, tables):\n    return spark.sql("{sql}")\n```'


def ask(
    settings: Settings, engine: object, candidates: int, replies: list[str], question: str = "How many rows?"
):
    llm = ScriptedLLM(replies=replies)
    run_settings = settings.model_copy(update={"candidates": candidates})
    answer = api.ask(question, ["northwind.nasdaq"], engine=engine, model=llm, settings=run_settings)  # type: ignore[arg-type]
    return answer, llm


@pytest.mark.slow
def test_two_of_three_agree(settings: Settings, engine: object) -> None:
    replies = [code(COUNT_DISTINCT), code(COUNT_ALL), code(COUNT_SYMBOL)]
    answer, llm = ask(settings, engine, 3, replies)
    assert answer.status == "succeeded" and len(answer.attempts) == 1 and llm.remaining == 0
    assert answer.code is not None and COUNT_ALL in answer.code
    assert answer.confidence is not None
    assert (answer.confidence.agree, answer.confidence.executed, answer.confidence.asked) == (2, 3, 3)
    [other] = answer.alternatives
    assert COUNT_DISTINCT in other.code and other.count == 1 and other.result.rows == [[6]]
    assert answer.result is not None and answer.result.rows[0][0] > 6
    assert any(n.startswith("2 of 3 readings agree — other reading: 1 row") for n in answer.notices)
    records = answer.attempts[0].candidates
    assert [r.group for r in records] == [1, 0, 0] and [r.temperature for r in records] == [0.0, 0.5, 0.7]
    # every call got the same prompt: it is built once per attempt
    assert llm.calls[0].messages == llm.calls[1].messages == llm.calls[2].messages


@pytest.mark.slow
def test_a_tie_is_answered_by_the_greedy_candidate(settings: Settings, engine: object) -> None:
    answer, _ = ask(settings, engine, 2, [code(COUNT_DISTINCT), code(COUNT_ALL)])
    assert answer.code is not None and COUNT_DISTINCT in answer.code and answer.result.rows == [[6]]  # type: ignore[union-attr]
    assert answer.confidence is not None and (answer.confidence.agree, answer.confidence.executed) == (1, 2)
    assert len(answer.alternatives) == 1


@pytest.mark.slow
def test_invalid_candidates_are_kept_but_not_counted(settings: Settings, engine: object) -> None:
    answer, llm = ask(settings, engine, 3, [f"```python\n{POLICY}\n```", code(COUNT_ALL), code(COUNT_SYMBOL)])
    assert answer.status == "succeeded" and llm.remaining == 0
    assert answer.confidence is not None and (answer.confidence.agree, answer.confidence.executed) == (2, 2)
    first = answer.attempts[0].candidates[0]
    assert first.stage == "validate" and first.error is not None and first.error.kind == "policy"
    assert first.group is None and "import os" in (first.code or "")
    assert not any("readings agree" in n for n in answer.notices)


@pytest.mark.slow
def test_adaptive_stop_after_two_that_agree(settings: Settings, engine: object) -> None:
    answer, llm = ask(settings, engine, 3, [code(COUNT_ALL), code(COUNT_SYMBOL), code(COUNT_DISTINCT)])
    assert len(llm.calls) == 2 and llm.remaining == 1
    assert answer.confidence is not None and (answer.confidence.agree, answer.confidence.executed) == (2, 2)
    assert answer.alternatives == []


@pytest.mark.slow
def test_identical_code_runs_once_and_agrees(settings: Settings, engine: object) -> None:
    answer, llm = ask(settings, engine, 3, [code(COUNT_ALL), code(COUNT_ALL), code(COUNT_DISTINCT)])
    records = answer.attempts[0].candidates
    assert len(llm.calls) == 2 and records[1].duplicate_of == 1 and records[1].group == 0
    assert records[1].seconds == 0.0 and records[1].stage == records[0].stage == "execute"
    assert answer.confidence is not None and (answer.confidence.agree, answer.confidence.executed) == (2, 2)


@pytest.mark.slow
def test_a_repeated_code_breaks_a_tie(settings: Settings, engine: object) -> None:
    # Greedy A, then B, then A again: A was written twice, so it answers with 2 of 3, B the other reading.
    replies = [code(COUNT_SYMBOL), code(COUNT_DISTINCT), code(COUNT_SYMBOL)]
    answer, llm = ask(settings, engine, 3, replies)
    assert llm.remaining == 0 and answer.attempts[0].candidates[2].duplicate_of == 1
    assert answer.confidence is not None and (answer.confidence.agree, answer.confidence.executed) == (2, 3)
    assert len(answer.alternatives) == 1 and answer.alternatives[0].count == 1


@pytest.mark.slow
def test_no_candidate_runs_the_repair_loop_goes_on(settings: Settings, engine: object) -> None:
    bad = code("SELECT nope FROM nasdaq")
    answer, llm = ask(settings, engine, 2, [bad, bad, code(COUNT_ALL), code(COUNT_SYMBOL)])
    first, second = answer.attempts
    assert first.error is not None and first.error.kind == "unresolved_column" and first.code is not None
    assert second.error is None and answer.status == "succeeded" and answer.confidence is not None
    assert "nope" in "\n".join(m.content for m in llm.calls[2].messages)  # the feedback shows the failure


@pytest.mark.slow
def test_one_candidate_keeps_the_document_as_before(settings: Settings, engine: object) -> None:
    answer, llm = ask(settings, engine, 1, [code(COUNT_ALL)])
    assert answer.status == "succeeded" and len(llm.calls) == 1
    assert answer.confidence is None and answer.alternatives == [] and answer.attempts[0].candidates == []
    assert answer.result is not None and answer.result.location is not None
    assert answer.result.location.endswith(f"{answer.run_id}/result")


def test_the_candidates_default_is_the_models_own_unless_set() -> None:
    from askspark.llm.base import candidates_for

    class Model:
        style = "sql"

        def __init__(self, id: str) -> None:  # noqa: A002 - the LLM protocol's name
            self.id = id

    assert candidates_for(Model("embedded"), None) == 3  # type: ignore[arg-type]
    assert candidates_for(Model("openai"), None) == 1  # type: ignore[arg-type]
    assert candidates_for(Model("embedded"), 1) == 1  # type: ignore[arg-type]
