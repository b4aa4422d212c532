"""LLM providers and code extraction.

Providers are tested against fake HTTP servers on 127.0.0.1 speaking the real wire formats, so the
official SDKs run end to end and no test can reach a real provider.
"""

from __future__ import annotations

import ast
import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from askspark.errors import NotFoundError, ProviderError, UsageError
from askspark.llm.base import LLM, Message, get_llm
from askspark.llm.extract import Style, add_missing_imports, extract_code, wrap_sql
from askspark.llm.scripted import ScriptedLLM
from askspark.settings import get_settings

FIXTURES = Path(__file__).parent / "fixtures" / "extract"
CASES = sorted(p.name.removesuffix(".reply.txt") for p in FIXTURES.glob("*.reply.txt"))
MESSAGES = [
    Message(role="system", content="You write PySpark."),
    Message(role="user", content="Total amount per region?"),
]
FENCED_REPLY = "Here you go:\n```python\ndef answer(spark, tables):\n    return tables['sales']\n```\n"
EXPECTED_CODE = "def answer(spark, tables):\n    return tables['sales']\n"


# -- a tiny fake HTTP server, shared by the provider tests ------------------------------------------

Reply = tuple[int, dict[str, Any]]


class FakeServer:
    """A threaded JSON HTTP server on 127.0.0.1 that records requests and answers with ``respond``."""

    def __init__(self, respond: Callable[[dict[str, Any]], Reply]) -> None:
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = {
                    "path": unquote(self.path),
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "json": json.loads(body),
                }
                server.requests.append(request)
                status, payload = respond(request)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        # A short poll interval keeps shutdown (and so each test's teardown) fast.
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[..., FakeServer]]:
    """``serve(respond)`` starts a fake server, stopped after the test."""
    servers: list[FakeServer] = []

    def start(respond: Callable[[dict[str, Any]], Reply]) -> FakeServer:
        servers.append(FakeServer(respond))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def refused_url() -> str:
    """A loopback URL on which nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real keys, endpoints or AWS config leak in, and boto3 never asks the EC2 metadata service."""
    import os

    for var in list(os.environ):
        if var.startswith(("OPENAI_", "ANTHROPIC_", "AWS_")) or var in (
            "ASKSPARK_MODEL_STYLE",
            "ASKSPARK_BEDROCK_ENDPOINT_URL",
        ):
            monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))


SETTINGS = get_settings(llm_timeout_seconds=5)


# -- extraction ------------------------------------------------------------------------------------


def test_enough_golden_cases() -> None:
    assert len(CASES) >= 15
    assert all((FIXTURES / f"{name}.expected.txt").exists() for name in CASES)


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("name", CASES)
def test_extract_golden(name: str, newline: str) -> None:
    """``NAME.reply.txt`` -> ``NAME.expected.txt`` (empty: None); ``sql-*`` cases use style="sql"."""
    reply = (FIXTURES / f"{name}.reply.txt").read_bytes().decode()
    expected = (FIXTURES / f"{name}.expected.txt").read_bytes().decode() or None
    style: Style = "sql" if name.startswith("sql-") else "python"
    assert extract_code(reply.replace("\n", newline), style=style) == expected


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1 AS x",
        "SELECT 'a\\\\b' AS s, '\\n' AS t",
        'SELECT """x""" AS q',
        'SELECT \'""""\' AS q',
        "SELECT 'ends with a backslash\\'",
        'SELECT "x"',
    ],
)
def test_wrap_sql_reaches_spark_verbatim(sql: str) -> None:
    code = wrap_sql(sql + ";")
    calls: list[str] = []
    namespace: dict[str, Any] = {}
    exec(compile(code, "<answer>", "exec"), namespace)
    namespace["answer"](type("Spark", (), {"sql": staticmethod(calls.append)}), {})
    assert calls == [f"\n{sql}\n"]


def test_add_missing_imports_leaves_bound_names_alone() -> None:
    code = "from pyspark.sql import functions as F\n\ndef answer(spark, tables):\n    return F.lit(1)\n"
    assert add_missing_imports(code) == code
    shadowing = "def answer(spark, tables, F=None):\n    return F.x\n"
    assert add_missing_imports(shadowing) == shadowing


def test_add_missing_imports_goes_after_future_imports() -> None:
    code = add_missing_imports(
        "from __future__ import annotations\ndef answer(spark, tables) -> DataFrame:\n    ...\n"
    )
    assert code.splitlines()[:2] == [
        "from __future__ import annotations",
        "from pyspark.sql import DataFrame",
    ]
    ast.parse(code)


def test_add_missing_imports_on_code_that_does_not_parse() -> None:
    code = add_missing_imports("def answer(spark, tables):\n    return F.col(")
    assert code.startswith("from pyspark.sql import functions as F\n")


# -- get_llm and the scripted provider ------------------------------------------------------------


def test_get_llm_unknown_provider_suggests_the_closest() -> None:
    with pytest.raises(UsageError) as err:
        get_llm("opena:x")
    assert "openai" in (err.value.suggestion or "")


