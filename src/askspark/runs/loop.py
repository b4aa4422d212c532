"""The repair loop, in code: generate, validate, dry-run, execute; on failure classify and try again.

Each attempt is recorded whatever happens. The loop stops on success, when the attempt limit is reached,
when an error new code cannot fix comes up (engine unavailable, permission, provider down), or when
the same error comes back on consecutive attempts (``stop_on_repeat``). The temperature rises on
each retry so a repeated failure is re-drawn, not repeated.

A result that runs is checked against the question (``results/checks.py``); an alarm is a
``suspect_result`` failure the model sees on the next attempt. When no attempt does better, the run
still answers with the last suspect result and says so (``Answer.suspect`` and a notice).

Rewrites (``runs/rewrites.py``, setting ``rewrites``): the model's one-query code is fixed by precise
rules before it runs, and a suspect result whose query a rule can rank within its groups is followed
by that rewritten query as the next attempt, without a model call (``Attempt.rewrite`` names them).

With ``candidates`` > 1 an attempt generates several codes from one prompt, runs every valid one and
answers with the largest group of equal results (``results/vote.py``): two first, more only while they
disagree. Every candidate is kept in ``Attempt.candidates``.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from askspark.catalog.base import TableInfo
from askspark.catalog.knowledge import Entry
from askspark.context.clarify import absent_from_errors, closest, contradiction
from askspark.context.conversation import Turn
from askspark.context.knowledge import relevant
from askspark.context.privacy import visible_tables
from askspark.context.prompt import ContextOptions, build_messages
from askspark.context.verified import Worked, fingerprint
from askspark.context.written import MAX_TOKENS, answer_messages, clean_reply, may_see_result
from askspark.engines.base import Engine, Execution, Job, Limits, bindings_for, view_names
from askspark.errors import AskSparkError, StoreUnavailableError
from askspark.llm.base import (
    LLM,
    Completion,
    Message,
    candidates_for,
    clarify_for,
    complete_many,
    written_answer_for,
)
from askspark.llm.extract import clarification_of, extract_code
from askspark.record import (
    Alternative,
    Answer,
    Attempt,
    CandidateRecord,
    Clarification,
    Confidence,
    ErrorKind,
    Failure,
    ResultPreview,
)
from askspark.results.chart import ChartError, choose_chart
from askspark.results.checks import check_result
from askspark.results.grounding import ungrounded
from askspark.results.summary import summarize
from askspark.results.vote import Reading, Vote, enough, vote
from askspark.runs.rewrites import NOTICES, REWRITES, fix_before_run, rewrite
from askspark.runs.store import RunStore, Verified
from askspark.settings import Settings
from askspark.validate import validate_static

TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8)
CANDIDATE_TEMPERATURES = (0.5, 0.7, 0.9, 0.6, 0.8, 1.0, 0.55, 0.75)
"""Temperatures of the candidates after the greedy one: higher, so each is a different reading."""
FIRST_ROUND = 2  # candidates generated before looking at their results
CLARIFY_RULE = "needs_clarification"  # the rule of a candidate's failure that asked for clarification

Listener = Callable[[str, dict[str, object]], None]
USER_CODE = "user-code"  # the model id of a run whose code a person wrote or edited


def temperature_for(number: int) -> float:
    """Temperature 0 first, then rising: a retry draws a different answer."""
    return TEMPERATURES[min(number - 1, len(TEMPERATURES) - 1)]


def candidate_temperatures(first: float, count: int) -> list[float]:
    """The greedy candidate at the attempt's temperature, the others at rising, higher ones."""
    rest = [t for t in CANDIDATE_TEMPERATURES if t > first] or [CANDIDATE_TEMPERATURES[-1]]
    return [first, *(rest[i % len(rest)] for i in range(count - 1))]


