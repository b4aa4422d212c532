"""The local Hive metastore's database: a Derby network server on 127.0.0.1, data under ``settings.home``.

Why a network server and not embedded Derby: embedded Derby locks its database to one JVM (a second
process fails with XSDB6), and the seeds' metastore broke on a read-only disk. A Derby network server
(Debian's ``libderby-java``) owns the database files in a writable, configured directory
(``home/hive/derby``) and serves every askspark process at once over loopback; the data survives
restarts because it is plain files. It starts on first use and stays up for later processes (state in
``home/hive/derby.json``) until :func:`stop` (``askspark hive stop``).

Derby's built-in authentication is on: one user, ``askspark``, with a random password in a file only
the owner may read, so other local users cannot open the metastore by connecting to the port. The
sandboxed Spark server never gets a route to this port (its network namespace has no bridge to it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from askspark.errors import CatalogUnavailableError
from askspark.processes import (
    command_line_has,
    free_port,
    java_home,
    pid_alive,
    port_bindable,
    port_open,
    signal_group,
    stop_group,
)
from askspark.settings import Settings

DERBY_JARS = ("/usr/share/java/derby.jar", "/usr/share/java/derbynet.jar")
CLIENT_JAR = "/usr/share/java/derbyclient.jar"
SERVER_CLASS = "org.apache.derby.drda.NetworkServerControl"
USER = "askspark"
DATABASE = "metastore"
START_SECONDS = 60.0


@dataclass
class DerbyState:
    """A running Derby network server started by askspark."""

    pid: int
    port: int

    def jdbc_url(self) -> str:
        return f"jdbc:derby://127.0.0.1:{self.port}/{DATABASE};create=true"


def derby_dir(settings: Settings) -> Path:
    """``derby.system.home``: the metastore database, its properties and log."""
    return settings.home / "hive" / "derby"


def _state_file(settings: Settings) -> Path:
    return settings.home / "hive" / "derby.json"


def password(settings: Settings) -> str:
    """The metastore user's password, created on first use (owner-readable only)."""
    path = settings.home / "hive" / "derby-password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(24))
    return path.read_text().strip()


def _write_properties(settings: Settings) -> None:
    """derby.properties: authentication on, one user (rewritten at each start; owner-readable only)."""
    home = derby_dir(settings)
    home.mkdir(parents=True, exist_ok=True)
    path = home / "derby.properties"
    text = (
        "derby.connection.requireAuthentication=true\n"
        "derby.authentication.provider=BUILTIN\n"
        f"derby.user.{USER}={password(settings)}\n"
        "derby.database.sqlAuthorization=false\n"
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def running(settings: Settings) -> DerbyState | None:
    """The server askspark started for this home, when it still answers."""
    state = _recorded(settings)
    return state if state is not None and pid_alive(state.pid) and port_open(state.port) else None


def _recorded(settings: Settings) -> DerbyState | None:
    """The server the state file names, answering or not."""
    try:
        return DerbyState(**json.loads(_state_file(settings).read_text()))
    except (OSError, TypeError, ValueError):
        return None


def _end_stale(settings: Settings) -> bool:
    """End the recorded server once :func:`running` found it not answering, before another is
    started beside it."""
    return _end(_recorded(settings))


def _end(state: DerbyState | None) -> bool:
    """Stop a recorded server whose process is still there (answering or not: one that stopped
    answering on a loaded machine was left running, and a second one started beside it)."""
    if state is None or not pid_alive(state.pid) or not command_line_has(state.pid, SERVER_CLASS.encode()):
        return False
    stop_group(state.pid, 15.0)  # Derby shuts its databases down cleanly on SIGTERM
    return True


@contextlib.contextmanager
def _locked(settings: Settings) -> Iterator[None]:
    """One process at a time starts or stops the server (two askspark commands may race)."""
    lock = settings.home / "hive" / "derby.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_running(settings: Settings) -> DerbyState:
    """The running server for this home, started when there is none.

    Raises:
        CatalogUnavailableError: Derby is not installed, or the server did not come up.
    """
    with _locked(settings):
        state = running(settings)
        if state is None:
            _end_stale(settings)
            state = _start(settings)
            _state_file(settings).write_text(json.dumps(asdict(state)))
        return state


def _require_jars() -> None:
    missing = [jar for jar in (*DERBY_JARS, CLIENT_JAR) if not Path(jar).exists()]
    if missing:
        raise CatalogUnavailableError(
            f"the local Hive metastore needs Apache Derby, and {', '.join(missing)} is missing",
            suggestion="install it with 'apt-get install libderby-java libderbyclient-java' "
            "(or rerun scripts/setup.sh), or set ASKSPARK_HIVE_METASTORE_URI to an external metastore",
        )


def _start(settings: Settings) -> DerbyState:
    _require_jars()
    _write_properties(settings)
    port = settings.hive_derby_port or _last_port(settings) or free_port()
    _port_file(settings).write_text(str(port))
    java = str(java_home() / "bin" / "java")
    cmd = [java, f"-Dderby.system.home={derby_dir(settings)}", "-Xmx256m", "-cp", ":".join(DERBY_JARS)]
    cmd += [SERVER_CLASS, "start", "-h", "127.0.0.1", "-p", str(port), "-noSecurityManager"]
    log = settings.home / "hive" / "derby-server.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline and proc.poll() is None:
        if port_open(port):
            return DerbyState(proc.pid, port)
        time.sleep(0.2)
    signal_group(proc.pid, signal.SIGKILL)
    raise CatalogUnavailableError(
        f"the local Derby metastore server did not start on 127.0.0.1:{port}",
        suggestion=f"read {log}; set ASKSPARK_HIVE_DERBY_PORT to a free port",
        log_tail=log.read_text(errors="replace")[-2000:],
    )


def _port_file(settings: Settings) -> Path:
    return settings.home / "hive" / "derby.port"


def _last_port(settings: Settings) -> int | None:
    """The port of the previous start, when it is free: Spark sessions still open keep its URL."""
    try:
        port = int(_port_file(settings).read_text())
    except (OSError, ValueError):
        return None
    return port if port_bindable(port) else None


def stop(settings: Settings) -> bool:
    """Stop the server askspark started for this home; False when none was running."""
    with _locked(settings):
        state = _recorded(settings)
        _state_file(settings).unlink(missing_ok=True)
        return _end(state)
