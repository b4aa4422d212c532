"""The owned Spark server's JVM settings: executors out of its JVM and the exit guard (no Spark started;
tests/test_hostile.py shows their effect on a running server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from askspark.engines.server import EXIT_GUARD_JAR, server_conf
from askspark.settings import Settings

GUARD = "-Djava.security.manager=askspark.ExitGuard"


def conf(tmp_path: Path, master: str) -> dict[str, str]:
    return server_conf(Settings(home=tmp_path, spark_master=master), 15002)


def test_the_exit_guard_is_built() -> None:
    assert EXIT_GUARD_JAR.is_file(), "run scripts/build-exitguard.sh (scripts/setup.sh does)"


def test_local_cluster_executors_are_sized_guarded_and_end_at_their_first_oom(tmp_path: Path) -> None:
    c = conf(tmp_path, "local-cluster[1,2,768]")
    assert c["spark.executor.memory"] == "768m"  # the worker's MB: a bigger executor would never start
    executor = c["spark.executor.extraJavaOptions"].split()
    assert "-XX:+ExitOnOutOfMemoryError" in executor
    assert GUARD in executor and "-Daskspark.exitguard=tasks" in executor
    assert str(EXIT_GUARD_JAR) in c["spark.executor.extraClassPath"].split(":")
    assert GUARD in c["spark.driver.extraJavaOptions"].split()
    assert str(EXIT_GUARD_JAR) in c["spark.driver.extraClassPath"].split(":")


def test_a_local_master_has_no_executor_settings(tmp_path: Path) -> None:
    c = conf(tmp_path, "local[2]")
    assert not [key for key in c if key.startswith("spark.executor.")]
    assert GUARD in c["spark.driver.extraJavaOptions"].split()


def test_no_guard_on_a_java_without_security_manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jdk = tmp_path / "jdk"
    jdk.mkdir()
    (jdk / "release").write_text('IMPLEMENTOR="x"\nJAVA_VERSION="24.0.1"\n')
    monkeypatch.setenv("JAVA_HOME", str(jdk))  # Java 24 refuses to start with one (JEP 486)
    c = conf(tmp_path, "local-cluster[1,2,1024]")
    assert GUARD not in c["spark.driver.extraJavaOptions"]
    assert GUARD not in c["spark.executor.extraJavaOptions"]
