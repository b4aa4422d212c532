"""Several completions of one prompt with llama.cpp: the prompt is read once, the candidates together.

The context keeps the tokens of the last prompt in its KV cache (sequence 0). A new prompt reads only
what follows its common prefix with the last one: askspark's prompts start with the same rules and
worked examples, so a new question reads only its own part, and a repair attempt only its feedback.

The candidates then share that prompt: each is a sequence that starts as a copy of sequence 0 (in a
unified cache the copy tags cells, it moves no data), and all are decoded together, one token each per
step, in one batch. On a CPU a step's time is mostly reading the weights, so a step for 3 sequences
costs little more than a step for 1. Each candidate has its own sampler, built exactly as
llama-cpp-python's ``create_completion`` builds it (same chain, its own seed), and the same stop rules,
so a candidate's text is what ``create_completion`` would have written for it alone.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_SEQUENCES = 8
"""Candidates one call may decode together."""
SAVED_PROMPTS = 4
"""Earlier prompts kept in the cache besides the last one, each as a sequence of its own (ids from
MAX_SEQUENCES on): questions about tables asked before find their schemas read already."""
SEQUENCES = MAX_SEQUENCES + SAVED_PROMPTS
"""Sequences the context is created for."""


@dataclass
class Draw:
    """One candidate: the text it wrote (stop string excluded), its tokens, and why it ended."""

    text: str
    tokens: int
    finish_reason: str  # "stop" (an end token or a stop string) or "length"


@dataclass
class Timing:
    """Where one call's time went (seconds from the call's start)."""

    prompt_tokens: int = 0
    read_tokens: int = 0  # of the prompt, read by this call (the rest was in the cache)
    prompt_seconds: float = 0.0
    first_token_seconds: float = 0.0  # until every candidate has its first token
    generated_tokens: int = 0  # over all candidates
    seconds: float = 0.0


@dataclass
class Sampling:
    """How one candidate draws its tokens."""

    temperature: float
    seed: int
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.0


@dataclass
class _Live:
    """A candidate being decoded: its sequence id, sampler and tokens so far."""

    seq: int
    sampler: Any
    tokens: list[int] = field(default_factory=list)
    text: bytes = b""
    finish: str | None = None
    skip: int = 0  # bytes of an unfinished UTF-8 character still to come (no stop check until then)


class Decoder:
    """The KV cache of one llama.cpp context, shared by the prompts and candidates of one model."""

    def __init__(self, llama: Any, context: Any, n_batch: int) -> None:
        import llama_cpp
        from llama_cpp import _internals

        self.llama, self.context, self.n_batch = llama, context, n_batch
        self.n_ctx = llama_cpp.llama_n_ctx(context.ctx)
        self.memory = llama_cpp.llama_get_memory(context.ctx)
        self.batch = _internals.LlamaBatch(n_tokens=max(n_batch, MAX_SEQUENCES), embd=0, n_seq_max=1)
        self.cached: list[int] = []  # the tokens whose KV sequence 0 holds
        self.saved: dict[int, list[int]] = {}  # sequence id -> the prompt it holds, least recent first
        self.keep_saved = SAVED_PROMPTS  # how many (0: only the last prompt, for benchmarks/model_speed.py)

    def complete(
        self, prompt: Sequence[int], samplings: Sequence[Sampling], max_tokens: int, stops: Sequence[str]
    ) -> tuple[list[Draw], Timing]:
        """One draw per sampling, continuing ``prompt``.

        Raises:
            ValueError: the prompt does not fit the context, or more samplings than MAX_SEQUENCES.
        """
        if len(prompt) >= self.n_ctx:
            raise ValueError(f"Requested tokens ({len(prompt)}) exceed context window of {self.n_ctx}")
        if not 1 <= len(samplings) <= MAX_SEQUENCES:
            raise ValueError(f"between 1 and {MAX_SEQUENCES} candidates per call, not {len(samplings)}")
        start = time.perf_counter()
        timing = Timing(prompt_tokens=len(prompt))
        timing.read_tokens, last = self.read(list(prompt))
        timing.prompt_seconds = time.perf_counter() - start
        max_tokens = min(max_tokens, self.n_ctx - len(prompt))  # as create_completion truncates it
        together = max(1, (self.n_ctx - len(prompt)) // max_tokens)  # candidates whose tokens fit at once
        done: list[_Live] = []
        for begin in range(0, len(samplings), together):
            if begin:  # the logits of the prompt's last token were overwritten: read that token again
                _, last = self.read(list(prompt))
            live = [
                _Live(seq=i, sampler=self.sampler(s))
                for i, s in enumerate(samplings[begin : begin + together])
            ]
            try:
                self.generate(live, len(prompt), last, max_tokens, [s.encode() for s in stops], timing, start)
            finally:
                self.forget_candidates(len(prompt), len(live))
            done += live
        timing.seconds = time.perf_counter() - start
        timing.generated_tokens = sum(len(c.tokens) for c in done)
        return [self.draw(c) for c in done], timing

    # --- the prompt -------------------------------------------------------------------------------

    def read(self, prompt: list[int]) -> tuple[int, int]:
        """Make sequence 0 hold ``prompt``, reading only what the cache lacks (at least the last token,
        whose logits the first draws need), and save it. Returns (tokens read, batch index of the last
        logits)."""
        keep = self.reuse(prompt)
        last = 0
        for begin in range(keep, len(prompt), self.n_batch):
            chunk = prompt[begin : begin + self.n_batch]
            self.decode([(token, begin + i, 0) for i, token in enumerate(chunk)], logits_last=True)
            self.cached = prompt[: begin + len(chunk)]
            last = len(chunk) - 1
        self.save(prompt)
        return len(prompt) - keep, last

    def reuse(self, prompt: list[int]) -> int:
        """Leave in sequence 0 the longest cached prefix of ``prompt`` (its own, or a saved prompt's);
        returns its length, never the whole prompt."""
        import llama_cpp

        limit = len(prompt) - 1
        keep = _common_prefix(self.cached, prompt, limit)
        found = {seq: _common_prefix(tokens, prompt, limit) for seq, tokens in self.saved.items()}
        best = max(found, key=lambda seq: found[seq], default=None)
        if best is not None and found[best] > keep:
            keep = found[best]
            llama_cpp.llama_memory_seq_rm(self.memory, 0, 0, -1)
            llama_cpp.llama_memory_seq_cp(self.memory, best, 0, 0, keep)  # tags cells, copies no data
            self.saved[best] = self.saved.pop(best)  # the most recently used
        elif not llama_cpp.llama_memory_seq_rm(self.memory, 0, keep, -1):
            keep = 0  # a cache that cannot drop a suffix: start over
            self.forget_saved()
            llama_cpp.llama_memory_clear(self.memory, True)
        self.cached = prompt[:keep]
        return keep

    def save(self, prompt: list[int]) -> None:
        """Keep ``prompt`` as a saved sequence (replacing the least recently used)."""
        import llama_cpp

        if not self.keep_saved or any(tokens == prompt for tokens in self.saved.values()):
            return
        free = [seq for seq in range(MAX_SEQUENCES, MAX_SEQUENCES + self.keep_saved) if seq not in self.saved]
        seq = free[0] if free else next(iter(self.saved))
        self.saved.pop(seq, None)
        llama_cpp.llama_memory_seq_rm(self.memory, seq, 0, -1)
        llama_cpp.llama_memory_seq_cp(self.memory, 0, seq, 0, -1)
        self.saved[seq] = list(prompt)

    def forget_saved(self) -> None:
        import llama_cpp

        for seq in self.saved:
            llama_cpp.llama_memory_seq_rm(self.memory, seq, 0, -1)
        self.saved.clear()

    def decode(self, items: list[tuple[int, int, int]], *, logits_last: bool) -> None:
        """Decode (token, position, sequence) items; when the cache is full, drop the saved prompts
        and try once more."""
        import llama_cpp

        self._fill(items, logits_last=logits_last)
        try:
            self.context.decode(self.batch)
        except RuntimeError:
            if not self.saved:
                raise
            self.forget_saved()
            for _, position, seq in items:  # whatever part of the batch went in
                llama_cpp.llama_memory_seq_rm(self.memory, seq, position, -1)
            self._fill(items, logits_last=logits_last)
            self.context.decode(self.batch)

    def forget_candidates(self, prompt_length: int, count: int) -> None:
        """Drop the candidates' tokens: the cache holds the prompt alone again."""
        import llama_cpp

        for seq in range(1, count):
            llama_cpp.llama_memory_seq_rm(self.memory, seq, 0, -1)
        llama_cpp.llama_memory_seq_rm(self.memory, 0, prompt_length, -1)

    # --- the candidates ---------------------------------------------------------------------------

    def sampler(self, sampling: Sampling) -> Any:
        """The sampler chain ``create_completion`` builds for these parameters and seed (the same
        builder, so a candidate draws exactly as it would have alone)."""
        self.llama.set_seed(sampling.seed)
        return self.llama._init_sampler(  # the library's own chain: top_k, typical, top_p, min_p, temp, dist
            top_k=sampling.top_k,
            top_p=sampling.top_p,
            min_p=sampling.min_p,
            temp=sampling.temperature,
            repeat_penalty=sampling.repeat_penalty,
        )

    def generate(
        self,
        live: list[_Live],
        prompt_length: int,
        last: int,
        max_tokens: int,
        stops: list[bytes],
        timing: Timing,
        start: float,
    ) -> None:
        """Decode all candidates, one token each per step, until each has finished."""
        import llama_cpp

        for seq in range(1, len(live)):
            llama_cpp.llama_memory_seq_cp(self.memory, 0, seq, 0, -1)
        rows = {c.seq: last for c in live}  # batch index of each candidate's next logits
        while True:
            running = [c for c in live if c.finish is None]
            for c in running:
                self.step(c, c.sampler.sample(self.context, rows[c.seq]), max_tokens, stops)
            if not timing.first_token_seconds:
                timing.first_token_seconds = time.perf_counter() - start
            running = [c for c in running if c.finish is None]
            if not running:
                return
            position = prompt_length + len(running[0].tokens) - 1
            self.decode([(c.tokens[-1], position, c.seq) for c in running], logits_last=False)
            rows = {c.seq: i for i, c in enumerate(running)}

    def step(self, c: _Live, token: int, max_tokens: int, stops: list[bytes]) -> None:
        """Take one drawn token, with ``create_completion``'s rules: an end token stops (and is not
        kept), a stop string stops (the text is cut before it), then the token limit."""
        import llama_cpp

        if llama_cpp.llama_vocab_is_eog(self.llama._model.vocab, token):
            c.finish = "stop"
            return
        c.tokens.append(token)
        c.text = self.llama.detokenize(c.tokens)
        c.skip = _utf8_fix(c.text, c.skip)
        if c.skip > 0:
            c.skip -= 1
            return  # as create_completion: no stop or length check inside a character
        found = next((s for s in stops if s in c.text), None)
        if found is not None:
            c.text, c.finish = c.text[: c.text.index(found)], "stop"
        elif len(c.tokens) >= max_tokens:
            c.finish = "length"

    def draw(self, c: _Live) -> Draw:
        return Draw(
            text=c.text.decode("utf-8", errors="ignore"),
            tokens=len(c.tokens),
            finish_reason=c.finish or "length",
        )

    def _fill(self, items: list[tuple[int, int, int]], *, logits_last: bool) -> None:
        """Put (token, position, sequence) items in the batch; logits for the last item only, or for
        every item (one per candidate)."""
        batch = self.batch.batch
        batch.n_tokens = len(items)
        for i, (token, position, seq) in enumerate(items):
            batch.token[i], batch.pos[i] = token, position
            batch.seq_id[i][0], batch.n_seq_id[i] = seq, 1
            batch.logits[i] = not logits_last or i == len(items) - 1


def _common_prefix(a: Sequence[int], b: Sequence[int], limit: int) -> int:
    """The length of the common prefix of ``a`` and ``b``, at most ``limit``."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y or n >= limit:
            break
        n += 1
    return n


def _utf8_fix(text: bytes, current: int) -> int:
    """create_completion's count of tokens to wait for an unfinished UTF-8 character: a lead byte
    among the last three whose character needs more bytes than follow it (else ``current``)."""
    for index, char in enumerate(text[-3:]):
        k = 3 - index
        for need, pattern in ((2, 192), (3, 224), (4, 240)):
            if need > k and pattern & char == pattern:
                current = need - k
    return current
