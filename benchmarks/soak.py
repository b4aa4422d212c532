"""Soak: many questions through a real ``askspark serve`` at several concurrent clients (issue 18).

A fake OpenAI-compatible model on 127.0.0.1 answers each question by the kind its text names, so the
mix is fixed and every question's expected outcome is known:

    good       code that answers                                    -> succeeded
    repair     a missing column first, the right code when asked again -> succeeded (2 attempts)
    hostile    code the validator refuses (os.system, open, subprocess) -> failed: policy
    timeout    a Spark job longer than the time limit, then good code -> succeeded (after a timeout)
    huge       3 million rows (truncated; Spark writes the full result) -> succeeded, truncated
    no_code    prose without code                                   -> failed: no_code

The server (``askspark serve`` in its own process, ``ASKSPARK_MAX_CONCURRENT_RUNS`` slots) is sampled
every second: its RSS, open file descriptors and child processes, and the Spark server JVM's RSS and
open file descriptors. The report gives throughput, latency percentiles, outcomes by kind, the samples'
levels in the second (warm) and last quarter of the run, and checks the bounds in ``BOUNDS``; at the end, with the
server stopped, nothing it started may be left (processes, staged files, session records, cgroups).

    .venv/bin/python benchmarks/soak.py [--questions 300] [--clients 8] [--timeout 30]

Starts its own home (sample data) and Spark server; prints a table; exits 1 when a bound is broken or a
question ends otherwise than its kind says. ``tests/test_soak.py`` runs a short version in CI.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from askspark.engines import cgroups
from askspark.processes import descendants, free_port, pid_alive

MIX = ["good"] * 10 + ["repair"] * 3 + ["hostile"] * 2 + ["huge"] * 2 + ["no_code"] * 2 + ["timeout"]
"""One block of 20 questions; the soak repeats it (in a fixed interleaving) as often as needed."""
EXPECTED = {
    "good": ("succeeded", None),
    "repair": ("succeeded", None),
    "hostile": ("failed", "policy"),
    "timeout": ("succeeded", None),
    "huge": ("succeeded", None),
    "no_code": ("failed", "no_code"),
}
GOOD = 'spark.sql("SELECT symbol, COUNT(*) AS n FROM nasdaq GROUP BY symbol ORDER BY symbol")'
FIRST = {  # the first reply to a question of each kind; later replies (repairs) are GOOD
    "good": GOOD,
    "repair": 'spark.sql("SELECT symbol, soak_missing_col FROM nasdaq")',
    "timeout": 'spark.range(0, 10**11, 1, 2).selectExpr("sum(id % 7) AS s")',
    "huge": 'spark.range(0, 3_000_000).selectExpr("id", "id * 2 AS twice")',
}
HOSTILE = [
    'import os\ndef answer(spark, tables):\n    os.system("id")\n    return spark.range(1)\n',
    'def answer(spark, tables):\n    open("/etc/passwd").read()\n    return spark.range(1)\n',
    'import subprocess\ndef answer(spark, tables):\n    subprocess.run(["id"])\n    return spark.range(1)\n',
]
TAG = re.compile(r"\[soak (\d+) (\w+)\]")


@dataclass(frozen=True)
class Bounds:
    """What the soak holds the server to. Growth is measured from the run's second quarter (warm: the
    first quarter holds the start of the engine and of the JVM's heap) to its last quarter."""

    server_rss_growth_mb: float = 150.0  # the HTTP server process (Python)
    fd_growth: int = 32  # open file descriptors of the HTTP server process
    spark_fd_growth: int = 64  # of the Spark server's JVM
    spark_rss_max_mb: float = 3072.0  # the JVM: its heap limit (spark.driver.memory, 2 GB) + 1 GB
    max_children: int = 60  # processes under the server at any sample: slots x a worker's tree + spares


BOUNDS = Bounds()


# --- the fake model --------------------------------------------------------------------------------


class FakeModel:
    """An OpenAI-compatible chat endpoint answering by the ``[soak N KIND]`` tag in the prompt."""

    def __init__(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        model = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                reply = model.reply(body["messages"])
                choice = {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply},
                    "finish_reason": "stop",
                }
                choices = [choice | {"index": i} for i in range(int(body.get("n") or 1))]
                data = json.dumps({"id": "s", "object": "chat.completion", "created": 0, "model": "soak",
                                   "choices": choices}).encode()  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def reply(self, messages: list[dict[str, str]]) -> str:
        """The question's kind decides; its first call gets the kind's first reply, later ones GOOD."""
        tags = TAG.findall(" ".join(str(m.get("content", "")) for m in messages))
        number, kind = tags[-1] if tags else ("?", "good")  # the question comes after any examples
        with self._lock:
            self.calls[number] += 1
            first = self.calls[number] == 1
        if kind == "no_code":
            return "I would rather not write code for this."
        if kind == "hostile":
            return f"```python\n{HOSTILE[int(number) % len(HOSTILE)]}```"
        body = FIRST[kind] if first else GOOD
        return f"```python\ndef answer(spark, tables):\n    return {body}\n```"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --- sampling --------------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def open_fds(pid: int) -> int:
    with contextlib.suppress(OSError):
        return len(os.listdir(f"/proc/{pid}/fd"))
    return 0


