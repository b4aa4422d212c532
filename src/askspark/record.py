"""The answer document: what one run returns and what the run store keeps.

These models are the contract between the pipeline stages and every interface (Python, CLI ``--json``,
HTTP). ``Answer.model_dump(mode="json")`` is the JSON document.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, computed_field

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

MAX_FRAME_ROWS = 1_000_000  # Answer.to_arrow / to_pandas: rows read from the full result at most
HTML_ROWS = 20  # result rows in an answer's notebook display
VL_VERSION = "6.4"  # the Vega-Lite vl-convert renders with: the web UI's (interfaces/web/package.json)


class ErrorKind(StrEnum):
    """Why an attempt failed. The repair loop decides from the kind whether new code can help."""

    NO_CODE = "no_code"  # the model's reply held no code
    SYNTAX = "syntax"  # Python or SQL did not parse
    POLICY = "policy"  # the validator's policy rejected a construct
    CONTRACT = "contract"  # no answer(spark, tables) function, or it did not return a DataFrame
    UNRESOLVED_COLUMN = "unresolved_column"
    UNRESOLVED_TABLE = "unresolved_table"
    TYPE_MISMATCH = "type_mismatch"
    RUNTIME = "runtime"
    TIMEOUT = "timeout"
    OUT_OF_MEMORY = "out_of_memory"
    PERMISSION = "permission"
    ENGINE_UNAVAILABLE = "engine_unavailable"
    PROVIDER = "provider"  # the LLM could not be reached
    SUSPECT_RESULT = (
        "suspect_result"  # the code ran, but its result contradicts the question (results/checks.py)
    )

    @property
    def fixable(self) -> bool:
        """Whether new code from the model can fix this kind of failure."""
        return self not in {ErrorKind.PERMISSION, ErrorKind.ENGINE_UNAVAILABLE, ErrorKind.PROVIDER}


class Failure(BaseModel):
    """A short, structured account of one failure, fed back to the model on the next attempt."""

    kind: ErrorKind
    message: str
    rule: str | None = None  # the validator rule or Spark error class
    line: int | None = None
    column: int | None = None
    suggestion: str | None = None

    def signature(self) -> tuple[str, str, str | None]:
        """What makes two failures 'the same error' for early stopping."""
        return (self.kind.value, self.message.strip()[:300], self.rule)


class ColumnInfo(BaseModel):
    name: str
    type: str


class ResultPreview(BaseModel):
    """The bounded result: at most ``row_limit`` rows, ``truncated`` when there were more."""

    columns: list[ColumnInfo]
    rows: list[list[Any]]
    truncated: bool
    location: str | None = None  # directory of the full result (Parquet)
    row_count: int | None = None  # total rows when known (always known when not truncated)


Stage = Literal["generate", "validate", "dry_run", "execute"]


class CandidateRecord(BaseModel):
    """One of an attempt's candidate codes (setting ``candidates`` > 1): nothing the model wrote is lost.

    ``group`` numbers the distinct results of the attempt (0 is the chosen one); ``duplicate_of`` is the
    earlier candidate with the very same code: not run again, but counted in the vote as agreeing with it
    (two samples that wrote the same code are two readings of the question).
    """

    number: int  # 1 = the greedy candidate, at the attempt's temperature
    code: str | None
    temperature: float
    stage: Stage = "generate"
    error: Failure | None = None
    group: int | None = None
    duplicate_of: int | None = None
    seconds: float = 0.0
    rewrite: str | None = None  # the rules askspark applied to the model's code, comma-separated


class Confidence(BaseModel):
    """How many of an attempt's executed candidates returned the chosen result, and whether that is
    low: the one definition the CLI, HTTP, web UI, MCP and the eval's honesty figures share."""

    agree: int
    executed: int
    share: float  # agree / executed
    asked: int  # the setting: candidates asked for at most (adaptive: fewer when the first agree)
    generated: int = 0  # candidates generated, run or not (0 in documents from before it was kept)
    doubted: int = 0  # readings outside the chosen group whose result failed a result check

    @property
    def disagree(self) -> int:
        """Readings with another result that passed every check: a real other reading."""
        return self.executed - self.agree - self.doubted

    @property
    def written(self) -> int:
        """Candidates written (``executed`` for a document from before ``generated`` was kept)."""
        return max(self.generated, self.executed)

    @property
    def lone(self) -> bool:
        """Several candidates were written but nothing backs the chosen result but itself."""
        return self.agree < 2 and self.written >= 2

    @computed_field  # type: ignore[prop-decorator]
    @property
    def low(self) -> bool:
        """Another clean reading disagrees, or the chosen one stands alone. Readings that failed a
        check do not count against a clean answer: they are wrong by a check's word, not a doubt."""
        return self.disagree > 0 or self.lone

    @computed_field  # type: ignore[prop-decorator]
    @property
    def text(self) -> str:
        """'2 of 3 readings agree', '1 of 3 readings gave this answer and none confirmed it; 2 did not run'."""
        head = f"{self.agree} of {self.executed} readings agree"
        if self.lone and not self.disagree:
            head = f"{self.agree} of {self.written} readings gave this answer and none confirmed it"
        others = [f"{self.doubted} failed a result check"] if self.doubted else []
        if (not_run := self.generated - self.executed) > 0:
            others.append(f"{not_run} did not run")
        return head + ("; " + ", ".join(others) if others else "")


