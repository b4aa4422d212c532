"""askspark: ask questions about your data in plain English; get PySpark code that ran.

    >>> import askspark
    >>> answer = askspark.ask("Which symbol closed highest on average?", tables=["northwind.nasdaq"])
    >>> answer.status, answer.result.rows
    >>> askspark.register("sales", df)  # a pandas or Arrow frame, askable as "sales"

In a notebook, ``%load_ext askspark`` adds the ``%ask`` and ``%%ask`` magics.

Attributes are imported lazily so the sandboxed worker (``askspark.engines.worker``) loads nothing
beyond what it needs.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Answer", "Request", "ask", "register"]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext askspark``: the ``%ask`` and ``%%ask`` magics (askspark.interfaces.notebook)."""
    from askspark.interfaces.notebook import load_ipython_extension as load

    load(ipython)


def __getattr__(name: str) -> Any:
    if name == "ask":
        from askspark.api import ask

        return ask
    if name == "Answer":
        from askspark.record import Answer

        return Answer
    if name == "register":
        from askspark.interfaces.notebook import register

        return register
    if name == "Request":
        from askspark.request import Request

        return Request
    raise AttributeError(name)
