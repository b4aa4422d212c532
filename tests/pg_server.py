"""A real, throwaway PostgreSQL server for tests (Debian's ``postgresql`` package).

initdb into a temporary directory, start on a free loopback port (plus a Unix socket directory), load a
small table set as the superuser over the socket, and stop it at the end. Connections over TCP need a
password (scram-sha-256), so a client without it is refused. PostgreSQL refuses to run as root: as
root, the server runs as the ``postgres`` user the Debian package creates.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from askspark.processes import free_port

USER = "askspark_reader"
DATABASE = "shop"

SETUP = f"""
CREATE ROLE {USER} LOGIN PASSWORD '{{password}}';
CREATE TABLE public.orders (
    id integer PRIMARY KEY,
    amount numeric(10,2) NOT NULL,
    country text,
    placed_at timestamp
);
COMMENT ON TABLE public.orders IS 'one row per order';
COMMENT ON COLUMN public.orders.amount IS 'order total in EUR';
COMMENT ON COLUMN public.orders.country IS 'ISO country code';
INSERT INTO public.orders VALUES (1, 10.50, 'DE', '2024-01-02 10:00'), (2, 3.25, 'FR', NULL),
    (3, 7.00, 'DE', '2024-03-04 12:30');
CREATE TABLE public.customers (id bigint, name varchar(40), vip boolean);
INSERT INTO public.customers VALUES (1, 'Ada', true), (2, 'Linus', false);
CREATE SCHEMA hr;
CREATE TABLE hr.staff (id integer, salary double precision);
CREATE TABLE public.secrets_table (token text);
INSERT INTO public.secrets_table VALUES ('not for the model');
GRANT USAGE ON SCHEMA hr TO {USER};
GRANT SELECT ON ALL TABLES IN SCHEMA public, hr TO {USER};
ANALYZE;
"""


@dataclass
class Postgres:
    port: int
    socket_dir: Path
    user: str
    password: str
    database: str
    log: Path

    @property
    def url(self) -> str:
        return f"jdbc:postgresql://127.0.0.1:{self.port}/{self.database}"

    def run_sql(self, sql: str) -> None:
        """Run statements as the superuser over the Unix socket (to publish test tables)."""
        bindir = _bin_dir()
        assert bindir is not None
        psql = [str(bindir / "psql"), "-h", str(self.socket_dir), "-p", str(self.port), "-U", "postgres",
                "-d", self.database, "-v", "ON_ERROR_STOP=1"]  # fmt: skip
        subprocess.run(_as_owner(psql), input=sql.encode(), check=True, capture_output=True)


def _bin_dir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def _as_owner(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextlib.contextmanager
def running_postgres() -> Iterator[Postgres]:
    """A started server with the table set loaded; stopped and removed on exit."""
    bindir = _bin_dir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (scripts/setup.sh --dev installs it)")
    root = Path(tempfile.mkdtemp(prefix="askspark-pg-"))  # /tmp: the postgres user must reach it
    data, sockets = root / "data", root / "run"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    port, password = free_port(), secrets.token_urlsafe(16)
    subprocess.run(
        _as_owner([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
                   "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"]),
        check=True, capture_output=True,
    )  # fmt: skip
    server = subprocess.Popen(
        _as_owner([str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sockets),
                   "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "logging_collector=on",
                   "-c", f"log_directory={root / 'log'}", "-c", "log_filename=postgres.log"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        _wait(sockets / f".s.PGSQL.{port}", server)
        psql = [
            str(bindir / "psql"),
            "-h",
            str(sockets),
            "-p",
            str(port),
            "-U",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
        ]
        subprocess.run(
            _as_owner([*psql, "-c", f"CREATE DATABASE {DATABASE}"]), check=True, capture_output=True
        )
        subprocess.run(
            _as_owner([*psql, "-d", DATABASE]),
            input=SETUP.format(password=password).encode(),
            check=True,
            capture_output=True,
        )
        yield Postgres(port, sockets, USER, password, DATABASE, root / "log" / "postgres.log")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGINT)  # fast shutdown: open client connections are closed
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(root, ignore_errors=True)


def _wait(sock: Path, server: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not sock.exists():
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"PostgreSQL did not start (exit {server.poll()})")
        time.sleep(0.1)
    time.sleep(0.3)  # the socket file appears just before the server accepts
