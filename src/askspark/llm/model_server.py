"""The model daemon: the embedded model loaded once and shared by later CLI invocations.

``askspark engine start`` runs ``python -m askspark.llm.model_server``, a detached process that loads
the embedded model (with ``settings.model_threads`` threads) and answers completions over HTTP on a
Unix domain socket (``$ASKSPARK_HOME/engine/model.sock``, mode 0600: off the network and owned by the
user). Its state is in ``$ASKSPARK_HOME/engine/model.json``; :func:`askspark.llm.embedded.create`
forwards to it through :class:`RemoteEmbeddedLLM` when it is healthy, so a question does not pay the
model load. The protocol is tiny JSON:

* ``GET /health`` → ``{"model": path, "loaded": true, "pid": ..., "threads": ..., "context": ...}``
* ``POST /complete`` with ``{"messages": [...], "temperatures": [t, ...], "max_tokens": n}`` →
  ``{"completions": [{"text", "model", "prompt_tokens", "completion_tokens"}, ...]}``, one per
  temperature (one prompt read, the candidates decoded together); errors answer with the
  :meth:`~askspark.errors.AskSparkError.to_dict` shape.

With ``ASKSPARK_MODEL_SERVER_FAKE=1`` the daemon serves an echo model instead (for tests).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import logging
import os
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from askspark.errors import (
    AskSparkError,
    MissingExtraError,
    ModelNotInstalledError,
    ProviderError,
    UsageError,
)
from askspark.llm.base import LLM, Completion, Message, complete_many
from askspark.llm.model_files import model_path
from askspark.processes import command_line_has, file_lock, pid_alive, stop_group
from askspark.settings import Settings, get_settings

SOCKET_NAME = "model.sock"
STATE_NAME = "model.json"
LOG_NAME = "model-server.log"
FAKE_ENV = "ASKSPARK_MODEL_SERVER_FAKE"
START_SECONDS = 60.0
HEALTH_SECONDS = 2.0
_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes; longer homes get a short private directory
_ERRORS: dict[str, type[AskSparkError]] = {
    c.code: c for c in (UsageError, MissingExtraError, ProviderError, ModelNotInstalledError)
}

log = logging.getLogger("askspark.llm.model_server")


@dataclass
class ModelServerState:
    """A running model daemon, as written to ``engine_dir/model.json``."""

    pid: int
    socket: str
    model: str
    log: str


# --- paths and files -----------------------------------------------------------------------------


def state_file(settings: Settings) -> Path:
    return settings.engine_dir / STATE_NAME


def log_file(settings: Settings) -> Path:
    return settings.engine_dir / LOG_NAME


def model_file_for(settings: Settings, name: str = "") -> Path:
    """The model file the ``embedded`` provider named ``name`` uses (default model or a .gguf path)."""
    if name.endswith(".gguf"):
        return Path(name).expanduser().resolve()
    return model_path(settings).resolve()


def _configured_name(settings: Settings) -> str:
    """The embedded model named by ``settings.model`` (``embedded:/x.gguf``), or "" for the default."""
    provider, _, name = settings.model.partition(":")
    return name if provider == "embedded" else ""


def _socket_path(settings: Settings) -> Path:
    path = settings.engine_dir / SOCKET_NAME
    if len(os.fsencode(path)) <= _MAX_SOCKET_PATH:
        return path
    return Path(tempfile.mkdtemp(prefix="askspark-model-")) / SOCKET_NAME


def _read_state(settings: Settings) -> ModelServerState | None:
    try:
        return ModelServerState(**json.loads(state_file(settings).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _write_state(settings: Settings, state: ModelServerState) -> None:
    path = state_file(settings)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(asdict(state)) + "\n")
    os.replace(tmp, path)


def _start_lock(settings: Settings) -> contextlib.AbstractContextManager[None]:
    """Serialize starts and stops of the daemon of one home across processes."""
    return file_lock(settings.engine_dir / ".model.lock")


# --- the client side -----------------------------------------------------------------------------


class _UnixConnection(http.client.HTTPConnection):
    """An HTTP connection over a Unix domain socket."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        """Connect, retrying briefly while the listen backlog is full (EAGAIN on Unix sockets)."""
        deadline = time.monotonic() + min(float(self.timeout or HEALTH_SECONDS), HEALTH_SECONDS)
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self._path)
            except BlockingIOError:
                sock.close()
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)
                continue
            except OSError:
                sock.close()
                raise
            self.sock = sock
            return


def _request(path: str, method: str, url: str, body: Any, timeout: float) -> tuple[int, dict[str, Any]]:
    """One JSON request to the daemon; raises OSError/HTTPException when it cannot be reached."""
    conn = _UnixConnection(path, timeout)
    try:
        payload = None if body is None else json.dumps(body).encode()
        conn.request(method, url, body=payload, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def _health(path: str, timeout: float = HEALTH_SECONDS) -> dict[str, Any] | None:
    try:
        status, data = _request(path, "GET", "/health", None, timeout)
    except (OSError, http.client.HTTPException, ValueError):
        return None
    return data if status == 200 and data.get("loaded") else None


def load_model_state(settings: Settings) -> ModelServerState | None:
    """The daemon of this home if it is running and answers its health check, else None."""
    state = _read_state(settings)
    if state is None or not pid_alive(state.pid):
        return None
    health = _health(state.socket)
    return state if health is not None and health.get("pid") == state.pid else None


def model_server_status(settings: Settings) -> dict[str, Any] | None:
    """What ``askspark engine status`` shows: the daemon's health plus its state, or None."""
    state = _read_state(settings)
    if state is None or not pid_alive(state.pid):
        return None
    health = _health(state.socket)
    if health is None or health.get("pid") != state.pid:
        return None
    return asdict(state) | health


