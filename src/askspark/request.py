"""One request to answer a question: every ask option of every interface, written once.

The Python API, the CLI and the HTTP API build a :class:`Request` and hand it to ``askspark.api.prepare``.
The CLI's flags and the HTTP API's fields are made from :class:`Options`, and each option named like a
setting overrides that setting (:meth:`Options.settings`), so a new option is one field here.

This module sits at the bottom of the package graph: it imports only settings, errors and table
definitions, so any layer may build a request.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

from askspark.catalog.base import TableInfo
from askspark.errors import UsageError
from askspark.settings import Settings, with_overrides


class Options(BaseModel):
    """What a caller may choose besides the question. Each field is a CLI flag (``--row-limit``) and an
    HTTP field (``row_limit``); one named like a setting overrides it for this question."""

    model_config = ConfigDict(extra="forbid")

    tables: list[str] = Field(
        default_factory=list,
        description="Catalog tables as DB.TABLE, or CATALOG:DB.TABLE in another catalog. With no tables "
        "and no files, the tables are picked from the catalog by the question.",
    )
    files: list[str] = Field(
        default_factory=list,
        description="CSV, Parquet or JSON files, registered for this question only.",
    )
    engine: str | None = Field(default=None, description="Engine id.")
    model: str | None = Field(default=None, description="Model id, PROVIDER or PROVIDER:NAME.")
    catalog: str | None = Field(default=None, description="The catalog of table names without CATALOG:.")
    remote: str | None = Field(
        default=None, description="Spark Connect endpoint, sc://HOST:PORT, for the connect and auto engines."
    )
    max_attempts: int | None = Field(default=None, ge=1, le=20, description="Attempts, the first included.")
    row_limit: int | None = Field(default=None, ge=1, description="Rows in the answer.")
    candidates: int | None = Field(
        default=None,
        ge=1,
        le=9,
        description="Candidate answers per attempt, chosen by vote on their results (1 = no vote; unset: "
        "the model's own default, embedded 3).",
    )

    follow_up: str | None = Field(
        default=None,
        description="A run id: this question follows that run (a conversation). It runs on that run's "
        "tables unless it names its own, and the model sees the earlier questions and their code.",
    )

    def settings(self, base: Settings) -> Settings:
        """``base`` with this request's overrides: every option named like a setting, when given."""
        return with_overrides(base, **{name: getattr(self, name) for name in setting_options()})


F = TypeVar("F", bound=Callable[..., Any])


def takes_options(fn: F, parameter: Callable[[str, FieldInfo], inspect.Parameter]) -> F:
    """Give ``fn(..., **options)`` one parameter per field of :class:`Options`, made by ``parameter`` (a
    CLI flag, an MCP tool argument): its required parameters, the options, then its other ones. Typer and
    the MCP SDK read the signature, so a new option needs no edit in either interface."""
    hints = typing.get_type_hints(fn, include_extras=True)
    own = [
        p.replace(annotation=hints[p.name])
        for p in inspect.signature(fn).parameters.values()
        if p.kind is not p.VAR_KEYWORD
    ]
    options = [parameter(name, field) for name, field in Options.model_fields.items()]
    required = [p for p in own if p.default is p.empty]
    returns = hints.get("return", inspect.Signature.empty)
    signature = inspect.Signature(
        [*required, *options, *(p for p in own if p not in required)], return_annotation=returns
    )
    fn.__signature__ = signature  # type: ignore[attr-defined]
    fn.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
    if returns is not inspect.Signature.empty:
        fn.__annotations__["return"] = returns
    return fn


def setting_options() -> list[str]:
    """The options that override the setting of the same name."""
    return [name for name in Options.model_fields if name in Settings.model_fields]


class Request(Options):
    """One run to do: a question (and, for a re-run, given code) on tables and files, with options."""

    question: str = Field(description="The question, in plain English.")
    described: list[TableInfo] = Field(
        default_factory=list,
        description="Tables already described (e.g. by a catalog object), taken as they are; Python only.",
    )
    code: str | None = Field(default=None, description="Code to run instead of asking the model (a re-run).")
    rerun_of: str | None = Field(default=None, description="The run whose code was edited into ``code``.")

    @property
    def names_data(self) -> bool:
        """Whether the caller named tables or files (else the tables are picked by the question)."""
        return bool(self.tables or self.files or self.described)

    @classmethod
    def of(
        cls,
        question: str,
        tables: Sequence[str | TableInfo] = (),
        files: Sequence[str | Path] = (),
        **options: Any,
    ) -> Request:
        """A request from the Python API's arguments: tables by name or described, files as paths.

        Raises:
            UsageError: an unknown option or a bad value (e.g. ``max_attempts=0``).
        """
        names = [t for t in tables if not isinstance(t, TableInfo)]
        described = [t for t in tables if isinstance(t, TableInfo)]
        fields = {"files": [str(f) for f in files], **options}
        try:
            return cls(question=question, tables=names, described=described, **fields)
        except ValidationError as exc:
            raise invalid_option(exc) from None

    def check(self) -> None:
        """Refuse an empty question or empty given code before any work is done."""
        if not self.question.strip():
            raise UsageError("the question is empty", suggestion="ask something about the selected data")
        if self.code is not None and not self.code.strip():
            raise UsageError("the code is empty", suggestion="give a function def answer(spark, tables): ...")


def invalid_option(exc: ValidationError) -> UsageError:
    """A validation failure of a request as one usage error naming the option."""
    first = exc.errors()[0]
    name = ".".join(str(p) for p in first["loc"]) or "request"
    known = ", ".join(Request.model_fields)
    return UsageError(
        f"invalid option {name!r}: {first['msg']}",
        suggestion=f"the options are: {known}",
        errors=[{"option": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()],
    )
