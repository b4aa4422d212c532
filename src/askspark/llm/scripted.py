"""A provider that answers from a script: for tests, evaluation and demos without a model.

From the CLI: ``--model scripted:/path/replies.json`` where the file holds a JSON list of replies, or
``{"style": "sql", "replies": [...]}``. Replies are returned in order, one per call.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NamedTuple

from askspark.errors import NotFoundError, ProviderError, UsageError
from askspark.llm.base import Completion, Message

Style = Literal["python", "sql"]
Reply = str | Completion | BaseException


class ScriptedCall(NamedTuple):
    """One recorded call. Reads as ``call.messages``, ``call[0]`` or ``call["messages"]``."""

    messages: list[Message]
    temperature: float
    max_tokens: int | None = None

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        return getattr(self, key) if isinstance(key, str) else tuple.__getitem__(self, key)


class ScriptedLLM:
    """Answers each call with the next scripted reply, or with ``fn(messages, temperature)``.

    A reply that is an exception is raised instead, to script provider failures. Every call is
    recorded in :attr:`calls`.
    """

    def __init__(
        self,
        replies: list[Reply] | None = None,
        fn: Callable[[list[Message], float], str | Completion] | None = None,
        style: Style = "python",
        id: str = "scripted",
    ) -> None:
        if replies is not None and fn is not None:
            raise UsageError("ScriptedLLM takes replies or fn, not both")
        if style not in ("python", "sql"):
            raise UsageError(f"unknown model style {style!r}", suggestion="use 'python' or 'sql'")
        self.id = id
        self.style: Style = style
        self.calls: list[ScriptedCall] = []
        self._replies = list(replies or [])
        self._fn = fn
        self._lock = threading.Lock()  # the HTTP API may call one provider from several threads

    @property
    def remaining(self) -> int:
        """Replies not used yet (0 when answering with ``fn``)."""
        return len(self._replies)

    def complete(self, messages: list[Message], *, temperature: float, max_tokens: int) -> Completion:
        with self._lock:
            self.calls.append(ScriptedCall(list(messages), temperature, max_tokens))
            if self._fn is not None:
                reply: Reply = self._fn(list(messages), temperature)
            elif self._replies:
                reply = self._replies.pop(0)
            else:
                raise ProviderError(
                    f"scripted provider has no reply left (call {len(self.calls)})",
                    suggestion="add more replies to the script",
                    calls=len(self.calls),
                )
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, Completion):
            return reply
        return Completion(text=reply, model=self.id)


def create(name: str, settings: object | None = None) -> ScriptedLLM:
    """``scripted:PATH``: replies from a JSON file (a list, or ``{"style": ..., "replies": [...]}``)."""
    if not name:
        raise UsageError(
            "the scripted provider needs a JSON file of replies",
            suggestion='use scripted:PATH, where PATH holds ["reply 1", ...] '
            'or {"style": "sql", "replies": [...]}',
        )
    path = Path(name).expanduser()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFoundError(
            f"scripted replies file {str(path)!r} does not exist", suggestion="check the path", path=str(path)
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read scripted replies file {str(path)!r}: {exc}", path=str(path)) from None
    style, replies = _parse_script(data, path)
    return ScriptedLLM(replies=list(replies), style=style, id=f"scripted:{name}")


def _parse_script(data: object, path: Path) -> tuple[Style, list[str]]:
    style: object = "python"
    replies = data
    if isinstance(data, dict):
        style, replies = data.get("style", "python"), data.get("replies")
    if not isinstance(replies, list) or not all(isinstance(r, str) for r in replies):
        raise UsageError(
            f"scripted replies file {str(path)!r} must hold a list of strings",
            suggestion='write ["reply 1", "reply 2"] or {"style": "sql", "replies": ["SELECT ..."]}',
            path=str(path),
        )
    if style not in ("python", "sql"):
        raise UsageError(f"unknown style {style!r} in {str(path)!r}", suggestion="use 'python' or 'sql'")
    return style, replies  # type: ignore[return-value]
