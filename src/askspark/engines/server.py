"""The locally owned Spark Connect server: one warm Spark shared by every run, inside its own sandbox.

Spark itself can read any file its JVM can see, and Python UDFs run in processes the server spawns, so
the server is confined too. It runs in bubblewrap with no network but its own loopback: the data
directories read-only, one writable staging directory (``outbox``) for results, its scratch directory,
and nothing else of the host (no home directories, no credentials, a clean environment). Inside, socat
publishes the Connect port as a Unix socket in a bound directory, created only once Spark accepts
connections; that socket is the only way in, for the engine and for the sandboxed workers alike.
Its Python workers (UDFs) start through a wrapper that puts each in a further, nested sandbox.

A job cannot end the server by exiting its JVM; with a ``local-cluster`` master (``spark_master``) its
tasks run in executors with their own JVMs, so a task that exhausts its heap ends its executor, and the
worker inside the server starts another. The server's JVM and the executors' run under an exit guard
(``java/ExitGuard.java``, a security manager compiled at install time) that denies
``System.exit``/``Runtime.halt`` to the server's threads and the executors' task threads, so
``reflect('java.lang.System', 'exit', 0)`` fails its task.

``askspark engine start`` leaves one server running for later commands, owned by a detached supervisor
(:mod:`askspark.engines.daemon`; state in ``$ASKSPARK_HOME/engine/local.json``); otherwise the engine
starts a private one and stops it at close.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from askspark.catalog.s3 import cache_root
from askspark.engines import sandbox
from askspark.errors import EngineUnavailableError
from askspark.processes import (
    free_port,
    java_home,
    launch,
    pid_alive,
    require,
    signal_group,
    socket_accepts,
    stop_group,
)
from askspark.settings import Settings

log = logging.getLogger(__name__)

CONNECT_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
SOCKET_NAME = "connect.sock"
INNER_PORT = 15002  # inside the server's own network namespace
PASSWD = "askspark:x:65534:65534:askspark:/tmp:/usr/sbin/nologin\n"
GROUP = "askspark:x:65534:\n"
HOSTS = "127.0.0.1 localhost askspark-sandbox\n"  # the JVM looks up its own host name

LAUNCHER = """\
"$SPARK_HOME/bin/spark-submit" "$@" &
spark=$!
until (exec 3<>/dev/tcp/127.0.0.1/$ASKSPARK_PORT) 2>/dev/null; do
  kill -0 $spark 2>/dev/null || exit 1
  sleep 0.2
done
socat UNIX-LISTEN:$ASKSPARK_SOCKET,fork,mode=600 TCP:127.0.0.1:$ASKSPARK_PORT &
if [ -n "${ASKSPARK_BRIDGE:-}" ]; then
  socat TCP-LISTEN:$ASKSPARK_BRIDGE_PORT,bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:$ASKSPARK_BRIDGE &