class Alternative(BaseModel):
    """Another distinct result the candidates gave: its code, a bounded preview, how many gave it."""

    code: str
    result: ResultPreview
    count: int
    suspect: bool = False  # its result failed a result check (listed, not counted against the answer)


class Clarification(BaseModel):
    """What the question needs that the selected data does not hold, and the closest things that do."""

    missing: str  # in the model's words
    closest: list[str] = Field(default_factory=list)  # columns, tables, values and terms that exist


class Attempt(BaseModel):
    """One try: the code the model wrote, how far it got, and why it stopped."""

    number: int
    code: str | None
    stage: Stage
    error: Failure | None = None
    seconds: float = 0.0
    timings: dict[str, float] = Field(default_factory=dict)
    temperature: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    logs: str = ""
    engine: str | None = None  # the engine that ran this attempt's code (auto delegates)
    candidates: list[CandidateRecord] = Field(default_factory=list)  # only with several candidates
    clarification: Clarification | None = None  # the model said the data cannot answer (no code)
    # The rules askspark applied (runs/rewrites.py), comma-separated: to the model's code before it ran
    # (date_literal), or to the previous attempt's suspect query (top_per_group: no model call).
    rewrite: str | None = None


class ChosenTable(BaseModel):
    """A table picked by the question when none was named, and why."""

    table: str
    score: float
    reason: str


class Answer(BaseModel):
    """The whole answer document of one run."""

    status: Literal["succeeded", "failed", "running", "queued", "needs_clarification"]
    run_id: str
    question: str
    engine: str  # the engine asked for (local, connect, auto, ...)
    model: str
    tables: list[str] = Field(default_factory=list)
    code: str | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    result: ResultPreview | None = None
    summary: str = ""
    # Who wrote ``summary``: the model, checked against the result (results/grounding.py), or askspark
    # from the result itself (results/summary.py).
    summary_source: Literal["model", "deterministic"] = "deterministic"
    # A Vega-Lite spec of the bounded result, chosen by its shape (results/chart.py); None: no chart fits.
    chart: dict[str, Any] | None = None
    error: Failure | None = None  # why the run failed, when it did
    stop_reason: str | None = None
    created_at: datetime
    seconds: float = 0.0
    # Seconds of the run's own steps outside any attempt: ``catalog`` (reading the selected tables'
    # definitions), ``engine`` (getting a started engine), ``store`` (saving this document),
    # ``written_answer`` (the model writing the answer's sentences, when it did).
    timings: dict[str, float] = Field(default_factory=dict)
    notices: list[str] = Field(default_factory=list)  # includes why auto chose an engine
    rerun_of: str | None = None  # the run whose code a person edited and ran again (no model involved)
    chosen_tables: list[ChosenTable] = Field(default_factory=list)  # when picked by the question
    engine_used: str | None = None  # the engine that ran the last attempt's code
    # With several candidates per attempt: the agreement behind the answer, and the other readings.
    confidence: Confidence | None = None
    alternatives: list[Alternative] = Field(default_factory=list)
    # The result checks this answer failed on every attempt (results/checks.py): it may be wrong.
    suspect: list[str] = Field(default_factory=list)
    # Verified answers (issue 13): the replayed verified code, and the verified runs shown as examples.
    verified: bool = False  # the answer is the code of a verified run, re-run on today's data
    verified_run: str | None = None  # that run (also set when its replay failed and the model answered)
    verified_examples: list[str] = Field(default_factory=list)  # verified runs given as worked examples
    # Follow-up questions (issue 13): a conversation is a chain of runs, named by its first run.
    follow_up_of: str | None = None  # the earlier run this question builds on
    conversation_id: str | None = None  # the first run of the conversation (set on every turn)
    # The knowledge entries the prompt carried (ids: db.table, db.table.column or TARGET#term).
    knowledge_used: list[str] = Field(default_factory=list)
    # With status needs_clarification: what is missing and the closest things that exist.
    clarification: Clarification | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_arrow(self, max_rows: int = MAX_FRAME_ROWS) -> pa.Table:
        """The result as an Arrow table of at most ``max_rows`` rows: read from the stored full result
        when it is here, else built from the answer's rows. Empty (no columns) when there is no result."""
        import pyarrow as pa

        if self.result is None:
            return pa.table({})
        location = Path(self.result.location) if self.result.location else None
        if location is not None and location.exists():
            import pyarrow.dataset as ds

            return ds.dataset(location, format="parquet").head(max_rows)
        names = [c.name for c in self.result.columns]
        return pa.table({n: [row[i] for row in self.result.rows[:max_rows]] for i, n in enumerate(names)})

    def to_pandas(self, max_rows: int = MAX_FRAME_ROWS) -> pd.DataFrame:
        """The result as a pandas DataFrame of at most ``max_rows`` rows (see :meth:`to_arrow`)."""
        return self.to_arrow(max_rows).to_pandas()

    def to_html(self, rows: int = HTML_ROWS) -> str:
        """The answer for a notebook: status, notices, code, attempts, the chart and the first ``rows``
        result rows. Everything from the data or the model is escaped: a hostile cell shows as text."""
        return answer_html(self, rows)

    def _repr_html_(self) -> str:  # Jupyter's rich display
        return self.to_html()


