"""The embedded offline model: Qwen2.5-Coder-1.5B-Instruct (GGUF) run in-process by llama.cpp.

It writes one Spark SQL query (``style = "sql"``); the harness wraps it into ``answer``. The model is
loaded lazily on the first :meth:`EmbeddedLLM.complete` and kept for the life of the process, so a
long-lived server or a test session pays the load (1–3 s, ~1.9 GB) once. The prompt is rendered
with the chat template stored in the GGUF file (Qwen's ChatML). Generation goes through
:mod:`askspark.llm.decode`: a prompt reads only what follows its longest cached prefix (the stable rules
and examples placed first are read once), and several candidates share one read and are decoded together.

If the last message has role ``"assistant"`` it is a *pre-start*: the model continues that text and
the returned :class:`~askspark.llm.base.Completion` holds the pre-start plus the continuation.

When ``askspark engine start`` left a model daemon running for this home
(:mod:`askspark.llm.model_server`), :func:`create` returns a client of it instead, so a CLI question
does not pay the load; if the daemon dies, the client falls back to loading the model in-process.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from askspark.errors import ModelNotInstalledError, ProviderError, missing_extra, unknown_name
from askspark.llm.base import LLM, Completion, Message
from askspark.llm.decode import MAX_SEQUENCES, SEQUENCES, Decoder, Draw, Sampling, Timing
from askspark.llm.model_files import MODEL, check_model
from askspark.settings import Settings, get_settings

MAX_TOKENS = 512
"""Hard cap on the tokens the embedded model writes per call (a SQL query is far shorter)."""
N_BATCH = 512
N_UBATCH = 512
SEED = 0
_EXTRA_STOPS = ("<|im_end|>", "<|endoftext|>")
SQL_PRESTART = "```sql\n"
"""Written for the model when the chat ends with the user's turn: it goes straight into the query
(no prose, no other language), and generation stops at the closing fence."""
_CLOSING_FENCE = "\n```"


@dataclass
class _Loaded:
    """A loaded model with its chat formatter and its decoder; ``lock`` serializes generation (llama is
    not thread-safe)."""

    llama: Any
    formatter: Any
    stops: list[str]
    decoder: Decoder
    lock: threading.Lock = field(default_factory=threading.Lock)


_CACHE: dict[tuple[str, int, int, int, int], _Loaded] = {}
_CACHE_LOCK = threading.Lock()


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise missing_extra("the embedded model", "embedded", "llama-cpp-python") from exc
    return llama_cpp


def _formatter(llama: Any) -> tuple[Any, list[str]]:
    """The GGUF's own chat template as a formatter, and the stop strings."""
    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        raise ProviderError(f"the model file {llama.model_path} has no chat template in its metadata")
    model = llama._model
    eos = model.token_get_text(llama.token_eos()) if llama.token_eos() != -1 else ""
    bos = model.token_get_text(llama.token_bos()) if llama.token_bos() != -1 else ""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter(
        template=template, eos_token=eos, bos_token=bos, add_generation_prompt=True
    )
    stops = list(dict.fromkeys([s for s in (eos, *_EXTRA_STOPS) if s]))
    return formatter, stops


def _load(
    path: Path, threads: int, context: int, n_batch: int = N_BATCH, n_ubatch: int = N_UBATCH
) -> _Loaded:
    """The model at ``path``, loaded once per process (per threads/context/batch) and then reused."""
    key = (str(path), threads, context, n_batch, n_ubatch)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = _open(path, threads, context, n_batch, n_ubatch)
        return _CACHE[key]


def _open(path: Path, threads: int, context: int, n_batch: int, n_ubatch: int) -> _Loaded:
    """The model at ``path``, loaded now (benchmarks/model_speed.py loads one per variant)."""
    llama_cpp = _import_llama_cpp()
    try:
        llama = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=context,
            n_threads=threads,
            n_threads_batch=threads,
            n_batch=n_batch,
            n_ubatch=n_ubatch,
            n_gpu_layers=0,
            seed=SEED,
            verbose=False,
        )
        decoder = Decoder(llama, _candidates_context(llama), n_batch)
    except (ValueError, RuntimeError) as exc:
        raise ModelNotInstalledError(
            f"llama.cpp could not load the embedded model {path}: {exc}",
            suggestion="askspark model install --force",
            path=str(path),
        ) from exc
    formatter, stops = _formatter(llama)
    return _Loaded(llama=llama, formatter=formatter, stops=stops, decoder=decoder)


def _candidates_context(llama: Any) -> Any:
    """A context like the one ``Llama`` made, for the decoder's sequences over one unified KV cache
    (so candidates and saved prompts share cells and each may use the whole window); it replaces the
    original, which is freed first so the KV memory is not held twice."""
    import contextlib

    from llama_cpp import _internals

    params = type(llama.context_params).from_buffer_copy(llama.context_params)
    params.n_seq_max, params.kv_unified = SEQUENCES, True
    llama._ctx.close()
    ctx = _internals.LlamaContext(model=llama._model, params=params, verbose=False)
    llama._ctx = llama._stack.enter_context(contextlib.closing(ctx))
    return ctx


def _render(loaded: _Loaded, messages: list[Message]) -> tuple[str, str]:
    """The prompt text (ending in the assistant turn opener) and the assistant pre-start, if any."""
    prestart = ""
    if messages and messages[-1].role == "assistant":
        prestart = messages[-1].content
        messages = messages[:-1]
    rendered = loaded.formatter(messages=[m.model_dump() for m in messages])
    return rendered.prompt + prestart, prestart


