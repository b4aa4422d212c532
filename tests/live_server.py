"""A real uvicorn server on 127.0.0.1 (a free port), in a thread of the test process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from askspark.interfaces.http import create_app
from askspark.processes import free_port
from askspark.settings import Settings


class LiveServer:
    """``create_app(settings)`` served by uvicorn until :meth:`stop`."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def script(path: Path, replies: list[str], style: str = "sql") -> str:
    """A ``scripted:PATH`` model id answering with ``replies`` in order."""
    path.write_text(json.dumps({"style": style, "replies": replies}))
    return f"scripted:{path}"


def sql(query: str) -> str:
    return f"```sql\n{query}\n```"


def serve_process(home: Path, port: int, model: str, concurrent: int = 1) -> subprocess.Popen[bytes]:
    """``askspark serve`` in its own process (to be killed), on ``home`` with the model ``model``."""
    env = os.environ | {
        "ASKSPARK_HOME": str(home),
        "ASKSPARK_MODEL": model,
        "ASKSPARK_MAX_CONCURRENT_RUNS": str(concurrent),
    }
    cmd = [sys.executable, "-m", "askspark.interfaces.cli", "serve", "--port", str(port)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_up(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v1/health").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("server did not come up")
