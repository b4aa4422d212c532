"""How fast the embedded model answers real askspark prompts, one configuration beside another.

    PYTHONPATH=src .venv/bin/python benchmarks/model_speed.py [--questions 4] [--variants before,t1,t2]

The prompts are built by ``context/prompt.py`` exactly as a run builds its first attempt, for the first
``--questions`` held-out questions of ``suites/northwind.jsonl`` (in a private ASKSPARK_HOME with the
northwind tables generated). For each question, each variant answers (a) with one greedy completion
and (b) with 3 candidates (the run's temperatures, seeds 0, 1, 2) of the same prompt. Before (a) and
before (b) the variant's cache is set to the previous question's prompt, as in an eval run: the fixed
part (rules, worked examples) is cached and the question's part is read. Variants are interleaved per
question so that a busy machine slows them alike.

Variants: ``before`` is the code path before issue 16 (``Llama.create_completion`` once per candidate,
llama-cpp-python's own prefix reuse), one thread; the others are the decoder of
:mod:`askspark.llm.decode` (prompt read once, candidates decoded together) with N threads, and
``bB``/``uU`` suffixes for n_batch/n_ubatch (e.g. ``t2-u256``).

Printed: per variant, median over questions of the prompt tokens read and prompt tokens/s, the time
to first token, generation tokens/s, seconds for 1 and for 3 candidates and their ratio; plus one cold
read of a whole prompt (nothing cached) for the prompt speed on a long read.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from askspark.api import select_tables
from askspark.catalog.sample import generate_northwind
from askspark.context.privacy import visible_tables
from askspark.context.prompt import ContextOptions, build_messages
from askspark.engines.base import view_names
from askspark.evals.suite import load_suite
from askspark.llm import decode, embedded
from askspark.llm.base import Message
from askspark.llm.decode import Sampling, _common_prefix
from askspark.runs.loop import candidate_temperatures
from askspark.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parent.parent
CANDIDATES = 3


@dataclass
class Call:
    """One measured call: tokens read from the prompt, seconds to the first token and in all."""

    read: int
    prompt_seconds: float
    ttft: float
    generated: int
    seconds: float
    cpu: float = 0.0  # CPU seconds of the calling thread (llama.cpp computes there with 1 thread)


@dataclass
class Variant:
    name: str
    threads: int
    n_batch: int
    n_ubatch: int
    legacy: bool
    saved: bool = True  # the decoder keeps earlier prompts (``-s0``: only the last one)
    loaded: Any = None
    single: list[Call] = field(default_factory=list)
    many: list[Call] = field(default_factory=list)
    cold: Call | None = None


def parse_variant(name: str) -> Variant:
    """``before`` or ``tN[-bB][-uU][-s0]``."""
    if name == "before":
        return Variant(name, 1, 512, 512, legacy=True)
    found = re.fullmatch(r"t(\d+)(?:-b(\d+))?(?:-u(\d+))?(-s0)?", name)
    if not found:
        raise SystemExit(f"unknown variant {name!r}: use 'before' or tN[-bB][-uU], e.g. t2-u256")
    batch = int(found[2] or 512)
    return Variant(name, int(found[1]), batch, int(found[3] or batch), legacy=False, saved=not found[4])


# --- prompts --------------------------------------------------------------------------------------


def prompts(settings: Settings, count: int) -> list[tuple[str, list[Message]]]:
    """The first attempt's messages for the first ``count`` held-out northwind questions."""
    generate_northwind(settings)
    held = [q for q in load_suite(ROOT / "suites" / "northwind.jsonl") if "heldout" in q.tags][:count]
    out = []
    for q in held:
        tables = select_tables(q.tables, [], settings)
        shown = visible_tables(tables, settings.privacy, settings.privacy_columns)
        named = list(zip(shown, view_names(tables), strict=True))
        options = ContextOptions.from_settings(settings)
        out.append(
            (
                q.id,
                build_messages(
                    q.question, named, style="sql", samples=settings.sample_values, options=options
                ),
            )
        )
    return out


def tokens_of(loaded: Any, messages: list[Message]) -> tuple[list[int], list[str]]:
    """The prompt tokens as EmbeddedLLM renders them (pre-started with the SQL fence), and the stops."""
    prompt, _ = embedded._render(
        loaded, [*messages, Message(role="assistant", content=embedded.SQL_PRESTART)]
    )
    stops = [*loaded.stops, "\n```"]
    return loaded.llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True), stops


# --- the two code paths ---------------------------------------------------------------------------