@dataclass
class Outcome:
    """What an attempt that returned a result answered with, kept until the run picks its answer."""

    result: ResultPreview
    alarms: list[str] = field(default_factory=list)  # the result checks it failed
    confidence: Confidence | None = None
    alternatives: list[Alternative] = field(default_factory=list)


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
        knowledge: Sequence[Entry] = (),
    ) -> None:
        self.question, self.tables, self.llm, self.engine = question, tables, llm, engine
        self.knowledge = list(knowledge)  # every entry of the tables' catalogs; the prompt gets the relevant
        self._shown: list[Entry] | None = None
        clarify = clarify_for(llm, settings.clarify)  # the setting, else the provider's default
        self.store, self.settings = store, settings.model_copy(update={"clarify": clarify})
        self.listener = listener or (lambda event, data: None)
        # The model sees only what the privacy settings allow; the engine binds the real tables.
        shown = visible_tables(tables, settings.privacy, settings.privacy_columns)
        self.named = list(zip(shown, view_names(tables), strict=True))
        self.bindings = bindings_for(tables)
        self._stored_seconds = 0.0  # time spent saving this run so far
        self.outcomes: dict[int, Outcome] = {}  # attempt number -> the result it returned
        # What earlier runs teach this one (runs/memory.attach): a conversation's earlier turns, verified
        # answers as examples, and the verified answer this question asks again.
        self.turns: list[Turn] = []
        self.worked: list[Worked] = []
        self.replay: Verified | None = None
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
    def asked(self) -> int:
        """Candidates per attempt: the setting, else the model's default (1 for code a person gave)."""
        return candidates_for(self.llm, self.settings.candidates) if self.llm is not None else 1

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
        self.store.own(self.answer.run_id)
        if self.replay is not None and self.replayed():
            return self.finish(None, time.perf_counter() - start)
        reason = None
        while reason is None:
            attempt = self.rewritten() or self.attempt(len(self.answer.attempts) + 1)
            self.answer.attempts.append(attempt)
            self.answer.seconds = time.perf_counter() - start
            self.save()
            self.listener("attempt", attempt.model_dump(mode="json"))
            if attempt.error is None:
                break
            reason = stop_reason(self.answer.attempts, self.settings)
        return self.finish(reason, time.perf_counter() - start)

    def replayed(self) -> bool:
        """Re-run the verified answer this question asks again: validated, dry-run on today's schemas and
        executed like any code. Whether it answered; when it did not, the model writes new code (the
        failed replay is told in a notice, not counted as an attempt)."""
        verified = self.replay
        assert verified is not None
        start = time.perf_counter()
        attempt = Attempt(number=1, code=verified.code, stage="validate")
        self.answer.verified_run = verified.run_id
        self.listener("stage", {"attempt": 1, "stage": "validate", "verified_run": verified.run_id})
        self.check_and_run(attempt)
        attempt.seconds = time.perf_counter() - start
        changed = (
            fingerprint([t for t in self.tables if t.qualified_name in verified.tables])
            != verified.fingerprint
        )
        if attempt.error is not None:
            self.answer.result = None
            self.answer.notices.append(
                f"The verified answer of run {verified.run_id} no longer runs"
                f"{' (its tables changed)' if changed else ''}: {attempt.error.kind.value}: "
                f"{attempt.error.message[:200]}; the model wrote new code."
            )
            return False
        assert self.answer.result is not None
        self.outcomes[1] = Outcome(result=self.answer.result)  # a person checked it: no result checks
        self.answer.attempts.append(attempt)
        self.answer.verified, self.answer.verified_examples = True, []
        note = " (its tables changed since; it still ran)" if changed else ""
        self.answer.notices.append(f"Re-ran the verified answer of run {verified.run_id}{note}.")
        self.listener("attempt", attempt.model_dump(mode="json"))
        return True

    def execute_code(self, code: str, rerun_of: str | None = None) -> Answer:
        """Run code a person wrote or edited, without the model: one attempt through the same static
        validation, dry run and sandbox as the model's code (it is just as untrusted)."""
        start = time.perf_counter()
        self.answer.rerun_of = rerun_of
        self.save()
        attempt = Attempt(number=1, code=code, stage="validate")
        self.listener("stage", {"attempt": 1, "stage": "validate"})
        self.check_and_run(attempt)
        attempt.seconds = time.perf_counter() - start
        self.answer.attempts.append(attempt)
        self.listener("attempt", attempt.model_dump(mode="json"))
        reason = None if attempt.error is None else "edited code failed; edit it and run it again"
        return self.finish(reason, time.perf_counter() - start)

    def finish(self, reason: str | None, seconds: float) -> Answer:
        last = self.answering()
        suspect = last.error is not None and last.error.kind is ErrorKind.SUSPECT_RESULT
        self.answer.status = "succeeded" if last.error is None or suspect else "failed"
        if last.clarification is not None:  # the model said what is missing instead of guessing
            self.answer.status, self.answer.clarification = "needs_clarification", last.clarification
        elif self.answer.status == "failed" and (missing := self.absent()) is not None:
            self.answer.status, self.answer.clarification = "needs_clarification", self.clarification(missing)
            self.answer.notices.append(
                f"Every attempt failed because {missing}: the data may not hold what the question needs "
                "(see the closest names that exist), or it names it otherwise."
            )
        self.answer.code = last.code
        self.answer.error = None if suspect or self.answer.clarification is not None else last.error
        self.answer.stop_reason = reason
        for rule in last.rewrite.split(",") if last.rewrite else []:
            self.answer.notices.append(NOTICES[rule] + ".")
        self.apply_outcome(last.number)
        self.answer.seconds = seconds
        self.answer.summary = summarize(self.answer)
        if self.answer.succeeded:
            self.add_chart()
            self.write_answer()
        self.save()
        self.listener("done", {"status": self.answer.status, "run_id": self.answer.run_id})
        return self.answer

    def add_chart(self) -> None:
        """The result's chart spec, chosen by its shape; a spec that fails its own check is left out."""
        try:
            self.answer.chart = choose_chart(self.answer.result)
        except ChartError as exc:  # a bug in the chooser: the answer stands without its chart
            self.answer.notices.append(f"no chart: {exc}")

    def write_answer(self) -> None:
        """The model's sentences replace the deterministic summary when every number and quoted name in
        them is in the result; otherwise, or when the model may not see values, the summary stays."""
        result, llm, s = self.answer.result, self.llm, self.settings
        if result is None or not result.rows or llm is None or not written_answer_for(llm, s.written_answer):
            return
        if not may_see_result(result, s.privacy, s.privacy_columns):
            return
        start = time.perf_counter()
        try:
            reply = llm.complete(
                answer_messages(self.question, result), temperature=0.0, max_tokens=MAX_TOKENS
            )
        except AskSparkError as exc:  # the answer stands with its deterministic summary
            self.answer.notices.append(f"no written answer: {exc.message}")
            return
        finally:
            self.answer.timings["written_answer"] = time.perf_counter() - start
        text = clean_reply(reply.text)
        missing = ungrounded(text, result, self.question) if text else ["(empty reply)"]
        if missing:
            self.answer.notices.append(
                "the model's written answer was not used: not in the result: " + ", ".join(missing[:5])
            )
            return
        self.answer.summary, self.answer.summary_source = text, "model"

    def answering(self) -> Attempt:
        """The attempt the run answers with: the last one, unless it failed after a result that was
        only suspect; then the last suspect one (a doubtful answer, said so, beats none)."""
        last = self.answer.attempts[-1]
        if last.error is None:
            return last
        suspects = [
            a for a in self.answer.attempts
            if a.error is not None and a.error.kind is ErrorKind.SUSPECT_RESULT and a.number in self.outcomes
        ]  # fmt: skip
        return suspects[-1] if suspects else last

    def apply_outcome(self, number: int) -> None:
        """The answering attempt's result, confidence and alternatives into the answer, with notices."""
        outcome = self.outcomes.get(number)
        if outcome is None:
            return
        self.answer.result = outcome.result
        self.answer.confidence, self.answer.alternatives = outcome.confidence, outcome.alternatives
        self.answer.suspect = list(outcome.alarms)
        if outcome.alarms:
            self.answer.notices.append("This answer may be wrong: " + "; ".join(outcome.alarms) + ".")
        if outcome.confidence is not None and outcome.confidence.low:
            self.answer.notices.append(agreement_notice(outcome.confidence, outcome.alternatives))

    def save(self) -> None:
        """Save the answer document. ``timings["store"]`` counts the saves before this one, so the
        stored document and the one returned are the same (the last save cannot time itself)."""
        self.answer.timings["store"] = self._stored_seconds
        start = time.perf_counter()
        try:
            self.store.save(self.answer)
        except StoreUnavailableError:
            # A run that cannot be recorded leaves nothing behind: its kept results would be orphans.
            shutil.rmtree(self.settings.runs_dir / self.answer.run_id, ignore_errors=True)
            raise
        self._stored_seconds += time.perf_counter() - start

    def attempt(self, number: int) -> Attempt:
        attempt = Attempt(number=number, code=None, stage="generate", temperature=temperature_for(number))
        self.listener("stage", {"attempt": number, "stage": "generate"})
        start = time.perf_counter()
        try:
            if self.asked > 1:
                self.candidates(attempt)
            else:
                self.generate(attempt)
        except AskSparkError as exc:  # a provider that is down: recorded, never raised out
            attempt.error = Failure(kind=kind_of(exc), message=exc.message, suggestion=exc.suggestion)
        if attempt.error is None and self.asked == 1 and attempt.clarification is None:
            self.check_and_run(attempt)
            self.check_outcome(attempt)
        attempt.seconds = time.perf_counter() - start
        return attempt

    def rewritten(self) -> Attempt | None:
        """The previous attempt's query rewritten by a rule (runs/rewrites.py) when its result was only
        suspect, run as the next attempt without the model; None when no rule applies."""
        last = self.answer.attempts[-1] if self.answer.attempts else None
        outcome = self.outcomes.get(last.number) if last is not None else None
        rewritten = (
            last is not None
            and last.rewrite is not None
            and any(name in last.rewrite.split(",") for name, _ in REWRITES)
        )
        if last is None or rewritten or last.code is None or outcome is None or not outcome.alarms:
            return None
        found = (
            rewrite(last.code, outcome.result, self.question, self.named) if self.settings.rewrites else None
        )
        if found is None:
            return None
        attempt = Attempt(number=last.number + 1, code=found[1], stage="validate", rewrite=found[0])
        self.listener("stage", {"attempt": attempt.number, "stage": "validate", "rewrite": found[0]})
        start = time.perf_counter()
        self.check_and_run(attempt)
        self.check_outcome(attempt)
        attempt.seconds = time.perf_counter() - start
        return attempt

    def check_outcome(self, attempt: Attempt) -> None:
        """Keep a single-candidate attempt's result; a result the checks doubt fails as suspect."""
        if attempt.error is not None or self.answer.result is None:
            return
        alarms = self.alarms(self.answer.result)
        self.outcomes[attempt.number] = Outcome(result=self.answer.result, alarms=alarms)
        attempt.error = suspect_failure(alarms)

    def alarms(self, result: ResultPreview) -> list[str]:
        return check_result(self.question, result) if self.settings.result_checks else []

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
        messages = self.messages(attempt)
        start = time.perf_counter()
        completion = self.llm.complete(
            messages, temperature=attempt.temperature or 0.0, max_tokens=self.settings.llm_max_tokens
        )
        attempt.timings["generate"] = time.perf_counter() - start
        attempt.prompt_tokens, attempt.completion_tokens = (
            completion.prompt_tokens,
            completion.completion_tokens,
        )
        if not self.clarified(attempt, completion.text):
            attempt.code, attempt.error, attempt.rewrite = self.code_of(completion)

    def messages(self, attempt: Attempt) -> list[Message]:
        """The attempt's prompt, built once (timed as ``prompt``)."""
        start = time.perf_counter()
        messages = build_messages(
            self.question,
            self.named,
            style=self.style,
            history=self.answer.attempts,
            samples=self.settings.sample_values,
            options=ContextOptions.from_settings(self.settings),
            turns=self.turns,
            worked=self.worked,
            knowledge=self.shown_knowledge(),
        )
        attempt.timings["prompt"] = time.perf_counter() - start
        return messages

    def code_of(self, completion: Completion) -> tuple[str, Failure | None, str | None]:
        """The code in a reply, fixed by the rules that apply before a run (runs/rewrites.py) with
        their names; or the reply itself with a ``no_code`` failure."""
        assert self.llm is not None
        code = extract_code(completion.text, "python" if self.style == "ray" else self.llm.style)
        if code is not None:
            fixed = fix_before_run(code, self.question, self.named) if self.settings.rewrites else None
            return (fixed[1], None, fixed[0]) if fixed else (code, None, None)
        suggestion = (
            "reply with one ```sql block" if self.style == "sql" else "reply with one fenced code block"
        )
        failure = Failure(kind=ErrorKind.NO_CODE, message="the reply held no code", suggestion=suggestion)
        return completion.text, failure, None

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
        execution = self.engine.run(self.job(attempt.number, attempt.code or ""))
        self.take_execution(attempt, execution)
        if execution.ok:
            self.answer.result = execution.result

    def job(self, number: int, code: str, candidate: int | None = None) -> Job:
        """The engine job of an attempt's code; each candidate keeps its full result in its own directory."""
        output = self.settings.runs_dir / self.answer.run_id
        if candidate is not None:
            output = output / f"a{number}c{candidate}"
        return Job(
            run_id=self.answer.run_id,
            attempt=number,
            code=code,
            tables=self.bindings,
            limits=self.limits(),
            output_dir=str(output),
        )

    def take_execution(self, attempt: Attempt, execution: Execution) -> None:
        """Copy what the engine reports into the attempt and the answer (which engine ran it, notices)."""
        attempt.stage = "execute" if execution.stage == "execute" else "dry_run"
        attempt.timings |= execution.timings
        attempt.logs = execution.logs[-4000:]
        attempt.error = execution.error
        attempt.engine = execution.engine or self.engine.id
        self.answer.engine_used = attempt.engine
        for notice in execution.notices:
            if notice not in self.answer.notices:
                self.answer.notices.append(notice)

    # -- several candidates per attempt ------------------------------------------------------------

    def candidates(self, attempt: Attempt) -> None:
        """Generate candidates from one prompt (two, then one more at a time while they disagree), run
        the valid ones, and let the largest group of equal results answer for the attempt."""
        messages, asked = self.messages(attempt), self.asked
        temperatures = candidate_temperatures(attempt.temperature or 0.0, asked)
        records: list[CandidateRecord] = []
        attempt.candidates = records  # filled as they come: a provider failure mid-way keeps the earlier
        tried: list[tuple[CandidateRecord, Execution | None]] = []  # every candidate, run or not
        executions: dict[int, Execution] = {}
        while not records or not enough([reading(r, e) for r, e in tried], len(records), asked):
            batch = temperatures[len(records) : len(records) + (FIRST_ROUND if not records else 1)]
            new = self.generate_candidates(attempt, messages, batch, records)
            runnable = [r for r in new if r.error is None and r.duplicate_of is None]
            executions |= self.run_candidates(attempt.number, runnable)
            tried += [(r, executions.get(r.duplicate_of or r.number)) for r in self.settle(new, records)]
        self.choose(attempt, tried)

    @staticmethod
    def settle(new: list[CandidateRecord], records: list[CandidateRecord]) -> list[CandidateRecord]:
        """The new candidates, a repeated code taking its original's stage and verdict: two
        samples that wrote the very same code agree (it runs once but counts for both in the vote)."""
        for record in new:
            if record.duplicate_of is not None:
                original = records[record.duplicate_of - 1]
                record.stage, record.error = original.stage, original.error
        return new

    def generate_candidates(
        self,
        attempt: Attempt,
        messages: list[Message],
        temperatures: Sequence[float],
        records: list[CandidateRecord],
    ) -> list[CandidateRecord]:
        """New candidate records, appended to ``records`` and returned."""
        assert self.llm is not None, "a run without a model only executes given code"
        self.listener("stage", {"attempt": attempt.number, "stage": "generate"})
        start = time.perf_counter()
        completions = complete_many(
            self.llm, messages, temperatures=temperatures, max_tokens=self.settings.llm_max_tokens
        )
        attempt.timings["generate"] = attempt.timings.get("generate", 0.0) + time.perf_counter() - start
        attempt.prompt_tokens = (attempt.prompt_tokens or 0) + sum(c.prompt_tokens or 0 for c in completions)
        attempt.completion_tokens = (attempt.completion_tokens or 0) + sum(
            c.completion_tokens or 0 for c in completions
        )
        new = []
        for temperature, completion in zip(temperatures, completions, strict=True):
            new.append(self.candidate_record(len(records) + 1, temperature, completion, records))
            records.append(new[-1])
        return new

    def candidate_record(
        self, number: int, temperature: float, completion: Completion, earlier: list[CandidateRecord]
    ) -> CandidateRecord:
        """One candidate: its code, whether it repeats an earlier one, and its static verdict."""
        probe = Attempt(number=number, code=None, stage="generate")
        if self.clarified(probe, completion.text):  # kept as a failure the vote skips; see choose()
            missing = probe.clarification.missing if probe.clarification else None
            error = probe.error or Failure(kind=ErrorKind.NO_CODE, message=missing or "", rule=CLARIFY_RULE)
            return CandidateRecord(number=number, code=probe.code, temperature=temperature, error=error)
        code, failure, fixed = self.code_of(completion)
        record = CandidateRecord(
            number=number, code=code, temperature=temperature, error=failure, rewrite=fixed
        )
        same = next((r.number for r in earlier if r.code == code and r.duplicate_of is None), None)
        if failure is None and same is not None:
            record.duplicate_of = same
        elif failure is None:
            record.stage = "validate"
            failures = validate_static(code, contract=self.contract)
            record.error = _merge(failures) if failures else None
        return record

    def run_candidates(self, number: int, records: list[CandidateRecord]) -> dict[int, Execution]:
        """Run the candidates on the engine (as many at a time as it declares) and check each
        result; the executions by candidate number."""
        if not records:
            return {}
        self.listener("stage", {"attempt": number, "stage": "execute"})
        with ThreadPoolExecutor(max_workers=max(1, min(self.engine.parallel_jobs, len(records)))) as pool:
            executions = list(pool.map(lambda r: self.run_candidate(number, r), records))
        for record, execution in zip(records, executions, strict=True):
            record.stage = "execute" if execution.stage == "execute" else "dry_run"
            record.error = execution.error
            if execution.ok and execution.result is not None:
                record.error = suspect_failure(self.alarms(execution.result))
        return {r.number: e for r, e in zip(records, executions, strict=True)}

    def run_candidate(self, number: int, record: CandidateRecord) -> Execution:
        start = time.perf_counter()
        try:
            execution = self.engine.run(self.job(number, record.code or "", record.number))
        except AskSparkError as exc:  # an engine that is down: recorded, never raised out
            failure = Failure(kind=kind_of(exc), message=exc.message, suggestion=exc.suggestion)
            execution = Execution(ok=False, stage="dry_run", error=failure)
        record.seconds = time.perf_counter() - start
        return execution

    def choose(self, attempt: Attempt, tried: list[tuple[CandidateRecord, Execution | None]]) -> None:
        """The vote's winner answers for the attempt; when none returned a result, the greedy candidate
        does (the feedback then shows its code and its error)."""
        readings = [reading(r, e) for r, e in tried]
        chosen = vote(readings, asked=self.asked)
        for rank, group in enumerate(chosen.groups):
            for index in group:
                tried[index][0].group = rank
        record, execution = tried[chosen.winner if chosen.winner is not None else 0]
        asks = [r.error.message for r, _ in tried if r.error is not None and r.error.rule == CLARIFY_RULE]
        if chosen.winner is None and asks and len(asks) == len(tried):  # every reading says it is missing
            attempt.clarification = self.clarification(asks[0])
            return
        attempt.code, attempt.rewrite = record.code, record.rewrite
        if execution is not None:
            self.take_execution(attempt, execution)
        attempt.error, attempt.stage = record.error, record.stage
        if chosen.winner is not None and execution is not None and execution.result is not None:
            self.answer.result = execution.result
            self.outcomes[attempt.number] = outcome_of(chosen, readings)

    # -- knowledge and clarification (issue 13) -----------------------------------------------------

    def shown_knowledge(self) -> list[Entry]:
        """The knowledge entries relevant to the question within their budget, chosen once per run and
        listed in the answer as ``knowledge_used``."""
        if self._shown is None:
            on = self.settings.knowledge and self.knowledge
            budget = self.settings.knowledge_budget_tokens
            self._shown = relevant(self.question, self.knowledge, self.tables, budget) if on else []
            self.answer.knowledge_used = [e.id for e in self._shown]
        return self._shown

    def clarified(self, attempt: Attempt, reply: str) -> bool:
        """Whether the reply asks for clarification instead of giving code (setting ``clarify``).

        A claim that names something the data does hold is a ``no_code`` failure the model is told
        about; any other becomes the attempt's clarification, with the closest names that exist.
        """
        missing = clarification_of(reply) if self.settings.clarify else None
        if missing is None:
            return False
        wrong = contradiction(missing, [t for t, _ in self.named], self.shown_knowledge())
        if wrong is not None:
            attempt.code = reply
            attempt.error = Failure(
                kind=ErrorKind.NO_CODE,
                message=f"you asked for clarification ({missing}), but {wrong}",
                suggestion="answer the question with the data given",
            )
        else:
            attempt.clarification = self.clarification(missing)
        return True

    def absent(self) -> str | None:
        """What every attempt failed on and the data does not hold (setting ``clarify_from_errors``)."""
        if not self.settings.clarify_from_errors:
            return None
        return absent_from_errors(self.answer.attempts, [t for t, _ in self.named])

    def clarification(self, missing: str) -> Clarification:
        tables = [t for t, _ in self.named]  # what the model was shown (privacy applies)
        return Clarification(missing=missing, closest=closest(missing, tables, self.shown_knowledge()))

    def limits(self) -> Limits:
        s = self.settings
        return Limits(
            timeout_seconds=s.timeout_seconds,
            row_limit=s.row_limit,
            max_result_bytes=s.max_result_bytes,
            memory_mb=s.worker_memory_mb,
        )


