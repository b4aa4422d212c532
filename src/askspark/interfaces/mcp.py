"""The MCP server: askspark as tools for other agents (Model Context Protocol, the official Python SDK).

Two transports, one server (:func:`create_server`):

- ``askspark mcp``: stdio, for a local agent that starts askspark as a subprocess (:func:`run_stdio`).
- ``askspark serve``: streamable HTTP at ``/v1/mcp``, behind the HTTP API's bearer token; runs go through
  the HTTP server's queue like ``/v1/ask`` (:func:`mount`).

Tools: ``ask`` and ``run_code`` (their arguments are the fields of :class:`~askspark.request.Options`, so
a new ask option is a new tool argument with no edit here; ``ask`` also takes ``conversation_id`` to
follow a conversation's newest turn, as ``follow_up`` follows one run), ``list_tables``,
``describe_table``, ``get_run`` and ``verify`` (mark a run's answer as right, or take that back). Catalog tables are resources (``askspark://table/DB.TABLE``). A run's progress (each attempt's
stages and outcome) arrives as MCP progress notifications when the client asks for them. askspark's errors
are tool errors (``isError``) whose content is the one error shape (:meth:`AskSparkError.to_dict`).

Why the official ``mcp`` SDK and not ``fastmcp``: its ``MCPServer`` already has everything needed (typed
tools, resources, progress, streamable HTTP as an ASGI app we mount on our own FastAPI app and token),
the SDK's client is what the tests drive, and it is one dependency fewer to track.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING, Annotated, Any

import anyio
import anyio.from_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.types import CallToolResult, Resource, TextContent
from pydantic import Field

from askspark.errors import AskSparkError, NotFoundError, UsageError
from askspark.interfaces.progress import progress_message
from askspark.record import Answer
from askspark.request import Request, takes_options
from askspark.runs.loop import Listener
from askspark.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from askspark.interfaces.http.runner import Runner

# Runs a request to its answer, calling the listener with the run's events; blocking (a worker thread).
Submit = Callable[[Request, Listener], Answer]
TABLE_URI = "askspark://table/{name}"
Question = Annotated[str, Field(description="The question, in plain English.")]
Code = Annotated[str, Field(description="A complete def answer(spark, tables): ... returning a DataFrame.")]
ConversationId = Annotated[
    str | None,
    Field(
        description="Continue a conversation (the run_id of any of its runs): the question follows its "
        "newest turn, on its tables unless tables are given. follow_up names the exact run instead."
    ),
]
INSTRUCTIONS = (
    "askspark answers questions about tabular data with PySpark code that ran in a sandbox. Call "
    "list_tables to see the catalog, describe_table for a table's columns, then ask with the question "
    "and the tables. The answer document holds the code, every attempt and a bounded result. Ask a "
    "follow-up with conversation_id (the run_id); verify a run whose answer is right."
)


class AskSparkMCP(MCPServer):
    """The SDK's server with the catalog's tables listed as resources when a client asks (not only the
    tables that existed at start)."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.askspark_settings = settings

    async def list_resources(self) -> list[Resource]:
        names = await anyio.to_thread.run_sync(table_names, self.askspark_settings, None, None)
        described = [
            Resource(uri=TABLE_URI.format(name=n), name=n, mime_type="application/json") for n in names
        ]
        return [*await super().list_resources(), *described]


def create_server(settings: Settings, submit: Submit | None = None) -> AskSparkMCP:
    """The MCP server; ``submit`` runs a request (default: in this process, as the CLI does)."""
    from askspark import __version__

    server = AskSparkMCP(settings, name="askspark", instructions=INSTRUCTIONS, version=__version__)
    run = submit or direct(settings)
    server.add_tool(ask_tool(settings, run), name="ask", structured_output=False)
    server.add_tool(run_code_tool(settings, run), name="run_code", structured_output=False)
    for tool in (list_tables, describe_table, get_run, verify):
        server.add_tool(_bound(tool, settings), name=tool.__name__, structured_output=False)
    server.resource(TABLE_URI, name="table", mime_type="application/json")(table_resource(settings))
    return server


def table_resource(settings: Settings) -> Callable[[str], str]:
    """A table's description as a resource; askspark's errors as the SDK's resource errors (their text
    reaches the client; any other exception is a crash the SDK reports without its text)."""

    def read(name: str) -> str:
        try:
            return json.dumps(described_table(settings, name, None))
        except NotFoundError as exc:
            raise ResourceNotFoundError(str(exc)) from None
        except AskSparkError as exc:
            raise ResourceError(str(exc)) from None

    return read


def direct(settings: Settings) -> Submit:
    """Run requests in this process (``askspark mcp``), through the one pipeline."""

    def submit(request: Request, listener: Listener) -> Answer:
        from askspark.api import execute, prepare

        return execute(prepare(request, settings, listener), request)

    return submit


# --- tools ----------------------------------------------------------------------------------------


