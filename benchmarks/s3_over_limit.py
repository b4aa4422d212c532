"""S3 files over the cache limit, described from parts of them: what each kind costs to describe.

A moto S3 server on 127.0.0.1 holds about ``--mb`` MB of the same rows as a CSV, a gzip CSV, one Parquet
file and a Parquet directory of four ``year=`` partitions. Each is described as an ad-hoc file
(``s3.describe_file``) with the cache limit below its size, so it is never copied: first (ranged reads
of parts of it) and again (the description kept beside the cache: one HEAD or listing). Reported: the
seconds, the ranged ``GetObject`` calls and the bytes they read.

    .venv/bin/python benchmarks/s3_over_limit.py [--mb 100]
"""

from __future__ import annotations

import argparse
import gzip
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import pyarrow as pa  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

REGIONS = ["north", "south", "east", "west", "centre"]


def rows(mb: int) -> pa.Table:
    """About ``mb`` MB of CSV's worth of rows: id, region, amount, note."""
    n = mb * 1_000_000 // 50
    ids = pa.array(range(n), pa.int64())
    return pa.table({
        "id": ids,
        "region": pa.array([REGIONS[i % 5] for i in range(n)]),
        "amount": pa.array([(i * 37) % 1000 / 10 for i in range(n)]),
        "note": pa.array([f"row number {i} of the benchmark" for i in range(n)]),
    })  # fmt: skip


def objects(table: pa.Table) -> dict[str, bytes]:
    """The keys to describe (a prefix ends with ``/``) and the bytes to put under them."""
    text = io.BytesIO()
    pacsv.write_csv(table, text)
    whole = io.BytesIO()
    pq.write_table(table, whole)
    found = {"data/big.csv": text.getvalue(), "data/big.csv.gz": gzip.compress(text.getvalue(), 6)}
    found["data/big.parquet"] = whole.getvalue()
    quarter = table.num_rows // 4
    for year in range(4):
        part = io.BytesIO()
        pq.write_table(table.slice(year * quarter, quarter), part)
        found[f"data/events/year={2021 + year}/part-0.parquet"] = part.getvalue()
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=100)
    args = parser.parse_args()
    from askspark.catalog import s3
    from askspark.settings import Settings
    from moto_server import moto_bucket

    with moto_bucket("bench") as (client, endpoint):
        found = objects(rows(args.mb))
        for key, body in found.items():
            client.put_object(Bucket="bench", Key=key, Body=body)
        settings = Settings(home=Path(tempfile.mkdtemp(prefix="askspark-s3big-")), aws_endpoint_url=endpoint)
        settings = settings.model_copy(update={"s3_cache_max_bytes": 1_000_000})
        reads = counted(s3.S3Cache)
        table = []
        for location in ["data/big.csv", "data/big.csv.gz", "data/big.parquet", "data/events/"]:
            size = sum(
                len(b)
                for k, b in found.items()
                if k == location or (location.endswith("/") and k.startswith(location))
            )
            for label in ("first", "again"):
                reads.clear()
                start = time.perf_counter()
                s3.describe_file(f"s3://bench/{location}", settings, "big")
                table.append((location, size, label, time.perf_counter() - start, len(reads), sum(reads)))
    print("\nS3 files over the cache limit (1 MB) on moto (127.0.0.1), described without a copy\n")
    print("| location | MB | question | seconds | GetObject calls | bytes read |")
    print("| --- | ---: | --- | ---: | ---: | ---: |")
    for location, size, label, seconds, calls, read in table:
        print(f"| {location} | {size / 1e6:.1f} | {label} | {seconds:.3f} | {calls} | {read:,} |")


def counted(cls: type) -> list[int]:
    """The bytes of every ranged read (``S3Cache.read``) from now on."""
    calls: list[int] = []
    original = cls.read

    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        data = original(*args, **kwargs)
        calls.append(len(data))
        return data

    cls.read = wrapper  # type: ignore[attr-defined]
    return calls


if __name__ == "__main__":
    main()