def seed_of(place: int, temperature: float) -> int:
    """A candidate's seed from its place in the call and its temperature. An attempt's candidates have
    distinct temperatures (``runs.loop.CANDIDATE_TEMPERATURES``), so one asked for later, alone, gets a
    seed of its own (by place alone it would restart at ``SEED`` and, at a nearby temperature, often
    redraw the earlier candidate: two equal codes count as agreement in the vote)."""
    return SEED + place + round(temperature * 100)


class EmbeddedLLM:
    """The offline model. Satisfies :class:`askspark.llm.base.LLM`."""

    id = "embedded"
    style: Literal["python", "sql"] = "sql"

    def __init__(self, settings: Settings, path: Path | None = None) -> None:
        self.settings = settings
        self._path = path
        self.model = MODEL.name if path is None else path.stem
        self.last_timing = Timing()  # where the last call's time went (for benchmarks/model_speed.py)

    @property
    def path(self) -> Path:
        """The model file, checked cheaply (size + stamp) when it is the default model."""
        return self._path if self._path is not None else check_model(self.settings)

    def _loaded(self) -> _Loaded:
        path = self.path
        if not path.is_file():
            raise ModelNotInstalledError(f"model file {path} does not exist", path=str(path))
        return _load(path, self.settings.model_threads, self.settings.model_context)

    def complete(self, messages: list[Message], *, temperature: float, max_tokens: int) -> Completion:
        """Continue the chat; deterministic at temperature 0.

        A chat that ends with the user's turn is pre-started with ``SQL_PRESTART`` (this model writes
        SQL); the returned text then holds the whole fenced block, closing fence included.
        """
        return self.complete_many(messages, temperatures=[temperature], max_tokens=max_tokens)[0]

    def complete_many(
        self, messages: list[Message], *, temperatures: Sequence[float], max_tokens: int
    ) -> list[Completion]:
        """One completion per temperature, each with its own seed (with one seed, draws at nearby
        temperatures often come out identical): :func:`seed_of` its place and temperature, so the
        same call draws the same candidates again, and a later call for more candidates of the same
        prompt (at other temperatures) does not redraw an earlier one. The prompt is read once, and
        only the part after what the last prompt shared with it; the candidates are decoded together
        (:mod:`askspark.llm.decode`)."""
        samplings = [Sampling(temperature=t, seed=seed_of(i, t)) for i, t in enumerate(temperatures)]
        out: list[Completion] = []
        for begin in range(0, len(samplings), MAX_SEQUENCES):
            out += self._complete(messages, samplings[begin : begin + MAX_SEQUENCES], max_tokens)
        return out

    def _complete(
        self, messages: list[Message], samplings: list[Sampling], max_tokens: int
    ) -> list[Completion]:
        loaded = self._loaded()
        fenced = bool(messages) and messages[-1].role != "assistant"
        if fenced:
            messages = [*messages, Message(role="assistant", content=SQL_PRESTART)]
        prompt, prestart = _render(loaded, messages)
        stops = [*loaded.stops, _CLOSING_FENCE] if fenced else loaded.stops
        with loaded.lock:
            tokens = loaded.llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
            limit = max(1, min(max_tokens, MAX_TOKENS))
            try:
                draws, self.last_timing = loaded.decoder.complete(tokens, samplings, limit, stops)
            except (ValueError, RuntimeError) as exc:  # the prompt exceeds the window; llama_decode failed
                raise ProviderError(
                    f"the embedded model could not answer: {exc}",
                    suggestion="shorten the question or raise ASKSPARK_MODEL_CONTEXT",
                    prompt_tokens=len(tokens),
                    context=self.settings.model_context,
                ) from exc
        return [self._completion(d, prestart, fenced, len(tokens)) for d in draws]

    def _completion(self, draw: Draw, prestart: str, fenced: bool, prompt_tokens: int) -> Completion:
        text = prestart + draw.text
        if fenced and draw.finish_reason == "stop" and not text.rstrip().endswith("```"):
            text = text.rstrip("\n") + _CLOSING_FENCE  # the stop string is not part of the returned text
        return Completion(
            text=text, model=self.model, prompt_tokens=prompt_tokens, completion_tokens=draw.tokens
        )


def create(name: str, settings: Settings | None = None) -> LLM:
    """The ``embedded`` provider; ``name`` is empty, the default model's name, or a path to a .gguf file.

    A custom ``.gguf`` path is loaded as is (no pinned hash to check it against). When a healthy model
    daemon of ``settings.engine_dir`` serves the same file, the result forwards to it.
    """
    if importlib.util.find_spec("llama_cpp") is None:
        raise missing_extra("the embedded model", "embedded", "llama-cpp-python")
    settings = settings if settings is not None else get_settings()
    if not name or name == MODEL.name:
        local = EmbeddedLLM(settings)
    elif name.endswith(".gguf"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise ModelNotInstalledError(f"model file {path} does not exist", path=str(path))
        local = EmbeddedLLM(settings, path)
    else:
        raise unknown_name("embedded model", name, [MODEL.name])
    from askspark.llm import model_server

    remote = model_server.connect(settings, model_server.model_file_for(settings, name), lambda: local)
    return remote if remote is not None else local