def _raise_remote_error(status: int, data: dict[str, Any]) -> None:
    error = data.get("error") or {}
    cls = _ERRORS.get(error.get("code", ""), ProviderError)
    message = error.get("message") or f"the model server answered HTTP {status}"
    raise cls(message, suggestion=error.get("suggestion"), **(error.get("details") or {}))


class RemoteEmbeddedLLM:
    """The embedded model served by the daemon. Satisfies :class:`askspark.llm.base.LLM`.

    ``fallback`` builds the in-process model; it is used (and kept) when the daemon cannot be
    reached, so a question never fails because the daemon died.
    """

    id = "embedded"
    style: Literal["python", "sql"] = "sql"

    def __init__(self, settings: Settings, state: ModelServerState, fallback: Callable[[], LLM]) -> None:
        self.settings = settings
        self.state = state
        self.model = Path(state.model).stem
        self._fallback_factory = fallback
        self._fallback: LLM | None = None

    @property
    def remote(self) -> bool:
        """True while calls go to the daemon (False after a fallback to in-process)."""
        return self._fallback is None

    def complete(self, messages: list[Message], *, temperature: float, max_tokens: int) -> Completion:
        """Continue the chat in the daemon, or in-process if the daemon is gone."""
        return self.complete_many(messages, temperatures=[temperature], max_tokens=max_tokens)[0]

    def complete_many(
        self, messages: list[Message], *, temperatures: Sequence[float], max_tokens: int
    ) -> list[Completion]:
        """Several completions of one prompt in one daemon call (the daemon gives each its own seed and
        reads the prompt once), or in-process if the daemon is gone."""
        if self._fallback is None:
            body = {
                "messages": [m.model_dump() for m in messages],
                "temperatures": list(temperatures),
                "max_tokens": max_tokens,
            }
            seconds = self.settings.llm_timeout_seconds * max(1, len(temperatures))
            try:
                status, data = _request(self.state.socket, "POST", "/complete", body, seconds)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                self._give_up_remote(exc)
            else:
                if status != 200:
                    _raise_remote_error(status, data)
                return [Completion(**c) for c in data["completions"]]
        assert self._fallback is not None
        return complete_many(self._fallback, messages, temperatures=temperatures, max_tokens=max_tokens)

    def _give_up_remote(self, exc: BaseException) -> None:
        if isinstance(exc, TimeoutError) and pid_alive(self.state.pid):
            raise ProviderError(
                f"the model server (pid {self.state.pid}) did not answer within "
                f"{self.settings.llm_timeout_seconds:.0f} s",
                suggestion="raise ASKSPARK_LLM_TIMEOUT_SECONDS or restart it: askspark engine stop && "
                "askspark engine start",
            ) from exc
        log.warning(
            "askspark: the model server (pid %s, %s) is gone (%s: %s); loading the model in-process",
            self.state.pid, self.state.socket, type(exc).__name__, exc,
        )  # fmt: skip
        self._fallback = self._fallback_factory()


