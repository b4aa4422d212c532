"""The processes askspark starts and watches: pids, ports, sockets, the host programs it runs.

The one home of these helpers (the Spark server, the model daemon and the Derby metastore all use them),
at the bottom of the package graph: it imports nothing of askspark but :mod:`askspark.errors`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from askspark.errors import EngineUnavailableError


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) across processes: starts and stops of one
    home's daemons (the shared Spark server, the model server) go one at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a running process of ours.

    An exited child of this process is reaped (a zombie is not running), and so is counted dead; so is
    any other zombie, and a process we may not signal (another user's, after the pid was reused): the
    processes askspark starts are always its own.
    """
    if pid <= 0:  # 0 and -1 would signal a whole process group: never a process we recorded
        return False
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return not _zombie(pid)


def identity(pid: int | None = None) -> dict[str, int]:
    """A process as a record can name it: its pid and start time (a reused pid has another)."""
    pid = os.getpid() if pid is None else pid
    return {"pid": pid, "started": started(pid) or 0}


def started(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot: /proc/PID/stat field 22), None when it is gone."""
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def _stat(pid: int) -> list[str]:
    """``/proc/PID/stat``'s fields after the command name (field 3, the state, first); [] when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return stat.rsplit(")", 1)[-1].split()


def is_running(named: object) -> bool:
    """Whether the process an :func:`identity` names is still the one running."""
    if not isinstance(named, dict) or not isinstance(pid := named.get("pid"), int):
        return False
    return pid_alive(pid) and started(pid) == named.get("started")


def _zombie(pid: int) -> bool:
    """Whether ``pid`` has exited and waits for a parent that is not this process to reap it."""
    return _stat(pid)[:1] == ["Z"]


def reap(pid: int, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``pid`` to end (reaping it when it is our child); whether it did."""
    deadline = time.monotonic() + seconds
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def signal_group(pid: int, sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` to the process group led by ``pid``; a group that is gone (or not ours) is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def stop_group(pid: int, seconds: float) -> None:
    """SIGTERM the group led by ``pid``, wait up to ``seconds``, then SIGKILL what is left; then wait
    (as long again at most) for every process that was under ``pid``, in the group or not."""
    if pid <= 0:  # 0 and -1 name the caller's own group and every process: never a recorded one
        return
    tree = descendants(pid)
    signal_group(pid, signal.SIGTERM)
    if not reap(pid, seconds):
        signal_group(pid, signal.SIGKILL)
    end_all(tree, seconds)


def end_all(pids: list[int], seconds: float) -> None:
    """Wait up to ``seconds`` for ``pids`` to end, then SIGKILL each one left and wait a little more.

    A sandbox's processes are not in the group of the bubblewrap that leads it (the inner sandbox has a
    session of its own): they end through --die-with-parent and their pid namespace's teardown, which
    for a JVM with a large heap takes a moment. Waiting here means that a stopped server is gone."""
    deadline = time.monotonic() + seconds
    while (alive := [p for p in pids if pid_alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    for pid in alive:
        reap(pid, 2.0)


def command_line_has(pid: int, text: bytes) -> bool:
    """Whether ``pid``'s command line contains ``text`` (guards against signalling a reused pid)."""
    try:
        return text in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def descendants(root: int) -> list[int]:
    """``root`` and every process under it, from /proc's parent links (gone processes are skipped)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections at ``host:port``."""
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


def port_bindable(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:``port`` (TIME_WAIT is fine, as for Java's sockets)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def socket_accepts(path: str) -> bool:
    """Whether something accepts connections on the Unix socket at ``path``."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(1)
        return s.connect_ex(path) == 0


def require(binary: str, package: str) -> str:
    """The path of a host program askspark runs, or an error naming the package to install."""
    path = shutil.which(binary)
    if path is None:
        raise EngineUnavailableError(
            f"{binary!r} is not installed; the local Spark engine needs it",
            suggestion=f"install it with 'apt-get install {package}' (or rerun scripts/setup.sh)",
        )
    return path


def java_home() -> Path:
    """The JDK behind ``java`` (the sandbox has no /etc/alternatives to follow the link through)."""
    if os.environ.get("JAVA_HOME"):
        return Path(os.environ["JAVA_HOME"]).resolve()
    return Path(require("java", "openjdk-17-jre-headless")).resolve().parent.parent


# One long-lived thread starts the sandboxes: bubblewrap's --die-with-parent (PR_SET_PDEATHSIG) follows
# the *thread* that started it, so a Spark server restarted, or a spare worker started, from a thread
# that then ended was killed with it (a restart inside a short-lived thread left a dead server behind).
# A daemon thread, not a ThreadPoolExecutor's: an executor's thread is joined, and so ends, when the
# interpreter starts to exit, before the atexit handlers; the sandboxes died with it while an engine's
# last scrub still talked to its server (pyspark's RETRIES_EXCEEDED after every CLI answer). A daemon
# thread lives until the process ends, and the sandboxes with it.
_requests: queue.SimpleQueue[tuple[Callable[[], Any], queue.SimpleQueue[tuple[bool, Any]]]] = (
    queue.SimpleQueue()
)
_launcher_lock = threading.Lock()
_launcher: threading.Thread | None = None


def _serve_launches() -> None:
    while True:
        start, reply = _requests.get()
        try:
            reply.put((True, start()))
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller, who raises it
            reply.put((False, exc))


def launch(cmd: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(cmd, **kwargs)`` from the launcher thread, which lives as long as the process."""
    global _launcher
    with _launcher_lock:
        if _launcher is None:
            _launcher = threading.Thread(target=_serve_launches, name="askspark-launcher", daemon=True)
            _launcher.start()
    reply: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()
    _requests.put((lambda: subprocess.Popen(cmd, **kwargs), reply))
    ok, value = reply.get()
    if not ok:
        raise value
    started: subprocess.Popen[bytes] = value
    return started
