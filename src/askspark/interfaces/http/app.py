"""The HTTP server: ``create_app(settings)`` builds the FastAPI app; ``serve`` runs it with uvicorn.

Every error answers with the one shape of :meth:`AskSparkError.to_dict` (the CLI's ``--json`` errors):
askspark's own errors, request validation (400), unknown routes (404), oversized bodies (413), a
missing or wrong token (401) and a full queue (429 with Retry-After). Every response carries a strict
Content-Security-Policy: the web UI runs only its own script and renders data as text.
"""

from __future__ import annotations

import asyncio
import hmac
import importlib.util
import ipaddress
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from askspark.errors import AskSparkError, TooLargeError, UnauthorizedError, UsageError
from askspark.interfaces.http.knowledge import router as knowledge_router
from askspark.interfaces.http.routes import router
from askspark.interfaces.http.runner import Runner
from askspark.settings import Settings

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
UPLOAD_PATH = "/v1/uploads"
MULTIPART_OVERHEAD = 64 * 1024  # form boundaries and headers around an uploaded file
# GET endpoints a browser opens without headers (EventSource, download links) may carry ?token=.
TOKEN_IN_QUERY = ("/events", "/result.csv", "/result.parquet")


def create_app(settings: Settings) -> FastAPI:
    """The API under ``/v1``, the web UI at ``/``, OpenAPI at ``/openapi.json``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.requeued = runner.start()
        async with AsyncExitStack() as stack:
            if mcp_server is not None:  # the MCP endpoint's sessions live as long as the app
                await stack.enter_async_context(mcp_server.session_manager.run())
            yield
        await asyncio.to_thread(runner.stop)

    runner = Runner(settings)
    app = FastAPI(
        title="askspark",
        summary="Ask questions about your data in plain English; get PySpark code that ran.",
        version="0.1.0",
        docs_url=None,  # the interactive docs load scripts from a CDN: no network, strict CSP
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings, app.state.runner = settings, runner
    app.include_router(router)
    app.include_router(knowledge_router)
    add_error_handlers(app)
    app.middleware("http")(_authorize(settings))
    app.add_middleware(BodyLimit, settings=settings)  # outermost: before any body is read
    app.middleware("http")(_security_headers)
    mcp_server = _mount_mcp(app, settings, runner)  # before the UI's catch-all mount
    web = resources.files("askspark.interfaces") / "web"
    app.mount("/", StaticFiles(directory=str(web), html=True), name="web")
    return app


def _mount_mcp(app: FastAPI, settings: Settings, runner: Runner) -> Any:
    """The MCP tools at /v1/mcp when the ``mcp`` extra is installed (else the API serves without them)."""
    if importlib.util.find_spec("mcp") is None:
        return None
    from askspark.interfaces.mcp import mount

    return mount(app, settings, runner)


# --- errors ---------------------------------------------------------------------------------------


def error_response(exc: AskSparkError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=exc.status, headers=headers)


def add_error_handlers(app: FastAPI) -> None:
    async def askspark_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AskSparkError)
        headers = {"Retry-After": str(exc.details["retry_after"])} if "retry_after" in exc.details else None
        return error_response(exc, headers)

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(invalid(exc.errors()))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if isinstance(exc, _TooLarge):
            return error_response(exc.error)
        return error_response(http_status_error(exc.status_code, str(exc.detail), request.url.path))

    async def internal_error(request: Request, exc: Exception) -> Response:
        error = _StatusError(500, "internal", f"internal error: {type(exc).__name__}", "see the server's log")
        return error_response(error)

    app.add_exception_handler(Exception, internal_error)
    app.add_exception_handler(AskSparkError, askspark_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)


def invalid(errors: Any) -> UsageError:
    """A validation failure as one usage error naming each bad field."""
    problems = [
        {
            "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"),
            "message": e.get("msg", ""),
        }
        for e in errors
    ]
    first = problems[0] if problems else {"field": "", "message": "invalid request"}
    where = f"field {first['field']!r}: " if first["field"] else ""
    return UsageError(
        f"invalid request: {where}{first['message']}",
        suggestion="see the request schema at /openapi.json",
        errors=problems,
    )


class _StatusError(AskSparkError):
    def __init__(self, status: int, code: str, message: str, suggestion: str | None = None) -> None:
        super().__init__(message, suggestion=suggestion)
        self.status, self.code = status, code


def http_status_error(status: int, detail: str, path: str) -> AskSparkError:
    if status == 404:
        return _StatusError(404, "not_found", f"no such endpoint: {path}", "see /openapi.json")
    if status == 405:
        return _StatusError(
            405, "method_not_allowed", f"{path} does not take this method", "see /openapi.json"
        )
    return _StatusError(status, "http", detail)


# --- middleware -----------------------------------------------------------------------------------


async def _security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    response.headers.update(SECURITY_HEADERS)
    return response


def _authorize(settings: Settings) -> Callable[..., Awaitable[Response]]:
    """Require ``Authorization: Bearer TOKEN`` on the API when a token is set (the UI's files are public)."""

    async def check(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        if settings.api_token and path.startswith("/v1/") and not _token_ok(request, settings.api_token):
            given = request.headers.get("authorization") or request.query_params.get("token")
            return error_response(
                UnauthorizedError(
                    "a wrong API token was given" if given else "this server requires an API token",
                    suggestion="send the header 'Authorization: Bearer TOKEN' (the server's ASKSPARK_API_TOKEN)",
                ),
                {"WWW-Authenticate": "Bearer"},
            )
        return await call_next(request)

    return check


def _token_ok(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    given = header[7:] if header.lower().startswith("bearer ") else ""
    if not given and request.method == "GET" and request.url.path.endswith(TOKEN_IN_QUERY):
        given = request.query_params.get("token", "")
    return hmac.compare_digest(given.encode(), token.encode())


class BodyLimit:
    """Refuse bodies over the limit (413): by Content-Length at once, else while they stream in."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings

    def limit(self, path: str) -> int:
        if path == UPLOAD_PATH:
            return self.settings.max_upload_bytes + MULTIPART_OVERHEAD
        return self.settings.max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self.reject(scope, receive, send, limit)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise _TooLarge(too_large(scope["path"], limit))
            return message

        await self.app(scope, limited, send)

    async def reject(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = error_response(too_large(scope["path"], limit))
        response.headers.update(SECURITY_HEADERS)
        await response(scope, receive, send)


class _TooLarge(StarletteHTTPException):
    """Raised while a body streams in; FastAPI passes HTTP exceptions through to the handler."""

    def __init__(self, error: TooLargeError) -> None:
        super().__init__(413, error.message)
        self.error = error


def too_large(path: str, limit: int) -> TooLargeError:
    if path == UPLOAD_PATH:
        return TooLargeError(
            f"the uploaded file is larger than the limit of {limit - MULTIPART_OVERHEAD} bytes",
            suggestion="upload a smaller file, or raise ASKSPARK_MAX_UPLOAD_BYTES on the server",
            limit=limit - MULTIPART_OVERHEAD,
        )
    return TooLargeError(
        f"the request body is larger than the limit of {limit} bytes",
        suggestion="send less, or raise ASKSPARK_MAX_REQUEST_BYTES on the server",
        limit=limit,
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the server until interrupted; refuse to listen beyond loopback without a token."""
    import uvicorn

    if not is_loopback(host) and not settings.api_token:
        raise UsageError(
            f"refusing to listen on {host} without an API token: anyone who can reach it could run code",
            suggestion="set ASKSPARK_API_TOKEN (or pass --token), or listen on 127.0.0.1",
        )
    # uvicorn re-raises a SIGTERM once it has shut down gracefully; with the default action the process
    # would die there, before its exit handlers close the engines (their workers' files and cgroups,
    # an owned Spark server's socket directory stayed behind). Exit normally instead.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", access_log=False)
