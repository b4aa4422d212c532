"""The LLM interface: one method. Providers register by id and are imported only when used."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel

from askspark.errors import unknown_name


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class Completion(BaseModel):
    text: str
    model: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@runtime_checkable
class LLM(Protocol):
    """A model that writes code.

    ``style`` tells the prompt builder what to ask for: ``"python"`` (a full ``answer`` function) or
    ``"sql"`` (one Spark SQL query that the harness wraps into ``answer``; small models do better so).
    """

    id: str
    style: Literal["python", "sql"]

    def complete(self, messages: list[Message], *, temperature: float, max_tokens: int) -> Completion: ...


@runtime_checkable
class ManyLLM(Protocol):
    """The optional second method: several completions of one prompt, one per temperature.

    A provider that can do better than one call per completion (OpenAI's ``n``, a shared prompt
    cache, the embedded model's shared prompt read and batched decoding) defines it; :func:`complete_many`
    falls back to calling ``complete`` in a loop.
    """

    def complete_many(
        self, messages: list[Message], *, temperatures: Sequence[float], max_tokens: int
    ) -> list[Completion]: ...


def complete_many(
    llm: LLM, messages: list[Message], *, temperatures: Sequence[float], max_tokens: int
) -> list[Completion]:
    """One completion per temperature, in order: the provider's own ``complete_many`` when it has one."""
    if isinstance(llm, ManyLLM):
        return llm.complete_many(messages, temperatures=temperatures, max_tokens=max_tokens)
    return [llm.complete(messages, temperature=t, max_tokens=max_tokens) for t in temperatures]


# Candidates per attempt when the ``candidates`` setting is unset, by model id: the small embedded model
# answers with a vote of up to 3 readings (it flagged 8 of 14 wrong answers on northwind's held-out set,
# against 4 with one reading; docs/evaluation.md). API models answer with one unless asked.
DEFAULT_CANDIDATES: dict[str, int] = {"embedded": 3}


def candidates_for(llm: LLM, setting: int | None) -> int:
    """The candidates an attempt asks the model for: the setting when given, else the model's default."""
    return setting if setting is not None else DEFAULT_CANDIDATES.get(llm.id, 1)


# Providers that write the answer's sentences when the ``written_answer`` setting is unset: the API
# models, for which a short call is cheap. The embedded model does not by default: it wrote SQL, not
# sentences, on 5 of 5 probes, at seconds per call on a CPU (docs/evaluation.md); the scripted one only
# when a test asks for it.
WRITES_ANSWER = ("openai", "anthropic", "bedrock")


def written_answer_for(llm: LLM, setting: bool | None) -> bool:
    """Whether the model writes the answer's sentences: the setting when given, else by provider."""
    return setting if setting is not None else llm.id.split(":", 1)[0] in WRITES_ANSWER


# Providers that get the clarification rule when the ``clarify`` setting is unset: the embedded model
# never answered with it on unanswerable questions (0/4) and its held-out accuracy with the extra rule
# is not measured, so its prompt stays as measured.
CLARIFIES = ("openai", "anthropic", "bedrock", "scripted")


def clarify_for(llm: LLM | None, setting: bool | None) -> bool:
    """Whether the model may answer NEEDS_CLARIFICATION: the setting when given, else by provider."""
    if setting is not None:
        return setting
    return llm is not None and llm.id.split(":", 1)[0] in CLARIFIES


# provider id -> "module:factory"; a factory takes (name, settings) and returns an LLM.
PROVIDERS: dict[str, str] = {
    "embedded": "askspark.llm.embedded:create",
    "openai": "askspark.llm.openai_compat:create",
    "anthropic": "askspark.llm.anthropic:create",
    "bedrock": "askspark.llm.bedrock:create",
    "scripted": "askspark.llm.scripted:create",
}


def get_llm(model_id: str, settings: object | None = None) -> LLM:
    """Resolve ``provider[:name]`` (``openai:gpt-4o-mini``, ``embedded``) to an LLM, lazily.

    Raises:
        UsageError: unknown provider, with a did-you-mean.
        MissingExtraError: the provider's SDK is not installed, with the pip command.
    """
    provider, _, name = model_id.partition(":")
    if provider not in PROVIDERS:
        raise unknown_name("model provider", provider, PROVIDERS)
    module_name, _, factory = PROVIDERS[provider].partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, factory)(name, settings)
