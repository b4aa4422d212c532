"""The shared Spark server of ``askspark engine start``: a detached supervisor that owns the sandboxed server.

The server's sandbox dies with the process that started it (bubblewrap's ``--die-with-parent``), so the
command that asks for a shared server cannot be its parent. :func:`start` spawns ``python -m
askspark.engines.daemon`` in its own session (no terminal, stdin closed); that supervisor starts the
server (:func:`askspark.engines.server.start_server`, sandboxed as always), records it in
``$ASKSPARK_HOME/engine/local.json`` (its own pid as ``supervisor``, the server's pid, socket, readable
directories, start time) and waits. It stops the server and removes the record when told to (SIGTERM,
from ``askspark engine stop``), when the server dies, or after ``engine_idle_minutes`` without a job.
Killed with -9, it takes the server with it (the sandbox dies with its parent) and leaves a record no
live process answers: :func:`load` notices that and cleans up after it.

What the shared server may read: the home's data roots (the warehouse, ``uploads/``, the hive warehouse;
copied and uploaded tables live there) plus every registered table's directory at start. A job about a
table registered later outside them restarts the daemon with its directory added (:func:`restart`); a
job another process runs on the old server at that moment fails as ``engine_unavailable`` and is retried
by its repair loop.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from askspark.engines.server import (
    ServerState,
    healthy,
    remove_files,
    save_state,
    start_server,
    state_file,
    stop_server,
)
from askspark.errors import EngineUnavailableError
from askspark.processes import command_line_has, file_lock, pid_alive, reap, stop_group
from askspark.settings import Settings, get_settings

MODULE = "askspark.engines.daemon"
STOP_SECONDS = 30.0  # the supervisor stops Spark (SIGTERM, then SIGKILL after 10 s) before it exits
# What the daemon must see of the caller's settings (it reads the rest of the environment as is).
SERVER_SETTINGS = (
    "home", "sandbox", "spark_master", "spark_driver_memory", "spark_shuffle_partitions",
    "spark_startup_seconds", "hive_warehouse_dir", "engine_idle_minutes", "timeout_seconds",
)  # fmt: skip


def log_file(settings: Settings) -> Path:
    return settings.engine_dir / "daemon.log"


def used_file(settings: Settings) -> Path:
    """Touched by every job on the shared server: the supervisor's idle clock."""
    return settings.engine_dir / "local.used"


def _lock(settings: Settings) -> contextlib.AbstractContextManager[None]:
    """Serialize starts, stops and restarts of one home's shared server across processes."""
    return file_lock(settings.engine_dir / ".local.lock")


# --- the record -----------------------------------------------------------------------------------


def read(settings: Settings) -> ServerState | None:
    """The recorded shared server, healthy or not (None without a readable record)."""
    try:
        return ServerState(**json.loads(state_file(settings).read_text()))
    except (OSError, TypeError, ValueError):
        return None


def _is_supervisor(pid: int) -> bool:
    return pid_alive(pid) and command_line_has(pid, MODULE.encode())


def _is_server(pid: int) -> bool:
    """Whether ``pid`` is still a server's sandbox (guards against signalling a reused pid)."""
    return pid_alive(pid) and command_line_has(pid, b"askspark-server")


def stale(state: ServerState) -> bool:
    """Whether no live process answers for the record: its server (or its supervisor) is gone."""
    gone = state.supervisor > 0 and not _is_supervisor(state.supervisor)
    return gone or not _is_server(state.pid)


def status(settings: Settings) -> tuple[str, ServerState | None]:
    """``running``, ``not answering`` (alive, socket silent), ``stale`` (cleaned now) or ``not running``."""
    state = read(settings)
    if state is None:
        return "not running", None
    if stale(state):
        with _lock(settings):
            if (again := read(settings)) is not None and stale(again):
                clean(settings, again)
        return "stale", state
    return ("running" if healthy(state) else "not answering"), state


def describe(found: str, state: ServerState | None) -> str:
    """One line for ``askspark engine status``."""
    if state is None:
        return found
    if found == "stale":
        return f"not running (cleaned the record of a dead server, pid {state.pid})"
    up = f", up {time.time() - state.started_at:.0f} s" if state.started_at else ""
    return f"{found} at {state.url} (pid {state.pid}, supervisor {state.supervisor}{up})"


def load(settings: Settings) -> ServerState | None:
    """The shared server if it answers; a record left by a dead one is cleaned (not a live, busy one)."""
    state = read(settings)
    if state is not None and stale(state):
        with _lock(settings):
            return _current(settings)
    return state if state is not None and healthy(state) else None


def clean(settings: Settings, state: ServerState) -> None:
    """Remove what a dead (or stopped) shared server left: its processes, socket dirs and record."""
    _end_supervisor(state, signal.SIGKILL, 5.0)  # its sandboxed server dies with it
    if _is_server(state.pid):
        stop_group(state.pid, 10.0)
    remove_files(state)
    if (current := read(settings)) is not None and current.socket_dir == state.socket_dir:
        state_file(settings).unlink(missing_ok=True)


def _end_supervisor(state: ServerState, sig: int, seconds: float) -> None:
    """Signal the record's supervisor (SIGTERM: it stops Spark and removes the record) and wait for it."""
    if _is_supervisor(state.supervisor):
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.supervisor, sig)
        reap(state.supervisor, seconds)


