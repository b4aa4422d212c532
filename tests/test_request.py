"""The one request object: options written once, applied to settings once."""

from __future__ import annotations

from pathlib import Path

import pytest

from askspark.catalog.base import Column, TableInfo
from askspark.errors import UsageError
from askspark.request import Request, setting_options
from askspark.settings import Settings


def test_options_named_like_settings_override_them(tmp_path: Path) -> None:
    base = Settings(home=tmp_path)
    request = Request(question="q", engine="connect", catalog="glue", row_limit=7, remote="sc://h:1")
    settings = request.settings(base)
    assert (settings.engine, settings.catalog, settings.row_limit, settings.remote) == (
        "connect",
        "glue",
        7,
        "sc://h:1",
    )
    assert settings.max_attempts == base.max_attempts  # not given: the setting stays
    assert Request(question="q").settings(base) is base
    assert set(setting_options()) == {
        "engine",
        "model",
        "catalog",
        "remote",
        "max_attempts",
        "row_limit",
        "candidates",
    }


def test_python_arguments_make_a_request() -> None:
    info = TableInfo(
        database="db", name="t", columns=[Column(name="a", type="bigint")], format="parquet", location="/x"
    )
    request = Request.of("q", ["northwind.orders", info], [Path("/data/a.csv")], max_attempts=2)
    assert request.tables == ["northwind.orders"] and request.described == [info]
    assert request.files == ["/data/a.csv"] and request.max_attempts == 2 and request.names_data


def test_bad_options_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="max_attempts"):
        Request.of("q", max_attempts=0)
    with pytest.raises(UsageError, match="row_limt") as unknown:
        Request.of("q", row_limt=3)
    assert "row_limit" in (unknown.value.suggestion or "")
    with pytest.raises(UsageError, match="question is empty"):
        Request(question="  ").check()
    with pytest.raises(UsageError, match="code is empty"):
        Request(question="q", code=" ").check()
