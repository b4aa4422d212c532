"""Shared fixtures: one askspark home with the sample data, one warm local engine per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from askspark.settings import Settings


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("askspark-home")
    # The CLI and the Python API read settings from the environment: point them at the test home.
    os.environ["ASKSPARK_HOME"] = str(path)
    os.environ["ASKSPARK_TIMEOUT_SECONDS"] = "60"
    return path


@pytest.fixture(scope="session")
def settings(home: Path) -> Settings:
    from askspark.catalog.sample import generate_northwind
    from askspark.catalog.tpch import generate_tpch

    s = Settings(home=home, timeout_seconds=60)
    generate_northwind(s)
    # TPC-H SF 0.1 (~3 s, 30 MB) before the engine starts: registering it later restarts the server.
    generate_tpch(s, 0.1)
    return s


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[object]:
    """The warm local engine, shared by the session (also through askspark.api's engine cache)."""
    from askspark import api

    eng = api.engine_for("local", settings)
    yield eng
    api.close_all()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server on 127.0.0.1 standing in for AWS (Glue), with fake credentials in the environment."""
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(key, value)
    moto = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("moto_server did not start")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)
