"""Any OpenAI-compatible Chat Completions endpoint: OpenAI itself, Ollama, vLLM, LM Studio, ...

``--model openai:NAME``. The endpoint and key come from the standard environment variables:

* ``OPENAI_BASE_URL`` -- e.g. ``http://localhost:11434/v1`` for Ollama; unset means api.openai.com.
* ``OPENAI_API_KEY`` -- required for api.openai.com; local servers get a placeholder when it is unset.
* ``ASKSPARK_MODEL_STYLE=sql`` -- ask for one SQL query instead of a PySpark function, which small
  local models get right more often (default ``python``).
"""

from __future__ import annotations

import os
from typing import Any, Literal

from askspark.errors import ProviderError, UsageError, missing_extra
from askspark.llm.base import Completion, Message

DEFAULT_TIMEOUT = 120.0
CHARS_PER_TOKEN_MAX = 32  # a token is ~4 characters; 32 leaves room for any tokenizer
_PLACEHOLDER_KEY = "not-needed"  # Ollama and vLLM ignore the key, but the SDK insists on one
_USAGE = "openai:MODEL, e.g. openai:gpt-4o-mini or openai:qwen2.5-coder for Ollama"


class OpenAICompatLLM:
    """Chat Completions through the official ``openai`` SDK."""

    def __init__(self, client: Any, model: str, *, style: Literal["python", "sql"] = "python") -> None:
        self.id = f"openai:{model}"
        self.style: Literal["python", "sql"] = style
        self.model = model
        self._client = client

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    def complete(self, messages: list[Message], *, temperature: float, max_tokens: int) -> Completion:
        import openai

        try:
            response = self._client.chat.completions.create(
                model=self.model,
                messages=[{"role": m.role, "content": m.content} for m in messages],
                temperature=temperature,
                # max_tokens rather than max_completion_tokens: local servers know only the former.
                max_tokens=max_tokens,
            )
        except openai.APIStatusError as exc:
            raise self._status_error(exc) from exc
        except openai.APIConnectionError as exc:  # includes timeouts
            raise ProviderError(
                f"cannot reach the OpenAI-compatible endpoint at {self.base_url}: {exc}",
                suggestion="check OPENAI_BASE_URL and that the server is running (Ollama: `ollama serve`)",
                base_url=self.base_url,
            ) from exc
        except openai.OpenAIError as exc:
            raise ProviderError(f"the OpenAI-compatible endpoint at {self.base_url} failed: {exc}") from exc
        except ValueError as exc:  # an empty or malformed JSON body (the SDK lets json's error through)
            raise ProviderError(
                f"the endpoint at {self.base_url} answered with malformed JSON: {exc}",
                suggestion="check that OPENAI_BASE_URL points at an OpenAI-compatible /v1 endpoint",
                base_url=self.base_url,
            ) from exc
        if not response.choices:
            raise ProviderError(
                f"the endpoint at {self.base_url} returned no choices", base_url=self.base_url
            )
        text = response.choices[0].message.content or ""
        check_reply_size(text, max_tokens, self.base_url)
        usage = response.usage
        return Completion(
            text=text,
            model=response.model or self.model,
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
        )

    def _status_error(self, exc: Any) -> ProviderError:
        """A ProviderError for an HTTP error answer, with what to check for the usual statuses."""
        status = exc.status_code
        hints = {
            401: "check OPENAI_API_KEY",
            403: "check that OPENAI_API_KEY may use this model",
            404: f"check the model name {self.model!r} (Ollama: `ollama pull {self.model}`) "
            "and OPENAI_BASE_URL",
            429: "rate limited or out of quota; wait and retry, or check your plan",
        }
        return ProviderError(
            f"the OpenAI-compatible endpoint at {self.base_url} answered HTTP {status}: {exc.message}",
            suggestion=hints.get(status, "check OPENAI_BASE_URL and the server's logs"),
            base_url=self.base_url,
            status_code=status,
        )


def check_reply_size(text: str, max_tokens: int, source: str) -> None:
    """Refuse a reply far longer than ``max_tokens`` allow: an endpoint that ignores the limit would
    otherwise put megabytes into the prompt of the next attempt and into every saved run record."""
    allowed = max(max_tokens, 1) * CHARS_PER_TOKEN_MAX
    if len(text) > allowed:
        raise ProviderError(
            f"the endpoint at {source} returned a {len(text):,}-character reply, more than "
            f"max_tokens={max_tokens} allows",
            suggestion="check the server's max_tokens handling (ASKSPARK_LLM_MAX_TOKENS)",
            base_url=source,
        )


def create(name: str, settings: object | None = None) -> OpenAICompatLLM:
    """``openai:NAME`` -> a provider for the endpoint in ``OPENAI_BASE_URL`` (default: OpenAI)."""
    if not name:
        raise UsageError("the openai provider needs a model name", suggestion=_USAGE)
    try:
        import openai
    except ImportError:
        raise missing_extra("the openai provider", "openai", "openai") from None
    base_url = os.environ.get("OPENAI_BASE_URL") or None
    api_key = os.environ.get("OPENAI_API_KEY") or (_PLACEHOLDER_KEY if base_url else None)
    if api_key is None:
        raise UsageError(
            "the openai provider needs OPENAI_API_KEY",
            suggestion="export OPENAI_API_KEY=..., or set OPENAI_BASE_URL to a local OpenAI-compatible "
            "server (Ollama: http://localhost:11434/v1)",
        )
    client = openai.OpenAI(
        api_key=api_key,
        base_url=base_url,
        timeout=float(getattr(settings, "llm_timeout_seconds", DEFAULT_TIMEOUT)),
        max_retries=1,
    )
    return OpenAICompatLLM(client, name, style=style_from_env())


def style_from_env() -> Literal["python", "sql"]:
    """``ASKSPARK_MODEL_STYLE`` (``python`` or ``sql``), default ``python``."""
    style = os.environ.get("ASKSPARK_MODEL_STYLE", "python").strip().lower() or "python"
    if style not in ("python", "sql"):
        raise UsageError(
            f"ASKSPARK_MODEL_STYLE={style!r} is not a model style", suggestion="use python or sql"
        )
    return style  # type: ignore[return-value]
