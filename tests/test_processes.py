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