def ask_tool(settings: Settings, submit: Submit) -> Callable[..., Any]:
    async def ask(
        question: Question, ctx: Context, *, conversation_id: ConversationId = None, **options: Any
    ) -> CallToolResult:
        """Ask a question about catalog tables or files; the answer document: the PySpark code that ran,
        every attempt and a bounded result. Progress (attempts, stages) comes as progress notifications.
        A follow-up: conversation_id (or follow_up) from an earlier answer's run_id."""
        try:
            follows = _newest_turn(settings, conversation_id, options.get("follow_up"))
        except AskSparkError as exc:
            return tool_error(exc)
        request = Request(question=question, **options | follows)
        return await _answer(request, ctx, settings, submit)

    return with_options(ask)


def run_code_tool(settings: Settings, submit: Submit) -> Callable[..., Any]:
    async def run_code(question: Question, code: Code, ctx: Context, **options: Any) -> CallToolResult:
        """Run given code, ``def answer(spark, tables): ... return DataFrame``, on the tables: the same
        validation, dry run and sandbox as the model's code, one attempt, recorded as a run."""
        return await _answer(Request(question=question, code=code, **options), ctx, settings, submit)

    return with_options(run_code)


def _newest_turn(settings: Settings, conversation_id: str | None, follow_up: str | None) -> dict[str, str]:
    """``follow_up`` set to the newest run of the conversation (as ``POST /v1/ask`` does); nothing when
    no conversation is named. Raises UsageError for both, NotFoundError for an unknown run."""
    if conversation_id is None:
        return {}
    if follow_up is not None:
        raise UsageError(
            "both 'conversation_id' and 'follow_up' are given", suggestion="send only one of them"
        )
    from askspark.runs.store import store_for

    return {"follow_up": store_for(settings).latest_turn(conversation_id)}


def with_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Give the tool ``fn(..., ctx, **options)`` one argument per field of :class:`Options` (the SDK reads
    the signature for the tool's input schema), as the CLI gives ``ask`` one flag per field."""
    return takes_options(fn, _option)


def _option(name: str, field: Any) -> inspect.Parameter:
    default = field.get_default(call_default_factory=True)
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[field.annotation, Field(description=field.description)],
    )


async def _answer(request: Request, ctx: Context, settings: Settings, submit: Submit) -> CallToolResult:
    report = progress_reporter(ctx)
    try:
        answer = await anyio.to_thread.run_sync(submit, request, report)
    except AskSparkError as exc:
        return tool_error(exc)
    return document(bounded(answer.to_json(), settings.mcp_max_answer_bytes))


def progress_reporter(ctx: Context) -> Listener:
    """A listener (called from the run's thread) that sends each event as a progress notification."""
    count = 0

    def report(event: str, data: dict[str, Any]) -> None:
        nonlocal count
        message = progress_message(event, data)
        if message is None:
            return
        count += 1
        with suppress(Exception):  # a client that left or sent no progress token must not stop the run
            anyio.from_thread.run(ctx.report_progress, count, None, message)

    return report


def list_tables(
    settings: Settings,
    catalog: Annotated[str | None, Field(description="Catalog id (default: the default catalog).")] = None,
    database: Annotated[str | None, Field(description="Only this database's tables.")] = None,
) -> CallToolResult:
    """The tables of a catalog, by the names ask takes."""
    return _call(lambda: {"tables": table_names(settings, catalog, database)})


def describe_table(
    settings: Settings,
    name: Annotated[str, Field(description="DB.TABLE, a unique TABLE, or CATALOG:DB.TABLE.")],
    catalog: Annotated[str | None, Field(description="Catalog id (default: the default catalog).")] = None,
) -> CallToolResult:
    """A table's columns, types, comments, row count and format; samples only as the privacy setting lets
    a model see them."""
    return _call(lambda: described_table(settings, name, catalog))


def get_run(
    settings: Settings, run_id: Annotated[str, Field(description="The run id an ask returned.")]
) -> CallToolResult:
    """A recorded run's answer document (bounded), e.g. one asked earlier or from the CLI."""
    from askspark.runs.store import store_for

    return _call(lambda: bounded(store_for(settings).get(run_id).to_json(), settings.mcp_max_answer_bytes))


def verify(
    settings: Settings,
    run_id: Annotated[str, Field(description="A succeeded run's id (an ask's run_id).")],
    undo: Annotated[bool, Field(description="Take the verification back instead.")] = False,
) -> CallToolResult:
    """Mark a run's answer as right (a verified answer): later questions on its tables get it as a
    worked example, and the same question again re-runs its code. undo takes that back."""
    from askspark.runs import memory
    from askspark.runs.store import store_for

    def mark() -> dict[str, Any]:
        store = store_for(settings)
        if undo:
            memory.unverify(store, run_id)
            return {"run_id": run_id, "verified": False}
        entry = memory.verify(store, run_id, settings)
        return {"run_id": run_id, "verified": True, "question": entry.question, "tables": list(entry.tables)}

    return _call(mark)


