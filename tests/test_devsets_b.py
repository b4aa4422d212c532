"""The development datasets ``clinic`` and ``sensors``: deterministic generation, and suites whose
questions are tagged, state every constant their reference uses, and whose references all pass."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from askspark.catalog.base import TableInfo
from askspark.catalog.devsets import DATASETS, clinic, sensors
from askspark.catalog.local import LocalCatalog
from askspark.evals.suite import Question, load_suite
from askspark.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SUITES = {"clinic": ROOT / "suites" / "clinic.jsonl", "sensors": ROOT / "suites" / "sensors.jsonl"}
PATTERNS = {"join", "window", "top-per-group", "date", "percentile", "literal", "nulls", "multi-step",
            "aggregate", "filter"}  # fmt: skip
HARD = {"join", "window", "top-per-group", "percentile"}


def _digests(settings: Settings, database: str) -> dict[str, str]:
    root = settings.warehouse / database
    return {p.parent.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.glob("*/data.parquet")}


def _deterministic(tmp_path: Path, generate: Callable[[Settings], list[TableInfo]], database: str) -> None:
    first, second = Settings(home=tmp_path / "a"), Settings(home=tmp_path / "b")
    infos = generate(first)
    generate(second)
    assert _digests(first, database) == _digests(second, database)
    assert sorted(_digests(first, database)) == sorted(i.name for i in infos)
    catalog = LocalCatalog(first)
    for info in infos:
        described = catalog.describe(database, info.name)
        assert described.comment and all(c.comment for c in described.columns), info.name


def _check_suite(database: str, minimum: int) -> list[Question]:
    questions = load_suite(SUITES[database])
    assert len(questions) >= minimum
    for q in questions:
        assert q.reference and all(t.startswith(f"{database}.") for t in q.tables), q.id
        assert sum(t in ("tune", "heldout") for t in q.tags) == 1, q.id
        assert set(q.tags) - {"tune", "heldout"} and set(q.tags) <= PATTERNS | {"tune", "heldout"}, q.id
        # Every quoted literal of the reference (dates, values, thresholds as text) is in the question.
        missing = [lit for lit in re.findall(r"'([^']*)'", q.reference) if lit not in q.question]
        assert not missing, (q.id, missing)
    tune = sum("tune" in q.tags for q in questions)
    assert len(questions) / 4 <= tune <= len(questions) / 2.5
    assert sum(bool(HARD & set(q.tags)) for q in questions) >= 0.4 * len(questions)
    return questions


def test_clinic_generation_is_deterministic_with_comments(tmp_path: Path) -> None:
    _deterministic(tmp_path, clinic.generate, "clinic")
    assert DATASETS["clinic"] == "askspark.catalog.devsets.clinic:generate"


def test_clinic_data_is_messy_where_the_suite_needs_it() -> None:
    patients, visits = clinic.patients_table().to_pylist(), clinic.visits_table().to_pylist()
    cities = {p["city"] for p in patients}
    assert " Boston" in cities and "boston" in cities and len({c.strip().lower() for c in cities}) == 5
    assert any(p["email"] is None for p in patients) and any(p["insurance"] is None for p in patients)
    assert any(v["diagnosis_code"] is None for v in visits) and any(v["cost"] is None for v in visits)
    assert 12 not in {v["doctor_id"] for v in visits}, "one doctor without visits (counts that include 0)"
    assert len({v["patient_id"] for v in visits}) < len(patients), "some patients never visit"
    assert (
        "doctorId" in clinic.doctors_table().column_names
        and "doctor_id" in clinic.visits_table().column_names
    )


def test_clinic_suite_is_tagged_and_states_its_constants() -> None:
    _check_suite("clinic", 39)


def test_sensors_generation_is_deterministic_with_comments(tmp_path: Path) -> None:
    _deterministic(tmp_path, sensors.generate, "sensors")
    assert DATASETS["sensors"] == "askspark.catalog.devsets.sensors:generate"


def test_sensors_readings_are_a_gappy_time_series_of_the_right_size() -> None:
    readings = sensors.readings_table()
    assert 20_000 <= readings.num_rows <= 40_000
    assert readings.schema.field("ts").type.unit == "us"
    assert readings.column("humidity").null_count > 0
    devices = set(readings.column("device_id").to_pylist())
    assert "dev-12" not in devices and len(devices) == len(sensors.DEVICES) - 1
    dev01 = [
        t
        for d, t in zip(
            readings.column("device_id").to_pylist(), readings.column("ts").to_pylist(), strict=True
        )
        if d == "dev-01"
    ]
    steps = {(b - a).total_seconds() for a, b in zip(dev01, dev01[1:], strict=False)}
    assert min(steps) == 900 and max(steps) > 7200, "every 15 minutes, with an outage"


def test_sensors_suite_is_tagged_and_states_its_constants() -> None:
    _check_suite("sensors", 39)


@pytest.mark.slow
def test_clinic_and_sensors_references_all_pass_on_real_spark(settings: Settings) -> None:
    from askspark.evals.run import EvalRun

    # Registering new tables after the shared engine started restarts its server: slower, still correct.
    clinic.generate(settings)
    sensors.generate(settings)
    for database, path in SUITES.items():
        questions = load_suite(path)
        report = EvalRun(settings=settings, model="reference", engine="local").run(questions, suite=str(path))
        failed = [(r.id, r.reason, r.last_error) for r in report.results if not r.correct]
        assert report.summary.correct == len(questions), (database, failed)
