"""A run's progress events (the listener's ``(event, data)``) as one plain line each, for the interfaces
that show them as text: MCP progress notifications and the notebook magics."""

from __future__ import annotations

from typing import Any


def progress_message(event: str, data: dict[str, Any]) -> str | None:
    """One line per run event, as the CLI shows them."""
    if event == "chosen":
        return "tables chosen by the question: " + ", ".join(c["table"] for c in data["tables"])
    if event == "stage":
        return f"attempt {data['attempt']}: {data['stage']}"
    if event == "attempt":
        error = data.get("error")
        outcome = "ok" if error is None else f"{error['kind']}: {error['message'][:200]}"
        return f"attempt {data['number']} ({data['seconds']:.1f} s): {outcome}"
    if event in ("queued", "running", "done"):
        return f"run {data.get('run_id', '')}: {data.get('status', event)}"
    return None
