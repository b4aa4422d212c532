"""Static validation: golden fixtures in tests/fixtures/validator plus position and option tests.

A fixture's first line is ``# expect: pass`` or a comma-separated list of ``kind`` / ``kind/rule``
that must all be among the failures (the first is the one the fixture is about).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from askspark.record import ErrorKind, Failure
from askspark.validate import RULES, validate_static

FIXTURES = Path(__file__).parent / "fixtures" / "validator"
CASES = sorted(FIXTURES.glob("*.py"))


def expectations(code: str) -> list[tuple[str, str | None]]:
    first = code.splitlines()[0]
    assert first.startswith("# expect:"), "a fixture's first line is '# expect: ...'"
    items = [item.strip() for item in first.removeprefix("# expect:").split(",")]
    return [(kind, rule or None) for kind, _, rule in (item.partition("/") for item in items)]


def verdict(failures: list[Failure]) -> str:
    return "\n".join(f"{f.kind.value}/{f.rule} @{f.line}:{f.column} {f.message}" for f in failures)


def test_enough_fixtures_cover_every_policy_rule() -> None:
    assert len(CASES) >= 45
    expected = {rule for path in CASES for _, rule in expectations(path.read_text())}
    assert set(RULES["policy"]) <= expected


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_fixture(path: Path) -> None:
    code = path.read_text()
    failures = validate_static(code)
    for kind, rule in expectations(code):
        if kind == "pass":
            assert failures == [], verdict(failures)
            continue
        found = {(f.kind.value, f.rule) for f in failures}
        assert (kind, rule) in found if rule else kind in {k for k, _ in found}, verdict(failures)
    for failure in failures:  # every failure is actionable and placed
        assert failure.message and failure.suggestion
        assert failure.rule
        if failure.kind is ErrorKind.POLICY:
            assert failure.line is not None and failure.column is not None


# --- positions ----------------------------------------------------------------------------------


def only(code: str, rule: str, **options: bool) -> Failure:
    matches = [f for f in validate_static(code, **options) if f.rule == rule]
    assert len(matches) == 1, verdict(validate_static(code, **options))
    return matches[0]


def test_python_syntax_error_stops_with_its_position() -> None:
    failures = validate_static("def answer(spark, tables):\n    return tables['a'\n\nimport os\n")
    assert len(failures) == 1
    assert failures[0].kind is ErrorKind.SYNTAX and failures[0].rule == "python-syntax"
    assert failures[0].line == 2 and failures[0].column == 18  # the unclosed '['


def test_python_syntax_error_missing_colon() -> None:
    failure = validate_static("def answer(spark, tables)\n    return 1\n")[0]
    assert (failure.kind, failure.line, failure.column) == (ErrorKind.SYNTAX, 1, 26)


def test_policy_points_at_the_attribute_name() -> None:
    code = "def answer(spark, tables):\n    x = spark.sparkContext\n    return tables['a'].rdd\n"
    assert (only(code, "sparkcontext").line, only(code, "sparkcontext").column) == (2, 15)
    assert (only(code, "rdd").line, only(code, "rdd").column) == (3, 24)


def test_columns_count_characters_not_bytes() -> None:
    code = "def answer(spark, tables):\n    s = 'é' + open('x').read()\n    return s\n"
    assert only(code, "forbidden-builtin").column == 15


def test_sql_parse_error_maps_into_a_one_line_literal() -> None:
    code = 'def answer(spark, tables):\n    return spark.sql("SELECT a FROM t WHERE")\n'
    failure = only(code, "sql-parse")
    assert failure.kind is ErrorKind.SYNTAX
    # the literal's text starts at column 23; WHERE is SQL column 17
    assert (failure.line, failure.column) == (2, 23 + 16)
    assert "SQL line 1, column 17" in failure.message and ">>>WHERE<<<" in failure.message


def test_sql_parse_error_maps_into_a_triple_quoted_literal() -> None:
    code = (
        'def answer(spark, tables):\n    q = """\nSELECT a,\n  FROM t WHERE\n"""\n    return spark.sql(q)\n'
    )
    failure = only(code, "sql-parse")
    assert (failure.line, failure.column) == (4, 10)


def test_sql_with_escapes_points_at_the_literal() -> None:
    code = 'def answer(spark, tables):\n    return spark.sql("SELECT \\x61 FROM t WHERE")\n'
    assert (only(code, "sql-parse").line, only(code, "sql-parse").column) == (2, 22)


# --- behaviour ----------------------------------------------------------------------------------


def test_all_policy_failures_are_reported() -> None:
    code = (
        "import os\n"
        "def answer(spark, tables):\n"
        "    spark.conf.set('a', 'b')\n"
        "    spark.sql('DROP TABLE t')\n"
        "    return spark.read.csv('/x')\n"
    )
    rules = [f.rule for f in validate_static(code)]
    assert rules == ["import-not-allowed", "spark-conf-set", "sql-ddl", "file-access"]


def test_allow_writes() -> None:
    code = (
        "def answer(spark, tables):\n"
        "    tables['a'].write.saveAsTable('b')\n"
        "    spark.sql('INSERT INTO b SELECT * FROM a')\n"
        "    spark.sql('DROP TABLE c')\n"
        "    return tables['a']\n"
    )
    assert {f.rule for f in validate_static(code)} == {"write", "sql-write", "sql-ddl"}
    assert [f.rule for f in validate_static(code, allow_writes=True)] == ["sql-ddl"]


def test_dynamic_sql_is_skipped() -> None:
    code = (
        "def answer(spark, tables):\n    q = make()\n    return spark.sql(q + ' WHERE')\n\n"
        "def make():\n    return 'x'\n"
    )
    assert validate_static(code) == []


def test_fstring_with_complex_parts_is_skipped() -> None:
    code = "def answer(spark, tables):\n    return spark.sql(f\"SELECT {', '.join(['a'])} FROM t WHERE\")\n"
    assert validate_static(code) == []


def test_sql_keyword_argument_and_module_constant() -> None:
    code = "Q = 'DROP TABLE t'\n\ndef answer(spark, tables):\n    return spark.sql(sqlQuery=Q)\n"
    assert (only(code, "sql-ddl").line, only(code, "sql-ddl").column) == (1, 6)


def test_empty_code_has_no_answer() -> None:
    assert [f.rule for f in validate_static("")] == ["missing-answer"]


def test_every_failure_rule_is_declared() -> None:
    declared = {rule for rules in RULES.values() for rule in rules}
    for path in CASES:
        for failure in validate_static(path.read_text()):
            assert failure.rule in declared
