"""Every setting is documented; bad values name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from askspark.errors import UsageError
from askspark.settings import Settings, get_settings

DOC = Path(__file__).parent.parent / "docs" / "settings.md"


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_setting_is_documented_with_its_default(name: str) -> None:
    field = Settings.model_fields[name]
    assert field.description, f"{name} has no help text"
    row = next((line for line in DOC.read_text().splitlines() if f"`ASKSPARK_{name.upper()}`" in line), None)
    assert row is not None, f"ASKSPARK_{name.upper()} is missing from docs/settings.md"
    if field.default_factory is None:
        assert f"`{field.default}`" in row


def test_invalid_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASKSPARK_ROW_LIMIT", "lots")
    with pytest.raises(UsageError) as info:
        get_settings()
    assert "ASKSPARK_ROW_LIMIT" in info.value.message
    assert info.value.to_dict()["error"]["status"] == 400


def test_per_call_overrides_are_validated() -> None:
    from askspark.settings import with_overrides

    base = get_settings(home="/tmp/x")
    assert with_overrides(base, row_limit=5, max_attempts=None).row_limit == 5
    with pytest.raises(UsageError) as info:
        with_overrides(base, row_limit=-1)
    assert "ASKSPARK_ROW_LIMIT" in info.value.message