def spark_jvm(root: int) -> int | None:
    """The Spark server's JVM under ``root`` (the server's launcher or the HTTP server)."""
    for pid in descendants(root):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"/java"):
                return pid
    return None


@dataclass
class Sampler:
    """Samples the server (and the Spark JVM) every ``every`` seconds in a thread."""

    server: int
    spark_root: int  # the process whose tree holds the JVM (the server itself when it owns Spark)
    every: float = 1.0
    samples: list[dict[str, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            jvm = spark_jvm(self.spark_root)
            self.samples.append({
                "t": time.monotonic(),
                "server_rss_mb": rss_mb(self.server),
                "server_fds": open_fds(self.server),
                "children": len(descendants(self.server)) - 1,
                "spark_rss_mb": rss_mb(jvm) if jvm else 0.0,
                "spark_fds": open_fds(jvm) if jvm else 0,
            })  # fmt: skip

    def stop(self) -> None:
        self._stop.set()


def levels(samples: list[dict[str, float]], key: str) -> tuple[float, float, float]:
    """The median of the second quarter of the samples (warm), of the last quarter, and the maximum."""
    values = [s[key] for s in samples] or [0.0]
    quarter = max(1, len(values) // 4)
    return statistics.median(values[quarter : 2 * quarter]), statistics.median(values[-quarter:]), max(values)


# --- the questions ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    number: int
    kind: str
    seconds: float
    status: str
    error: str | None
    attempts: int
    busy: int  # 429s before it was accepted
    first_error: str | None = None  # the first attempt's error kind
    message: str = ""  # the error's message, for an unexpected outcome

    @property
    def expected(self) -> bool:
        status, error = EXPECTED[self.kind]
        return self.status == status and (error is None or self.error == error)


def kinds(questions: int) -> list[str]:
    """The mix, interleaved so every stretch of the run holds every kind."""
    return [MIX[(i * 7) % len(MIX)] for i in range(questions)]


def question(number: int, kind: str) -> dict[str, Any]:
    text = "List every id twice" if kind == "huge" else "How many rows per symbol?"
    return {"question": f"{text} [soak {number} {kind}]", "tables": ["northwind.nasdaq"]}


def ask(client: httpx.Client, number: int, kind: str) -> Outcome:
    """One question by ``POST /v1/ask``; a 429 waits its Retry-After and tries again."""
    start, busy = time.monotonic(), 0
    while (response := client.post("/v1/ask", json=question(number, kind))).status_code == 429:
        busy += 1
        time.sleep(min(5.0, float(response.headers.get("Retry-After", "1"))))
    body = response.json()
    seconds = time.monotonic() - start
    if response.status_code != 200:
        return Outcome(number, kind, seconds, f"http_{response.status_code}", body["error"]["code"], 0, busy)
    error = body.get("error") or {}
    attempts = body.get("attempts", [])
    message = f"{error.get('message', '')} {attempts[-1].get('logs', '')[-500:] if attempts else ''}"
    first = (attempts[0].get("error") or {}).get("kind") if attempts else None
    return Outcome(
        number, kind, seconds, body["status"], error.get("kind"), len(attempts), busy, first, message
    )


def drive(url: str, questions: int, clients: int) -> tuple[list[Outcome], float]:
    """Send the questions from ``clients`` threads; the outcomes and the wall seconds."""
    work = list(enumerate(kinds(questions)))
    start = time.monotonic()
    with (
        httpx.Client(base_url=url, timeout=900) as client,
        concurrent.futures.ThreadPoolExecutor(clients) as pool,
    ):
        outcomes = list(pool.map(lambda item: ask(client, *item), work))
    return outcomes, time.monotonic() - start


# --- the report ------------------------------------------------------------------------------------


@dataclass
class Report:
    outcomes: list[Outcome]
    wall: float
    samples: list[dict[str, float]]
    left: dict[str, list[str]] = field(default_factory=dict)

    def percentile(self, p: float) -> float:
        values = sorted(o.seconds for o in self.outcomes)
        return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]

    def unexpected(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.expected]

    def broken(self, bounds: Bounds = BOUNDS) -> list[str]:
        """The bounds the run broke (empty: all held)."""
        growth = {
            "server_rss_mb": bounds.server_rss_growth_mb,
            "server_fds": bounds.fd_growth,
            "spark_fds": bounds.spark_fd_growth,
        }
        broken = []
        for key, limit in growth.items():
            warm, last, _ = levels(self.samples, key)
            if last - warm > limit:
                broken.append(f"{key} grew {last - warm:.0f} (bound {limit:.0f})")
        for key, most in {"children": bounds.max_children, "spark_rss_mb": bounds.spark_rss_max_mb}.items():
            if (seen := levels(self.samples, key)[2]) > most:
                broken.append(f"{key} reached {seen:.0f} (bound {most:.0f})")
        if self.left:
            broken.append(f"left behind: {self.left}")
        return broken

    def table(self) -> str:
        n = len(self.outcomes)
        lines = [
            f"questions {n}, wall {self.wall:.0f} s, throughput {n / self.wall * 60:.1f} questions/min",
            f"latency s: p50 {self.percentile(50):.1f}  p95 {self.percentile(95):.1f}  "
            f"p99 {self.percentile(99):.1f}  max {max(o.seconds for o in self.outcomes):.1f}",
            f"429 answers (retried): {sum(o.busy for o in self.outcomes)}",
            "",
            f"{'kind':<9}{'n':>5}{'as expected':>13}  outcomes (status:error x count)",
        ]
        for kind in EXPECTED:
            mine = [o for o in self.outcomes if o.kind == kind]
            counts = collections.Counter(f"{o.status}:{o.error or '-'}" for o in mine)
            shown = ", ".join(f"{k} x{v}" for k, v in counts.most_common())
            lines.append(f"{kind:<9}{len(mine):>5}{sum(o.expected for o in mine):>13}  {shown}")
        lines += ["", f"{'sampled (every 1 s)':<20}{'2nd 1/4':>11}{'last 1/4':>11}{'max':>9}"]
        for key in ("server_rss_mb", "server_fds", "children", "spark_rss_mb", "spark_fds"):
            first, last, most = levels(self.samples, key)
            lines.append(f"{key:<20}{first:>11.0f}{last:>11.0f}{most:>9.0f}")
        lines += ["", f"bounds: {BOUNDS}", f"broken: {self.broken() or 'none'}"]
        return "\n".join(lines)


def leftovers(engine_dir: Path, pid: int) -> dict[str, list[str]]:
    """What the askspark process ``pid`` left: processes, staged files, session records, cgroups."""
    found = {
        "processes": [str(p) for p in descendants(pid) if p != pid and pid_alive(p)],
        "staged": [p.name for p in (engine_dir / "outbox").glob(f"w{pid}-*")],
        "sessions": [p.name for p in (engine_dir / "outbox-sessions").glob(f"w{pid}-*")],
        "cgroups": [str(p) for root in cgroups._parents() for p in root.glob(f"askspark-{pid}-*")],
    }
    return {k: v for k, v in found.items() if v}


# --- the server ------------------------------------------------------------------------------------


def serve(home: Path, port: int, model: FakeModel, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``askspark serve`` on ``home`` with the fake model (no written answer: one call per attempt)."""
    env = os.environ | {
        "ASKSPARK_HOME": str(home),
        "ASKSPARK_MODEL": "openai:soak",
        "OPENAI_BASE_URL": model.url,
        "ASKSPARK_WRITTEN_ANSWER": "false",
    } | env  # fmt: skip
    cmd = [sys.executable, "-m", "askspark.interfaces.cli", "serve", "--port", str(port)]
    log = open(home / "serve.log", "ab")  # noqa: SIM115 - the server's, closed by the OS with it
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_up(url: str, proc: subprocess.Popen[bytes], seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/v1/health").status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("askspark serve did not come up")


def soak(
    home: Path, questions: int, clients: int, env: dict[str, str], spark_root: int | None = None
) -> Report:
    """Run the soak against a new ``askspark serve`` on ``home``; ``spark_root``: the process whose tree
    holds a shared Spark server's JVM (None: the server starts its own, under it)."""
    model, port = FakeModel(), free_port()
    url = f"http://127.0.0.1:{port}"
    proc = serve(home, port, model, env)
    try:
        wait_up(url, proc)
        httpx.post(f"{url}/v1/ask", json=question(-1, "good"), timeout=600)  # the engine starts
        sampler = Sampler(proc.pid, spark_root or proc.pid)
        sampler.start()
        outcomes, wall = drive(url, questions, clients)
        sampler.stop()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        model.close()
    return Report(outcomes, wall, sampler.samples, leftovers(home / "engine", proc.pid))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per attempt (the timeout kind)")
    parser.add_argument("--slots", type=int, default=2, help="ASKSPARK_MAX_CONCURRENT_RUNS")
    args = parser.parse_args()
    from askspark.catalog.sample import generate_northwind
    from askspark.settings import Settings

    with tempfile.TemporaryDirectory(prefix="askspark-soak-") as tmp:
        home = Path(tmp)
        generate_northwind(Settings(home=home))
        env = {"ASKSPARK_TIMEOUT_SECONDS": str(args.timeout), "ASKSPARK_MAX_CONCURRENT_RUNS": str(args.slots)}
        report = soak(home, args.questions, args.clients, env)
    print(report.table())
    for outcome in report.unexpected():
        print("unexpected:", outcome)
    sys.exit(1 if report.broken() or report.unexpected() else 0)


if __name__ == "__main__":
    main()