def _bound(tool: Callable[..., CallToolResult], settings: Settings) -> Callable[..., CallToolResult]:
    """``tool`` with its first argument (the settings) given; the SDK sees the rest of its signature."""

    def call(**arguments: Any) -> CallToolResult:
        return tool(settings, **arguments)

    signature = inspect.signature(tool, eval_str=True)
    call.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])  # type: ignore[attr-defined]
    call.__annotations__ = {k: v for k, v in tool.__annotations__.items() if k != "settings"}
    call.__name__, call.__doc__ = tool.__name__, tool.__doc__
    return call


def _call(fn: Callable[[], Any]) -> CallToolResult:
    try:
        return document(fn())
    except AskSparkError as exc:
        return tool_error(exc)


def table_names(settings: Settings, catalog: str | None, database: str | None) -> list[str]:
    from askspark.catalog import get_catalog

    cat = get_catalog(catalog or settings.catalog, settings)
    prefix = "" if cat.id == settings.catalog and catalog is None else f"{cat.id}:"
    databases = [database] if database else cat.list_databases()
    return [f"{prefix}{db}.{t}" for db in databases for t in cat.list_tables(db)]


def described_table(settings: Settings, name: str, catalog: str | None) -> dict[str, Any]:
    from askspark.catalog import resolve_table
    from askspark.context.privacy import visible_tables

    info = resolve_table(name, settings, catalog)
    [shown] = visible_tables([info], settings.privacy, settings.privacy_columns)
    return shown.model_dump(mode="json", exclude={"field_ids", "paths"})


# --- results and errors ---------------------------------------------------------------------------


def document(doc: dict[str, Any]) -> CallToolResult:
    """A tool result: the document as structured content and as JSON text (for clients without it)."""
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(doc))], structured_content=doc)


def tool_error(exc: AskSparkError) -> CallToolResult:
    """An askspark error as an MCP tool error carrying the one error shape (message, suggestion, ...)."""
    shape = exc.to_dict()
    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps(shape))], structured_content=shape, is_error=True
    )


LOG_CHARS = 2000  # an attempt's log beyond this is cut first when a document is over the limit


def bounded(doc: dict[str, Any], limit: int) -> dict[str, Any]:
    """The answer document within ``limit`` bytes of JSON: long attempt logs cut, then the chart (its
    spec carries up to a result's worth of values) left out, then the result's and the alternatives' rows
    halved until it fits (``truncated`` set, a notice says so). An agent's context is small; the full
    result stays on disk (``result.location``) and in ``get_run``."""
    if _size(doc) <= limit:
        return doc
    doc = json.loads(json.dumps(doc))
    for attempt in doc.get("attempts", []):
        attempt["logs"] = attempt.get("logs", "")[-LOG_CHARS:]
    if _size(doc) > limit and doc.get("chart") is not None:
        doc["chart"] = None
        doc.setdefault("notices", []).append("the chart was left out for MCP (get_run has it)")
    previews = [p for p in [doc.get("result"), *(a["result"] for a in doc.get("alternatives", []))] if p]
    while _size(doc) > limit and any(p["rows"] for p in previews):
        for preview in previews:
            preview["rows"] = preview["rows"][: len(preview["rows"]) // 2]
            preview["truncated"] = True
    shown = len(doc["result"]["rows"]) if doc.get("result") else 0
    doc.setdefault("notices", []).append(
        f"the answer document was cut to {limit} bytes for MCP: {shown} result rows shown"
    )
    return doc


def _size(doc: dict[str, Any]) -> int:
    return len(json.dumps(doc).encode())


# --- transports -----------------------------------------------------------------------------------


MCP_PATH = "/v1/mcp"


def mount(app: FastAPI, settings: Settings, runner: Runner) -> AskSparkMCP:
    """Serve the tools at ``/v1/mcp`` on the HTTP server, behind its token (the API's middleware covers
    ``/v1/``); runs go through the server's queue like ``/v1/ask``. The app's lifespan must run
    ``server.session_manager.run()``. Mount it before the web UI's catch-all ``/``."""
    from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.routing import Route

    server = create_server(settings, queued(runner))
    # The SDK's DNS-rebinding guard admits only loopback Host headers: right for a server without a token
    # (it listens on loopback only); with a token the token is the guard and any Host may reach it.
    security = (
        TransportSecuritySettings(enable_dns_rebinding_protection=False) if settings.api_token else None
    )
    server.streamable_http_app(streamable_http_path=MCP_PATH, transport_security=security)
    endpoint = StreamableHTTPASGIApp(
        server.session_manager
    )  # an ASGI app: every method, as the SDK routes it
    app.router.routes.append(Route(MCP_PATH, endpoint=endpoint, include_in_schema=False))
    return server


def queued(runner: Runner) -> Submit:
    """Run requests through the HTTP server's queue (its limits, its run records), relaying the run's
    events to the listener as they come."""

    def submit(request: Request, listener: Listener) -> Answer:
        ticket = runner.submit(request)
        index, closed = 0, False
        while not closed:
            events, closed = ticket.events.wait(index, timeout=1.0)
            for event, data in events:
                listener(event, data)
            index += len(events)
        return ticket.done.result()

    return submit


def run_stdio(settings: Settings) -> None:
    """Serve over stdin/stdout until the client closes them (the SDK keeps stray prints off the wire)."""
    create_server(settings).run("stdio")