fi
wait $spark
"""
BRIDGE_PORT = 15432  # inside the server's network namespace: its way out to a JDBC database
BRIDGE_SOCKET = "jdbc.sock"
JDBC_DRIVER_JAR = Path("/usr/share/java/postgresql.jar")  # Debian's libpostgresql-jdbc-java
# java/ExitGuard.java, compiled by scripts/setup.sh (never at run time): a job cannot end the server's JVM.
EXIT_GUARD_JAR = Path(__file__).parent / "java" / "exitguard.jar"
EXIT_GUARD_CLASS = "askspark.ExitGuard"
_LOCAL_CLUSTER = re.compile(r"local-cluster\[\s*\d+\s*,\s*\d+\s*,\s*(\d+)\s*\]")  # workers, cores, MB
NO_SECURITY_MANAGER = 24  # JEP 486: from Java 24 the JVM refuses to start with one


@dataclass
class ServerState:
    """Where a running server is and what it was allowed to read."""

    pid: int  # the launcher's process group leader (bwrap when sandboxed)
    socket_dir: str
    log: str
    readable: list[str] = field(default_factory=list)
    sandboxed: bool = True
    bridge_dir: str = ""  # the JDBC bridge's socket directory (bound into the server only)
    supervisor: int = 0  # the detached process that owns a shared server (engines/daemon.py); 0: none
    started_at: float = 0.0  # when a shared server came up (epoch seconds)
    user: str = ""  # the host user the sandboxed server runs as when askspark is root; "": the caller

    @property
    def socket_path(self) -> str:
        return str(Path(self.socket_dir) / SOCKET_NAME)

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def outbox_root(settings: Settings) -> Path:
    """Where workers and the server stage results before the engine moves them into the run store."""
    return settings.engine_dir / "outbox"


def server_conf(settings: Settings, port: int) -> dict[str, str]:
    """Spark settings of the owned server. Only loopback; no UI; small shuffles for one machine."""
    scratch = settings.engine_dir / "scratch"
    jars, guard = _extra_jars(), _guard_options()  # once for the driver and the executors alike
    extra = ({"spark.driver.extraClassPath": jars} if jars else {}) | _executor_conf(
        settings.spark_master, scratch, jars, guard
    )
    return {
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
        "spark.sql.catalogImplementation": "in-memory",  # no Derby metastore to create on any disk
        # Not bound into the sandbox: a CREATE TABLE that slips through has nowhere to write.
        "spark.sql.warehouse.dir": str(settings.engine_dir / "spark-warehouse"),
        "spark.driver.extraJavaOptions": " ".join([f"-Djava.io.tmpdir={scratch}", *guard]),
        "spark.local.dir": str(scratch),
        # A huge collect() fails its job instead of filling the driver's heap (full results are written
        # by executors, never collected, so this bounds only what a run tries to pull into memory).
        "spark.driver.maxResultSize": "512m",
        "spark.sql.runSQLOnFiles": "false",  # no SELECT ... FROM parquet.`/any/path`
        "spark.python.unix.domain.socket.enabled": "true",
        "spark.python.unix.domain.socket.dir": str(scratch),
    } | extra


def _extra_jars() -> str:
    """The exit guard and the PostgreSQL JDBC driver (for the jdbc catalog), those installed, as a
    classpath."""
    return ":".join(str(jar) for jar in (EXIT_GUARD_JAR, JDBC_DRIVER_JAR) if jar.exists())


def _executor_conf(master: str, scratch: Path, jars: str, guard: list[str]) -> dict[str, str]:
    """Executors in their own JVMs (a ``local-cluster[workers,cores,MB]`` master): a task's heap is not
    the server's. Each ends at its first OutOfMemoryError (the worker starts another) rather than live on
    with Spark's threads broken, and its task threads cannot exit it; nothing for ``local[N]``."""
    found = _LOCAL_CLUSTER.fullmatch(master)
    if found is None:
        return {}
    # an executor may exit when told to: the guard holds for its task threads only
    options = [
        f"-Djava.io.tmpdir={scratch}",
        "-XX:+ExitOnOutOfMemoryError",
        *guard,
        "-Daskspark.exitguard=tasks",
    ]
    conf = {
        "spark.executor.memory": f"{found.group(1)}m",
        "spark.executor.extraJavaOptions": " ".join(options),
        # A task that ends its executor twice is aborted (Spark's default: 4 times, each on a fresh
        # executor): the other runs' tasks queued behind it wait for two executor starts, not four, and
        # a task of theirs lost with an executor still gets a second try.
        "spark.task.maxFailures": "2",
        # An executor's log (its stderr, in the server's temporary directory) stays under 20 MB.
        "spark.executor.logs.rolling.strategy": "size",
        "spark.executor.logs.rolling.maxSize": str(10 << 20),
        "spark.executor.logs.rolling.maxRetainedFiles": "1",
    }
    return conf | ({"spark.executor.extraClassPath": jars} if jars else {})


def _guard_options() -> list[str]:
    """The JVM installs the exit guard at startup, before any of Spark's code runs. Java 17 to 23 allow
    a security manager named on the command line (with a deprecation warning in the log); 24 refuses it."""
    if not EXIT_GUARD_JAR.exists():
        log.warning("%s is missing (run scripts/setup.sh): a job can end the Spark server", EXIT_GUARD_JAR)
        return []
    if (major := java_major()) >= NO_SECURITY_MANAGER:
        log.warning("Java %d has no security manager: a job can end the Spark server", major)
        return []
    return [f"-Djava.security.manager={EXIT_GUARD_CLASS}"]


def java_major() -> int:
    """The major version of the JDK the server runs on, from its release file (0 when unknown)."""
    with contextlib.suppress(OSError):
        found = re.search(r'^JAVA_VERSION="(\d+)', (java_home() / "release").read_text(), re.MULTILINE)
        if found:
            return int(found.group(1))
    return 0


def _server_spark_home(master: str, socket_dir: Path) -> Path:
    """pyspark's directory, or for a local-cluster master a copy of it made of links in the server's
    own temporary directory (removed with it): the worker that master starts writes its executors'
    directories and logs into ``$SPARK_HOME/work`` (no setting moves it), which must not be in the
    read-only Python environment."""
    if not _LOCAL_CLUSTER.fullmatch(master):
        return spark_home()
    home = socket_dir / "spark-home"
    (home / "work").mkdir(parents=True)
    for entry in spark_home().iterdir():
        if entry.name != "work":
            (home / entry.name).symlink_to(entry)
    return home


