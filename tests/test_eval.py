"""The evaluation harness: scoring rules without Spark, suite loading, and the reference model end to end."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from askspark.errors import NotFoundError, UsageError
from askspark.evals.report import to_markdown
from askspark.evals.run import failure_kind, score
from askspark.evals.suite import load_suite, select
from askspark.record import Answer, Attempt, ColumnInfo, ErrorKind, Failure, ResultPreview
from askspark.results.compare import compare, values_equal

SUITE = Path(__file__).resolve().parents[1] / "suites" / "northwind.jsonl"


# --- values ---------------------------------------------------------------------------------------


def test_numbers_compare_as_floats_within_relative_tolerance() -> None:
    assert values_equal(3.0, 3, 1e-6)
    assert compare([[1000000.5]], [[1000000]], tolerance=1e-6).correct
    assert not compare([[1000002.0]], [[1000000]], tolerance=1e-6).correct
    assert compare([[1000002.0]], [[1000000]], tolerance=1e-5).correct
    assert compare([[Decimal("2.50")]], [[2.5]]).correct
    assert compare([[1e-12]], [[0.0]]).correct  # an absolute floor near zero


def test_an_answer_rounded_to_two_or_more_decimals_matches() -> None:
    assert compare([[134.22]], [[134.2244230769231]]).correct
    assert compare([[134.2244]], [[134.2244230769231]]).correct
    assert not compare([[134.23]], [[134.2244230769231]]).correct
    assert not compare([[134.2]], [[134.2244230769231]]).correct  # one decimal is too coarse
    assert not compare([[134.0]], [[134.2244230769231]]).correct


def test_none_equals_only_none() -> None:
    assert compare([[1, None]], [[1, None]]).correct
    assert not compare([[1, 0]], [[1, None]]).correct
    assert not compare([[1, None]], [[1, 0.0]]).correct


def test_dates_compare_as_iso_strings_and_midnight_timestamps_equal_dates() -> None:
    assert compare([["2024-01-31"]], [[date(2024, 1, 31)]]).correct
    assert compare([["2024-01-01T00:00:00"]], [["2024-01-01"]]).correct
    assert compare([[datetime(2024, 1, 1, tzinfo=UTC).replace(tzinfo=None)]], [["2024-01-01"]]).correct
    assert not compare([["2024-01-01T10:00:00"]], [["2024-01-01"]]).correct
    assert not compare([["2024-01-02"]], [["2024-01-01"]]).correct


def test_strings_and_booleans_compare_exactly() -> None:
    assert not compare([["usa"]], [["USA"]]).correct
    assert compare([[True]], [[True]]).correct
    assert not compare([[1]], [[True]]).correct


# --- rows and columns -----------------------------------------------------------------------------


def test_wrong_row_count_is_wrong() -> None:
    verdict = compare([["a", 1], ["b", 2]], [["a", 1]])
    assert not verdict.correct
    assert "expected 1 rows, got 2" in verdict.reason


def test_unordered_questions_ignore_row_order() -> None:
    expected = [["a", 1.0], ["b", 2.0], ["c", 3.0]]
    assert compare([["c", 3], ["a", 1], ["b", 2]], expected, ordered=False).correct
    assert not compare([["c", 3], ["a", 1], ["b", 2]], expected, ordered=True).correct
    assert compare([["a", 1], ["b", 2], ["c", 3]], expected, ordered=True).correct


def test_unordered_matching_survives_values_that_sort_apart_within_tolerance() -> None:
    # 1.2345499 and 1.2345501 are equal within 1e-6 but get different sort keys (1.2345 and 1.2346),
    # so the sorted pairing fails and the one-by-one matching decides.
    expected = [[1.2345499, "b"], [1.2345501, "a"]]
    assert compare([[1.2345501, "b"], [1.2345499, "a"]], expected, tolerance=1e-6).correct
    assert not compare([[1.2345501, "b"], [1.2345499, "b"]], expected, tolerance=1e-6).correct


def test_duplicate_rows_count_as_a_multiset() -> None:
    assert not compare([["a"], ["a"], ["b"]], [["a"], ["b"], ["b"]]).correct
    assert compare([["b"], ["a"], ["a"]], [["a"], ["b"], ["a"]]).correct


def test_column_names_and_order_are_ignored() -> None:
    assert compare([[10, "USA"], [5, "Germany"]], [["USA", 10], ["Germany", 5]]).correct
    assert compare([[10, "USA"], [5, "Germany"]], [["USA", 10], ["Germany", 5]], ordered=True).correct


def test_extra_answer_columns_are_accepted_when_every_expected_column_is_found() -> None:
    expected = [["USA", 10.5], ["Germany", 5.25]]
    answer = [["USA", 3, 10.5], ["Germany", 9, 5.25]]
    verdict = compare(answer, expected)
    assert verdict.correct and verdict.mapping == [0, 2]


def test_missing_columns_are_wrong() -> None:
    verdict = compare([["USA"], ["Germany"]], [["USA", 10], ["Germany", 5]])
    assert not verdict.correct and "expected 2 columns" in verdict.reason


def test_columns_that_match_alone_but_not_together_are_wrong() -> None:
    # Same values per column, but paired up differently: the rows are not the same.
    verdict = compare([["USA", 5], ["Germany", 10]], [["USA", 10], ["Germany", 5]])
    assert not verdict.correct
    assert "rows differ" in verdict.reason


def test_identical_columns_are_mapped_injectively() -> None:
    # Two expected columns with equal values need two distinct answer columns.
    assert not compare([[1, "a"], [2, "b"]], [[1, 1, "a"], [2, 2, "b"]]).correct
    assert compare([[1, 1, "a"], [2, 2, "b"]], [[1, 1, "a"], [2, 2, "b"]]).correct


def test_empty_results() -> None:
    assert compare([], [], expected_width=2).correct
    assert not compare([["x"]], []).correct


# --- scoring a run --------------------------------------------------------------------------------


def _answer(status: str, attempts: list[Attempt], rows: list[list[object]] | None = None) -> Answer:
    result = None
    if rows is not None:
        result = ResultPreview(columns=[ColumnInfo(name="c", type="string")], rows=rows, truncated=False)
    last = attempts[-1]
    return Answer(
        status=status, run_id="r", question="q", engine="local", model="m", attempts=attempts, result=result,
        created_at=datetime.now(UTC), error=last.error, code=last.code, seconds=2.5,
    )  # fmt: skip


def _attempt(number: int, error: ErrorKind | None = None, stage: str = "execute") -> Attempt:
    failure = Failure(kind=error, message="boom") if error else None
    return Attempt(
        number=number, code="x", stage=stage, error=failure, prompt_tokens=100, completion_tokens=20,
        timings={"generate": 1.0, "validate": 0.01, "dry_run": 0.2, "execute": 0.5},
    )  # fmt: skip


def test_score_records_attempts_stages_tokens_and_first_attempt() -> None:
    from askspark.evals.reference import ExpectedResult
    from askspark.evals.suite import Question

    question = Question(id="q1", question="?", tables=["db.t"], reference="x")
    expected = ExpectedResult(columns=["c"], rows=[["a"]])
    first = score(question, _answer("succeeded", [_attempt(1)], [["a"]]), expected, 5)
    assert first.correct and first.first_attempt_correct and first.failure_kind is None
    assert first.tokens == 120 and first.stage_seconds["generate"] == 1.0
    repaired = score(
        question,
        _answer("succeeded", [_attempt(1, ErrorKind.SYNTAX, "validate"), _attempt(2)], [["a"]]),
        expected,
        5,
    )
    assert repaired.correct and not repaired.first_attempt_correct and repaired.attempts == 2
    assert repaired.stage_seconds["generate"] == 2.0 and repaired.last_error == "syntax: boom"
    wrong = score(question, _answer("succeeded", [_attempt(1)], [["b"]]), expected, 5)
    assert not wrong.correct and wrong.failure_kind == "wrong_result"


def test_the_other_readings_are_scored_and_counted_when_the_answer_is_wrong() -> None:
    """A wrong answer whose unchosen reading held the right result is told apart from one whose
    candidates never wrote it; a cut preview cannot be compared."""
    from askspark.evals.reference import ExpectedResult
    from askspark.evals.report import Honesty
    from askspark.evals.suite import Question
    from askspark.record import Alternative, Confidence

    question = Question(id="q1", question="?", tables=["db.t"], reference="x")
    expected = ExpectedResult(columns=["c"], rows=[["a"]])

    def preview(rows: list[list[object]], truncated: bool = False) -> ResultPreview:
        return ResultPreview(columns=[ColumnInfo(name="c", type="string")], rows=rows, truncated=truncated)

    answer = _answer("succeeded", [_attempt(1)], [["b"]])
    answer.confidence = Confidence(agree=2, executed=4, share=0.5, asked=4, generated=4)
    answer.alternatives = [
        Alternative(code="right", result=preview([["a"]]), count=1),
        Alternative(code="cut", result=preview([["a"]], truncated=True), count=1, suspect=True),
    ]
    wrong = score(question, answer, expected, 5)
    assert not wrong.correct and wrong.flagged and wrong.confidence_text == answer.confidence.text
    assert [(a.code, a.correct, a.suspect) for a in wrong.alternatives] == [
        ("right", True, False),
        ("cut", None, True),
    ]
    alone = score(question, _answer("succeeded", [_attempt(1)], [["b"]]), expected, 5)
    honesty = Honesty.of([wrong, alone])
    assert honesty.right_elsewhere == 1
    assert "other readings 1/2 = 50%" in honesty.line()


def test_summary_counts_attempts_stages_and_tokens() -> None:
    from askspark.evals.reference import ExpectedResult
    from askspark.evals.report import summarize
    from askspark.evals.suite import Question

    question = Question(id="q1", question="?", tables=["db.t"], reference="x")
    expected = ExpectedResult(columns=["c"], rows=[["a"]])
    answer = _answer("succeeded", [_attempt(1, ErrorKind.SYNTAX, "validate"), _attempt(2)], [["a"]])
    answer.timings = {"catalog": 0.25}
    results = [
        score(question, _answer("succeeded", [_attempt(1)], [["a"]]), expected, 5),
        score(question, answer, expected, 5),
        score(question, _answer("succeeded", [_attempt(1)], [["b"]]), expected, 5),
    ]
    summary = summarize(results)
    assert summary.attempts_used == {1: 2, 2: 1} and summary.failures == {"wrong_result": 1}
    assert summary.correct == 2 and summary.first_attempt_correct == 1
    assert summary.stage_seconds["generate"] == 4.0 and summary.stage_seconds["catalog"] == 0.25
    assert summary.total_tokens == 4 * 120


def test_failure_kinds() -> None:
    early_validation = _answer("failed", [_attempt(1, ErrorKind.UNRESOLVED_COLUMN, "dry_run")] * 2)
    assert failure_kind(early_validation, 5) == "validation"
    early_runtime = _answer("failed", [_attempt(1, ErrorKind.RUNTIME)] * 2)
    assert failure_kind(early_runtime, 5) == "runtime"
    assert failure_kind(_answer("failed", [_attempt(1, ErrorKind.SYNTAX, "validate")] * 3), 3) == "exhausted"
    assert failure_kind(_answer("failed", [_attempt(1, ErrorKind.ENGINE_UNAVAILABLE)]), 5) == "infrastructure"


# --- suites ---------------------------------------------------------------------------------------


def test_the_northwind_suite_loads_with_enough_tuning_and_held_out_questions() -> None:
    questions = load_suite(SUITE)
    assert len(questions) >= 44
    tags = [q.tags for q in questions]
    assert sum("tune" in t for t in tags) >= 10
    assert sum("heldout" in t for t in tags) >= 30
    assert not any("tune" in t and "heldout" in t for t in tags)
    assert all(q.reference for q in questions)
    assert {t for q in questions for t in q.tables} == {"northwind.orders", "northwind.nasdaq"}


def test_load_suite_errors_and_selection(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    with pytest.raises(NotFoundError):
        load_suite(path)
    good = {"id": "a", "question": "?", "tables": ["db.t"], "expected": {"rows": [[1]]}, "tags": ["x"]}
    path.write_text(
        "# a comment\n" + json.dumps(good) + "\n\n" + json.dumps(good | {"id": "b", "tags": ["y"]})
    )
    questions = load_suite(path)
    assert [q.id for q in select(questions, tags=["y"])] == ["b"]
    assert [q.id for q in select(questions, tags=["x,y"], limit=1)] == ["a"]
    assert [q.id for q in select(questions, ids=["b"])] == ["b"]
    with pytest.raises(UsageError, match="unknown question ids"):
        select(questions, ids=["zzz"])
    path.write_text(json.dumps({k: v for k, v in good.items() if k != "expected"}))
    with pytest.raises(UsageError, match="or both"):
        load_suite(path)
    path.write_text(json.dumps(good) + "\n" + json.dumps(good))
    with pytest.raises(UsageError, match="duplicate"):
        load_suite(path)
    path.write_text("{not json")
    with pytest.raises(UsageError, match=":1: not valid JSON"):
        load_suite(path)


# --- end to end -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_reference_model_scores_everything_through_the_real_engine(settings: object, engine: object) -> None:
    from askspark.evals.run import EvalRun

    questions = select(
        load_suite(SUITE), ids=["revenue-by-category", "nvda-running-volume-jan-2024", "customers-both-years"]
    )
    report = EvalRun(settings=settings, model="reference", engine="local").run(questions, suite=str(SUITE))  # type: ignore[arg-type]
    summary = report.summary
    assert summary.questions == 3
    assert summary.execution_accuracy == 1.0, [r.model_dump() for r in report.results if not r.correct]
    assert summary.first_attempt_accuracy == 1.0 and summary.failures == {}
    assert all(r.stage_seconds["execute"] > 0 for r in report.results)
    # The run's own steps are timed too: catalog, prompt and writing the result (see Answer.timings).
    assert all(r.stage_seconds["catalog"] > 0 and r.stage_seconds["result_write"] > 0 for r in report.results)
    assert summary.attempts_used == {1: 3}
    assert "execution accuracy | 3/3" in to_markdown(report)


def test_eval_command_usage_errors_exit_2(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from askspark.evals.cli import eval_command

    app = typer.Typer()
    app.command()(eval_command)
    missing = CliRunner().invoke(app, [str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    no_match = CliRunner().invoke(app, [str(SUITE), "--tags", "no-such-tag", "--model", "reference"])
    assert no_match.exit_code == 2 and "no question" in no_match.output


def test_honesty_counts_flagged_answers_among_right_and_wrong() -> None:
    from askspark.evals.report import Honesty, QuestionResult

    def result(correct: bool, flagged: bool, status: str = "succeeded") -> QuestionResult:
        return QuestionResult(
            id="q", question="q", tags=[], correct=correct, first_attempt_correct=correct, attempts=1,
            status=status, flagged=flagged,
        )  # fmt: skip

    results = [result(False, True), result(False, False), result(True, False), result(True, True)]
    results.append(result(False, False, status="failed"))  # a failed run is not a confident wrong answer
    honesty = Honesty.of(results)
    assert (honesty.wrong, honesty.wrong_flagged, honesty.right, honesty.right_flagged) == (2, 1, 2, 1)
    assert "wrong answers flagged 1/2 = 50%" in honesty.line()
