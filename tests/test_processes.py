"""The process helpers every part shares (Spark server, model daemon, metastore, benchmarks)."""

from __future__ import annotations

import os
import subprocess
import sys

from askspark.processes import descendants, pid_alive


def test_descendants_lists_the_tree_under_a_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        tree = descendants(os.getpid())
        assert tree[0] == os.getpid() and child.pid in tree
        assert descendants(child.pid) == [child.pid]
    finally:
        child.kill()
        child.wait()
    assert not pid_alive(child.pid)


def test_stopping_a_group_ends_the_processes_under_it_that_left_the_group() -> None:
    """As a sandbox's inner session: a grandchild in a session of its own, which ignores SIGTERM."""
    import time

    from askspark.processes import stop_group

    script = (
        "import subprocess, sys, time\n"
        "inner = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(60)'], "
        "start_new_session=True, stdout=subprocess.PIPE)\n"
        "inner.stdout.readline()\n"
        "print(inner.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    leader = subprocess.Popen([sys.executable, "-c", script], start_new_session=True, stdout=subprocess.PIPE)
    assert leader.stdout is not None
    inner = int(leader.stdout.readline())
    assert os.getpgid(inner) != leader.pid  # not in the group a group signal reaches
    start = time.monotonic()
    stop_group(leader.pid, 2.0)
    assert not pid_alive(leader.pid) and not pid_alive(inner)
    assert time.monotonic() - start < 10
