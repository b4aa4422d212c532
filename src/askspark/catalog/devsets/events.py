"""The development dataset ``events``: a product-analytics event log of a web application.

Two tables: ``users`` (one row per sign-up) and ``events`` (page views, clicks, searches, carts and
purchases with second-resolution timestamps, January to April 2025). Everything is drawn from seeded
generators, so regenerating writes byte-identical Parquet. Built to exercise the accuracy miss classes
of issue 12: timestamps asked about by day or hour, stored spellings ('USA', 'UK'), nulls (durations,
revenue), users with no events (counts that include zero) and per-user orderings (lag, first/last).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from askspark.catalog.base import TableInfo
from askspark.catalog.sample import register_tables
from askspark.settings import Settings

DATABASE = "events"
USERS = 800
EVENTS = 20_000
# The stored spellings are short forms on purpose: 'USA' and 'UK', never 'United States'.
COUNTRIES = {"USA": 0.34, "UK": 0.14, "Germany": 0.12, "France": 0.1, "India": 0.12, "Brazil": 0.08, "Canada": 0.1}  # fmt: skip
PLANS = {"free": 0.6, "pro": 0.3, "team": 0.1}
DEVICES = {"desktop": 0.55, "mobile": 0.38, "tablet": 0.07}
EVENT_TYPES = {"page_view": 0.55, "click": 0.24, "search": 0.1, "add_to_cart": 0.07, "purchase": 0.04}
PAGES = ["/home", "/pricing", "/docs", "/blog", "/product", "/account"]
PAGE_WEIGHTS = [0.3, 0.12, 0.2, 0.13, 0.18, 0.07]
# hour of day (UTC) -> relative activity: quiet nights, a midday and an evening peak
HOUR_WEIGHTS = [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3.5, 4.5, 5, 5.5, 6, 5.5, 5, 4.6, 4.4, 4.2, 4.5, 5, 4.8, 4, 3, 2]  # fmt: skip
START, END = np.datetime64("2025-01-01T00:00:00"), np.datetime64("2025-05-01T00:00:00")
SIGNUP_START = np.datetime64("2024-10-01T00:00:00")

TABLE_COMMENTS = {
    "users": "Registered users of a web application, one row per user (synthetic).",
    "events": "Product-analytics event log, one row per event, 2025-01-01 to 2025-04-30 UTC (synthetic).",
}
COLUMN_COMMENTS: dict[str, dict[str, str]] = {
    "users": {
        "user_id": "unique user number",
        "signup_ts": "when the user signed up (UTC)",
        "country": "country code as stored: 'USA', 'UK', 'Germany', 'France', 'India', 'Brazil', 'Canada'",
        "plan": "subscription plan: free, pro or team",
    },
    "events": {
        "event_id": "unique event number, increasing with ts",
        "user_id": "the user who triggered the event (users.user_id)",
        "ts": "when the event happened (UTC, to the second)",
        "event_type": "page_view, click, search, add_to_cart or purchase",
        "page": "path of the page the event happened on, e.g. /pricing",
        "device": "desktop, mobile or tablet",
        "duration_ms": "time spent on the page in milliseconds; only page_view and click events have one, "
        "and a few of those are missing (null)",
        "revenue": "amount paid in USD; only purchase events have one, null when the payment was not captured",
    },
}


def generate(settings: Settings) -> list[TableInfo]:
    """Write the ``events`` tables under the warehouse and register them; same bytes every time."""
    rng = np.random.default_rng(20250101)
    users = users_table(rng)
    tables = {"users": users, "events": events_table(rng, users)}
    return register_tables(settings, DATABASE, tables, TABLE_COMMENTS, COLUMN_COMMENTS)


def _pick(rng: np.random.Generator, weights: dict[str, float], n: int) -> np.ndarray:
    p = np.array(list(weights.values()))
    return rng.choice(list(weights), n, p=p / p.sum())


def users_table(rng: np.random.Generator) -> pa.Table:
    """Users signed up between October 2024 and March 2025, more of them recently."""
    span = int((END - np.timedelta64(31, "D") - SIGNUP_START) / np.timedelta64(1, "s"))
    offsets = np.sort((span * rng.power(1.6, USERS)).astype(np.int64))
    return pa.table(
        {
            "user_id": pa.array(np.arange(1, USERS + 1), pa.int64()),
            "signup_ts": pa.array(
                SIGNUP_START + offsets.astype("timedelta64[s]"), pa.timestamp("us", tz="UTC")
            ),
            "country": pa.array(_pick(rng, COUNTRIES, USERS), pa.string()),
            "plan": pa.array(_pick(rng, PLANS, USERS), pa.string()),
        }
    )


def events_table(rng: np.random.Generator, users: pa.Table) -> pa.Table:
    """Events of about 85% of the users (the rest never came back), none before a user's sign-up."""
    active = rng.permutation(USERS)[: int(USERS * 0.85)]
    weights = rng.lognormal(0, 1.0, len(active))
    who = active[rng.choice(len(active), EVENTS, p=weights / weights.sum())]
    signups = users.column("signup_ts").to_numpy().astype("datetime64[s]")[who]
    ts = _timestamps(rng, signups)
    order = np.argsort(ts, kind="stable")
    ts, who = _strictly_increasing(ts[order]), who[order]
    kinds = _pick(rng, EVENT_TYPES, EVENTS)
    plans = np.asarray(users.column("plan").to_pylist())[who]
    return pa.table(
        {
            "event_id": pa.array(np.arange(1, EVENTS + 1), pa.int64()),
            "user_id": pa.array(who + 1, pa.int64()),
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "event_type": pa.array(kinds, pa.string()),
            "page": pa.array(_pages(rng, kinds), pa.string()),
            "device": pa.array(_pick(rng, DEVICES, EVENTS), pa.string()),
            "duration_ms": _durations(rng, kinds),
            "revenue": _revenue(rng, kinds, plans),
        }
    )


