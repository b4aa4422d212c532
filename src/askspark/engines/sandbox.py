"""The sandbox every process that runs generated code starts in: bubblewrap plus resource limits.

The sandboxed process sees only what it needs to run Python (system libraries, the Python install, the
virtualenv, askspark's own source), a private /tmp, one writable output directory and the Unix socket
of the Spark Connect server. It has no network (its own empty network namespace), no capabilities, a
clean environment without credentials, and rlimits on memory, file size, open files and CPU time.

Why only named paths and not ``--ro-bind / /``: secrets (home directories, /etc, credentials) stay out
of sight whoever the sandbox's user is outside.

No root outside: bubblewrap started by root maps the sandbox's uid to root on the host, so a process
that escaped its namespaces would be root, and the files it writes are root's. When askspark runs as
root, every sandbox is therefore started as an unprivileged host user (``sandbox_user``, created by
scripts/setup.sh): a root shell in a private mount namespace first binds each directory the sandbox may
see into a fresh tmpfs (the "view": bubblewrap started by that user could not reach a directory under
a private parent such as /root), hands the writable ones to the user, then drops to the user and execs
bubblewrap on the view. What the sandbox reads must be readable by that user at the directory itself.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shlex
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from askspark.errors import SandboxUnavailableError

SOCKET_DIR_INSIDE = "/run/askspark"
NPROC_FALLBACK = 1024  # per user, all of the user's processes count: generous, but a fork bomb stops


@dataclass(frozen=True)
class RunAs:
    """The unprivileged host user a sandbox started by root runs as."""

    name: str
    uid: int
    gid: int


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
    run_as: RunAs | None = None  # None: the caller's own uid (askspark not root, or sandbox_user=root)


def run_as(user: str) -> RunAs | None:
    """Who sandboxes run as on the host: ``user`` when askspark is root, else the caller (None).

    Raises:
        SandboxUnavailableError: askspark runs as root and ``user`` does not exist (fail closed).
    """
    if os.geteuid() != 0 or user == "root":
        return None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise SandboxUnavailableError(
            f"askspark runs as root and the sandbox user '{user}' does not exist",
            suggestion="rerun scripts/setup.sh (it creates the user), or: useradd --system --no-create-home "
            f"--shell /usr/sbin/nologin {user}; ASKSPARK_SANDBOX_USER=root keeps the sandbox's uid mapped to "
            "root outside (not recommended)",
        ) from None
    return None if entry.pw_uid == 0 else RunAs(user, entry.pw_uid, entry.pw_gid)


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
    """The full command line that runs ``argv`` inside the sandbox (as ``spec.run_as`` when set)."""
    args = [bwrap_path(), "--unshare-all", "--die-with-parent", "--new-session"]
    args += ["--uid", "65534", "--gid", "65534", "--cap-drop", "ALL", "--hostname", "askspark-sandbox"]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]  # before binds: it would hide them
    args += _system_binds()
    binds = [("--ro-bind", p, str(p)) for p in runtime_paths() + spec.readable]
    binds += [("--bind", p, str(p)) for p in spec.writable]
    binds += [("--ro-bind", host, inside) for inside, host in spec.files.items()]
    if spec.socket_dir is not None:
        binds.append(("--ro-bind", spec.socket_dir, SOCKET_DIR_INSIDE))
    view = view_dir() if spec.run_as else None
    for flag, host, inside in binds:
        args += [flag, f"{view}{host}" if view else str(host), inside]
    args += ["--clearenv", "--chdir", "/tmp"]
    for key, value in clean_env(spec.env).items():
        args += ["--setenv", key, value]
    args += ["--", *argv]
    if spec.run_as is None or view is None:
        return args
    return as_user(spec.run_as, view, [(flag == "--bind", host) for flag, host, _ in binds], args)


def view_dir() -> Path:
    """This process's mount point for the views (empty on the host; swept by pid like socket dirs)."""
    path = Path(tempfile.gettempdir()) / f"askspark-{os.getpid()}-view"
    try:
        path.mkdir(mode=0o755)
    except FileExistsError:
        return path
    atexit.register(_remove_view, path)
    return path


def _remove_view(path: Path) -> None:
    with contextlib.suppress(OSError):  # still a mount point elsewhere: swept later by pid
        path.rmdir()


# Run by root in the sandbox's own mount namespace: a tmpfs on the view's mount point, each source bound
# at the same path under it, then the user takes over. Arguments: the view, the user's uid and gid, the
# sources, "--" and the bubblewrap command. A file's mount point is created only where none is: a source
# under another one already bound would otherwise be truncated through that bind.
VIEW_SCRIPT = """\
set -e
view=$1; uid=$2; gid=$3; shift 3
mount -t tmpfs -o mode=755,size=1m askspark-view "$view"
while [ "$1" != "--" ]; do
  if [ -d "$1" ]; then mkdir -p "$view$1"
  else mkdir -p "$(dirname "$view$1")"; [ -e "$view$1" ] || : > "$view$1"; fi
  mount --bind "$1" "$view$1"
  shift
done
shift
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups --no-new-privs -- "$@"
"""


def as_user(user: RunAs, view: Path, sources: list[tuple[bool, Path]], command: list[str]) -> list[str]:
    """``command`` (bubblewrap binding from ``view``) started by root in a private mount namespace that
    holds the view, then run as ``user``. Writable sources are handed to the user first."""
    for writable, source in sources:
        if writable:
            os.chown(source, user.uid, user.gid)
        check_readable(user, source)
    unshare = shutil.which("unshare") or "unshare"
    script = ["/bin/sh", "-c", VIEW_SCRIPT, "askspark-view", str(view), str(user.uid), str(user.gid)]
    paths = [str(source) for _, source in sources]
    return [unshare, "--mount", "--propagation", "private", "--", *script, *paths, "--", *command]


def share_with(user: RunAs | None, directory: Path) -> None:
    """Give ``directory`` and what is in it (e.g. a socket askspark listens on) to ``user``."""
    if user is None:
        return
    for path in [directory, *directory.iterdir()]:
        os.chown(path, user.uid, user.gid, follow_symlinks=False)


def check_readable(user: RunAs, path: Path) -> None:
    """Raise when ``user`` could not read ``path`` itself (its parents do not matter: the view binds it).

    Raises:
        SandboxUnavailableError: naming the path, its mode and owner, and how to open it to the user.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return  # the launch fails on it and says so, as a sandbox without a user switch does
    need = (stat.S_IRUSR | stat.S_IXUSR) if stat.S_ISDIR(info.st_mode) else stat.S_IRUSR
    shift = 0 if info.st_uid == user.uid else 3 if info.st_gid == user.gid else 6
    if (info.st_mode << shift) & need != need:
        owner = _user_name(info.st_uid)
        raise SandboxUnavailableError(
            f"the sandbox user '{user.name}' cannot read {path} (mode {stat.filemode(info.st_mode)}, owner "
            f"{owner}), which the sandbox needs",
            suggestion=f"make it readable: chmod o+rX {shlex.quote(str(path))} (the directory itself, not "
            "its parents), or keep the data where other users may read it",
        )


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


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