def legacy_call(v: Variant, tokens: list[int], temperature: float, seed: int, stops: list[str]) -> Call:
    """One completion as embedded.py made it before issue 16 (create_completion, streamed to time the
    first token; llama-cpp-python reuses the longest cached prefix but the last token)."""
    llama = v.loaded.llama
    read = len(tokens) - _common_prefix(list(llama._input_ids), tokens, len(tokens) - 1)
    start = time.perf_counter()
    ttft = 0.0
    for _chunk in llama.create_completion(
        prompt=tokens, max_tokens=embedded.MAX_TOKENS, temperature=temperature, top_p=0.95, top_k=40,
        min_p=0.05, repeat_penalty=1.0, seed=seed, stop=stops, stream=True,
    ):  # fmt: skip
        ttft = ttft or time.perf_counter() - start
    seconds = time.perf_counter() - start
    generated = llama.n_tokens - len(tokens) + 1  # the last token drawn is never evaluated
    return Call(read, ttft, ttft, generated, seconds)


def legacy_load(path: Path, settings: Settings) -> Any:
    """The model as embedded.py loaded it before issue 16: a plain Llama, one thread, batch 512."""
    import llama_cpp

    llama = llama_cpp.Llama(
        model_path=str(path), n_ctx=settings.model_context, n_threads=1, n_threads_batch=1, n_batch=512,
        n_gpu_layers=0, seed=embedded.SEED, verbose=False,
    )  # fmt: skip
    return SimpleNamespace(llama=llama)


def legacy_prime(v: Variant, tokens: list[int]) -> None:
    """Leave the previous question's prompt in the cache (one token generated)."""
    v.loaded.llama.create_completion(prompt=tokens, max_tokens=1, temperature=0.0)


def decoder_call(v: Variant, tokens: list[int], temperatures: list[float], stops: list[str]) -> Call:
    samplings = [Sampling(temperature=t, seed=i) for i, t in enumerate(temperatures)]
    _, timing = v.loaded.decoder.complete(tokens, samplings, embedded.MAX_TOKENS, stops)
    return Call(
        timing.read_tokens,
        timing.prompt_seconds,
        timing.first_token_seconds,
        timing.generated_tokens,
        timing.seconds,
    )


def timed(call: Callable[[], Call]) -> Call:
    """The call, with its CPU seconds: on a busy machine they show what an idle core would take."""
    start = time.thread_time()
    out = call()
    out.cpu = time.thread_time() - start
    return out


def measure(v: Variant, previous: list[int], tokens: list[int], stops: list[str]) -> None:
    """(a) one greedy completion, (b) 3 candidates; each after the previous question's prompt."""
    temperatures = candidate_temperatures(0.0, CANDIDATES)
    prime: Callable[[list[int]], Any] = (lambda t: legacy_prime(v, t)) if v.legacy else v.loaded.decoder.read
    prime(previous)
    v.single.append(
        timed(
            lambda: (
                legacy_call(v, tokens, 0.0, 0, stops) if v.legacy else decoder_call(v, tokens, [0.0], stops)
            )
        )
    )
    prime(previous)
    forget(v, tokens)
    if v.legacy:
        calls = [
            timed(lambda t=t, i=i: legacy_call(v, tokens, t, i, stops)) for i, t in enumerate(temperatures)
        ]
        first = calls[0]
        total = (sum(c.generated for c in calls), sum(c.seconds for c in calls), sum(c.cpu for c in calls))
        v.many.append(Call(first.read, first.prompt_seconds, first.ttft, *total))
    else:
        v.many.append(timed(lambda: decoder_call(v, tokens, temperatures, stops)))


def forget(v: Variant, tokens: list[int]) -> None:
    """Drop this question's own prompt from the decoder's saved prompts: (b) reads it like (a) did."""
    if v.legacy:
        return
    import llama_cpp

    decoder = v.loaded.decoder
    for seq in [seq for seq, saved in decoder.saved.items() if saved == tokens]:
        llama_cpp.llama_memory_seq_rm(decoder.memory, seq, 0, -1)
        del decoder.saved[seq]


def cold(v: Variant, tokens: list[int], stops: list[str]) -> Call:
    """A whole prompt read with nothing cached."""
    if v.legacy:
        v.loaded.llama.reset()
        return legacy_call(v, tokens, 0.0, 0, stops)
    v.loaded.decoder.cached = []
    v.loaded.decoder.forget_saved()
    return decoder_call(v, tokens, [0.0], stops)


# --- the table ------------------------------------------------------------------------------------


def reads(prompts: list[list[int]], kept: int) -> list[int]:
    """Prompt tokens each prompt reads, in order, when the cache keeps the last ``kept`` prompts
    (1: llama-cpp-python's own reuse, before issue 16; the decoder keeps 1 + SAVED_PROMPTS, the last
    one among the saved)."""
    cache: list[list[int]] = []
    out = []
    for p in prompts:
        out.append(len(p) - max((_common_prefix(c, p, len(p) - 1) for c in cache), default=0))
        cache = [*(c for c in cache if c != p), p][-kept:]
    return out


