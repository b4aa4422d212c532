"""The shared Spark server of ``askspark engine start``: it outlives the command, later commands use it,
``engine status`` tells the truth, ``engine stop`` and a dead server's record leave nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from askspark.engines import daemon
from askspark.engines.server import ServerState, save_state, state_file
from askspark.processes import pid_alive, reap
from askspark.settings import Settings

GOOD = "def answer(spark, tables):\n    return spark.sql('SELECT symbol, MAX(close) AS top FROM nasdaq GROUP BY symbol')"


def cli(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """One ``askspark`` command in a process of its own (as a user runs it)."""
    env = os.environ | {"ASKSPARK_HOME": str(home), "ASKSPARK_MODEL": "scripted:none"}
    cmd = [sys.executable, "-m", "askspark.interfaces.cli", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def leftovers(home: Path, state: ServerState) -> list[str]:
    """What a stopped shared server must not leave: its processes and its temporary directories."""
    alive = [f"pid {p}" for p in (state.supervisor, state.pid) if pid_alive(p)]
    mine = [
        f"process {pid}"
        for pid in os.listdir("/proc")
        if pid.isdigit() and int(pid) != os.getpid() and str(home).encode() in _cmdline(pid)
    ]
    dirs = [d for d in (state.socket_dir, state.bridge_dir) if d and Path(d).exists()]
    return (
        alive
        + mine
        + dirs
        + ([str(state_file(Settings(home=home)))] * state_file(Settings(home=home)).exists())
    )


def _cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    from askspark.catalog.sample import generate_northwind

    path = tmp_path / "home"
    generate_northwind(Settings(home=path))
    return path


@pytest.mark.slow
def test_engine_start_outlives_the_command_and_serves_a_later_ask(home: Path, tmp_path: Path) -> None:
    started = cli(home, "engine", "start")
    assert started.returncode == 0, started.stderr[-3000:]
    settings = Settings(home=home)
    state = daemon.read(settings)
    assert state is not None and pid_alive(state.supervisor) and pid_alive(state.pid)
    assert "spark: running" in cli(home, "engine", "status").stdout

    replies = tmp_path / "replies.json"
    replies.write_text(json.dumps([f"```python\n{GOOD}\n```"]))
    asked = cli(
        home,
        "ask",
        "Highest close per symbol?",
        "-t",
        "northwind.nasdaq",
        "--model",
        f"scripted:{replies}",
        "--json",
    )
    assert asked.returncode == 0, asked.stderr[-3000:]
    doc = json.loads(asked.stdout)
    assert doc["status"] == "succeeded" and len(doc["result"]["rows"]) == 6
    assert doc["attempts"][-1]["timings"]["shared_server_uptime"] > 0  # it ran on the warm server
    after = daemon.read(settings)
    assert after is not None and after.pid == state.pid and pid_alive(state.pid)
    assert len(list(settings.engine_dir.glob("server-*.log"))) == 1  # the ask started no Spark of its own

    # A table registered after the start, outside the home: the daemon is replaced by one that may read it.
    data = tmp_path / "later"
    data.mkdir()
    (data / "prices.csv").write_text("symbol,close\nA,1.5\nB,2.5\n")
    assert cli(home, "catalog", "add", "ext.prices", str(data / "prices.csv")).returncode == 0
    replies.write_text(
        json.dumps(
            ["```python\ndef answer(spark, tables):\n    return spark.sql('SELECT * FROM prices')\n```"]
        )
    )
    later = cli(home, "ask", "All prices", "-t", "ext.prices", "--model", f"scripted:{replies}", "--json")
    assert later.returncode == 0 and json.loads(later.stdout)["status"] == "succeeded", later.stdout[-3000:]
    replaced = daemon.read(settings)
    assert replaced is not None and replaced.pid != state.pid and str(data.resolve()) in replaced.readable
    assert reap(state.supervisor, 10) and reap(state.pid, 10) and not Path(state.socket_dir).exists()

    stopped = cli(home, "engine", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert reap(replaced.pid, 10) and not leftovers(home, replaced)
    assert "spark: not running" in cli(home, "engine", "status").stdout


@pytest.mark.slow
def test_a_record_left_by_a_killed_server_is_detected_and_cleaned(home: Path) -> None:
    assert cli(home, "engine", "start").returncode == 0
    settings = Settings(home=home)
    state = daemon.read(settings)
    assert state is not None
    for pid in (state.supervisor, state.pid):
        os.kill(pid, signal.SIGKILL)
    assert reap(state.supervisor, 10) and reap(state.pid, 10)
    assert state_file(settings).exists()  # nobody was left to remove it

    status = cli(home, "engine", "status").stdout
    assert "not running" in status and f"dead server, pid {state.pid}" in status
    deadline = time.monotonic() + 10  # the JVM inside the sandbox goes with its namespace
    while leftovers(home, state) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not leftovers(home, state)


def test_stale_record_without_processes(tmp_path: Path) -> None:
    """A record whose processes are gone (a reboot, a kill -9) reads as not running and is removed."""
    settings = Settings(home=tmp_path / "home")
    settings.engine_dir.mkdir(parents=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    socket_dir = tmp_path / "sock"
    socket_dir.mkdir()
    save_state(settings, ServerState(gone.pid, str(socket_dir), "", supervisor=gone.pid, started_at=1.0))
    assert daemon.load(settings) is None
    assert not state_file(settings).exists() and not socket_dir.exists()
    assert daemon.status(settings) == ("not running", None)
    assert not daemon.stop(settings)


def test_idle_clock_counts_from_the_last_job(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", engine_idle_minutes=1, timeout_seconds=30)
    settings.engine_dir.mkdir(parents=True)
    long_ago = time.time() - 3600
    assert daemon.idle(settings, long_ago)
    daemon.mark_used(settings)  # a job started just now
    assert not daemon.idle(settings, long_ago)
    os.utime(daemon.used_file(settings), (time.time() - 95, time.time() - 95))  # 1 min + 30 s + 5 s ago
    assert daemon.idle(settings, long_ago)
    assert not daemon.idle(Settings(home=settings.home, engine_idle_minutes=0), long_ago)
