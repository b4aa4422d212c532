"""The Ray worker: runs one job of generated Ray Data code, inside the sandbox.

Protocol (as the Spark worker's): start, ``ray.init()`` a private local Ray (or join ``ray://`` when
given), print ``ready``; read one JSON job from stdin; dry run: call ``answer(ray, tables)`` on the
tables cut to zero rows (the real schemas) and run the plan on them; execute: call it on the real data,
``take(row_limit + 1)``, write the full result as Parquet; print one JSON report and exit.

Ray started here lives in the sandbox's own network namespace (only loopback, nothing outside can
reach it; Ray binds all interfaces otherwise) and dies with the process.
"""

from __future__ import annotations

import os
import time
from typing import Any

from askspark.engines.worker import ContractError, bounded_records, failure_report, json_value, serve

ADDRESS_ENV = "ASKSPARK_RAY_ADDRESS"
OBJECT_STORE_ENV = "ASKSPARK_RAY_OBJECT_STORE_MB"
SHUFFLE_PARTITIONS = 4
READERS = {"parquet": "read_parquet", "csv": "read_csv", "json": "read_json"}


def start_ray() -> Any:
    import ray

    address = os.environ.get(ADDRESS_ENV) or None
    options: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
    if address is None:
        store = int(os.environ.get(OBJECT_STORE_ENV, "512")) * 1024 * 1024
        options |= {"num_cpus": 2, "object_store_memory": store, "include_dashboard": False}
    ray.init(address=address, **options)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    # Ray's defaults (200 read blocks, 200 shuffle partitions) are for clusters: on one or two cores a
    # group-by over a few thousand rows took minutes with them.
    context.default_hash_shuffle_parallelism = SHUFFLE_PARTITIONS
    context.read_op_min_num_blocks = SHUFFLE_PARTITIONS
    # Warm Ray's task workers (they import Ray Data on first use: seconds each on a busy machine) while
    # this worker is still the spare, not while a job waits.
    ray.data.from_items([{"x": 1}] * 4).map(lambda row: row).take(1)
    return ray


def shuffle(ray: Any, strategy: str) -> None:
    context = ray.data.DataContext.get_current()
    context.shuffle_strategy = getattr(ray.data.context.ShuffleStrategy, strategy)


def reader_options(fmt: str, options: dict[str, str], schema_ddl: str) -> dict[str, Any]:
    """Spark's CSV reader options (sep, header) as Ray's pyarrow ones; other formats need none."""
    if fmt != "csv":
        return {}
    import pyarrow.csv as pacsv

    parse = pacsv.ParseOptions(delimiter=options.get("sep", ","), newlines_in_values=True)
    if options.get("header", "true").lower() == "true":
        return {"parse_options": parse}
    names = [part.strip().split(" ", 1)[0].strip("`") for part in schema_ddl.split(",")]
    return {"parse_options": parse, "read_options": pacsv.ReadOptions(column_names=names)}


def bind_tables(ray: Any, tables: list[dict[str, Any]], empty: bool) -> dict[str, Any]:
    """Datasets for the tables (read by location), or for the dry run one empty block with the real
    schema: it flows through every operator, so Ray Data checks columns without reading data."""
    bound = {}
    for t in tables:
        reader = getattr(ray.data, READERS.get(t["format"], "read_parquet"))
        ds = reader(t["location"], **reader_options(t["format"], t["options"], t["schema_ddl"]))
        if empty:
            ds = ray.data.from_arrow(ds.schema().base_schema.empty_table())
        bound[t["name"]] = ds
        bound.setdefault(t["full_name"], ds)
    return bound


def load_answer(code: str) -> Any:
    namespace: dict[str, Any] = {"__name__": "askspark_answer"}
    exec(compile(code, "<answer>", "exec"), namespace)  # noqa: S102 - this process is the sandbox
    answer = namespace.get("answer")
    if not callable(answer):
        raise ContractError("the code does not define a function answer(ray, tables)")
    return answer


def call_answer(answer: Any, ray: Any, tables: dict[str, Any]) -> Any:
    ds = answer(ray, tables)
    if not isinstance(ds, ray.data.Dataset):
        raise ContractError(f"answer() returned {type(ds).__name__}, not a ray.data.Dataset")
    return ds


def preview(ds: Any, job: dict[str, Any], timings: dict[str, float]) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    limits, location = job["limits"], os.path.join(job["output_dir"], "result")
    start = time.perf_counter()
    taken = ds.take(limits["row_limit"] + 1)
    timings["collect"] = time.perf_counter() - start
    schema = ds.schema()
    names = list(schema.names) if schema is not None else list(taken[0]) if taken else []
    records = ([row.get(n) for n in names] for row in taken)
    rows, truncated = bounded_records(records, limits["row_limit"], limits["max_result_bytes"])
    if truncated:
        ds.write_parquet(location)
    else:
        os.makedirs(location, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(taken), os.path.join(location, "part-00000.parquet"))
    timings["write"] = time.perf_counter() - start - timings["collect"]
    types = [str(t) for t in schema.types] if schema is not None else ["unknown"] * len(names)
    return {
        "columns": [{"name": n, "type": t} for n, t in zip(names, types, strict=True)],
        "rows": [[json_value(v) for v in row] for row in rows],
        "truncated": truncated,
        "location": location,
        "row_count": None if truncated else len(rows),
    }


def run_job(ray: Any, job: dict[str, Any]) -> dict[str, Any]:
    timings: dict[str, float] = {}
    stage = "dry_run"
    try:
        answer = load_answer(job["code"])
        if job["dry_run"]:
            start = time.perf_counter()
            # The hash shuffle checks every aggregate's columns against the (empty) block's schema; the
            # sort shuffle skips empty blocks, so a misspelled column would pass the dry run.
            shuffle(ray, "HASH_SHUFFLE")
            call_answer(answer, ray, bind_tables(ray, job["tables"], empty=True)).take(1)
            timings["dry_run"] = time.perf_counter() - start
        if not job["execute"]:
            return {"ok": True, "stage": stage, "timings": timings}
        stage = "execute"
        start = time.perf_counter()
        # Sort-based shuffles run as tasks; the hash shuffle starts aggregator actors (new processes),
        # which made one small group-by take a minute on this machine.
        shuffle(ray, "SORT_SHUFFLE_PULL_BASED")
        ds = call_answer(answer, ray, bind_tables(ray, job["tables"], empty=False))
        result = preview(ds, job, timings)
        timings["execute"] = time.perf_counter() - start
        return {"ok": True, "stage": stage, "result": result, "timings": timings}
    except BaseException as exc:  # noqa: BLE001 - everything the code raises is reported
        return failure_report(stage, cause_of(exc), timings)


def cause_of(exc: BaseException) -> BaseException:
    """The code's own exception inside Ray's wrappers (RayTaskError, UserCodeException)."""
    seen = 0
    while seen < 5:
        inner = getattr(exc, "cause", None) or exc.__cause__
        if not isinstance(inner, BaseException) or type(exc).__module__.split(".")[0] != "ray":
            return exc
        exc, seen = inner, seen + 1
    return exc


def main() -> None:
    serve(start_ray, run_job, lambda ray: ray.shutdown())


if __name__ == "__main__":
    main()