@pytest.mark.parametrize("model_id", ["openai:", "anthropic:", "bedrock:", "scripted:"])
def test_get_llm_provider_without_name(model_id: str) -> None:
    with pytest.raises(UsageError) as err:
        get_llm(model_id)
    assert model_id.rstrip(":") in str(err.value)


def test_get_llm_scripted_from_json_list(tmp_path: Path) -> None:
    path = tmp_path / "replies.json"
    path.write_text(json.dumps([FENCED_REPLY, "second"]))
    llm = get_llm(f"scripted:{path}")
    assert isinstance(llm, LLM)
    assert (llm.id, llm.style) == (f"scripted:{path}", "python")
    assert llm.complete(MESSAGES, temperature=0.0, max_tokens=100).text == FENCED_REPLY
    assert llm.complete(MESSAGES, temperature=0.7, max_tokens=100).text == "second"
    with pytest.raises(ProviderError, match="no reply left"):
        llm.complete(MESSAGES, temperature=0.0, max_tokens=100)


def test_get_llm_scripted_from_json_object(tmp_path: Path) -> None:
    path = tmp_path / "replies.json"
    path.write_text(json.dumps({"style": "sql", "replies": ["SELECT 1"]}))
    llm = get_llm(f"scripted:{path}")
    assert llm.style == "sql"
    assert llm.complete(MESSAGES, temperature=0.0, max_tokens=10).text == "SELECT 1"


def test_scripted_missing_or_malformed_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        get_llm(f"scripted:{tmp_path / 'nope.json'}")
    bad = tmp_path / "bad.json"
    for content in ["{not json", '{"replies": [1, 2]}', '{"style": "java", "replies": []}']:
        bad.write_text(content)
        with pytest.raises(UsageError):
            get_llm(f"scripted:{bad}")


def test_scripted_records_calls_and_can_use_a_function() -> None:
    llm = ScriptedLLM(fn=lambda messages, temperature: f"{len(messages)} at {temperature}")
    assert llm.id == "scripted"
    assert llm.complete(MESSAGES, temperature=0.3, max_tokens=50).text == "2 at 0.3"
    call = llm.calls[0]
    assert call.messages == MESSAGES and call.temperature == 0.3 and call.max_tokens == 50
    assert call["messages"] == MESSAGES and call[1] == 0.3


def test_scripted_can_raise_a_scripted_failure() -> None:
    llm = ScriptedLLM(replies=[ProviderError("boom"), "ok"])
    with pytest.raises(ProviderError, match="boom"):
        llm.complete(MESSAGES, temperature=0.0, max_tokens=10)
    assert llm.complete(MESSAGES, temperature=0.0, max_tokens=10).text == "ok"
    assert len(llm.calls) == 2


# -- openai-compatible ------------------------------------------------------------------------------


def chat_completion(request: dict[str, Any]) -> Reply:
    return 200, {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": request["json"]["model"],
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": FENCED_REPLY}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46},
    }


