"""The API's endpoints under ``/v1``: ask, runs (events, results, re-runs), catalog, uploads."""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from askspark.catalog.local import LocalCatalog
from askspark.errors import NotFoundError, TooLargeError, UsageError
from askspark.interfaces.http.runner import Runner, Ticket
from askspark.interfaces.http.schemas import (
    Accepted,
    AskRequest,
    RerunRequest,
    RunSummary,
    TablePreview,
)
from askspark.record import Answer
from askspark.request import Request as AskSparkRequest
from askspark.settings import Settings

router = APIRouter(prefix="/v1")
EVENT_POLL_SECONDS = 0.2
KEEPALIVE_SECONDS = 15.0
CHUNK = 1 << 20


def _runner(request: Request) -> Runner:
    runner: Runner = request.app.state.runner
    return runner


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# --- asking ---------------------------------------------------------------------------------------


@router.post("/ask", summary="Ask a question and wait for the answer document")
async def ask(body: AskRequest, request: Request) -> dict[str, Any]:
    """The same document as ``askspark ask --json``. The run is queued like any other (429 when full)."""
    # submit() checks the selection (catalog, file schemas): blocking work, kept off the event loop
    ticket = await run_in_threadpool(_runner(request).submit, _request_of(body, request))
    answer = await asyncio.wrap_future(ticket.done)
    return answer.to_json()


@router.post("/runs", status_code=202, summary="Accept a question; follow it by its events")
def start_run(body: AskRequest, request: Request) -> Accepted:
    return _accepted(_runner(request).submit(_request_of(body, request)))


@router.post("/runs/{run_id}/rerun", status_code=202, summary="Run edited code on the run's tables")
def rerun(run_id: str, body: RerunRequest, request: Request) -> Accepted:
    """The code is checked and sandboxed like the model's; the new run has ``rerun_of`` set."""
    runner = _runner(request)
    return _accepted(runner.submit(runner.rerun_request(run_id, body.code, body.row_limit)))


def _request_of(body: AskRequest, request: Request) -> AskSparkRequest:
    """The body as one request; a ``conversation_id`` follows that conversation's newest turn."""
    asked = body.to_request()
    if body.conversation_id is not None:
        latest = _runner(request).store.latest_turn(body.conversation_id)
        asked = asked.model_copy(update={"follow_up": latest})
    return asked


@router.post("/runs/{run_id}/verify", summary="Mark a run's answer as right (a verified answer)")
def verify_run(run_id: str, request: Request) -> dict[str, Any]:
    """Later questions on its tables get it as a worked example; the same question re-runs its code."""
    from askspark.runs import memory

    entry = memory.verify(_runner(request).store, run_id, _settings(request))
    return {"run_id": run_id, "verified": True, "question": entry.question, "tables": list(entry.tables)}


@router.get("/runs/{run_id}/verify", summary="Whether a run's answer is verified")
def run_verified(run_id: str, request: Request) -> dict[str, Any]:
    """What the web UI's "this is right" toggle shows (404: no such run)."""
    store = _runner(request).store
    store.get(run_id)
    return {"run_id": run_id, "verified": any(v.run_id == run_id for v in store.verified())}


@router.delete("/runs/{run_id}/verify", summary="Take a verification back")
def unverify_run(run_id: str, request: Request) -> dict[str, Any]:
    from askspark.runs import memory

    memory.unverify(_runner(request).store, run_id)
    return {"run_id": run_id, "verified": False}


def _accepted(ticket: Ticket) -> Accepted:
    base = f"/v1/runs/{ticket.run_id}"
    return Accepted(run_id=ticket.run_id, status="queued", links={"run": base, "events": f"{base}/events"})


# --- runs -----------------------------------------------------------------------------------------


@router.get("/runs", summary="Recent runs, newest first")
def list_runs(request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[RunSummary]:
    return [RunSummary.of(a) for a in _runner(request).store.list(limit)]


@router.get("/runs/{run_id}", summary="One run's answer document")
def get_run(run_id: str, request: Request) -> dict[str, Any]:
    return _runner(request).store.get(run_id).to_json()


@router.get("/runs/{run_id}/events", summary="A run's progress as server-sent events")
def run_events(run_id: str, request: Request) -> StreamingResponse:
    """Events: ``queued``, ``running``, ``stage`` (attempt, stage), ``attempt`` (the attempt's record)
    and ``done`` (status). A run finished before this server started answers with ``done`` at once."""
    runner = _runner(request)
    ticket = runner.ticket(run_id)
    if ticket is None:
        answer = runner.store.get(run_id)
        stream = _finished_events(answer)
    else:
        stream = _live_events(ticket, request)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)


def sse(event: str, data: dict[str, Any], index: int | None = None) -> str:
    head = f"id: {index}\n" if index is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data)}\n\n"


async def _finished_events(answer: Answer) -> AsyncIterator[str]:
    yield sse("done", {"run_id": answer.run_id, "status": answer.status})


async def _live_events(ticket: Ticket, request: Request) -> AsyncIterator[str]:
    """Poll the run's event log (no thread per listener); a comment every 15 s keeps proxies open."""
    index, idle = 0, 0.0
    while True:
        events, closed = ticket.events.events[index:], ticket.events.closed
        for event, data in events:
            yield sse(event, data, index)
            index += 1
        if closed and index >= len(ticket.events.events):
            return
        if events:
            idle = 0.0
        elif idle >= KEEPALIVE_SECONDS:
            idle = 0.0
            yield ": keep-alive\n\n"
        if await request.is_disconnected():
            return
        await asyncio.sleep(EVENT_POLL_SECONDS)
        idle += EVENT_POLL_SECONDS


