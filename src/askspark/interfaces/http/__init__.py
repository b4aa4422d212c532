"""The HTTP API and web UI (``askspark serve``). Needs the ``server`` extra (FastAPI, uvicorn)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from askspark.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    """The FastAPI app serving the API under /v1 and the web UI at /."""
    from askspark.interfaces.http.app import create_app as create

    return create(settings)
