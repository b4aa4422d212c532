"""Golden tests of the error classifier: real Spark/Python error texts in tests/fixtures/errors."""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest

from askspark.engines.classify import MESSAGE_CAP, classify, short_message
from askspark.record import ErrorKind

FIXTURES = Path(__file__).parent / "fixtures" / "errors"


def load(path: Path) -> tuple[dict[str, str], str]:
    """``# key: value`` header lines, then the error text exactly as it was raised."""
    headers: dict[str, str] = {}
    lines = path.read_text().split("\n")
    while lines and lines[0].startswith("# ") and ":" in lines[0]:
        key, _, value = lines.pop(0)[2:].partition(":")
        headers[key.strip()] = value.strip()
    return headers, "\n".join(lines).removesuffix("\n")


CASES = sorted(FIXTURES.glob("*.txt"))


def test_enough_fixtures() -> None:
    assert len(CASES) >= 15
    assert {load(p)[0]["kind"] for p in CASES} >= {k.value for k in ErrorKind} - {
        "no_code",
        "policy",
        "contract",
        "provider",
        "suspect_result",  # raised by the result checks, never by an error text
    }


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_fixture(path: Path) -> None:
    headers, text = load(path)
    failure = classify(text, exc_type=headers.get("exc-type"))
    assert failure.kind == ErrorKind(headers["kind"])
    assert failure.rule == headers.get("rule")
    if "suggestion-contains" in headers:
        assert headers["suggestion-contains"] in (failure.suggestion or "")
    if "line" in headers:
        assert failure.line == int(headers["line"])
    if "column" in headers:
        assert failure.column == int(headers["column"])
    assert failure.message.strip()
    assert "JVM stacktrace" not in failure.message
    assert "\tat " not in failure.message and "org.apache.spark.sql.catalyst" not in failure.message
    assert "SQLSTATE" not in failure.message
    assert len(failure.message) <= MESSAGE_CAP
    assert len(short_message(text)) <= MESSAGE_CAP


def test_plan_dump_is_dropped() -> None:
    _, text = load(FIXTURES / "unresolved_column_sql.txt")
    message = classify(text).message
    assert "'Project" not in message and "LocalRelation" not in message and "+-" not in message
    assert message.startswith("A column, variable, or function parameter with name `custmer`")


def test_sql_context_is_collapsed_to_the_fragment() -> None:
    _, text = load(FIXTURES / "divide_by_zero.txt")
    message = classify(text).message
    assert "== SQL" not in message and "^^^" not in message
    assert message.endswith("(at: 1 / 0)")
    assert "spark.sql.ansi.enabled" not in message  # never invite a forbidden conf change


def test_grpc_wrapper_is_unwrapped() -> None:
    _, text = load(FIXTURES / "grpc_unavailable.txt")
    message = classify(text).message
    assert "StatusCode.UNAVAILABLE" in message and "debug_error_string" not in message
    assert not message.startswith("<_MultiThreadedRendezvous")


def test_long_text_is_capped() -> None:
    failure = classify("[DIVIDE_BY_ZERO] " + "word " * 500)
    assert len(failure.message) <= MESSAGE_CAP
    assert failure.message.endswith("…")


def test_unknown_text_defaults_to_runtime() -> None:
    failure = classify("something odd happened")
    assert failure.kind is ErrorKind.RUNTIME
    assert failure.rule is None
    assert failure.message == "something odd happened"


def test_python_traceback_points_at_the_generated_code() -> None:
    code = compile(
        "def answer(spark, tables):\n    x = 1\n    return tables['customers']\n", "<answer>", "exec"
    )
    namespace: dict = {}
    exec(code, namespace)
    try:
        namespace["answer"](None, {"orders": None})
    except KeyError:
        text = traceback.format_exc()
    failure = classify(text)
    assert (failure.kind, failure.line) == (ErrorKind.RUNTIME, 3)
    assert failure.message == "KeyError: 'customers'"
    assert "tables[" in (failure.suggestion or "")


def test_qualified_exc_type() -> None:
    failure = classify("[Errno 13] Permission denied: '/x'", exc_type="builtins.PermissionError")
    assert failure.kind is ErrorKind.PERMISSION


def test_exc_type_alone_is_enough() -> None:
    assert classify("", exc_type="MemoryError").message == "MemoryError"
    assert classify("boom", exc_type="ValueError").message == "ValueError: boom"