def _python_wrapper(settings: Settings) -> Path:
    """PYSPARK_PYTHON for the server: each Python worker (UDF) in a nested sandbox."""
    import sys

    scratch = settings.engine_dir / "scratch"
    argv = [*sandbox.nested_bwrap_argv([scratch]), sys.executable]
    wrapper = settings.engine_dir / "pyworker.sh"
    wrapper.write_text("#!/bin/sh\nexec " + " ".join(shlex.quote(a) for a in argv) + ' "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def _java_config_dirs() -> list[Path]:
    """Host directories the JDK's files link to (Debian keeps its config under /etc)."""
    targets = {p.resolve().parent for p in java_home().rglob("*") if p.is_symlink()}
    return sorted(t for t in targets if t.is_dir() and not t.is_relative_to("/usr"))


def _server_spec(
    settings: Settings, readable: list[Path], socket_dir: Path, user: sandbox.RunAs | None
) -> sandbox.SandboxSpec:
    engine = settings.engine_dir
    (engine / "passwd").write_text(PASSWD)
    (engine / "group").write_text(GROUP)
    (engine / "hosts").write_text(HOSTS)
    return sandbox.SandboxSpec(
        writable=[outbox_root(settings), engine / "scratch", socket_dir],
        readable=[*_java_config_dirs(), engine / "pyworker.sh", *readable],
        files={
            "/etc/passwd": engine / "passwd",
            "/etc/group": engine / "group",
            "/etc/hosts": engine / "hosts",
        },
        memory_mb=0,  # the JVM sizes itself from spark.driver.memory
        env={"HADOOP_USER_NAME": "askspark", "SPARK_USER": "askspark", "PATH": "/usr/bin:/bin"},
        run_as=user,
    )


def _launch_env(settings: Settings, port: int, socket_dir: Path, wrapper: Path) -> dict[str, str]:
    return {
        "SPARK_HOME": str(_server_spark_home(settings.spark_master, socket_dir)),
        "JAVA_HOME": str(java_home()),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": str(wrapper),
        "ASKSPARK_PORT": str(port),
        "ASKSPARK_SOCKET": str(socket_dir / SOCKET_NAME),
    }


def _spark_args(settings: Settings, port: int) -> list[str]:
    args = ["--class", CONNECT_CLASS, "--name", "askspark", "--master", settings.spark_master]
    for key, value in server_conf(settings, port).items():
        args += ["--conf", f"{key}={value}"]
    return args + ["spark-internal"]


def start_server(settings: Settings, readable: list[Path] | None = None) -> ServerState:
    """Start a Connect server (sandboxed unless ASKSPARK_SANDBOX=false); wait until its socket answers.

    Args:
        readable: data directories the server may read, besides the warehouse.
    """
    require("socat", "socat")
    for made in (
        settings.engine_dir / "scratch",
        settings.engine_dir / "outbox",
        settings.warehouse,
        settings.home / "uploads",
        settings.hive_warehouse,
        cache_root(settings),
    ):
        made.mkdir(parents=True, exist_ok=True)
    # The hive catalog's managed tables are read by location too (the server gets no metastore).
    # S3 data is read from askspark's cache of it (catalog/s3.py): one directory, so no restart per table.
    own = (settings.warehouse, settings.home / "uploads", settings.hive_warehouse, cache_root(settings))
    dirs = sorted({p.resolve() for p in (*own, *(readable or []))})
    sweep_temporary()
    # Short (socket paths stop at 108 bytes), and named with our pid: a process killed with -9 leaves them.
    socket_dir = Path(tempfile.mkdtemp(prefix=f"askspark-{os.getpid()}-"))
    bridge_dir = Path(tempfile.mkdtemp(prefix=f"askspark-{os.getpid()}-b-")) if settings.sandbox else None
    wrapper = _python_wrapper(settings)
    user: sandbox.RunAs | None = None
    port = INNER_PORT if settings.sandbox else free_port()
    launcher = ["bash", "-c", LAUNCHER, "askspark-server", *_spark_args(settings, port)]
    env = _launch_env(settings, port, socket_dir, wrapper)
    if bridge_dir is not None:
        user = sandbox.run_as(settings.sandbox_user)
        spec = _server_spec(settings, [d for d in dirs if d.exists()] + [bridge_dir], socket_dir, user)
        hand_over(user, [settings.engine_dir / "scratch", outbox_root(settings), bridge_dir, socket_dir])
        spec.env |= env | {
            "ASKSPARK_BRIDGE": str(bridge_dir / BRIDGE_SOCKET),
            "ASKSPARK_BRIDGE_PORT": str(BRIDGE_PORT),
        }
        cmd, env = sandbox.bwrap_command(spec, launcher), {"PATH": os.environ.get("PATH", "")}
    else:
        cmd, env = launcher, os.environ | env
    log = settings.engine_dir / f"server-{socket_dir.name}.log"
    with open(log, "ab") as out:
        proc = launch(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    state = ServerState(proc.pid, str(socket_dir), str(log), [str(d) for d in dirs], settings.sandbox)
    state.bridge_dir = str(bridge_dir or "")
    state.user = user.name if user else ""
    _wait_until_up(state, proc, settings.spark_startup_seconds)
    return state


def hand_over(user: sandbox.RunAs | None, dirs: list[Path]) -> None:
    """Give the server's writable directories, with what earlier servers left in them, to its user.

    The bridge directory only needs to be passable: its socket is the user's (see jdbc_address)."""
    if user is None:
        return
    for top in dirs:
        os.chown(top, user.uid, user.gid)
        for parent, subdirs, files in os.walk(top):
            for name in subdirs + files:
                os.chown(os.path.join(parent, name), user.uid, user.gid, follow_symlinks=False)


def _wait_until_up(state: ServerState, proc: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if Path(state.socket_path).exists() and socket_accepts(state.socket_path):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    tail = Path(state.log).read_text(errors="replace")[-3000:]
    stop_server(state)
    raise EngineUnavailableError(
        f"the local Spark server did not start within {seconds:.0f} s",
        suggestion=f"check Java 17 is installed (java -version) and read {state.log}",
        log_tail=tail,
    )


def stop_server(state: ServerState) -> None:
    """Stop the server's process group and remove its socket."""
    if state.pid > 0:  # never group 0: that is the caller's own
        stop_group(state.pid, 10.0)
    remove_files(state)


def remove_files(state: ServerState) -> None:
    """Remove the server's temporary directories (its socket's and the JDBC bridge's)."""
    shutil.rmtree(state.socket_dir, ignore_errors=True)
    if state.bridge_dir:
        _stop_bridge(Path(state.bridge_dir))
        shutil.rmtree(state.bridge_dir, ignore_errors=True)


def sweep_temporary() -> None:
    """Remove the socket and bridge directories of servers whose starting process died without
    stopping them (killed with -9; the sandboxed server died with it), and stop their bridges."""
    for path in Path(tempfile.gettempdir()).glob("askspark-*-*"):
        match = re.fullmatch(r"askspark-(\d+)-(b-)?[\w]+", path.name)
        if match is None or int(match.group(1)) == os.getpid() or pid_alive(int(match.group(1))):
            continue
        if match.group(2):
            _stop_bridge(path)
        shutil.rmtree(path, ignore_errors=True)


def jdbc_address(state: ServerState, host: str, port: int) -> tuple[str, int]:
    """Where the server reaches the database at ``host:port``: directly when unsandboxed; otherwise
    through the bridge (socat TCP inside the server's network namespace -> a Unix socket bound into it ->
    socat outside -> ``host:port``), retargeted when another database is asked for."""
    if not state.sandboxed or not state.bridge_dir:
        return host, port
    bridge = Path(state.bridge_dir)
    record = bridge / "bridge.json"
    current = json.loads(record.read_text()) if record.exists() else {}
    if current.get("target") != [host, port] or not pid_alive(current.get("pid", 0)):
        _stop_bridge(bridge)
        sock = bridge / BRIDGE_SOCKET
        owner = f",user={state.user}" if state.user else ""  # the sandboxed server's user connects
        proc = subprocess.Popen(
            [require("socat", "socat"), f"UNIX-LISTEN:{sock},fork,mode=600{owner}", f"TCP:{host}:{port}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        record.write_text(json.dumps({"pid": proc.pid, "target": [host, port]}))
    return "127.0.0.1", BRIDGE_PORT


def _stop_bridge(bridge: Path) -> None:
    record = bridge / "bridge.json"
    if record.exists():
        with contextlib.suppress(ValueError, KeyError):
            signal_group(json.loads(record.read_text())["pid"])
        record.unlink(missing_ok=True)
    (bridge / BRIDGE_SOCKET).unlink(missing_ok=True)


def healthy(state: ServerState) -> bool:
    return pid_alive(state.pid) and socket_accepts(state.socket_path)


def can_read(state: ServerState, location: str) -> bool:
    """Whether the server was started with ``location`` inside its readable directories."""
    path = Path(location).resolve()
    return not state.sandboxed or any(path.is_relative_to(d) for d in state.readable)


def state_file(settings: Settings) -> Path:
    return settings.engine_dir / "local.json"


def save_state(settings: Settings, state: ServerState) -> None:
    """Record a shared server (read by :mod:`askspark.engines.daemon`); a reader never sees half a record."""
    path = state_file(settings)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(state)))
    os.replace(tmp, path)
