"""Shared fixtures: one askspark home with the sample data, one warm local engine per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from askspark.settings import Settings


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("askspark-home")
    # The CLI and the Python API read settings from the environment: point them at the test home.
    os.environ["ASKSPARK_HOME"] = str(path)
    os.environ["ASKSPARK_TIMEOUT_SECONDS"] = "60"
    return path


@pytest.fixture(scope="session")
def settings(home: Path) -> Settings:
    from askspark.catalog.sample import generate_northwind
    from askspark.catalog.tpch import generate_tpch

    s = Settings(home=home, timeout_seconds=60)
    generate_northwind(s)
    # TPC-H SF 0.1 (~3 s, 30 MB) before the engine starts: registering it later restarts the server.
    generate_tpch(s, 0.1)
    return s


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[object]:
    """The warm local engine, shared by the session (also through askspark.api's engine cache)."""
    from askspark import api

    eng = api.engine_for("local", settings)
    yield eng
    api.close_all()
