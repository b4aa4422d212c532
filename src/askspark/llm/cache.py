"""Loaded models, shared by every question in this process (the embedded one is 1 GB to load)."""

from __future__ import annotations

import threading

from askspark.llm.base import LLM, get_llm
from askspark.settings import Settings

_lock = threading.Lock()
_llms: dict[str, LLM] = {}


def llm_for(model_id: str, settings: Settings) -> LLM:
    """The model ``model_id``, loaded on first use and kept for the process."""
    with _lock:
        if model_id not in _llms:
            _llms[model_id] = get_llm(model_id, settings)
        return _llms[model_id]
