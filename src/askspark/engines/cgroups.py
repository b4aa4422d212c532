"""Per-process control groups: a hard cap on processes (fork bombs) and on memory.

Why cgroups and not only rlimits: a sandbox started by root maps its uid to root outside, and the kernel
exempts root from RLIMIT_NPROC, so only the pids controller stops a fork bomb there. Both cgroup v1
(``/sys/fs/cgroup/pids``, ``/sys/fs/cgroup/memory``) and a delegated cgroup v2 tree are supported.
When neither can be written and askspark runs as root, the sandbox is unavailable (fail closed);
an unprivileged user falls back to RLIMIT_NPROC, which the kernel enforces for them.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from askspark.errors import SandboxUnavailableError
from askspark.processes import pid_alive

ROOT = Path("/sys/fs/cgroup")


def _own_path(controller: str) -> str | None:
    """This process's cgroup path for a v1 controller ('' selects the v2 entry)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if (controller and controller in names.split(",")) or (not controller and names == ""):
            return path
    return None


def _v1_dirs(name: str) -> dict[str, Path] | None:
    dirs = {}
    for controller in ("pids", "memory"):
        own = _own_path(controller)
        if own is None or not (ROOT / controller).is_dir():
            return None
        dirs[controller] = ROOT / controller / own.lstrip("/") / name
    return dirs


@dataclass
class Cgroup:
    """One process tree's control group(s); ``attach`` runs in the child before it execs."""

    dirs: list[Path] = field(default_factory=list)

    def attach(self) -> None:
        pid = str(os.getpid())
        for d in self.dirs:
            (d / "cgroup.procs").write_text(pid)

    def kill_all(self) -> None:
        for d in self.dirs:
            procs = d / "cgroup.procs"
            with contextlib.suppress(OSError):
                for pid in procs.read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)

    def remove(self, seconds: float = 5.0) -> None:
        """Kill what is left in the group and remove it; a group keeps its directory (EBUSY) until its
        killed processes have exited, so the removal is tried again for up to ``seconds``."""
        self.kill_all()
        deadline = time.monotonic() + seconds
        for d in self.dirs:
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.05)


def _make_v1(name: str, max_pids: int, memory_bytes: int) -> Cgroup | None:
    dirs = _v1_dirs(name)
    if dirs is None:
        return None
    try:
        for d in dirs.values():
            d.mkdir()
        (dirs["pids"] / "pids.max").write_text(str(max_pids))
        (dirs["memory"] / "memory.limit_in_bytes").write_text(str(memory_bytes))
        with contextlib.suppress(OSError):  # without swap accounting this file is absent
            (dirs["memory"] / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
    except OSError:
        Cgroup(list(dirs.values())).remove()
        return None
    return Cgroup(list(dirs.values()))


def _make_v2(name: str, max_pids: int, memory_bytes: int) -> Cgroup | None:
    own = _own_path("")
    if own is None or not (ROOT / "cgroup.controllers").exists():
        return None
    d = ROOT / own.lstrip("/") / name
    try:
        d.mkdir()
        (d / "pids.max").write_text(str(max_pids))
        (d / "memory.max").write_text(str(memory_bytes))
    except OSError:
        Cgroup([d]).remove()
        return None
    return Cgroup([d])


def create(max_pids: int, memory_bytes: int) -> Cgroup | None:
    """A fresh cgroup with the limits, or None where cgroups cannot be used (then rlimits apply).

    Raises:
        SandboxUnavailableError: running as root without usable cgroups (a fork bomb could not be stopped).
    """
    # The creator's pid in the name: a process killed before it removed its groups leaves them to sweep().
    name = f"askspark-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    group = _make_v1(name, max_pids, memory_bytes) or _make_v2(name, max_pids, memory_bytes)
    if group is None and os.geteuid() == 0:
        raise SandboxUnavailableError(
            "cannot create a cgroup to limit the sandbox's processes and memory, and as root the "
            "process-count rlimit does not apply",
            suggestion="run askspark as an unprivileged user, or give it a writable cgroup (pids and "
            "memory controllers); ASKSPARK_SANDBOX=false disables the sandbox for development only",
        )
    return group


def _parents() -> list[Path]:
    """The directories this process's groups are created in (v1's pids and memory, or v2's)."""
    dirs = _v1_dirs("")  # the name "" adds nothing to the path: the parents themselves
    if dirs is not None:
        return list(dirs.values())
    own = _own_path("")
    return [ROOT / own.lstrip("/")] if own is not None and (ROOT / "cgroup.controllers").exists() else []


def sweep() -> int:
    """Remove the groups of processes that died without removing them (killed with -9): their
    processes are killed, their directories removed. Returns how many were removed."""
    removed = 0
    for parent in _parents():
        with contextlib.suppress(OSError):
            for d in parent.iterdir():
                match = re.fullmatch(r"askspark-(\d+)-[0-9a-f]+", d.name)
                if match and int(match.group(1)) != os.getpid() and not pid_alive(int(match.group(1))):
                    Cgroup([d]).remove()
                    removed += 1
    return removed
