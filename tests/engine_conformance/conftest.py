"""A real standalone Spark cluster on 127.0.0.1 (master, worker, Connect server with a token) per session.

Started from the pip package once for every test that asks for it, stopped at the end. To reuse a
cluster you started yourself while iterating, set ASKSPARK_TEST_REMOTE=sc://127.0.0.1:PORT (and
ASKSPARK_TEST_CONNECT_TOKEN when it has one).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from askspark.engines.standalone import Cluster
from askspark.settings import Settings


@pytest.fixture(scope="session")
def standalone_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str | None]]:
    """``(remote, token)`` of a running standalone cluster's Connect server."""
    if os.environ.get("ASKSPARK_TEST_REMOTE"):
        yield os.environ["ASKSPARK_TEST_REMOTE"], os.environ.get("ASKSPARK_TEST_CONNECT_TOKEN")
        return
    cluster = Cluster(tmp_path_factory.mktemp("cluster"), token=secrets.token_urlsafe(16)).start()
    try:
        yield cluster.remote, cluster.token
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def connect_settings(
    settings: Settings, standalone_cluster: tuple[str, str | None], tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    remote, token = standalone_cluster
    results: Path = tmp_path_factory.mktemp("cluster-results")
    return settings.model_copy(
        update={
            "remote": remote,
            "connect_token": SecretStr(token) if token else None,
            "connect_results_dir": str(results),
        }
    )


@pytest.fixture(scope="session")
def connect_engine(connect_settings: Settings) -> Iterator[object]:
    from askspark.engines.connect import ConnectEngine

    engine = ConnectEngine(connect_settings)
    yield engine
    engine.close()
