"""A small Spark standalone cluster on 127.0.0.1 with a Spark Connect server, from the pip package.

For the connect engine's tests and benchmark, and for trying ``--engine connect`` without a cluster:
a master, one worker (executors in their own JVMs) and a Spark Connect server whose driver uses that
master. The pip package has no ``start-master.sh``, so each daemon starts through ``sbin/spark-daemon.sh``
with its class. Every port is free-picked on 127.0.0.1; logs, pid files and work directories live in
one directory; :meth:`Cluster.stop` stops all three.

These daemons are not sandboxed: they are the "remote cluster" the connect engine talks to, which runs
trusted Spark, not generated Python (that stays in askspark's sandboxed workers).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from askspark.engines.server import spark_home
from askspark.errors import EngineUnavailableError
from askspark.processes import free_port, java_home, port_open

MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"
CONNECT = "org.apache.spark.sql.connect.service.SparkConnectServer"


@dataclass
class Cluster:
    """One running standalone cluster and its Connect server."""

    root: Path
    master_port: int = field(default_factory=free_port)
    master_ui: int = field(default_factory=free_port)
    worker_ui: int = field(default_factory=free_port)
    connect_port: int = field(default_factory=free_port)
    token: str | None = None
    ident: str = field(default_factory=lambda: "askspark-" + uuid.uuid4().hex[:8])

    @property
    def master_url(self) -> str:
        return f"spark://127.0.0.1:{self.master_port}"

    @property
    def remote(self) -> str:
        return f"sc://127.0.0.1:{self.connect_port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
        env |= {
            "SPARK_HOME": str(spark_home()),
            "JAVA_HOME": str(java_home()),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_LOG_DIR": str(self.root / "logs"),
            "SPARK_PID_DIR": str(self.root / "pids"),
            "SPARK_WORKER_DIR": str(self.root / "work"),
            "SPARK_CONF_DIR": str(self.root / "conf"),  # empty: no host spark-defaults leak in
            "SPARK_IDENT_STRING": self.ident,
            "SPARK_DAEMON_MEMORY": "512m",
        }
        if self.token:  # read by the Connect server; kept out of its command line (ps shows argv)
            env["SPARK_CONNECT_AUTHENTICATE_TOKEN"] = self.token
        return env

    def _daemon(self, *args: str) -> None:
        script = spark_home() / "sbin" / "spark-daemon.sh"
        subprocess.run(["bash", str(script), *args], env=self.env(), check=True, capture_output=True)

    def start(self, seconds: float = 180.0) -> Cluster:
        """Start master, worker and Connect server; return once a query runs on an executor."""
        for sub in ("logs", "pids", "work", "conf", "results"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + seconds
        self._daemon("start", MASTER, "1", "--host", "127.0.0.1", "--port", str(self.master_port),
                     "--webui-port", str(self.master_ui))  # fmt: skip
        self._wait(lambda: port_open(self.master_port), deadline, "master")
        self._daemon("start", WORKER, "1", "--host", "127.0.0.1", "--webui-port", str(self.worker_ui),
                     "--cores", "1", "--memory", "1g", self.master_url)  # fmt: skip
        self._wait(lambda: self.alive_workers() > 0, deadline, "worker")
        self._daemon("submit", CONNECT, "1", "--name", "askspark-test-connect", *self._connect_args(),
                     "spark-internal")  # fmt: skip
        self._wait(lambda: port_open(self.connect_port), deadline, "Spark Connect server")
        return self

    def _connect_args(self) -> list[str]:
        conf = {
            "spark.connect.grpc.binding.address": "127.0.0.1",
            "spark.connect.grpc.binding.port": str(self.connect_port),
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.memory": "768m",
            "spark.executor.memory": "768m",
            "spark.executor.cores": "1",
            "spark.cores.max": "1",
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "2",
            "spark.sql.catalogImplementation": "in-memory",
            "spark.sql.warehouse.dir": str(self.root / "warehouse"),
            "spark.local.dir": str(self.root / "work"),
            "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
        }
        args = ["--master", self.master_url]
        for key, value in conf.items():
            args += ["--conf", f"{key}={value}"]
        return args

    def alive_workers(self) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.master_ui}/json/", timeout=2) as r:
                return int(json.load(r).get("aliveworkers", 0))
        except (OSError, ValueError):
            return 0

    def _wait(self, ready: object, deadline: float, what: str) -> None:
        while time.monotonic() < deadline:
            if ready():  # type: ignore[operator]
                return
            time.sleep(0.5)
        logs = "\n".join(p.read_text(errors="replace")[-2000:] for p in (self.root / "logs").glob("*.out"))
        self.stop()
        raise EngineUnavailableError(f"the standalone cluster's {what} did not start", log_tail=logs)

    def stop(self) -> None:
        """Stop the Connect server, the worker and the master (their executors go with the worker)."""
        for cls in (CONNECT, WORKER, MASTER):
            with contextlib.suppress(subprocess.CalledProcessError, OSError):
                self._daemon("stop", cls, "1")
        for pid_file in (self.root / "pids").glob("*.pid"):  # whatever refused to stop
            with contextlib.suppress(ValueError, ProcessLookupError, PermissionError):
                os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
