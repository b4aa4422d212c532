"""``askspark knowledge add|list|show|rm|import|export``: the knowledge entries of a catalog.

Mounted by interfaces/cli.py (which owns the error handling and the consoles); the store and the YAML
format are in catalog/knowledge.py, the way entries reach the prompt in context/knowledge.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from askspark.catalog.knowledge import (
    Entry,
    KnowledgeStore,
    check_target,
    dump_yaml,
    from_comments,
    read_file,
)
from askspark.errors import UsageError
from askspark.interfaces.cli import CatalogOption, app, err, handles_errors, out
from askspark.settings import get_settings

knowledge_app = typer.Typer(
    help="Business knowledge about the data (descriptions, synonyms, terms, join paths), kept with the "
    "catalog and shown to the model when relevant. See docs/knowledge.md.",
    no_args_is_help=True,
)
app.add_typer(knowledge_app, name="knowledge")
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _store(catalog: str | None) -> KnowledgeStore:
    settings = get_settings()
    return KnowledgeStore(settings, catalog or settings.catalog)


def _print(entries: list[Entry], json_output: bool) -> None:
    if json_output:
        print(json.dumps([e.model_dump(exclude_defaults=True) for e in entries], indent=2))
        return
    table = Table("id", "description", "synonyms", "expression", "joins")
    for e in entries:
        table.add_row(
            e.id, e.description or "", ", ".join(e.synonyms), e.expression or "", "; ".join(e.joins)
        )
    out.print(table)


@knowledge_app.command("add")
@handles_errors()
def knowledge_add(
    target: Annotated[str, typer.Argument(help="DB, DB.TABLE or DB.TABLE.COLUMN the entry is about.")],
    term: Annotated[str | None, typer.Option(help="A business term defined on the target.")] = None,
    description: Annotated[str | None, typer.Option(help="What it holds, or the term's definition.")] = None,
    synonym: Annotated[list[str] | None, typer.Option(help="Another word for it. Repeatable.")] = None,
    expression: Annotated[str | None, typer.Option(help="The term as a Spark SQL expression.")] = None,
    join: Annotated[list[str] | None, typer.Option(help="A join path 'a.x = b.y'. Repeatable.")] = None,
    catalog: CatalogOption = None,
    json_output: JsonOption = False,
) -> None:
    """Add an entry, or replace the one with the same target and term."""
    fields = {"target": target, "term": term, "description": description, "expression": expression}
    entry = _entry(fields | {"synonyms": synonym or [], "joins": join or []})
    store = _store(catalog)
    check_target(entry, get_settings(), store.catalog)
    _print([store.put(entry)], json_output)


def _entry(fields: dict[str, object]) -> Entry:
    """An entry from command-line values; a bad one is a UsageError in the one error shape."""
    from pydantic import ValidationError

    try:
        return Entry.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise UsageError(f"{first['loc'][0]}: {first['msg']}") from None


@knowledge_app.command("list")
@handles_errors()
def knowledge_list(
    target: Annotated[str | None, typer.Argument(help="Only entries about this DB or DB.TABLE.")] = None,
    catalog: CatalogOption = None,
    json_output: JsonOption = False,
) -> None:
    """List the entries of a catalog."""
    _print(_store(catalog).entries(target), json_output)


@knowledge_app.command("show")
@handles_errors()
def knowledge_show(
    entry_id: Annotated[str, typer.Argument(help="DB.TABLE[.COLUMN] or TARGET#TERM.")],
    catalog: CatalogOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show one entry."""
    entry = _store(catalog).get(entry_id)
    if json_output:
        print(entry.model_dump_json(indent=2, exclude_defaults=True))
    else:
        print(dump_yaml([entry], _store(catalog).catalog), end="")


@knowledge_app.command("rm")
@handles_errors()
def knowledge_rm(
    entry_id: Annotated[str, typer.Argument(help="DB.TABLE[.COLUMN] or TARGET#TERM.")],
    catalog: CatalogOption = None,
) -> None:
    """Remove one entry."""
    entry = _store(catalog).remove(entry_id)
    err.print(f"removed {entry.id}", highlight=False)


@knowledge_app.command("import")
@handles_errors()
def knowledge_import(
    path: Annotated[Path | None, typer.Argument(help="A YAML knowledge file.")] = None,
    replace: Annotated[bool, typer.Option(help="Drop the catalog's entries not in the file.")] = False,
    from_catalog: Annotated[
        bool, typer.Option("--from-catalog", help="Import the catalog's table and column comments.")
    ] = False,
    catalog: CatalogOption = None,
) -> None:
    """Import entries from a YAML file (the catalog named in it, unless --catalog), or the catalog's
    own comments (Glue descriptions, Hive and Iceberg comments) as descriptions."""
    if (path is None) == (not from_catalog):
        raise UsageError("give a YAML file or --from-catalog (one of them)")
    settings = get_settings()
    if path is not None:
        doc = read_file(path)
        store = KnowledgeStore(settings, catalog or doc.catalog)
        entries = doc.entries
    else:
        from askspark.catalog import all_tables, get_catalog

        store = _store(catalog)
        entries = from_comments(all_tables(get_catalog(store.catalog, settings)))
    if replace:
        store.replace_all(entries)
    else:
        for entry in entries:
            store.put(entry)
    err.print(f"imported {len(entries)} entries into catalog {store.catalog}", highlight=False)


@knowledge_app.command("export")
@handles_errors()
def knowledge_export(
    path: Annotated[Path | None, typer.Argument(help="Write here (default: standard output).")] = None,
    catalog: CatalogOption = None,
) -> None:
    """Write the catalog's entries as YAML (the file a team keeps in git)."""
    store = _store(catalog)
    text = dump_yaml(store.entries(), store.catalog)
    if path is None:
        print(text, end="")
    else:
        path.write_text(text, encoding="utf-8")
        err.print(f"wrote {len(store.entries())} entries to {path}", highlight=False)