def connect(settings: Settings, path: Path, fallback: Callable[[], LLM]) -> RemoteEmbeddedLLM | None:
    """A client of this home's daemon if it is healthy and serves the model file ``path``."""
    state = load_model_state(settings)
    if state is None or Path(state.model) != path:
        return None
    return RemoteEmbeddedLLM(settings, state, fallback)


# --- starting and stopping -----------------------------------------------------------------------


def _child_env(settings: Settings) -> dict[str, str]:
    """The daemon's environment: ours, with the settings it needs made explicit."""
    return os.environ | {
        "ASKSPARK_HOME": str(settings.home),
        "ASKSPARK_MODELS_DIR": str(settings.models_dir),
        "ASKSPARK_MODEL_THREADS": str(settings.model_threads),
        "ASKSPARK_MODEL_CONTEXT": str(settings.model_context),
    }


def _precheck(settings: Settings, path: Path) -> None:
    """Fail in the caller, with the usual hint, when the daemon could not load the model."""
    if os.environ.get(FAKE_ENV):
        return
    import importlib.util

    from askspark.errors import missing_extra

    if importlib.util.find_spec("llama_cpp") is None:
        raise missing_extra("the embedded model", "embedded", "llama-cpp-python")
    if path == model_path(settings).resolve():
        from askspark.llm.model_files import check_model

        check_model(settings)
    elif not path.is_file():
        raise ModelNotInstalledError(f"model file {path} does not exist", path=str(path))


def start_model_server(settings: Settings, wait_seconds: float = START_SECONDS) -> ModelServerState:
    """Start the daemon for ``settings.model`` (or return the healthy one already running).

    Raises:
        MissingExtraError / ModelNotInstalledError: llama-cpp-python or the model file is missing.
        ProviderError: the daemon did not become healthy within ``wait_seconds`` (with its log tail).
    """
    path = model_file_for(settings, _configured_name(settings))
    with _start_lock(settings):
        running = load_model_state(settings)
        if running is not None and Path(running.model) == path:
            return running
        if running is not None:
            _stop(settings, running)
        _precheck(settings, path)
        state = _spawn(settings, path)
        _wait_until_healthy(settings, state, wait_seconds)
        _write_state(settings, state)
        return state


def _spawn(settings: Settings, path: Path) -> ModelServerState:
    sock = _socket_path(settings)
    logfile = log_file(settings)
    cmd = [sys.executable, "-m", "askspark.llm.model_server", "--socket", str(sock), "--model", str(path)]
    with open(logfile, "ab") as out:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=_child_env(settings), start_new_session=True,
        )  # fmt: skip
    return ModelServerState(pid=proc.pid, socket=str(sock), model=str(path), log=str(logfile))