def test_openai_against_a_fake_server(
    serve: Callable[..., FakeServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(chat_completion)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")  # no key: a local server needs none
    llm = get_llm("openai:qwen2.5-coder", SETTINGS)
    assert (llm.id, llm.style) == ("openai:qwen2.5-coder", "python")

    completion = llm.complete(MESSAGES, temperature=0.2, max_tokens=256)

    assert completion.model_dump() == {
        "text": FENCED_REPLY,
        "model": "qwen2.5-coder",
        "prompt_tokens": 12,
        "completion_tokens": 34,
    }
    assert extract_code(completion.text) == EXPECTED_CODE
    [request] = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == "Bearer not-needed"
    body = request["json"]
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("qwen2.5-coder", 0.2, 256)
    assert body["messages"] == [m.model_dump() for m in MESSAGES]


def test_openai_style_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", refused_url())
    monkeypatch.setenv("ASKSPARK_MODEL_STYLE", "sql")
    assert get_llm("openai:tiny").style == "sql"
    monkeypatch.setenv("ASKSPARK_MODEL_STYLE", "java")
    with pytest.raises(UsageError):
        get_llm("openai:tiny")


def test_openai_needs_a_key_for_api_openai_com() -> None:
    with pytest.raises(UsageError, match="OPENAI_API_KEY"):
        get_llm("openai:gpt-4o-mini")


@pytest.mark.parametrize("status", [404, 500])
def test_openai_server_error(
    status: int, serve: Callable[..., FakeServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(lambda request: (status, {"error": {"message": "model 'nope' not found"}}))
    monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
    with pytest.raises(ProviderError) as err:
        get_llm("openai:nope", SETTINGS).complete(MESSAGES, temperature=0.0, max_tokens=10)
    assert server.url in err.value.message and str(status) in err.value.message
    if status == 404:
        assert "ollama pull nope" in (err.value.suggestion or "")


def test_openai_connection_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    url = refused_url()
    monkeypatch.setenv("OPENAI_BASE_URL", f"{url}/v1")
    with pytest.raises(ProviderError) as err:
        get_llm("openai:x", SETTINGS).complete(MESSAGES, temperature=0.0, max_tokens=10)
    assert url in err.value.message and "OPENAI_BASE_URL" in (err.value.suggestion or "")


# -- anthropic ---------------------------------------------------------------------------------------


def anthropic_message(request: dict[str, Any]) -> Reply:
    return 200, {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": request["json"]["model"],
        "content": [{"type": "text", "text": FENCED_REPLY}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 21, "output_tokens": 43},
    }


def test_anthropic_against_a_fake_server(
    serve: Callable[..., FakeServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(anthropic_message)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    llm = get_llm("anthropic:claude-test", SETTINGS)

    completion = llm.complete(MESSAGES, temperature=0.1, max_tokens=300)

    assert (completion.text, completion.model) == (FENCED_REPLY, "claude-test")
    assert (completion.prompt_tokens, completion.completion_tokens) == (21, 43)
    [request] = server.requests
    assert request["path"] == "/v1/messages"
    headers = request["headers"]
    assert "sk-ant-test" in (
        headers.get("x-api-key"),
        headers.get("authorization", "").removeprefix("Bearer "),
    )
    body = request["json"]
    assert body["system"] == "You write PySpark."
    assert body["messages"] == [{"role": "user", "content": "Total amount per region?"}]
    assert (body["model"], body["max_tokens"]) == ("claude-test", 300)
    # SDK 2.x speaks an API version that rejects sampling parameters; older SDKs send temperature.
    assert body.get("temperature", 0.1) == 0.1


def test_anthropic_needs_a_key() -> None:
    with pytest.raises(UsageError, match="ANTHROPIC_API_KEY"):
        get_llm("anthropic:claude-test")


def test_anthropic_bad_key(serve: Callable[..., FakeServer], monkeypatch: pytest.MonkeyPatch) -> None:
    error = {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}
    server = serve(lambda request: (401, error))
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "wrong")
    with pytest.raises(ProviderError) as err:
        get_llm("anthropic:claude-test", SETTINGS).complete(MESSAGES, temperature=0.0, max_tokens=10)
    assert "401" in err.value.message and "ANTHROPIC_API_KEY" in (err.value.suggestion or "")


# -- bedrock -----------------------------------------------------------------------------------------

BEDROCK_MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"


def converse(request: dict[str, Any]) -> Reply:
    return 200, {
        "output": {"message": {"role": "assistant", "content": [{"text": FENCED_REPLY}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 5, "outputTokens": 7, "totalTokens": 12},
        "metrics": {"latencyMs": 1},
    }


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")


def test_bedrock_against_a_fake_converse_endpoint(
    serve: Callable[..., FakeServer], monkeypatch: pytest.MonkeyPatch, aws: None
) -> None:
    server = serve(converse)
    monkeypatch.setenv("ASKSPARK_BEDROCK_ENDPOINT_URL", server.url)
    llm = get_llm(f"bedrock:{BEDROCK_MODEL}", SETTINGS)
    assert llm.id == f"bedrock:{BEDROCK_MODEL}"

    completion = llm.complete(MESSAGES, temperature=0.0, max_tokens=200)

    assert completion.model_dump() == {
        "text": FENCED_REPLY,
        "model": BEDROCK_MODEL,
        "prompt_tokens": 5,
        "completion_tokens": 7,
    }
    [request] = server.requests
    assert request["path"] == f"/model/{BEDROCK_MODEL}/converse"
    assert "eu-west-1/bedrock" in request["headers"]["authorization"]  # SigV4 scope names the region
    assert request["json"] == {
        "messages": [{"role": "user", "content": [{"text": "Total amount per region?"}]}],
        "system": [{"text": "You write PySpark."}],
        "inferenceConfig": {"temperature": 0.0, "maxTokens": 200},
    }


def test_bedrock_access_denied(
    serve: Callable[..., FakeServer], monkeypatch: pytest.MonkeyPatch, aws: None
) -> None:
    error = {"__type": "AccessDeniedException", "message": "You don't have access to the model."}
    server = serve(lambda request: (403, error))
    monkeypatch.setenv("ASKSPARK_BEDROCK_ENDPOINT_URL", server.url)
    with pytest.raises(ProviderError) as err:
        get_llm(f"bedrock:{BEDROCK_MODEL}", SETTINGS).complete(MESSAGES, temperature=0.0, max_tokens=10)
    assert "AccessDeniedException" in err.value.message
    assert "Bedrock console" in (err.value.suggestion or "")


def test_bedrock_connection_refused(monkeypatch: pytest.MonkeyPatch, aws: None) -> None:
    monkeypatch.setenv("ASKSPARK_BEDROCK_ENDPOINT_URL", refused_url())
    with pytest.raises(ProviderError, match="cannot reach Bedrock"):
        get_llm(f"bedrock:{BEDROCK_MODEL}", SETTINGS).complete(MESSAGES, temperature=0.0, max_tokens=10)


def test_bedrock_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASKSPARK_BEDROCK_ENDPOINT_URL", refused_url())
    with pytest.raises(ProviderError) as err:
        get_llm(f"bedrock:{BEDROCK_MODEL}", SETTINGS).complete(MESSAGES, temperature=0.0, max_tokens=10)
    assert "AWS_ACCESS_KEY_ID" in (err.value.suggestion or "")
