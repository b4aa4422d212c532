"""Every engine, catalog and model provider in the registries is listed where a user looks for it: the
CLI's --help (generated from the registries) and the docs' tables (written by hand, held here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from askspark.catalog import CATALOGS
from askspark.engines.base import ENGINES
from askspark.interfaces.cli import app
from askspark.llm.base import PROVIDERS
from askspark.request import Options

ROOT = Path(__file__).resolve().parents[1]

# command -> the registries its --help must list in full
HELP = {
    ("ask",): {"engine": ENGINES, "catalog": CATALOGS, "model": PROVIDERS},
    ("catalog",): {"catalog": CATALOGS},
    ("catalog", "list"): {"catalog": CATALOGS},
    ("eval",): {"engine": ENGINES, "model": PROVIDERS},
}
# document -> the registry whose every id must start a row of one of its tables (| `id` ... |)
DOCS = {
    "README.md": [ENGINES, PROVIDERS],
    "docs/engines.md": [ENGINES],
    "docs/catalogs.md": [CATALOGS],
}


def help_words(*command: str) -> set[str]:
    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return set(re.findall(r"[\w-]+", result.output))


@pytest.mark.parametrize("command", list(HELP), ids=[" ".join(c) for c in HELP])
def test_help_lists_every_registered_id(command: tuple[str, ...]) -> None:
    words = help_words(*command)
    for registry in HELP[command].values():
        assert set(registry) <= words, sorted(set(registry) - words)


def test_ask_has_a_flag_per_request_option() -> None:
    words = help_words("ask")
    flags = {"tables": "--table", "files": "--file"}
    assert {flags.get(n, "--" + n.replace("_", "-")) for n in Options.model_fields} <= words


@pytest.mark.parametrize("doc", list(DOCS))
def test_docs_tables_list_every_registered_id(doc: str) -> None:
    rows = [line for line in (ROOT / doc).read_text().splitlines() if line.startswith("| `")]
    listed = {re.match(r"\| `([\w-]+)", row).group(1) for row in rows}  # type: ignore[union-attr]
    for registry in DOCS[doc]:
        assert set(registry) <= listed, f"{doc} lists no row for {sorted(set(registry) - listed)}"
