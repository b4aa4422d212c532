"""The CLI shows how far an answer can be trusted: agreement of the candidates and the other readings."""

from __future__ import annotations

from datetime import UTC, datetime

from askspark.interfaces import cli
from askspark.record import Alternative, Answer, ColumnInfo, Confidence, ResultPreview


def _answer(**fields: object) -> Answer:
    return Answer(
        status="succeeded",
        run_id="r1",
        question="q",
        engine="local",
        model="scripted",
        created_at=datetime.now(UTC),
        **fields,  # type: ignore[arg-type]
    )


def _preview(rows: list[list[object]]) -> ResultPreview:
    return ResultPreview(columns=[ColumnInfo(name="n", type="bigint")], rows=rows, truncated=False)


def test_low_agreement_and_the_other_reading_are_shown(capsys: object) -> None:
    answer = _answer(
        confidence=Confidence(agree=2, executed=3, share=2 / 3, asked=3),
        alternatives=[Alternative(code="def answer(spark, tables): ...", result=_preview([[7]]), count=1)],
    )
    cli.show_trust(answer)
    shown = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "2 of 3 readings agree" in shown
    assert "other reading 1" in shown and "[7]" in shown


def test_markup_in_data_is_shown_as_text(capsys: object) -> None:
    answer = _answer(alternatives=[Alternative(code="x", result=_preview([["[bold]x[/bold]"]]), count=2)])
    cli.show_trust(answer)
    assert "[bold]x[/bold]" in capsys.readouterr().out  # type: ignore[attr-defined]


def test_nothing_is_shown_without_candidates(capsys: object) -> None:
    cli.show_trust(_answer())
    assert capsys.readouterr().out == ""  # type: ignore[attr-defined]


def test_a_lone_reading_and_a_doubted_one_are_said(capsys: object) -> None:
    lone = Confidence(agree=1, executed=2, share=0.5, asked=3, generated=3, doubted=1)
    answer = _answer(
        confidence=lone,
        alternatives=[Alternative(code="x", result=_preview([]), count=1, suspect=True)],
    )
    cli.show_trust(answer)
    shown = " ".join(capsys.readouterr().out.split())  # type: ignore[attr-defined]  (rich wraps lines)
    assert (
        "1 of 3 readings gave this answer and none confirmed it; 1 failed a result check, 1 did not run"
        in shown
    )
    assert "failed a result check)" in shown  # the other reading is marked
