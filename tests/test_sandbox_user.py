"""No root outside the sandbox: started by root, askspark's sandboxes run as an unprivileged host user.

The unit tests cover the choice of that user and the readability check; the rest looks at the session's
real Spark server and a real job from the host's side (/proc, file owners), as root only.
"""

from __future__ import annotations

import os
import pwd
import uuid
from pathlib import Path
from typing import Any

import pytest

from askspark import api
from askspark.engines import sandbox
from askspark.engines.base import Job, Limits, bindings_for
from askspark.errors import SandboxUnavailableError
from askspark.processes import descendants
from askspark.settings import Settings

USER = Settings.model_fields["sandbox_user"].default


def _sandbox_user() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        return None


as_root = pytest.mark.skipif(
    os.geteuid() != 0 or _sandbox_user() is None, reason="askspark runs as root with its sandbox user"
)


def test_a_missing_sandbox_user_is_a_clear_error_for_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    with pytest.raises(SandboxUnavailableError) as raised:
        sandbox.run_as("askspark-no-such-user")
    assert "askspark-no-such-user" in str(raised.value)
    assert "useradd" in (raised.value.suggestion or "")


def test_no_user_switch_when_not_root_or_asked_to_stay_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert sandbox.run_as("askspark-no-such-user") is None  # the caller is unprivileged already
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert sandbox.run_as("root") is None


def test_a_directory_the_user_cannot_read_is_named(tmp_path: Path) -> None:
    user = sandbox.RunAs("someone", uid=os.getuid() + 4321, gid=os.getgid() + 4321)
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(SandboxUnavailableError) as raised:
        sandbox.check_readable(user, private)
    assert str(private) in str(raised.value) and "drwx------" in str(raised.value)
    assert "chmod o+rX" in (raised.value.suggestion or "")
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    sandbox.check_readable(user, shared)  # no error
    (shared / "f.csv").write_text("a\n")
    (shared / "f.csv").chmod(0o640)
    with pytest.raises(SandboxUnavailableError):
        sandbox.check_readable(user, shared / "f.csv")


def test_the_command_binds_from_the_view_and_drops_to_the_user(tmp_path: Path) -> None:
    user = sandbox.RunAs("someone", uid=os.getuid(), gid=os.getgid())
    out = tmp_path / "out"
    out.mkdir()
    spec = sandbox.SandboxSpec(writable=[out], run_as=user)
    cmd = sandbox.bwrap_command(spec, ["/bin/true"])
    view = str(sandbox.view_dir())
    assert cmd[:5] == [cmd[0], "--mount", "--propagation", "private", "--"]
    assert cmd[cmd.index("--bind") + 1 : cmd.index("--bind") + 3] == [f"{view}{out}", str(out)]
    assert "setpriv" in sandbox.VIEW_SCRIPT and str(out) in cmd[: cmd.index(sandbox.bwrap_path())]


def _uids(pid: int) -> tuple[int, int]:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("Uid:"))
    real, effective = line.split()[1:3]
    return int(real), int(effective)


@as_root
def test_the_spark_server_runs_as_the_sandbox_user(engine: Any) -> None:
    user = _sandbox_user()
    assert user is not None
    processes = descendants(engine.state.pid)
    assert len(processes) >= 3  # bubblewrap, the launcher shell, the JVM (and socat)
    java = [
        p for p in processes if "java" in Path(f"/proc/{p}/cmdline").read_bytes().decode(errors="replace")
    ]
    assert java, "no JVM under the server's sandbox"
    for pid in processes:
        assert _uids(pid) == (user.pw_uid, user.pw_uid), f"process {pid} is not {USER} on the host"


WHOAMI = """
import os

def answer(spark, tables):
    return spark.createDataFrame([(os.getuid(), os.geteuid())], "uid int, euid int")
"""


@as_root
def test_a_job_runs_and_writes_as_the_sandbox_user(engine: Any, settings: Settings, tmp_path: Path) -> None:
    """Inside, the code is uid 65534 as before; outside, its files belong to the unprivileged user."""
    user = _sandbox_user()
    assert user is not None
    orders = api.select_tables(["northwind.orders"], [], settings)[0]
    job = Job(
        run_id=f"whoami-{uuid.uuid4().hex[:8]}",
        attempt=1,
        code=WHOAMI,
        tables=bindings_for([orders]),
        limits=Limits(timeout_seconds=60, row_limit=10, memory_mb=1024),
        output_dir=str(tmp_path / "out"),
        dry_run=False,
    )
    ex = engine.run(job)
    assert ex.ok, ex.error
    assert ex.result is not None and ex.result.rows == [[65534, 65534]]
    written = [p for p in Path(str(ex.result.location)).rglob("*") if p.is_file()]
    assert written and all(p.stat().st_uid == user.pw_uid for p in written)
