"""The sandbox every process that runs generated code starts in: bubblewrap plus resource limits.

The sandboxed process sees only what it needs to run Python (system libraries, the Python install, the
virtualenv, askspark's own source), a private /tmp, one writable output directory and the Unix socket
of the Spark Connect server. It has no network (its own empty network namespace), no capabilities, a
clean environment without credentials, and rlimits on memory, file size, open files and CPU time.

Why only named paths and not ``--ro-bind / /``: bubblewrap run by root maps the sandbox's uid 65534 to
uid 0 outside, so root-owned files under any bound directory are readable by their owner bits. Binding
only the runtime's directories keeps secrets (home directories, /etc, credentials) out of sight.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from askspark.errors import SandboxUnavailableError

SOCKET_DIR_INSIDE = "/run/askspark"
NPROC_FALLBACK = 1024  # per user, all of the user's processes count: generous, but a fork bomb stops


@dataclass
class SandboxSpec:
    """What one sandboxed process may see and use."""

    writable: list[Path] = field(default_factory=list)  # bound read-write at the same path
    readable: list[Path] = field(default_factory=list)  # bound read-only at the same path
    files: dict[str, Path] = field(default_factory=dict)  # inside path -> host file, read-only
    socket_dir: Path | None = None  # bound read-only at SOCKET_DIR_INSIDE
    memory_mb: int = 4096
    cpu_seconds: int = 600
    max_file_mb: int = 1024
    max_open_files: int = 512
    env: dict[str, str] = field(default_factory=dict)


def bwrap_path() -> str:
    """The bubblewrap binary, or a SandboxUnavailableError that says how to install it."""
    path = shutil.which("bwrap")
    if path is None:
        raise SandboxUnavailableError(
            "bubblewrap (bwrap) is not installed, so generated code cannot be sandboxed",
            suggestion="install it with 'apt-get install bubblewrap' (or rerun scripts/setup.sh); "
            "ASKSPARK_SANDBOX=false disables the sandbox for development only",
        )
    return path


def runtime_paths() -> list[Path]:
    """Directories the Python runtime needs, read-only: the interpreter, the venv, askspark's source."""
    # askspark's source directory, found from this file: importing the package itself would load the API.
    source = Path(__file__).resolve().parents[2]
    paths = {Path(sys.base_prefix), Path(sys.prefix), source}
    return sorted(p.resolve() for p in paths)


def _system_binds() -> list[str]:
    args: list[str] = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib64", "sbin", "lib32"):
        top = Path("/") / name
        if top.is_symlink():  # merged /usr: keep the symlink, its target is bound already
            args += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            args += ["--ro-bind", str(top), str(top)]
    return args


def bwrap_command(spec: SandboxSpec, argv: list[str]) -> list[str]:
    """The full bubblewrap command line that runs ``argv`` inside the sandbox."""
    args = [bwrap_path(), "--unshare-all", "--die-with-parent", "--new-session"]
    args += ["--uid", "65534", "--gid", "65534", "--cap-drop", "ALL", "--hostname", "askspark-sandbox"]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]  # before binds: it would hide them
    args += _system_binds()
    for path in runtime_paths() + spec.readable:
        args += ["--ro-bind", str(path), str(path)]
    for path in spec.writable:
        args += ["--bind", str(path), str(path)]
    for inside, host in spec.files.items():
        args += ["--ro-bind", str(host), inside]
    if spec.socket_dir is not None:
        args += ["--ro-bind", str(spec.socket_dir), SOCKET_DIR_INSIDE]
    args += ["--clearenv", "--chdir", "/tmp"]
    for key, value in clean_env(spec.env).items():
        args += ["--setenv", key, value]
    return args + ["--"] + argv


def nested_bwrap_argv(writable: list[Path]) -> list[str]:
    """A sandbox started from inside another one (Python UDF workers under the Spark server).

    Nested, bubblewrap cannot mount a new /proc, so it shares the outer pid namespace and binds the
    outer /proc read-only; it still gets its own user, network, IPC and UTS namespaces and sees only the
    runtime plus ``writable``. The environment is inherited: the outer sandbox's is already clean.
    """
    args = [bwrap_path(), "--unshare-user", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
    args += ["--die-with-parent", "--cap-drop", "ALL", "--ro-bind", "/proc", "/proc", "--dev", "/dev"]
    args += ["--tmpfs", "/tmp"] + _system_binds()
    for path in runtime_paths():
        args += ["--ro-bind", str(path), str(path)]
    for path in writable:
        args += ["--bind", str(path), str(path)]
    return args + ["--"]


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """The whole environment a sandboxed process gets: no credentials, nothing inherited."""
    env = {"HOME": "/tmp", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    env["PYTHONHASHSEED"] = "0"
    return env | extra


def limited(cmd: list[str], spec: SandboxSpec, cgroup_dirs: list[Path] | None) -> list[str]:
    """``cmd`` started under the spec's rlimits (prlimit) and, when given, inside the cgroups.

    A shell joins the cgroups and execs prlimit, which execs the command: no Python code runs between
    fork and exec (unsafe in a process with threads). Without a cgroup, RLIMIT_NPROC stands in for the
    process cap (the kernel enforces it for unprivileged users only).
    """
    limits = [
        f"--as={spec.memory_mb * 1024 * 1024}", f"--cpu={spec.cpu_seconds}",
        f"--fsize={spec.max_file_mb * 1024 * 1024}", f"--nofile={spec.max_open_files}", "--core=0",
    ]  # fmt: skip
    if cgroup_dirs is None:
        limits.append(f"--nproc={NPROC_FALLBACK}")
    joins = "".join(f'echo $$ > "{d}/cgroup.procs" && ' for d in cgroup_dirs or [])
    prlimit = shutil.which("prlimit") or "prlimit"
    return ["/bin/sh", "-c", f'{joins}exec "$0" "$@"', prlimit, *limits, "--", *cmd]


def unsandboxed_command(spec: SandboxSpec, argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """Development mode (ASKSPARK_SANDBOX=false): same process shape, no wall. Announced on every run."""
    env = clean_env(spec.env) | {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return argv, env
