"""The engines under the conformance suite: one entry each. Adding an engine is adding one entry.

Each entry names the engine, how to get it started (``up``) and how to get the same kind of engine with
nothing to run on (``down``), both from pytest fixtures, and the cases it is known not to pass, each
with the reason. A known gap is a strict expected failure: when the engine starts passing it, the suite
fails until the gap is removed here.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from askspark.engines.auto import AutoEngine
from askspark.engines.base import Engine
from askspark.engines.server import ServerState
from askspark.engines.standalone import free_port
from askspark.settings import Settings

Factory = Callable[[pytest.FixtureRequest], Engine]
CASES = ("succeeds", "repairs", "times_out", "truncates", "down_is_unavailable")


@dataclass
class EngineUnderTest:
    """One engine in the suite."""

    id: str
    up: Factory  # a started engine (session-scoped fixtures keep it warm)
    down: Factory  # the same engine with nothing behind it
    settings: Callable[[pytest.FixtureRequest], Settings] = lambda r: r.getfixturevalue("settings")
    expect_engine: str | None = None  # what Answer.engine_used must say (default: id)
    gaps: dict[str, str] = field(default_factory=dict)  # case -> why the engine does not pass it
    marks: list[pytest.MarkDecorator] = field(default_factory=list)

    def param(self) -> object:
        return pytest.param(self, id=self.id, marks=self.marks)


def _local_down(request: pytest.FixtureRequest) -> Engine:
    """The local engine joined to a shared server ('askspark engine start') that has since stopped.

    A private server is restarted by the engine itself, so a shared one that is gone is how the local
    engine is down. A copy of the warm engine, pointed at a server that is not there.
    """
    live = request.getfixturevalue("engine")
    gone = copy.copy(live)
    gone.owned = False
    gone.state = ServerState(pid=2**22 + 1, socket_dir=str(Path("/nonexistent/askspark")), log="")
    gone._spare, gone._control, gone._scrub = None, None, None
    gone._lock, gone._live = threading.Lock(), set()
    return gone  # type: ignore[no-any-return]


def _connect_down(request: pytest.FixtureRequest) -> Engine:
    """A connect engine pointed at a loopback port where nothing listens."""
    from askspark.engines.connect import ConnectEngine

    settings = request.getfixturevalue("settings")
    engine = ConnectEngine(settings.model_copy(update={"remote": f"sc://127.0.0.1:{free_port()}"}))
    request.addfinalizer(engine.close)
    return engine


def _auto(cluster: Factory) -> Factory:
    def make(request: pytest.FixtureRequest) -> Engine:
        # threshold 0: every question takes the cluster path (local validation, then the cluster)
        settings = request.getfixturevalue("settings").model_copy(update={"auto_threshold_bytes": 0})
        return AutoEngine(settings, request.getfixturevalue("engine"), cluster(request))

    return make


def _connect_up(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue("connect_engine")  # type: ignore[no-any-return]


ENGINES: list[EngineUnderTest] = [
    EngineUnderTest("local", up=lambda r: r.getfixturevalue("engine"), down=_local_down),
    EngineUnderTest(
        "connect",
        up=_connect_up,
        down=_connect_down,
        settings=lambda r: r.getfixturevalue("connect_settings"),
    ),
    EngineUnderTest(
        "auto",
        up=_auto(_connect_up),
        down=_auto(_connect_down),
        settings=lambda r: r.getfixturevalue("connect_settings").model_copy(
            update={"auto_threshold_bytes": 0}
        ),
        expect_engine="connect",
    ),
]