def reading(record: CandidateRecord, execution: Execution | None) -> Reading:
    """A candidate as the vote sees it: its code, its result if it returned one, its failure."""
    result = execution.result if execution is not None and execution.ok else None
    return Reading(code=record.code or "", result=result, failure=record.error)


def outcome_of(chosen: Vote, readings: Sequence[Reading]) -> Outcome:
    """The winning reading's result with the vote's confidence and the other readings."""
    winner = readings[chosen.winner or 0]
    assert winner.result is not None
    alarms = winner.failure.message.split("; ") if winner.suspect and winner.failure else []
    return Outcome(
        result=winner.result,
        alarms=alarms,
        confidence=chosen.confidence(),
        alternatives=chosen.alternatives(readings),
    )


def suspect_failure(alarms: list[str]) -> Failure | None:
    """The ``suspect_result`` failure of a result the checks doubt, or None when none raised an alarm."""
    if not alarms:
        return None
    return Failure(
        kind=ErrorKind.SUSPECT_RESULT,
        message="; ".join(alarms),
        suggestion="reread the question and make the result match what it asks for",
    )


def agreement_notice(confidence: Confidence, alternatives: list[Alternative]) -> str:
    """'2 of 3 readings agree — other reading: 1 row, first: customer=ALFKI, total=12.5' (the first
    other reading that passed the checks)."""
    text = confidence.text
    clean = [a for a in alternatives if not a.suspect]
    if clean:
        text += " — other reading: " + describe_preview(clean[0].result)
    return text


def describe_preview(result: ResultPreview, limit: int = 160) -> str:
    """A result in one short line: its size and its first row."""
    rows = result.row_count if result.row_count is not None else len(result.rows)
    size = f"{rows}{'+' if result.truncated else ''} row{'s' if rows != 1 else ''}"
    if not result.rows:
        return size
    first = ", ".join(f"{c.name}={v}" for c, v in zip(result.columns, result.rows[0], strict=False))
    text = f"{size}, first: {first}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
