"""askspark: ask questions about your data in plain English; get PySpark code that ran.

    >>> import askspark
    >>> answer = askspark.ask("Which symbol closed highest on average?", tables=["northwind.nasdaq"])
    >>> answer.status, answer.result.rows

Attributes are imported lazily so the sandboxed worker (``askspark.engines.worker``) loads nothing
beyond what it needs.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Answer", "Request", "ask"]


def __getattr__(name: str) -> Any:
    if name == "ask":
        from askspark.api import ask

        return ask
    if name == "Answer":
        from askspark.record import Answer

        return Answer
    if name == "Request":
        from askspark.request import Request

        return Request
    raise AttributeError(name)