def mark_used(settings: Settings) -> None:
    """Reset the shared server's idle clock (a job is about to run on it)."""
    with contextlib.suppress(OSError):
        used_file(settings).touch()


# --- starting and stopping (the caller's side) ----------------------------------------------------


def start(settings: Settings, readable: list[Path]) -> ServerState:
    """Start the shared server's supervisor (or return the healthy one running) and wait until it answers.

    Raises:
        EngineUnavailableError: the server did not start (with the supervisor's log tail).
    """
    with _lock(settings):
        running = _current(settings)
        return running if running is not None else _spawn(settings, readable)


def _current(settings: Settings) -> ServerState | None:
    """The shared server if it answers; a stale record is cleaned (the caller holds the lock)."""
    state = read(settings)
    if state is not None and stale(state):
        clean(settings, state)
        return None
    return state if state is not None and healthy(state) else None


def stop(settings: Settings) -> bool:
    """Stop the shared server (the supervisor cleans up after Spark) and remove its record; whether one
    was running."""
    with _lock(settings):
        state = read(settings)
        if state is None:
            return False
        running = not stale(state)
        _end_supervisor(state, signal.SIGTERM, STOP_SECONDS)
        clean(settings, state)  # whatever the supervisor did not get to (or a record without one)
        return running


def restart(settings: Settings, state: ServerState, readable: list[str]) -> ServerState:
    """Replace the shared server by one that may also read ``readable`` (unless another process did)."""
    with _lock(settings):
        current = _current(settings)
        if current is not None and current.socket_dir != state.socket_dir:
            state = current
        wanted = sorted(set(state.readable) | set(readable))
        if current is not None and set(wanted) <= set(current.readable):
            return current
        if current is not None:
            _end_supervisor(current, signal.SIGTERM, STOP_SECONDS)
            clean(settings, current)
        return _spawn(settings, [Path(d) for d in wanted])


def _child_env(settings: Settings) -> dict[str, str]:
    """The supervisor's environment: ours, with the server's settings made explicit."""
    env = dict(os.environ)
    for name in SERVER_SETTINGS:
        value = getattr(settings, name)
        if value is not None:
            env[f"ASKSPARK_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def _spawn(settings: Settings, readable: list[Path]) -> ServerState:
    settings.engine_dir.mkdir(parents=True, exist_ok=True)
    state_file(settings).unlink(missing_ok=True)
    cmd = [sys.executable, "-m", MODULE, *(str(d) for d in readable)]
    with open(log_file(settings), "ab") as out:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=_child_env(settings), start_new_session=True,
        )  # fmt: skip
    return _wait_for_record(settings, proc)


def _wait_for_record(settings: Settings, proc: subprocess.Popen[bytes]) -> ServerState:
    deadline = time.monotonic() + settings.spark_startup_seconds + 15
    while time.monotonic() < deadline and proc.poll() is None:
        state = read(settings)
        if state is not None and state.supervisor == proc.pid and healthy(state):
            return state
        time.sleep(0.2)
    if proc.poll() is None:
        proc.kill()  # its server dies with it
        proc.wait()
    if (state := read(settings)) is not None and state.supervisor == proc.pid:
        clean(settings, state)
    raise EngineUnavailableError(
        "the shared Spark server did not start",
        suggestion=f"read {log_file(settings)} (and check Java 17: java -version)",
        log_tail=log_file(settings).read_text(errors="replace")[-3000:],
    )


# --- the supervisor (its own process) -------------------------------------------------------------


def idle(settings: Settings, since: float) -> bool:
    """Whether no job started on the shared server for ``engine_idle_minutes`` (0: never idle) plus the
    attempt timeout (so a job still running is never cut off)."""
    if settings.engine_idle_minutes <= 0:
        return False
    with contextlib.suppress(OSError):
        since = max(since, used_file(settings).stat().st_mtime)
    return time.time() - since > settings.engine_idle_minutes * 60 + settings.timeout_seconds


def supervise(settings: Settings, readable: list[Path]) -> int:
    """Start the server, record it, and keep it until told to stop, it dies, or it sits idle."""
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stopping.set())
    state = start_server(settings, readable)
    state.supervisor, state.started_at = os.getpid(), time.time()
    try:
        if not stopping.is_set():
            save_state(settings, state)
            print(f"askspark: shared Spark server up (pid {state.pid}, {state.url})", flush=True)
        while not stopping.wait(1.0):
            if not pid_alive(state.pid):
                print("askspark: the Spark server died; cleaning up", flush=True)
                break
            if idle(settings, state.started_at):
                print(f"askspark: idle for {settings.engine_idle_minutes} min; stopping", flush=True)
                break
    finally:
        stop_server(state)
        if (current := read(settings)) is not None and current.supervisor == os.getpid():
            state_file(settings).unlink(missing_ok=True)
    return 0


def main() -> None:
    try:
        sys.exit(supervise(get_settings(), [Path(p) for p in sys.argv[1:]]))
    except EngineUnavailableError as exc:
        print(f"askspark: {exc.message}\n{exc.details.get('log_tail', '')}", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
