"""``/v1/knowledge``: a catalog's knowledge entries over HTTP (the same store as ``askspark knowledge``).

Entry ids are ``db.table[.column]`` or ``TARGET#term``; in a URL the ``#`` is written ``%23``. An
unknown key in a posted entry or YAML file is a 400 in the one error shape, like the CLI's.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import PlainTextResponse

from askspark.catalog.knowledge import (
    Entry,
    KnowledgeStore,
    check_target,
    dump_yaml,
    parse_yaml,
)
from askspark.errors import UsageError
from askspark.settings import Settings

router = APIRouter(prefix="/v1/knowledge", tags=["knowledge"])
CatalogQuery = Annotated[str | None, Query(description="Catalog id (default: the catalog setting).")]


def _store(request: Request, catalog: str | None) -> KnowledgeStore:
    settings: Settings = request.app.state.settings
    return KnowledgeStore(settings, catalog or settings.catalog)


def _entry(data: Any) -> Entry:
    """One posted entry, checked like an entry of a YAML file (JSON is YAML: one parser, one message)."""
    if not isinstance(data, dict):
        raise UsageError("expected one knowledge entry as a JSON object", suggestion="see docs/knowledge.md")
    return parse_yaml(json.dumps({"entries": [data]}), "request body").entries[0]


@router.get("", summary="The catalog's knowledge entries")
def list_entries(
    request: Request,
    catalog: CatalogQuery = None,
    target: Annotated[str | None, Query(description="Only entries about this db or db.table.")] = None,
) -> list[dict[str, Any]]:
    return [e.model_dump(exclude_defaults=True) for e in _store(request, catalog).entries(target)]


@router.post("", status_code=201, summary="Add an entry (or replace the one with its target and term)")
def put_entry(request: Request, body: Annotated[Any, Body()], catalog: CatalogQuery = None) -> dict[str, Any]:
    store = _store(request, catalog)
    entry = _entry(body)
    check_target(entry, request.app.state.settings, store.catalog)
    return store.put(entry).model_dump(exclude_defaults=True)


@router.get("/export", summary="The catalog's entries as a YAML file", response_class=PlainTextResponse)
def export(request: Request, catalog: CatalogQuery = None) -> str:
    store = _store(request, catalog)
    return dump_yaml(store.entries(), store.catalog)


@router.post("/import", summary="Import a YAML knowledge file (the request body)")
def import_yaml(
    request: Request,
    body: Annotated[str, Body(media_type="application/yaml")],
    catalog: CatalogQuery = None,
    replace: bool = False,
) -> dict[str, Any]:
    doc = parse_yaml(body, "request body")
    store = KnowledgeStore(request.app.state.settings, catalog or doc.catalog)
    if replace:
        store.replace_all(doc.entries)
    else:
        for entry in doc.entries:
            store.put(entry)
    return {"catalog": store.catalog, "imported": len(doc.entries)}


@router.get("/{entry_id:path}", summary="One entry")
def get_entry(entry_id: str, request: Request, catalog: CatalogQuery = None) -> dict[str, Any]:
    return _store(request, catalog).get(entry_id).model_dump(exclude_defaults=True)


@router.delete("/{entry_id:path}", summary="Remove one entry")
def delete_entry(entry_id: str, request: Request, catalog: CatalogQuery = None) -> dict[str, Any]:
    return _store(request, catalog).remove(entry_id).model_dump(exclude_defaults=True)