def _wait_until_healthy(settings: Settings, state: ModelServerState, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        health = _health(state.socket, timeout=1.0)
        if health is not None and health.get("pid") == state.pid:
            return
        if not pid_alive(state.pid):
            break
        time.sleep(0.1)
    tail = Path(state.log).read_text(errors="replace")[-2000:]
    _stop(settings, state)
    raise ProviderError(
        f"the model server did not start within {seconds:.0f} s",
        suggestion=f"read {state.log}",
        log_tail=tail,
    )


def _is_daemon(pid: int) -> bool:
    """True when ``pid`` is a model daemon (guards against signalling a reused pid)."""
    return command_line_has(pid, b"askspark.llm.model_server")


def _stop(settings: Settings, state: ModelServerState, seconds: float = 10.0) -> None:
    """Terminate the daemon's process group, wait for it, and remove its socket."""
    if pid_alive(state.pid) and _is_daemon(state.pid):
        stop_group(state.pid, seconds)
    sock = Path(state.socket)
    sock.unlink(missing_ok=True)
    if sock.parent != settings.engine_dir:
        with contextlib.suppress(OSError):
            sock.parent.rmdir()


def stop_model_server(settings: Settings) -> bool:
    """Stop this home's daemon, if any, and remove its state file; True if one was running."""
    with _start_lock(settings):
        state = _read_state(settings)
        running = state is not None and pid_alive(state.pid) and _is_daemon(state.pid)
        if state is not None:
            _stop(settings, state)
        state_file(settings).unlink(missing_ok=True)
        return running


# --- the daemon ----------------------------------------------------------------------------------


class EchoLLM:
    """The fake model of ``ASKSPARK_MODEL_SERVER_FAKE=1``: echoes the last user message.

    A user message containing ``__die__`` kills the daemon mid-request (to test the client's fallback);
    one containing ``__slow__`` generates for a minute (a request a test can kill the daemon in).
    """

    id = "embedded"
    style: Literal["python", "sql"] = "sql"
    model = "fake-echo"

    def complete(self, messages: list[Message], *, temperature: float, max_tokens: int) -> Completion:
        prestart = messages[-1].content if messages and messages[-1].role == "assistant" else ""
        user = next((m.content for m in reversed(messages) if m.role == "user"), "")
        if "__die__" in user:
            os._exit(3)
        if "__slow__" in user:
            time.sleep(60)
        text = prestart + f" echo({user}) t={temperature} n={max_tokens}"
        return Completion(
            text=text,
            model=self.model,
            prompt_tokens=sum(len(m.content.split()) for m in messages),
            completion_tokens=len(text.split()),
        )


def load_llm(settings: Settings, path: Path) -> LLM:
    """The model the daemon serves, loaded now (the echo model when ``ASKSPARK_MODEL_SERVER_FAKE``)."""
    if os.environ.get(FAKE_ENV):
        return EchoLLM()
    from askspark.llm.embedded import EmbeddedLLM

    llm = EmbeddedLLM(settings, None if path == model_path(settings).resolve() else path)
    llm._loaded()  # load before answering health, so "loaded": true means it
    return llm


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = 64
    llm: LLM
    info: dict[str, Any]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        sys.stderr.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {format % args}\n")

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/health":
            self._send(200, self.server.info)
        else:
            self._send(404, UsageError(f"no such endpoint {self.path}").to_dict())

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        if self.path != "/complete":
            self._send(404, UsageError(f"no such endpoint {self.path}").to_dict())
            return
        try:
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            messages = [Message(**m) for m in request["messages"]]
            temperatures = [float(t) for t in request["temperatures"]] or [0.0]
            max_tokens = int(request["max_tokens"])
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            self._send(400, UsageError(f"bad /complete request: {exc}").to_dict())
            return
        try:
            completions = complete_many(
                self.server.llm, messages, temperatures=temperatures, max_tokens=max_tokens
            )
        except AskSparkError as exc:
            self._send(exc.status, exc.to_dict())
            return
        except Exception as exc:  # keep serving; the client reports it
            self._send(500, ProviderError(f"the model server failed: {type(exc).__name__}: {exc}").to_dict())
            return
        self._send(200, {"completions": [c.model_dump() for c in completions]})


def _bind(sock_path: Path) -> _Server:
    """A server on ``sock_path`` (mode 0600; a stale socket file is replaced)."""
    sock_path.parent.mkdir(parents=True, exist_ok=True)
    sock_path.unlink(missing_ok=True)
    old = os.umask(0o177)
    try:
        server = _Server(str(sock_path), _Handler)
    finally:
        os.umask(old)
    os.chmod(sock_path, 0o600)
    return server


def serve(settings: Settings, sock_path: Path, model: Path) -> None:
    """Load the model, then answer on ``sock_path`` until SIGTERM/SIGINT."""
    started = time.monotonic()
    llm = load_llm(settings, model)
    print(f"model {model} loaded in {time.monotonic() - started:.2f} s", file=sys.stderr, flush=True)
    server = _bind(sock_path)
    server.llm = llm
    server.info = {
        "model": str(model),
        "loaded": True,
        "pid": os.getpid(),
        "threads": settings.model_threads,
        "context": settings.model_context,
        "fake": bool(os.environ.get(FAKE_ENV)),
    }
    inode = sock_path.stat().st_ino

    def _terminate(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    print(f"serving on {sock_path} (pid {os.getpid()})", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        with contextlib.suppress(OSError):
            if sock_path.stat().st_ino == inode:  # not a newer daemon's socket
                sock_path.unlink()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="askspark's model daemon (started by 'askspark engine start')"
    )
    parser.add_argument(
        "--socket", type=Path, help="Unix socket to listen on (default: engine_dir/model.sock)"
    )
    parser.add_argument("--model", type=Path, help="model file (default: the embedded model)")
    args = parser.parse_args(argv)
    settings = get_settings()
    model = (args.model or model_file_for(settings, _configured_name(settings))).resolve()
    serve(settings, args.socket or settings.engine_dir / SOCKET_NAME, model)


if __name__ == "__main__":
    main()
