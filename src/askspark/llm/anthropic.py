"""Anthropic's Messages API through the official ``anthropic`` SDK.

``--model anthropic:NAME`` (e.g. ``anthropic:claude-3-5-haiku-latest``). Needs ``ANTHROPIC_API_KEY``;
``ANTHROPIC_BASE_URL`` points it at a proxy or gateway.

Temperature is sent only with SDKs whose ``messages.create`` still takes it: SDK 2.x speaks API version
2026-10-21, which rejects sampling parameters, so there the model's own sampling applies.
"""

from __future__ import annotations

import inspect
import os
from typing import Any, Literal

from askspark.errors import ProviderError, UsageError, missing_extra
from askspark.llm.base import Completion, Message

DEFAULT_TIMEOUT = 120.0
_USAGE = "anthropic:MODEL, e.g. anthropic:claude-3-5-haiku-latest"


class AnthropicLLM:
    """Messages API; system messages go to ``system=``, the rest alternate user/assistant."""

    def __init__(self, client: Any, model: str) -> None:
        self.id = f"anthropic:{model}"
        self.style: Literal["python", "sql"] = "python"
        self.model = model
        self._client = client
        self._takes_temperature = "temperature" in inspect.signature(client.messages.create).parameters

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    def complete(self, messages: list[Message], *, temperature: float, max_tokens: int) -> Completion:
        import anthropic

        system = "\n\n".join(m.content for m in messages if m.role == "system")
        extra: dict[str, Any] = {"system": system} if system else {}
        if self._takes_temperature:
            extra["temperature"] = temperature
        try:
            response = self._client.messages.create(
                model=self.model,
                messages=_alternating(messages),
                max_tokens=max_tokens,
                **extra,
            )
        except anthropic.APIStatusError as exc:
            raise self._status_error(exc) from exc
        except anthropic.APIConnectionError as exc:  # includes timeouts
            raise ProviderError(
                f"cannot reach the Anthropic API at {self.base_url}: {exc}",
                suggestion="check your network, and ANTHROPIC_BASE_URL if you set it",
                base_url=self.base_url,
            ) from exc
        except anthropic.AnthropicError as exc:
            raise ProviderError(f"the Anthropic API at {self.base_url} failed: {exc}") from exc
        text = "".join(getattr(block, "text", "") for block in response.content if block.type == "text")
        return Completion(
            text=text,
            model=response.model or self.model,
            prompt_tokens=response.usage.input_tokens,
            completion_tokens=response.usage.output_tokens,
        )

    def _status_error(self, exc: Any) -> ProviderError:
        status = exc.status_code
        hints = {
            401: "check ANTHROPIC_API_KEY",
            403: "check that ANTHROPIC_API_KEY may use this model",
            404: f"check the model name {self.model!r}",
            429: "rate limited; wait and retry, or check your plan's limits",
            529: "Anthropic is overloaded; retry in a moment",
        }
        return ProviderError(
            f"the Anthropic API at {self.base_url} answered HTTP {status}: {exc.message}",
            suggestion=hints.get(status, "retry later; check ANTHROPIC_BASE_URL if you set it"),
            base_url=self.base_url,
            status_code=status,
        )


def _alternating(messages: list[Message]) -> list[dict[str, str]]:
    """Non-system messages with consecutive same-role ones merged (the API wants them alternating)."""
    out: list[dict[str, str]] = []
    for m in messages:
        if m.role == "system":
            continue
        if out and out[-1]["role"] == m.role:
            out[-1]["content"] += "\n\n" + m.content
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def create(name: str, settings: object | None = None) -> AnthropicLLM:
    """``anthropic:NAME`` -> a Messages API provider keyed by ``ANTHROPIC_API_KEY``."""
    if not name:
        raise UsageError("the anthropic provider needs a model name", suggestion=_USAGE)
    try:
        import anthropic
    except ImportError:
        raise missing_extra("the anthropic provider", "anthropic", "anthropic") from None
    api_key = os.environ.get("ANTHROPIC_API_KEY")
    if not api_key:
        raise UsageError(
            "the anthropic provider needs ANTHROPIC_API_KEY",
            suggestion="export ANTHROPIC_API_KEY=sk-ant-... (from console.anthropic.com)",
        )
    client = anthropic.Anthropic(
        api_key=api_key,
        base_url=os.environ.get("ANTHROPIC_BASE_URL") or None,
        timeout=float(getattr(settings, "llm_timeout_seconds", DEFAULT_TIMEOUT)),
        max_retries=1,
    )
    return AnthropicLLM(client, name)
