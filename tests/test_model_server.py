"""The model daemon: a real subprocess serving a fake echo model over a Unix socket, plus one slow
test with the real embedded model showing that a second client does not pay the load."""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from askspark.errors import UsageError
from askspark.llm import embedded, model_files, model_server
from askspark.llm.base import Completion, Message
from askspark.llm.model_server import (
    RemoteEmbeddedLLM,
    load_model_state,
    model_server_status,
    start_model_server,
    stop_model_server,
)
from askspark.settings import Settings

QUESTION = [
    Message(role="system", content="Write Spark SQL."),
    Message(role="user", content="Who buys?"),
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", models_dir=tmp_path / "models", model_threads=1)


@pytest.fixture
def fake(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A fake daemon is allowed; whatever a test starts is stopped afterwards."""
    monkeypatch.setenv(model_server.FAKE_ENV, "1")
    yield settings
    stop_model_server(settings)


class _LocalFake:
    """Stands in for the in-process model in fallback tests."""

    id = "embedded"
    style = "sql"

    def __init__(self) -> None:
        self.calls = 0

    def complete(self, messages: list[Message], *, temperature: float, max_tokens: int) -> Completion:
        self.calls += 1
        return Completion(text="in-process", model="local")


def _client(settings: Settings) -> tuple[RemoteEmbeddedLLM, _LocalFake]:
    state = load_model_state(settings)
    assert state is not None
    local = _LocalFake()
    return RemoteEmbeddedLLM(settings, state, lambda: local), local


# --- lifecycle -----------------------------------------------------------------------------------


def test_start_health_status_and_stop(fake: Settings) -> None:
    state = start_model_server(fake)
    assert Path(state.socket) == fake.engine_dir / "model.sock"
    assert stat.S_IMODE(os.stat(state.socket).st_mode) == 0o600
    assert json.loads(model_server.state_file(fake).read_text())["pid"] == state.pid
    assert load_model_state(fake) == state
    status = model_server_status(fake)
    assert status is not None
    assert status["pid"] == state.pid and status["loaded"] is True and status["threads"] == 1
    assert status["model"] == str(model_files.model_path(fake).resolve())
    assert start_model_server(fake).pid == state.pid  # idempotent: the running one is reused

    assert stop_model_server(fake) is True
    assert load_model_state(fake) is None and model_server_status(fake) is None
    assert not model_server.state_file(fake).exists() and not Path(state.socket).exists()
    assert stop_model_server(fake) is False


def test_long_home_gets_a_short_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(model_server.FAKE_ENV, "1")
    settings = Settings(home=tmp_path / ("h" * 120), models_dir=tmp_path / "models")
    try:
        state = start_model_server(settings)
        assert len(state.socket) < 108 and load_model_state(settings) == state
    finally:
        stop_model_server(settings)
    assert not Path(state.socket).parent.exists()


def test_stale_state_file(fake: Settings) -> None:
    state = start_model_server(fake)
    os.kill(state.pid, signal.SIGKILL)
    os.waitpid(state.pid, 0)
    assert load_model_state(fake) is None  # the file is still there, the process is not
    assert model_server.state_file(fake).exists()

    fresh = start_model_server(fake)  # replaces the stale daemon
    assert fresh.pid != state.pid and load_model_state(fake) == fresh

    # a file naming a live process that is not a daemon (pid reuse) is stale too, and never signalled
    model_server.state_file(fake).write_text(json.dumps({**vars(fresh), "pid": os.getpid()}))
    assert load_model_state(fake) is None
    model_server.state_file(fake).write_text("{not json")
    assert load_model_state(fake) is None
    stop_model_server(fake)
    os.kill(fresh.pid, signal.SIGTERM)
    os.waitpid(fresh.pid, 0)


def test_daemon_that_cannot_load_fails_start(settings: Settings) -> None:
    with pytest.raises(Exception, match="not installed") as info:
        start_model_server(settings)  # no fake, no model file: caught before spawning
    assert "askspark model install" in (getattr(info.value, "suggestion", "") or "")
    assert load_model_state(settings) is None


# --- the protocol --------------------------------------------------------------------------------


def test_complete_round_trip(fake: Settings) -> None:
    start_model_server(fake)
    llm, local = _client(fake)
    assert llm.id == "embedded" and llm.style == "sql"
    out = llm.complete(QUESTION, temperature=0.2, max_tokens=64)
    assert out.text == " echo(Who buys?) t=0.2 n=64"
    assert out.model == "fake-echo" and out.prompt_tokens == 5 and out.completion_tokens == 4
    assert llm.remote and local.calls == 0


def test_candidates_in_one_daemon_call(fake: Settings) -> None:
    start_model_server(fake)
    llm, local = _client(fake)
    outs = llm.complete_many(QUESTION, temperatures=[0.0, 0.5, 0.7], max_tokens=32)
    assert [o.text for o in outs] == [f" echo(Who buys?) t={t} n=32" for t in (0.0, 0.5, 0.7)]
    assert llm.remote and local.calls == 0


def test_prestart_is_part_of_the_text(fake: Settings) -> None:
    start_model_server(fake)
    llm, _ = _client(fake)
    out = llm.complete([*QUESTION, Message(role="assistant", content="SELECT")], temperature=0, max_tokens=8)
    assert out.text.startswith("SELECT echo(Who buys?)")


def test_bad_request_and_unknown_endpoint(fake: Settings) -> None:
    state = start_model_server(fake)
    status, body = model_server._request(state.socket, "POST", "/complete", {"messages": "x"}, 5)
    assert status == 400 and body["error"]["code"] == "usage"
    status, body = model_server._request(state.socket, "GET", "/nope", None, 5)
    assert status == 404
    with pytest.raises(UsageError, match="bad /complete"):
        model_server._raise_remote_error(
            400, model_server._request(state.socket, "POST", "/complete", {}, 5)[1]
        )


def test_concurrent_clients(fake: Settings) -> None:
    from concurrent.futures import ThreadPoolExecutor

    start_model_server(fake)
    llm, _ = _client(fake)

    def ask(i: int) -> str:
        return llm.complete([Message(role="user", content=f"q{i}")], temperature=0, max_tokens=4).text

    with ThreadPoolExecutor(32) as pool:
        texts = list(pool.map(ask, range(200)))
    assert texts == [f" echo(q{i}) t=0.0 n=4" for i in range(200)]


def test_create_forwards_to_the_daemon(fake: Settings) -> None:
    pytest.importorskip("llama_cpp")
    assert isinstance(embedded.create("", fake), embedded.EmbeddedLLM)  # no daemon: in-process
    start_model_server(fake)
    llm = embedded.create("", fake)
    assert isinstance(llm, RemoteEmbeddedLLM) and llm.model == model_files.MODEL.name
    assert llm.complete(QUESTION, temperature=0, max_tokens=4).text.startswith(" echo(")
    other = fake.model_copy(update={"home": fake.home.parent / "other"})
    assert isinstance(embedded.create("", other), embedded.EmbeddedLLM)  # another home's daemon


def test_create_with_a_custom_gguf_only_uses_a_daemon_serving_it(fake: Settings, tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    start_model_server(fake)  # serves the default model
    assert isinstance(embedded.create(str(gguf), fake), embedded.EmbeddedLLM)
    custom = fake.model_copy(update={"model": f"embedded:{gguf}"})
    state = start_model_server(custom)  # restarts the daemon for the configured file
    assert state.model == str(gguf.resolve())
    assert isinstance(embedded.create(str(gguf), custom), RemoteEmbeddedLLM)


# --- the daemon going away -----------------------------------------------------------------------


def test_fallback_when_the_daemon_dies_mid_call(fake: Settings, caplog: pytest.LogCaptureFixture) -> None:
    state = start_model_server(fake)
    llm, local = _client(fake)
    with caplog.at_level(logging.WARNING, logger="askspark.llm.model_server"):
        out = llm.complete([Message(role="user", content="__die__")], temperature=0, max_tokens=4)
    assert out.text == "in-process" and local.calls == 1 and not llm.remote
    assert f"model server (pid {state.pid}" in caplog.text and "in-process" in caplog.text
    assert llm.complete(QUESTION, temperature=0, max_tokens=4).text == "in-process"  # stays local
    assert load_model_state(fake) is None


def test_fallback_when_the_daemon_was_killed(fake: Settings) -> None:
    state = start_model_server(fake)
    llm, local = _client(fake)
    os.kill(state.pid, signal.SIGKILL)
    os.waitpid(state.pid, 0)
    assert llm.complete(QUESTION, temperature=0, max_tokens=4).text == "in-process" and local.calls == 1


def test_daemon_errors_are_raised_not_fallen_back(fake: Settings) -> None:
    state = start_model_server(fake)
    local = _LocalFake()
    llm = RemoteEmbeddedLLM(fake, state, lambda: local)
    body = {
        "error": {"code": "provider", "message": "prompt too long", "suggestion": "shorten", "details": {}}
    }
    with pytest.raises(Exception, match="prompt too long") as info:
        model_server._raise_remote_error(502, body)
    assert type(info.value).__name__ == "ProviderError" and info.value.suggestion == "shorten"  # type: ignore[attr-defined]
    assert llm.remote and local.calls == 0


# --- the real model ------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_model_second_question_does_not_pay_the_load(tmp_path: Path) -> None:
    pytest.importorskip(
        "llama_cpp", reason="llama-cpp-python is not installed (pip install 'askspark[embedded]')"
    )
    settings = Settings(home=tmp_path / "home")  # the default models_dir: the installed model
    if not model_files.is_verified(settings):
        if os.environ.get("CI"):
            pytest.fail(f"embedded model not installed at {model_files.model_path(settings)}")
        pytest.skip(f"embedded model not installed at {model_files.model_path(settings)}")
    messages = [
        Message(
            role="system",
            content="You write one Spark SQL query answering the question. Only use these tables:\n"
            "orders(order_id bigint, customer string, country string, quantity int, unit_price double)",
        ),
        Message(role="user", content="How many orders are there per country?"),
        Message(role="assistant", content="SELECT"),
    ]
    try:
        started = time.perf_counter()
        state = start_model_server(settings)
        start_seconds = time.perf_counter() - started

        timings = []
        for _ in range(2):  # two "CLI invocations": a fresh client each time
            t0 = time.perf_counter()
            llm = embedded.create("", settings)
            assert isinstance(llm, RemoteEmbeddedLLM) and llm.state.pid == state.pid
            out = llm.complete(messages, temperature=0.0, max_tokens=64)
            timings.append(time.perf_counter() - t0)
            assert out.text.startswith("SELECT") and "country" in out.text.lower()
            assert llm.remote and (out.completion_tokens or 0) > 0
        assert load_model_state(settings) == state  # same daemon, no reload
    finally:
        stop_model_server(settings)
    print(
        f"\nmodel daemon: start {start_seconds:.2f} s; question 1 {timings[0]:.2f} s, "
        f"question 2 {timings[1]:.2f} s"
    )