def _timestamps(rng: np.random.Generator, signups: np.ndarray) -> np.ndarray:
    """A day (weekends quieter, busier over time) and a second of day (by HOUR_WEIGHTS), after sign-up."""
    days = np.arange(START.astype("datetime64[D]"), END.astype("datetime64[D]"))
    day_weights = np.where(np.is_busday(days), 1.0, 0.6) * np.linspace(0.8, 1.25, len(days))
    day = rng.choice(days, len(signups), p=day_weights / day_weights.sum()).astype("datetime64[s]")
    hours = np.array(HOUR_WEIGHTS)
    seconds = rng.choice(24, len(signups), p=hours / hours.sum()) * 3600 + rng.integers(0, 3600, len(signups))
    ts = day + seconds.astype("timedelta64[s]")
    late = signups + rng.integers(60, 3 * 86400, len(signups)).astype("timedelta64[s]")
    return np.minimum(np.where(ts < signups, late, ts), END - np.timedelta64(1, "s"))


def _strictly_increasing(ts: np.ndarray) -> np.ndarray:
    """Sorted timestamps nudged forward so no two are equal: "the first event" has one answer."""
    as_int = ts.astype(np.int64)
    nudged = np.maximum.accumulate(as_int - np.arange(len(as_int))) + np.arange(len(as_int))
    return nudged.astype("datetime64[s]")


def _pages(rng: np.random.Generator, kinds: np.ndarray) -> np.ndarray:
    pages = rng.choice(PAGES, len(kinds), p=PAGE_WEIGHTS)
    pages = np.where(kinds == "search", "/search", pages)
    return np.where(
        np.isin(kinds, ["add_to_cart", "purchase"]),
        np.where(kinds == "purchase", "/checkout", "/product"),
        pages,
    )


def _durations(rng: np.random.Generator, kinds: np.ndarray) -> pa.Array:
    """Milliseconds on page: long-tailed for page views, short for clicks, about 4% lost."""
    views = np.round(rng.lognormal(9.6, 0.9, len(kinds))).astype(np.int64)
    clicks = np.round(rng.lognormal(6.5, 0.6, len(kinds))).astype(np.int64)
    values = np.where(kinds == "page_view", views, clicks)
    missing = ~np.isin(kinds, ["page_view", "click"]) | (rng.random(len(kinds)) < 0.04)
    return pa.array(values, pa.int64(), mask=missing)


def _revenue(rng: np.random.Generator, kinds: np.ndarray, plans: np.ndarray) -> pa.Array:
    """USD per purchase, larger on paid plans; about 8% of purchases were not captured (null)."""
    scale = np.select([plans == "team", plans == "pro"], [3.0, 1.8], 1.0)
    amounts = np.round(rng.gamma(2.0, 20.0, len(kinds)) * scale, 2)
    missing = (kinds != "purchase") | (rng.random(len(kinds)) < 0.08)
    return pa.array(amounts, pa.float64(), mask=missing)