@router.get("/runs/{run_id}/result.csv", summary="The run's full result as CSV")
def result_csv(run_id: str, request: Request) -> FileResponse:
    return _export(run_id, request, "csv")


@router.get("/runs/{run_id}/result.parquet", summary="The run's full result as one Parquet file")
def result_parquet(run_id: str, request: Request) -> FileResponse:
    return _export(run_id, request, "parquet")


def _export(run_id: str, request: Request, fmt: str) -> FileResponse:
    """The stored full result (a Parquet directory written by the engine) as one file."""
    settings = _settings(request)
    answer = _runner(request).store.get(run_id)
    location = Path(answer.result.location) if answer.result and answer.result.location else None
    if (
        location is None
        or not location.exists()
        or not location.resolve().is_relative_to(settings.runs_dir.resolve())
    ):
        raise NotFoundError(
            f"run {run_id} has no stored result",
            suggestion="only a run that succeeded has one; see its status with GET /v1/runs/" + run_id,
        )
    fd, name = tempfile.mkstemp(suffix=f".{fmt}", prefix=f"{run_id}-")
    os.close(fd)
    _write(ds.dataset(location, format="parquet"), Path(name), fmt)
    media = "text/csv" if fmt == "csv" else "application/vnd.apache.parquet"
    return FileResponse(
        name, media_type=media, filename=f"{run_id}.{fmt}", background=BackgroundTask(os.unlink, name)
    )


def _write(dataset: ds.Dataset, path: Path, fmt: str) -> None:
    """Batch by batch, so a large result is never in memory at once."""
    writer: pacsv.CSVWriter | pq.ParquetWriter
    writer = (
        pacsv.CSVWriter(str(path), dataset.schema)
        if fmt == "csv"
        else pq.ParquetWriter(str(path), dataset.schema)
    )
    with writer:
        for batch in dataset.to_batches():
            writer.write_batch(batch)


# --- catalog --------------------------------------------------------------------------------------


@router.get("/catalog/databases", summary="Databases of the local catalog")
def databases(request: Request) -> dict[str, list[str]]:
    return {"databases": LocalCatalog(_settings(request)).list_databases()}


@router.get("/catalog/databases/{database}/tables", summary="Tables of one database")
def tables(database: str, request: Request) -> dict[str, Any]:
    return {"database": database, "tables": LocalCatalog(_settings(request)).list_tables(database)}


@router.get("/catalog/tables/{database}/{table}", summary="A table's schema and first rows")
def describe(
    database: str, table: str, request: Request, rows: Annotated[int, Query(ge=0, le=200)] = 20
) -> TablePreview:
    """Rows are read as data by pyarrow (Parquet, CSV or JSON parsing); no code runs for them."""
    from askspark.catalog.files import preview

    info = LocalCatalog(_settings(request)).describe(database, table)
    head = preview(info, rows) if rows else pa.table({})
    return TablePreview(
        table=info.model_dump(mode="json"),
        columns=head.column_names,
        rows=[[_cell(v) for v in row.values()] for row in head.to_pylist()],
    )


def _cell(value: Any) -> Any:
    """A JSON-safe cell: numbers, strings, booleans and null as they are, anything else as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


# --- uploads --------------------------------------------------------------------------------------


@router.post("/uploads", status_code=201, summary="Upload a CSV, Parquet or JSON file as a table")
def upload(
    request: Request,
    file: Annotated[UploadFile, File(description="A .csv, .parquet or .json/.jsonl file.")],
    name: Annotated[str | None, Form(description="Table name (default: from the file name).")] = None,
) -> JSONResponse:
    """Registers the file as ``uploads.NAME`` in the local catalog. Ask about it by that name, or pass
    the returned ``path`` as ``files`` (or the seeds' ``s3_input_path``)."""
    from askspark.catalog.files import table_name_for
    from askspark.catalog.uploads import store_upload, upload_table_name

    settings = _settings(request)
    filename = _safe_filename(file.filename or "")
    table = upload_table_name(name or table_name_for(filename))
    info = store_upload(settings, table, filename, lambda path: _save(file, path, settings.max_upload_bytes))
    body = {
        "table": info.full_name,
        "path": f"{table}/{filename}",
        "columns": [c.model_dump() for c in info.columns],
        "row_count": info.row_count,
    }
    return JSONResponse(body, status_code=201)


def _safe_filename(name: str) -> str:
    """A plain file name: no directories, only letters, digits, dot, dash and underscore."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).lstrip(".")
    if not base or not re.search(r"\.[A-Za-z0-9]+$", base):
        raise UsageError(
            f"the uploaded file's name {name!r} has no extension",
            suggestion="upload a .csv, .parquet, .json or .jsonl file",
        )
    return base


def _save(file: UploadFile, target: Path, limit: int) -> None:
    size = 0
    with target.open("wb") as out:
        while chunk := file.file.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise TooLargeError(
                    f"the uploaded file is larger than the limit of {limit} bytes",
                    suggestion="upload a smaller file, or raise ASKSPARK_MAX_UPLOAD_BYTES on the server",
                    limit=limit,
                )
            out.write(chunk)


@router.get("/health", summary="Whether the server is up, and what it re-queued at start")
def health(request: Request) -> dict[str, Any]:
    return {"status": "ok", "requeued": getattr(request.app.state, "requeued", [])}