def suite_reads(settings: Settings, renderer: Any) -> None:
    """Tokens read per question over the whole held-out suite in its order: no model run needed."""
    tokens = [tokens_of(renderer, m)[0] for _, m in prompts(settings, 10_000)]
    print(
        f"\nPrompt tokens read over the {len(tokens)} northwind held-out questions, in suite order (first attempts):\n"
    )
    print("| cache keeps | median read | total read | of all prompt tokens |\n| --- | ---: | ---: | ---: |")
    for label, kept in (
        ("the last prompt (before)", 1),
        (f"the last {decode.SAVED_PROMPTS} prompts (after)", decode.SAVED_PROMPTS),
    ):
        got = reads(tokens, kept)
        print(
            f"| {label} | {med([float(g) for g in got]):.0f} | {sum(got)} | {sum(got) / sum(map(len, tokens)):.1%} |"
        )


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def row(v: Variant) -> str:
    prompt_rate = med([c.read / c.prompt_seconds for c in v.single if c.prompt_seconds])
    gen_rate = med([(c.generated - 1) / (c.seconds - c.ttft) for c in v.single if c.seconds > c.ttft])
    gen_many = med([c.generated / (c.seconds - c.prompt_seconds) for c in v.many])
    one, three = med([c.seconds for c in v.single]), med([c.seconds for c in v.many])
    ratios = med([m.seconds / s.seconds for s, m in zip(v.single, v.many, strict=True)])
    cpu_one, cpu_three = med([c.cpu for c in v.single]), med([c.cpu for c in v.many])
    cpu_ratios = med([m.cpu / s.cpu for s, m in zip(v.single, v.many, strict=True) if s.cpu])
    cold_rate = v.cold.read / v.cold.prompt_seconds if v.cold else float("nan")
    return (
        f"| {v.name} | {v.threads} | {v.n_batch}/{v.n_ubatch} | {med([c.read for c in v.single]):.0f} | "
        f"{prompt_rate:.1f} | {cold_rate:.1f} | {med([c.ttft for c in v.single]):.2f} | {gen_rate:.1f} | "
        f"{gen_many:.1f} | {one:.2f} | {three:.2f} | {ratios:.2f} | {cpu_one:.2f} | {cpu_three:.2f} | "
        f"{cpu_ratios:.2f} |"
    )


HEADER = (
    "| variant | threads | batch/ubatch | prompt tokens read | prompt tok/s | cold prompt tok/s | TTFT s | "
    "gen tok/s (1) | gen tok/s (3, all) | s for 1 | s for 3 | 3 / 1 | CPU s for 1 | CPU s for 3 | CPU 3 / 1 |\n"
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=4)
    parser.add_argument("--variants", default="before,t1-s0,t1")
    parser.add_argument("--cold", action="store_true", help="also time a whole prompt read, nothing cached")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="askspark-model-speed-"))
    os.environ["ASKSPARK_HOME"] = str(home)
    settings = get_settings(home=home)
    asked = prompts(settings, args.questions + 1)  # the first one only primes the cache
    variants = [parse_variant(name) for name in args.variants.split(",")]
    path = embedded.EmbeddedLLM(settings).path
    for v in variants:
        v.loaded = (
            legacy_load(path, settings)
            if v.legacy
            else embedded._open(path, v.threads, settings.model_context, v.n_batch, v.n_ubatch)
        )
        if not v.legacy:
            v.loaded.decoder.keep_saved = decode.SAVED_PROMPTS if v.saved else 0
    renderer = embedded._load(path, 1, settings.model_context)
    suite_reads(settings, renderer)
    rendered = [(qid, *tokens_of(renderer, m)) for qid, m in asked]
    for v in variants if args.cold else []:
        v.cold = cold(v, rendered[0][1], rendered[0][2])
    for (_, previous, _), (qid, tokens, stops) in zip(rendered, rendered[1:], strict=False):
        for v in variants:
            measure(v, previous, tokens, stops)
            print(
                f"{qid} {v.name}: 1 in {v.single[-1].seconds:.1f} s, 3 in {v.many[-1].seconds:.1f} s",
                flush=True,
            )
    print(
        f"\n{args.questions} northwind held-out questions, prompts of {med([len(t) for _, t, _ in rendered]):.0f} tokens "
        f"(median); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n"
    )
    print(HEADER)
    for v in variants:
        print(row(v))


if __name__ == "__main__":
    main()
