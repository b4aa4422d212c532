"""The locally owned Spark Connect server: one warm Spark shared by every run.

askspark starts ``SparkConnectServer`` from the pip pyspark on 127.0.0.1 (a cluster is the same client
code with another URL) and a socat bridge from a Unix socket to it, so sandboxed workers without network
can reach it. ``askspark engine start`` leaves one running for later commands (state in
``$ASKSPARK_HOME/engine/local.json``); otherwise the engine starts a private one and stops it at close.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from askspark.errors import EngineUnavailableError
from askspark.settings import Settings

CONNECT_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
SOCKET_NAME = "connect.sock"


@dataclass
class ServerState:
    """Where a running server is and which processes make it up."""

    port: int
    pid: int  # the server's process group leader
    bridge_pid: int
    socket_dir: str
    log: str

    @property
    def socket_path(self) -> str:
        return str(Path(self.socket_dir) / SOCKET_NAME)

    @property
    def url(self) -> str:
        return f"sc://127.0.0.1:{self.port}"


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def server_conf(settings: Settings, port: int) -> dict[str, str]:
    """Spark settings of the owned server. Only loopback; no UI; small shuffles for one machine."""
    return {
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
        "spark.sql.catalogImplementation": "in-memory",  # no Derby metastore to create on any disk
        "spark.sql.warehouse.dir": str(settings.engine_dir / "spark-warehouse"),
        "spark.driver.extraJavaOptions": f"-Djava.io.tmpdir={settings.engine_dir / 'tmp'}",
        "spark.local.dir": str(settings.engine_dir / "tmp"),
    }


def _server_command(settings: Settings, port: int) -> list[str]:
    cmd = [str(spark_home() / "bin" / "spark-submit"), "--class", CONNECT_CLASS, "--name", "askspark"]
    cmd += ["--master", settings.spark_master]
    for key, value in server_conf(settings, port).items():
        cmd += ["--conf", f"{key}={value}"]
    return cmd + ["spark-internal"]


def _require(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise EngineUnavailableError(
            f"{binary!r} is not installed; the local Spark engine needs it",
            suggestion=f"install it with 'apt-get install {package}' (or rerun scripts/setup.sh)",
        )
    return path


def start_server(settings: Settings) -> ServerState:
    """Start a Connect server and its Unix-socket bridge; wait until both accept connections."""
    _require("java", "openjdk-17-jre-headless")
    socat = _require("socat", "socat")
    (settings.engine_dir / "tmp").mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = settings.engine_dir / f"server-{port}.log"
    env = os.environ | {"SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": "127.0.0.1"}
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            _server_command(settings, port),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    # A short socket path: Unix socket paths are limited to 108 bytes.
    socket_dir = Path(tempfile.mkdtemp(prefix="askspark-"))
    bridge = subprocess.Popen(
        [socat, f"UNIX-LISTEN:{socket_dir / SOCKET_NAME},fork,mode=600", f"TCP:127.0.0.1:{port}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    state = ServerState(port, proc.pid, bridge.pid, str(socket_dir), str(log))
    _wait_until_up(state, proc, settings.spark_startup_seconds)
    return state


def _wait_until_up(state: ServerState, proc: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if port_open(state.port) and Path(state.socket_path).exists():
            return
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    tail = Path(state.log).read_text(errors="replace")[-2000:]
    stop_server(state)
    raise EngineUnavailableError(
        f"the local Spark server did not start within {seconds:.0f} s",
        suggestion=f"check Java 17 is installed (java -version) and read {state.log}",
        log_tail=tail,
    )


def stop_server(state: ServerState) -> None:
    """Stop the server's and the bridge's process groups and remove the socket."""
    for pid in (state.bridge_pid, state.pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    for pid in (state.bridge_pid, state.pid):
        _reap(pid)
    shutil.rmtree(state.socket_dir, ignore_errors=True)


def _reap(pid: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while pid_alive(pid) and time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        time.sleep(0.1)
    if pid_alive(pid):
        os.killpg(pid, signal.SIGKILL)


def healthy(state: ServerState) -> bool:
    return pid_alive(state.pid) and pid_alive(state.bridge_pid) and port_open(state.port)


def state_file(settings: Settings) -> Path:
    return settings.engine_dir / "local.json"


def save_state(settings: Settings, state: ServerState) -> None:
    state_file(settings).write_text(json.dumps(asdict(state)))


def load_state(settings: Settings) -> ServerState | None:
    """The shared server started by ``askspark engine start``, if it is still healthy."""
    path = state_file(settings)
    if not path.exists():
        return None
    state = ServerState(**json.loads(path.read_text()))
    return state if healthy(state) else None
