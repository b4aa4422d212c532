"""Development dataset ``sensors``: IoT devices and four weeks of their temperature readings.

Readings are a time series with a timestamp column (``ts``): some devices report every 15 minutes,
others hourly, each has outages (gaps), and humidity is sometimes missing. Questions over it ask
about days and hours of a timestamp, differences from the previous reading and the time of a
per-device maximum. Seeded, so every run writes the same bytes.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from askspark.catalog.base import TableInfo
from askspark.catalog.sample import register_tables
from askspark.settings import Settings

DATABASE = "sensors"
START, END = np.datetime64("2025-03-01T00:00"), np.datetime64("2025-03-29T00:00")  # 4 weeks, end excluded

# device_id: (site, kind, installed_on, minutes between readings)
DEVICES: dict[str, tuple[str, str, str, int]] = {
    "dev-01": ("North Plant", "freezer", "2024-06-03", 15),
    "dev-02": ("North Plant", "greenhouse", "2024-06-03", 15),
    "dev-03": ("North Plant", "office", "2024-09-16", 60),
    "dev-04": ("North Plant", "greenhouse", "2025-01-20", 15),
    "dev-05": ("South Plant", "freezer", "2024-02-12", 60),
    "dev-06": ("South Plant", "greenhouse", "2024-02-12", 15),
    "dev-07": ("South Plant", "office", "2024-11-04", 15),
    "dev-08": ("Warehouse", "freezer", "2023-10-09", 15),
    "dev-09": ("Warehouse", "freezer", "2023-10-09", 15),
    "dev-10": ("Warehouse", "office", "2025-02-24", 15),
    "dev-11": ("Warehouse", "greenhouse", "2025-03-10", 60),  # starts reporting mid-period
    "dev-12": ("South Plant", "office", "2025-04-01", 60),  # installed after the period: no readings
}
# kind: (mean temperature in °C, daily swing, noise, mean humidity in %)
KINDS: dict[str, tuple[float, float, float, float]] = {
    "freezer": (-18.0, 1.0, 0.8, 35.0),
    "greenhouse": (24.0, 7.0, 1.5, 70.0),
    "office": (21.5, 2.0, 0.6, 42.0),
}

TABLE_COMMENTS = {
    "devices": "Temperature sensors installed at three sites, one row per device.",
    "readings": "Sensor readings from 2025-03-01 to 2025-03-28, one row per device and timestamp; devices "
    "report every 15 minutes or every hour and have gaps when offline.",
}
COLUMN_COMMENTS: dict[str, dict[str, str]] = {
    "devices": {
        "device_id": "unique device id, e.g. 'dev-01'",
        "site": "where the device is installed: 'North Plant', 'South Plant' or 'Warehouse'",
        "kind": "what it monitors: 'freezer', 'greenhouse' or 'office'",
        "installed_on": "day the device was installed",
    },
    "readings": {
        "device_id": "the reporting device (devices.device_id)",
        "ts": "time of the reading (local time, to the minute)",
        "temperature": "temperature in degrees Celsius",
        "humidity": "relative humidity in percent; null when the humidity probe failed",
    },
}


def generate(settings: Settings) -> list[TableInfo]:
    """Write the ``sensors`` tables under the warehouse and register them; same bytes every time."""
    tables = {"devices": devices_table(), "readings": readings_table()}
    return register_tables(settings, DATABASE, tables, TABLE_COMMENTS, COLUMN_COMMENTS)


def devices_table() -> pa.Table:
    return pa.table(
        {
            "device_id": pa.array(list(DEVICES), pa.string()),
            "site": pa.array([d[0] for d in DEVICES.values()], pa.string()),
            "kind": pa.array([d[1] for d in DEVICES.values()], pa.string()),
            "installed_on": pa.array(
                np.array([d[2] for d in DEVICES.values()], dtype="datetime64[D]"), pa.date32()
            ),
        }
    )


def readings_table() -> pa.Table:
    """Every device's readings in time order, concatenated in device order."""
    rng = np.random.default_rng(5)
    parts = [_device_readings(rng, device, *spec[1:]) for device, spec in DEVICES.items()]
    return pa.concat_tables([p for p in parts if p.num_rows])


def _device_readings(
    rng: np.random.Generator, device: str, kind: str, installed: str, minutes: int
) -> pa.Table:
    """One device: a daily temperature cycle plus noise, minus a few outages of 2 to 20 hours."""
    start = max(START, np.datetime64(installed, "m"))
    ts = np.arange(start, END, np.timedelta64(minutes, "m")) if start < END else np.array([], "datetime64[m]")
    keep = np.ones(len(ts), bool)
    for _ in range(int(rng.integers(1, 4))):
        if len(ts):
            begin = ts[int(rng.integers(0, len(ts)))]
            keep &= ~((ts >= begin) & (ts < begin + np.timedelta64(int(rng.integers(2, 21)) * 60, "m")))
    ts = ts[keep]
    mean, swing, noise, humid = KINDS[kind]
    hours = (ts - ts.astype("datetime64[D]")).astype(int) / 60.0
    temperature = mean + swing * np.sin((hours - 9) / 24 * 2 * np.pi) + rng.normal(0, noise, len(ts))
    humidity = np.round(humid + rng.normal(0, 6, len(ts)), 1)
    missing = rng.random(len(ts)) < 0.05
    return pa.table(
        {
            "device_id": pa.array([device] * len(ts), pa.string()),
            "ts": pa.array(ts.astype("datetime64[us]"), pa.timestamp("us")),
            "temperature": pa.array(np.round(temperature, 2), pa.float64()),
            "humidity": pa.array(np.where(missing, np.nan, humidity), pa.float64(), from_pandas=True),
        }
    )