def answer_html(answer: Answer, rows: int = HTML_ROWS) -> str:
    """The notebook display of an answer (:meth:`Answer.to_html`); every value goes through escape."""
    from html import escape

    color = "green" if answer.succeeded else "#b00"
    parts = [
        f'<div class="askspark-answer"><p><b style="color:{color}">{escape(answer.status)}</b> '
        f"run {escape(answer.run_id)} in {answer.seconds:.1f} s: {escape(answer.question)}</p>"
    ]
    parts += [f'<p style="color:#b00">{escape(n)}</p>' for n in [*answer.notices, *answer.suspect]]
    if answer.code:
        parts.append(f"<details open><summary>code</summary><pre>{escape(answer.code)}</pre></details>")
    parts.append(f"<details><summary>{len(answer.attempts)} attempt(s)</summary><ol>")
    for attempt in answer.attempts:
        outcome = "ok" if attempt.error is None else f"{attempt.error.kind.value}: {attempt.error.message}"
        parts.append(f"<li>{escape(attempt.stage)}, {attempt.seconds:.1f} s: {escape(outcome)}</li>")
    parts.append("</ol></details>")
    if answer.chart is not None:
        parts.append(_chart_html(answer.chart))
    if answer.result is not None and rows > 0:
        parts.append(_result_html(answer.result, rows))
    if answer.error is not None and answer.error.suggestion:
        parts.append(f"<p>hint: {escape(answer.error.suggestion)}</p>")
    parts.append(f"<p>{escape(answer.summary)}</p></div>")
    return "".join(parts)


def chart_svg(spec: dict[str, Any]) -> str:
    """The Vega-Lite chart as SVG, rendered offline: vl-convert runs Vega in-process and may load
    nothing from any URL (the spec carries its data).

    Raises:
        ImportError: vl-convert-python (the ``charts`` extra) is not installed.
    """
    import vl_convert as vlc

    return str(vlc.vegalite_to_svg(spec, vl_version=VL_VERSION, allowed_base_urls=[]))


def _chart_html(spec: dict[str, Any]) -> str:
    """The chart as an image of its SVG. An ``<img>`` never runs a script an SVG might carry (the
    labels are data), and a notebook saved with it shows the chart with nothing to load."""
    from base64 import b64encode
    from html import escape

    try:
        svg = chart_svg(spec)
    except ImportError:
        return "<p><small>chart: pip install 'askspark[charts]' to show it</small></p>"
    title = escape(str(spec.get("description", "chart")))
    data = b64encode(svg.encode()).decode()
    return f'<p><img class="askspark-chart" alt="{title}" src="data:image/svg+xml;base64,{data}"></p>'


def _result_html(result: ResultPreview, rows: int) -> str:
    from html import escape

    head = "".join(f"<th>{escape(c.name)}<br><small>{escape(c.type)}</small></th>" for c in result.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{'NULL' if v is None else escape(str(v))}</td>" for v in row) + "</tr>"
        for row in result.rows[:rows]
    )
    more = " (truncated: more in the full result)" if result.truncated else ""
    caption = f"{min(rows, len(result.rows))} of {len(result.rows)} rows shown{more}"
    return (
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table><p><small>{caption}</small></p>"
    )
