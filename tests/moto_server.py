"""A moto server on 127.0.0.1 standing in for AWS (Glue, S3), as a subprocess of the tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from askspark.processes import free_port


def start_moto(env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """A started ``moto_server`` and its endpoint; ``env`` adds to its environment (e.g. moto's
    ``INITIAL_NO_AUTH_ACTION_COUNT``, which turns IAM authorization on after that many requests)."""
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ | (env or {}),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("moto_server did not start")


@contextmanager
def moto_bucket(bucket: str) -> Iterator[tuple[Any, str]]:
    """An S3 client on a started moto server with ``bucket`` created, and the endpoint; fake
    credentials unless some are set (the benchmarks' setup). The server stops on exit."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(key, "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    import boto3

    moto, endpoint = start_moto()
    try:
        client = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint)
        client.create_bucket(Bucket=bucket)
        yield client, endpoint
    finally:
        moto.terminate()
        moto.wait(10)
