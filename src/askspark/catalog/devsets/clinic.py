"""Development dataset ``clinic``: patients, doctors and visits with messy text and missing values.

It exercises what clean sample data never does: city names stored with inconsistent case and
surrounding spaces, nullable email, insurance, diagnosis and cost, and a join key spelled differently
on each side (``visits.doctor_id`` ↔ ``doctors.doctorId``). Seeded, so every run writes the same bytes.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa

from askspark.catalog.base import TableInfo
from askspark.catalog.sample import register_tables
from askspark.settings import Settings

DATABASE = "clinic"

# doctorId: (name, specialty); Dr. Ivy Novak (12) has no visits yet, so counts that include zero matter.
DOCTORS: dict[int, tuple[str, str]] = {
    1: ("Dr. Alice Moreno", "Cardiology"),
    2: ("Dr. Brian Okafor", "Cardiology"),
    3: ("Dr. Chen Wei", "Dermatology"),
    4: ("Dr. Dana Fischer", "Dermatology"),
    5: ("Dr. Emil Varga", "Pediatrics"),
    6: ("Dr. Farah Haddad", "Pediatrics"),
    7: ("Dr. Gustavo Lima", "Orthopedics"),
    8: ("Dr. Hannah Berg", "Orthopedics"),
    9: ("Dr. Isaac Turner", "General Practice"),
    10: ("Dr. Julia Santos", "General Practice"),
    11: ("Dr. Kenji Mori", "General Practice"),
    12: ("Dr. Ivy Novak", "Cardiology"),
}
# specialty: (typical cost in USD, diagnosis codes seen there)
SPECIALTIES: dict[str, tuple[float, list[str]]] = {
    "Cardiology": (320.0, ["I10", "I25.10", "I48.91", "Z00.00"]),
    "Dermatology": (180.0, ["L20.9", "L70.0", "L40.0", "Z00.00"]),
    "Pediatrics": (140.0, ["J06.9", "H66.90", "Z00.129", "J02.9"]),
    "Orthopedics": (260.0, ["M54.5", "M17.11", "S83.511A", "M25.561"]),
    "General Practice": (120.0, ["J06.9", "I10", "E11.9", "Z00.00", "K21.9"]),
}
# canonical city -> the spellings it is stored as (weights below favour the clean one)
CITIES: dict[str, list[str]] = {
    "Boston": ["Boston", " Boston", "boston", "BOSTON "],
    "Chicago": ["Chicago", "chicago", "Chicago  ", " CHICAGO"],
    "Denver": ["Denver", "denver ", " Denver"],
    "Seattle": ["Seattle", "seattle", "SEATTLE", "Seattle "],
    "Austin": ["Austin", " austin", "AUSTIN"],
}
INSURERS = ["Medicare", "Aetna", "BlueCross", "Cigna"]
STATUSES = ["completed", "cancelled", "no-show"]
_FIRST = ["Ana", "Ben", "Carla", "David", "Elena", "Frank", "Grace", "Hugo", "Irene", "Jonas", "Kara", "Liam",
          "Maya", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sam", "Tara"]  # fmt: skip
_LAST = ["Adams", "Baker", "Costa", "Diaz", "Evans", "Ford", "Garcia", "Hill", "Ito", "Jensen", "Klein",
         "Lopez", "Meyer", "Nolan", "Ortiz"]  # fmt: skip
_DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "example.org"]

TABLE_COMMENTS = {
    "patients": "Patients of a group of clinics, one row per patient (synthetic; text entered by hand).",
    "doctors": "Doctors of the clinics, one row per doctor.",
    "visits": "Patient visits in 2024, one row per appointment, including cancelled ones and no-shows.",
}
COLUMN_COMMENTS: dict[str, dict[str, str]] = {
    "patients": {
        "patient_id": "unique patient number",
        "name": "full name, first and last",
        "city": "city of residence as typed at registration (case and surrounding spaces vary)",
        "birth_date": "date of birth",
        "email": "email address; null when the patient gave none",
        "insurance": "insurance provider; null when uninsured or unknown",
    },
    "doctors": {
        "doctorId": "unique doctor number (visits.doctor_id refers to it)",
        "doctor_name": "the doctor's name, e.g. 'Dr. Alice Moreno'",
        "specialty": "medical specialty, e.g. 'Cardiology'",
    },
    "visits": {
        "visit_id": "unique visit number",
        "patient_id": "the patient (patients.patient_id)",
        "doctor_id": "the doctor seen (doctors.doctorId)",
        "visit_date": "day of the appointment",
        "diagnosis_code": "ICD-10 code of the main diagnosis; null when none was recorded",
        "cost": "amount billed in USD; null when not billed yet",
        "status": "'completed', 'cancelled' or 'no-show'",
    },
}


def generate(settings: Settings) -> list[TableInfo]:
    """Write the ``clinic`` tables under the warehouse and register them; same bytes every time."""
    tables = {"patients": patients_table(), "doctors": doctors_table(), "visits": visits_table()}
    return register_tables(settings, DATABASE, tables, TABLE_COMMENTS, COLUMN_COMMENTS)


def doctors_table() -> pa.Table:
    return pa.table(
        {
            "doctorId": pa.array(list(DOCTORS), pa.int32()),
            "doctor_name": pa.array([d[0] for d in DOCTORS.values()], pa.string()),
            "specialty": pa.array([d[1] for d in DOCTORS.values()], pa.string()),
        }
    )


def patients_table(n: int = 300) -> pa.Table:
    """``n`` patients with unique names, messy cities and some missing emails and insurers."""
    rng = np.random.default_rng(11)
    pairs = [(f, last) for f in _FIRST for last in _LAST]
    names = [f"{pairs[i][0]} {pairs[i][1]}" for i in rng.permutation(len(pairs))[:n]]
    cities = [_messy_city(rng, str(c)) for c in rng.choice(list(CITIES), n, p=[0.3, 0.25, 0.15, 0.2, 0.1])]
    births = np.datetime64("1940-01-01") + rng.integers(0, 75 * 365, n).astype("timedelta64[D]")
    emails = [
        None if rng.random() < 0.2 else f"{name.lower().replace(' ', '.')}@{rng.choice(_DOMAINS)}"
        for name in names
    ]
    insurance = [None if rng.random() < 0.15 else str(rng.choice(INSURERS)) for _ in range(n)]
    return pa.table(
        {
            "patient_id": pa.array(np.arange(1, n + 1), pa.int32()),
            "name": pa.array(names, pa.string()),
            "city": pa.array(cities, pa.string()),
            "birth_date": pa.array(births, pa.date32()),
            "email": pa.array(emails, pa.string()),
            "insurance": pa.array(insurance, pa.string()),
        }
    )


def _messy_city(rng: np.random.Generator, city: str) -> str:
    """The clean spelling most of the time, else one of the variants typed by hand."""
    variants = CITIES[city]
    return variants[0] if rng.random() < 0.55 else str(rng.choice(variants[1:]))


def visits_table(n: int = 3000, patients: int = 300) -> pa.Table:
    """``n`` visits over 2024; some patients never come, one doctor has none, some values are missing."""
    rng = np.random.default_rng(23)
    days = np.arange(np.datetime64(date(2024, 1, 1)), np.datetime64(date(2025, 1, 1)), dtype="datetime64[D]")
    weights = np.where(np.is_busday(days), 1.0, 0.15)
    dates = np.sort(rng.choice(days, n, p=weights / weights.sum()))
    # patients 1..285 visit (a skewed share each); the last 15 never do
    weights = rng.gamma(1.5, 1.0, patients - 15)
    patient = rng.choice(np.arange(1, patients - 14), n, p=weights / weights.sum())
    doctor = rng.choice(np.arange(1, 12), n, p=_doctor_weights())
    specialties = [DOCTORS[int(d)][1] for d in doctor]
    codes = [str(rng.choice(SPECIALTIES[s][1])) for s in specialties]
    codes_or_null = [None if rng.random() < 0.12 else c for c in codes]
    status = rng.choice(STATUSES, n, p=[0.82, 0.11, 0.07])
    base = np.array([SPECIALTIES[s][0] for s in specialties])
    cost = np.round(base * rng.lognormal(0, 0.35, n), 2)
    costs = [
        None if s != "completed" or rng.random() < 0.06 else float(c)
        for s, c in zip(status, cost, strict=True)
    ]
    return pa.table(
        {
            "visit_id": pa.array(np.arange(1, n + 1), pa.int32()),
            "patient_id": pa.array(patient, pa.int32()),
            "doctor_id": pa.array(doctor, pa.int32()),
            "visit_date": pa.array(dates, pa.date32()),
            "diagnosis_code": pa.array(codes_or_null, pa.string()),
            "cost": pa.array(costs, pa.float64()),
            "status": pa.array([str(s) for s in status], pa.string()),
        }
    )


def _doctor_weights() -> np.ndarray:
    """Doctors 1..11 see patients at different rates (general practice the most)."""
    weights = np.array([1.0, 0.8, 0.9, 0.6, 1.1, 0.9, 0.7, 0.85, 1.6, 1.3, 1.45])
    return weights / weights.sum()
