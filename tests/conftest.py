"""Shared fixtures: one askspark home with the sample data, one warm local engine per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from askspark.settings import Settings

_mktemp = pytest.TempPathFactory.mktemp


def _shared_mktemp(self: pytest.TempPathFactory, basename: str, numbered: bool = True) -> Path:
    """pytest's temporary directories, readable by others: run as root, askspark's sandboxes run as an
    unprivileged user (docs/security.md) that must read the data a test keeps there."""
    path = _mktemp(self, basename, numbered)
    path.chmod(0o755)
    return path


pytest.TempPathFactory.mktemp = _shared_mktemp  # type: ignore[method-assign]


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """On a crash in native code (llama.cpp, gRPC, the JVM's bridge), print the crashing thread alone:
    pytest's dump of every thread lists the idle pool threads first, and a CI log cut to its head then
    loses the one that crashed (CI exit 139 in test_embedded, 2026-12-01, showed only pool threads)."""
    import faulthandler

    from _pytest.faulthandler import fault_handler_stderr_fd_key  # the stderr pytest keeps for it

    if faulthandler.is_enabled() and fault_handler_stderr_fd_key in config.stash:
        faulthandler.enable(file=config.stash[fault_handler_stderr_fd_key], all_threads=False)


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


@pytest.fixture()
def shared_engine(settings: Settings, engine: Any) -> Iterator[None]:
    """Record the session's Spark server as the shared one, so a subprocess (the CLI, a second HTTP
    server, an MCP server, a notebook kernel) joins it instead of starting a second JVM."""
    from askspark.engines.server import save_state, state_file

    save_state(settings, engine.state)  # type: ignore[attr-defined]
    yield
    state_file(settings).unlink(missing_ok=True)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server on 127.0.0.1 standing in for AWS (Glue, S3), with fake credentials in the environment."""
    from moto_server import start_moto

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(key, value)
    try:
        proc, endpoint = start_moto()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield endpoint
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def hive_catalog(settings: Settings) -> Iterator[object]:
    """The hive catalog on askspark's own Derby metastore under the test home, with its trusted Spark
    session (one JVM per process): started once, by the first test that needs it."""
    from askspark.catalog import get_catalog, hive, metastore

    catalog = get_catalog("hive", settings)
    yield catalog
    hive.stop_sessions()
    metastore.stop(settings)


@pytest.fixture(scope="session")
def pg() -> Iterator[object]:
    """A throwaway PostgreSQL server on loopback (tests/pg_server.py), started once per session."""
    from pg_server import running_postgres

    with running_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def jdbc_settings(pg: object, settings: Settings) -> Settings:
    """The session's settings (those of the shared engine, which binds JDBC tables with them) pointed at
    the test database. The password sits in an owner-only file outside anything the sandboxes bind."""
    secret = settings.home / "secrets" / "pg-password"
    secret.parent.mkdir(exist_ok=True)
    secret.write_text(pg.password + "\n")  # type: ignore[attr-defined]
    secret.chmod(0o600)
    settings.jdbc_url, settings.jdbc_user = pg.url, pg.user  # type: ignore[attr-defined]
    settings.jdbc_password_file = secret
    return settings


@pytest.fixture(scope="session")
def emr_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """moto's EMR Serverless and S3 API on 127.0.0.1 with the test-side job executor (tests/emr_service.py)."""
    from emr_service import Executor, MotoService

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # moto accepts any; never real ones
        os.environ[key] = "testing"
    moto = MotoService()
    executor = Executor(moto, tmp_path_factory.mktemp("emr"))
    executor.start()
    moto.executor = executor  # type: ignore[attr-defined]
    yield moto
    executor.stop()
    moto.stop()


@pytest.fixture(scope="session")
def emr_settings(settings: Settings, emr_service: object) -> Settings:
    from emr_service import BUCKET, ROLE

    return settings.model_copy(
        update={
            "emr_application_id": emr_service.application_id,  # type: ignore[attr-defined]
            "emr_execution_role_arn": ROLE,
            "emr_s3_prefix": f"s3://{BUCKET}/askspark",
            "emr_upload_local_data": True,
            "aws_endpoint_url": emr_service.endpoint,  # type: ignore[attr-defined]
            "aws_region": "us-east-1",
            "emr_poll_seconds": 0.5,
            "emr_poll_max_seconds": 2.0,
            "max_attempts": 3,
            # spark-submit's cold JVM per job run took minutes when the shared 2-core machine was loaded
            "timeout_seconds": 240.0,
        }
    )


@pytest.fixture(scope="session")
def emr_engine(emr_settings: Settings, engine: object) -> Iterator[object]:
    """A started emr-serverless engine; its dry runs use the session's warm local engine."""
    from askspark.engines.emr_serverless import EmrServerlessEngine

    emr = EmrServerlessEngine(emr_settings, validator=engine)  # type: ignore[arg-type]
    yield emr
    emr.close()


@pytest.fixture(scope="session")
def ray_settings(settings: Settings) -> Settings:
    # Ray's first read in a fresh Ray took up to a minute on the shared, overloaded 2-core machine.
    return settings.model_copy(update={"timeout_seconds": 240.0})


@pytest.fixture(scope="session")
def ray_engine(ray_settings: Settings) -> Iterator[object]:
    """A started ray engine (its spare worker's Ray is up) that may read the catalog's tables."""
    pytest.importorskip("ray")
    from askspark import api
    from askspark.engines.base import data_dirs
    from askspark.engines.ray_engine import RayEngine

    engine = RayEngine(ray_settings, data_dirs(api.catalog_tables(ray_settings)))
    engine.warm()
    yield engine
    engine.close()
