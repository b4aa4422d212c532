"""The soak's short version (benchmarks/soak.py): 40 questions through a real ``askspark serve`` at 8
concurrent clients, with the fake model's mix of good answers, repairs, hostile code, timeouts, huge
results and replies without code. Every question ends as its kind says, and the server holds the
soak's bounds on growth (RSS, open files, child processes) and leaves nothing behind."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from askspark.settings import Settings

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
from soak import BOUNDS, kinds, soak  # noqa: E402

pytestmark = pytest.mark.slow


def test_soak_short(settings: Settings, engine: Any, shared_engine: None) -> None:
    """Joins the session's Spark server (no second JVM); its JVM is sampled through its launcher."""
    assert set(kinds(40)) == {"good", "repair", "hostile", "timeout", "huge", "no_code"}
    env = {"ASKSPARK_TIMEOUT_SECONDS": "30", "ASKSPARK_MAX_CONCURRENT_RUNS": "2"}
    report = soak(settings.home, 40, 8, env, spark_root=engine.state.pid)
    print(report.table())
    assert len(report.outcomes) == 40
    assert not report.unexpected(), [vars(o) for o in report.unexpected()]
    assert not report.broken(BOUNDS), report.table()
    assert max(s["spark_rss_mb"] for s in report.samples) > 0  # the JVM was found and sampled
    # The repairs were repairs: the first attempt failed as scripted, a later one answered.
    first = {(o.kind, o.first_error) for o in report.outcomes if o.kind in ("repair", "timeout")}
    assert first == {("repair", "unresolved_column"), ("timeout", "timeout")}, report.outcomes
