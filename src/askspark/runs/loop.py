"""The repair loop, in code: generate, validate, dry-run, execute; on failure classify and try again.

Each attempt is recorded whatever happens. The loop stops on success, when the attempt limit is reached,
when an error new code cannot fix comes up (engine unavailable, permission, provider down), or when
the same error comes back on consecutive attempts (``stop_on_repeat``). The temperature rises on
each retry so a repeated failure is re-drawn, not repeated.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from askspark.catalog.base import TableInfo
from askspark.context.privacy import visible_tables
from askspark.context.prompt import ContextOptions, build_messages
from askspark.engines.base import Engine, Job, Limits, bindings_for, view_names
from askspark.errors import AskSparkError
from askspark.llm.base import LLM
from askspark.llm.extract import extract_code
from askspark.record import Answer, Attempt, ErrorKind, Failure
from askspark.results.summary import summarize
from askspark.runs.store import RunStore
from askspark.settings import Settings
from askspark.validate import validate_static

TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8)

Listener = Callable[[str, dict[str, object]], None]
USER_CODE = "user-code"  # the model id of a run whose code a person wrote or edited


def temperature_for(number: int) -> float:
    """Temperature 0 first, then rising: a retry draws a different answer."""
    return TEMPERATURES[min(number - 1, len(TEMPERATURES) - 1)]


def stop_reason(attempts: list[Attempt], settings: Settings) -> str | None:
    """Why the loop must stop after the last attempt, or None to go on."""
    last = attempts[-1].error
    if last is None:
        return None
    if not last.kind.fixable:
        return f"{last.kind.value} cannot be fixed by new code"
    if len(attempts) >= settings.max_attempts:
        return f"reached the limit of {settings.max_attempts} attempts"
    previous = attempts[-2].error if len(attempts) > 1 else None
    if settings.stop_on_repeat and previous is not None and previous.signature() == last.signature():
        return "the same error came back twice"
    return None


class Run:
    """One question's run: its record, and the parts it uses."""

    def __init__(
        self,
        question: str,
        tables: list[TableInfo],
        *,
        llm: LLM | None,
        engine: Engine,
        store: RunStore,
        settings: Settings,
        listener: Listener | None = None,
        run_id: str | None = None,
    ) -> None:
        self.question, self.tables, self.llm, self.engine = question, tables, llm, engine
        self.store, self.settings = store, settings
        self.listener = listener or (lambda event, data: None)
        # The model sees only what the privacy settings allow; the engine binds the real tables.
        shown = visible_tables(tables, settings.privacy, settings.privacy_columns)
        self.named = list(zip(shown, view_names(tables), strict=True))
        self.bindings = bindings_for(tables)
        self._stored_seconds = 0.0  # time spent saving this run so far
        self.answer = Answer(
            status="running",
            run_id=run_id or new_run_id(),
            question=question,
            engine=engine.id,
            model=llm.id if llm is not None else USER_CODE,
            tables=[t.qualified_name for t in tables],
            created_at=datetime.now(UTC),
        )
        if not settings.sandbox:
            self.answer.notices.append(
                "SANDBOX DISABLED (ASKSPARK_SANDBOX=false): generated code ran unconfined"
            )

    @property
    def contract(self) -> str:
        """The code contract of the engine: ``spark`` (answer(spark, tables)) or ``ray``."""
        return self.engine.contract

    @property
    def style(self) -> str:
        """What the prompt asks for: Ray code for a Ray engine, else the model's own style."""
        if self.contract == "ray":
            return "ray"
        return self.llm.style if self.llm is not None else "python"

    def execute(self) -> Answer:
        """Run attempts until success or a stop reason; the answer is saved after every attempt."""
        start = time.perf_counter()
        self.save()
        reason = None
        while reason is None:
            attempt = self.attempt(len(self.answer.attempts) + 1)
            self.answer.attempts.append(attempt)
            self.answer.seconds = time.perf_counter() - start
            self.save()
            self.listener("attempt", attempt.model_dump(mode="json"))
            if attempt.error is None:
                break
            reason = stop_reason(self.answer.attempts, self.settings)
        return self.finish(reason, time.perf_counter() - start)

    def execute_code(self, code: str, rerun_of: str | None = None) -> Answer:
        """Run code a person wrote or edited, without the model: one attempt through the same static
        validation, dry run and sandbox as the model's code (it is just as untrusted)."""
        start = time.perf_counter()
        self.answer.rerun_of = rerun_of
        self.store.save(self.answer)
        attempt = Attempt(number=1, code=code, stage="validate")
        self.listener("stage", {"attempt": 1, "stage": "validate"})
        self.check_and_run(attempt)
        attempt.seconds = time.perf_counter() - start
        self.answer.attempts.append(attempt)
        self.listener("attempt", attempt.model_dump(mode="json"))
        reason = None if attempt.error is None else "edited code failed; edit it and run it again"
        return self.finish(reason, time.perf_counter() - start)

    def finish(self, reason: str | None, seconds: float) -> Answer:
        last = self.answer.attempts[-1]
        self.answer.status = "succeeded" if last.error is None else "failed"
        self.answer.code = last.code
        self.answer.error = last.error
        self.answer.stop_reason = reason
        self.answer.seconds = seconds
        self.answer.summary = summarize(self.answer)
        self.save()
        self.listener("done", {"status": self.answer.status, "run_id": self.answer.run_id})
        return self.answer

    def save(self) -> None:
        """Save the answer document. ``timings["store"]`` counts the saves before this one, so the
        stored document and the one returned are the same (the last save cannot time itself)."""
        self.answer.timings["store"] = self._stored_seconds
        start = time.perf_counter()
        self.store.save(self.answer)
        self._stored_seconds += time.perf_counter() - start

    def attempt(self, number: int) -> Attempt:
        attempt = Attempt(number=number, code=None, stage="generate", temperature=temperature_for(number))
        self.listener("stage", {"attempt": number, "stage": "generate"})
        start = time.perf_counter()
        try:
            self.generate(attempt)
        except AskSparkError as exc:  # a provider that is down: recorded, never raised out
            attempt.error = Failure(kind=kind_of(exc), message=exc.message, suggestion=exc.suggestion)
        if attempt.error is None:
            self.check_and_run(attempt)
        attempt.seconds = time.perf_counter() - start
        return attempt

    def check_and_run(self, attempt: Attempt) -> None:
        """Validate the attempt's code, then dry-run and execute it on the engine; failures are recorded."""
        try:
            self.validate(attempt)
            if attempt.error is None:
                self.run_on_engine(attempt)
        except AskSparkError as exc:  # an engine that is down: recorded, never raised out
            attempt.error = Failure(kind=kind_of(exc), message=exc.message, suggestion=exc.suggestion)

    def generate(self, attempt: Attempt) -> None:
        assert self.llm is not None, "a run without a model only executes given code"
        start = time.perf_counter()
        messages = build_messages(
            self.question,
            self.named,
            style=self.style,
            history=self.answer.attempts,
            samples=self.settings.sample_values,
            options=ContextOptions.from_settings(self.settings),
        )
        attempt.timings["prompt"] = time.perf_counter() - start
        start = time.perf_counter()
        completion = self.llm.complete(
            messages, temperature=attempt.temperature or 0.0, max_tokens=self.settings.llm_max_tokens
        )
        attempt.timings["generate"] = time.perf_counter() - start
        attempt.prompt_tokens, attempt.completion_tokens = (
            completion.prompt_tokens,
            completion.completion_tokens,
        )
        attempt.code = extract_code(completion.text, "python" if self.style == "ray" else self.llm.style)
        if attempt.code is None:
            attempt.code = completion.text
            attempt.error = Failure(
                kind=ErrorKind.NO_CODE,
                message="the reply held no code",
                suggestion="reply with one fenced code block"
                if self.style != "sql"
                else "reply with one ```sql block",
            )

    def validate(self, attempt: Attempt) -> None:
        attempt.stage = "validate"
        self.listener("stage", {"attempt": attempt.number, "stage": "validate"})
        start = time.perf_counter()
        failures = validate_static(attempt.code or "", contract=self.contract)
        attempt.timings["validate"] = time.perf_counter() - start
        if failures:
            attempt.error = _merge(failures)

    def run_on_engine(self, attempt: Attempt) -> None:
        attempt.stage = "dry_run"
        self.listener("stage", {"attempt": attempt.number, "stage": "dry_run"})
        job = Job(
            run_id=self.answer.run_id,
            attempt=attempt.number,
            code=attempt.code or "",
            tables=self.bindings,
            limits=self.limits(),
            output_dir=str(self.settings.runs_dir / self.answer.run_id),
        )
        execution = self.engine.run(job)
        attempt.stage = "execute" if execution.stage == "execute" else "dry_run"
        attempt.timings |= execution.timings
        attempt.logs = execution.logs[-4000:]
        attempt.error = execution.error
        attempt.engine = execution.engine or self.engine.id
        self.answer.engine_used = attempt.engine
        for notice in execution.notices:
            if notice not in self.answer.notices:
                self.answer.notices.append(notice)
        if execution.ok:
            self.answer.result = execution.result

    def limits(self) -> Limits:
        s = self.settings
        return Limits(
            timeout_seconds=s.timeout_seconds,
            row_limit=s.row_limit,
            max_result_bytes=s.max_result_bytes,
            memory_mb=s.worker_memory_mb,
        )


def _merge(failures: list[Failure]) -> Failure:
    """All validation findings in one failure: the first one's kind and position, every message."""
    first = failures[0]
    if len(failures) == 1:
        return first
    others = "; ".join(f.message for f in failures[1:4])
    return first.model_copy(update={"message": f"{first.message} (also: {others})"})


def kind_of(exc: AskSparkError) -> ErrorKind:
    if exc.code == "provider" or exc.code == "model_not_installed":
        return ErrorKind.PROVIDER
    if exc.code in {"engine_unavailable", "sandbox_unavailable"}:
        return ErrorKind.ENGINE_UNAVAILABLE
    return ErrorKind.RUNTIME


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:8]
