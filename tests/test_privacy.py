"""The privacy setting: what of the data the model may see (schema, samples, masked samples)."""

from __future__ import annotations

import pytest

from askspark import api
from askspark.catalog.base import Column, TableInfo
from askspark.context.privacy import column_level, mask_value, visible_tables
from askspark.context.prompt import build_messages
from askspark.llm.scripted import ScriptedLLM
from askspark.settings import Settings, get_settings

RAW = ["ada@example.com", "+44 20 7946 0958", "Ada Lovelace", "2019-07-14", "1234.5"]


def people() -> TableInfo:
    return TableInfo(
        database="crm",
        name="people",
        format="csv",
        location="/x",
        columns=[
            Column(name="email", type="string", samples=[RAW[0]]),
            Column(name="phone_number", type="string", samples=[RAW[1]]),
            Column(name="full_name", type="string", samples=[RAW[2]]),
            Column(name="joined", type="date", samples=[RAW[3]]),
            Column(name="balance", type="double", samples=[RAW[4]]),
        ],
    )


def prompt(level: str, patterns: dict[str, str] | None = None, style: str = "python") -> str:
    shown = visible_tables([people()], level, patterns or {})
    messages = build_messages("q", [(shown[0], "people")], style=style, samples=3)
    return "\n".join(m.content for m in messages)


@pytest.mark.parametrize("style", ["python", "sql"])
@pytest.mark.parametrize("level", ["schema", "masked"])
def test_no_raw_sample_value_reaches_the_prompt(level: str, style: str) -> None:
    text = prompt(level, style=style)
    for value in RAW:
        assert value not in text
    assert "email" in text and "balance" in text  # the schema is still there


def test_samples_level_shows_values_and_masks_only_matching_columns() -> None:
    text = prompt("samples", {"*email*": "masked", "crm.people.full_*": "schema"})
    assert RAW[1] in text and RAW[3] in text  # unmatched columns keep their samples
    assert RAW[0] not in text and "xxx@xxxxxxx.xxx" in text
    assert RAW[2] not in text and "Xxx Xxxxxxxx" not in text  # schema: no value at all


def test_masks_keep_the_shape_not_the_value() -> None:
    assert mask_value("ada@example.com") == "xxx@xxxxxxx.xxx"
    assert mask_value("2019-07-14") == "9999-99-99"
    assert mask_value("-1234.5") == "-9999.9"
    assert mask_value("Zoë O'Neil") == "Xxx X'Xxxx"


def test_a_pattern_can_only_hide_more() -> None:
    table = people()
    assert column_level(table, "email", "schema", {"*email*": "samples"}) == "schema"
    assert column_level(table, "email", "samples", {"EMAIL": "masked"}) == "masked"
    assert column_level(table, "balance", "masked", {}) == "masked"


def test_privacy_columns_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASKSPARK_PRIVACY", "masked")
    monkeypatch.setenv("ASKSPARK_PRIVACY_COLUMNS", '{"*.ssn": "schema"}')
    settings = get_settings()
    assert settings.privacy == "masked" and settings.privacy_columns == {"*.ssn": "schema"}
    monkeypatch.delenv("ASKSPARK_PRIVACY_COLUMNS")
    assert get_settings().privacy_columns == {"*email*": "masked", "*phone*": "masked"}  # the default


def test_a_run_under_schema_privacy_sends_no_sample_values(settings: Settings, engine: object) -> None:
    orders = api.select_tables(["northwind.orders"], [], settings)[0]
    raw = {v for c in orders.columns for v in c.samples if len(v) > 3}
    assert raw, "the sample data has sample values"
    llm = ScriptedLLM(replies=["no code here"])
    private = settings.model_copy(update={"privacy": "schema", "max_attempts": 1})
    api.ask("q", ["northwind.orders"], engine=engine, model=llm, settings=private)  # type: ignore[arg-type]
    sent = "\n".join(m.content for m in llm.calls[0].messages)
    assert "customer" in sent.lower() or orders.columns[0].name in sent
    assert not [v for v in raw if v in sent]
