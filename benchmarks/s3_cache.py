"""The S3 read-through cache: the first question on an S3 CSV (cold fetch) against the next (cache hit).

A moto S3 server on 127.0.0.1 holds one CSV of about ``--mb`` MB. The same question is asked
``--runs`` times on the local engine with a scripted model (no LLM time): the first fetches the
object into HOME/s3cache, the later ones find it by ETag (one HEAD). Then the object is rewritten and
asked about once more (the new ETag is fetched). Reported per question: ``select`` (resolve the file:
HEAD, fetch when needed, schema and samples inferred from the cached copy), ``engine`` (the run on
Spark) and the total, plus the bytes fetched from S3.

    .venv/bin/python benchmarks/s3_cache.py [--mb 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

SQL = "SELECT region, COUNT(*) AS n, ROUND(SUM(amount), 2) AS total FROM big GROUP BY region ORDER BY region"
REGIONS = ["north", "south", "east", "west", "centre"]


def csv_bytes(mb: int) -> bytes:
    """About ``mb`` MB of CSV: id, region, amount, note."""
    header = b"id,region,amount,note\n"
    rows = [
        f"{i},{REGIONS[i % 5]},{(i * 37) % 1000 / 10},row number {i} of the benchmark\n"
        for i in range(20_000)
    ]
    block = "".join(rows).encode()
    repeat = max(1, mb * 1_000_000 // len(block))
    return header + block * repeat


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from askspark import api
    from moto_server import moto_bucket

    with moto_bucket("bench") as (client, endpoint):
        try:
            rows, body = measure(client, endpoint, args.runs, args.mb)
        finally:
            api.close_all()
    print(f"\nS3 CSV of {len(body) / 1e6:.0f} MB on moto (127.0.0.1), local engine, scripted model\n")
    print("| question | fetch s | select s (HEAD, fetch, infer) | engine s | total s | cached MB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, fetch, select, run, total, cached in rows:
        print(f"| {label} | {fetch:.2f} | {select:.2f} | {run:.2f} | {total:.2f} | {cached:.0f} |")


def measure(client, endpoint, runs, mb):  # type: ignore[no-untyped-def]
    """The cold fetch, ``runs - 1`` cache hits and a changed object, each asked once."""
    from askspark import api
    from askspark.catalog import s3
    from askspark.catalog.s3 import cache_root
    from askspark.llm.scripted import ScriptedLLM
    from askspark.settings import Settings

    body = csv_bytes(mb)
    client.put_object(Bucket="bench", Key="data/big.csv", Body=body)
    home = Path(tempfile.mkdtemp(prefix="askspark-s3bench-"))
    settings = Settings(home=home, aws_endpoint_url=endpoint)
    engine = api.engine_for("local", settings)
    engine.warm()
    fetches = timed(s3.S3Cache, "_download")
    rows = []
    for i in range(runs + 1):
        if i == runs:  # a changed object: fetched again under its new ETag
            body = body + b"999999999,north,1.0,changed\n"
            client.put_object(Bucket="bench", Key="data/big.csv", Body=body)
        label = "first (cold fetch)" if i == 0 else "changed object" if i == runs else f"again #{i}"
        fetches.clear()
        measured = ask(api, ScriptedLLM, settings, engine, cache_root(settings))
        rows.append((label, sum(fetches), *measured))
        engine.warm()  # the spare worker, as between a user's questions
    return rows, body


def timed(cls: type, name: str) -> list[float]:
    """Seconds of every call of ``cls.name`` from now on (the download of a location's objects)."""
    calls: list[float] = []
    original = getattr(cls, name)

    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            calls.append(time.perf_counter() - start)

    setattr(cls, name, wrapper)
    return calls


def ask(api, llm_cls, settings, engine, cache: Path):  # type: ignore[no-untyped-def]
    llm = llm_cls(replies=[f"```sql\n{SQL}\n```"], style="sql")
    start = time.perf_counter()
    answer = api.ask("rows and total per region", files=["s3://bench/data/big.csv"], engine=engine,
                     model=llm, settings=settings)  # fmt: skip
    total = time.perf_counter() - start
    assert answer.status == "succeeded", answer.attempts[-1].error
    run = sum(a.seconds for a in answer.attempts)
    cached = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) / 1e6
    return answer.timings["catalog"], run, total, cached


if __name__ == "__main__":
    main()
