"""Settings: every limit and default is a named setting with a help string.

Settings come from ``ASKSPARK_*`` environment variables (e.g. ``ASKSPARK_ROW_LIMIT=50``) and can be
overridden per call. ``docs/settings.md`` documents each one; a test fails if one is undocumented.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from askspark.errors import UsageError

Privacy = Literal["schema", "samples", "masked"]


def human_bytes(size: int) -> str:
    """A byte count as people read it (``1.5 MiB``), for messages about size settings."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover - the loop returns at GiB


def _default_home() -> Path:
    return Path.home() / ".askspark"


def _default_privacy_columns() -> dict[str, Privacy]:
    return {"*email*": "masked", "*phone*": "masked"}


class Settings(BaseSettings):
    """askspark's settings, read from ``ASKSPARK_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="ASKSPARK_", extra="ignore")

    home: Path = Field(
        default_factory=_default_home,
        description="Directory for the local catalog, the run store, run results, models and engine state.",
    )
    model: str = Field(
        "embedded",
        description="LLM provider id: embedded, openai:NAME, anthropic:NAME, bedrock:MODEL_ID or scripted:PATH.",
    )
    models_dir: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "askspark" / "models",
        description="Cache of the embedded model file, joined once from its PyPI parts (about 1.1 GB).",
    )
    engine: str = Field(
        "local", description="Execution engine id: local, connect (a Spark Connect cluster) or auto."
    )
    max_attempts: int = Field(5, ge=1, le=20, description="Attempts per question, the first included.")
    stop_on_repeat: bool = Field(
        True, description="Stop early when an attempt fails with the same error as the one before it."
    )
    candidates: int | None = Field(
        None,
        ge=1,
        le=9,
        description="Candidate codes per attempt, chosen by what they return: the largest group of equal "
        "results answers (1: one code per attempt). Adaptive: 2 first, more only when they disagree. "
        "Unset: the model's own default (embedded: 3, measured in docs/evaluation.md; others: 1).",
    )
    result_checks: bool = Field(
        True,
        description="Check each result against the question (one row for 'each X', the top N of all rows for "
        "'which N for each X', empty, all-null column, top N, percentage range); a suspect result is fed back to the model as a failure.",
    )
    rewrites: bool = Field(
        True,
        description="Repair one-query answers by precise rules (runs/rewrites.py): before the run, a column's "
        "spelling, a function of another SQL dialect (STDEV, ISNULL(x, y), IIF), a column qualified by a "
        "table that lacks it, a column only another selected table has (that table joined by its own id), "
        "an output's name used inside a window or an aggregate of the same SELECT "
        "(written out), a column beside one MAX/MIN it does not group (max_by/min_by), a timestamp "
        "compared with a day, the moment of an extreme (max_by), an ORDER BY on an ungrouped column; after "
        "a suspect result, 'for each X, which Y had the most' ranked over all rows is ranked within each X "
        "as a new attempt without the model; 'how many ... include those with none (count 0)' lists every "
        "X from its own table before the run. Each attempt names its rules.",
    )
    written_answer: bool | None = Field(
        None,
        description="The model writes the answer in one to three sentences from the bounded result; kept only "
        "when every number and quoted name in it is in the result, else the deterministic summary is used. "
        "Never under privacy=schema or masked. Unset: on for API models (openai, anthropic, bedrock), off "
        "for the embedded model (it wrote SQL, not sentences, and costs seconds per question on a CPU).",
    )
    row_limit: int = Field(1000, ge=1, description="Rows returned in the answer; more sets truncated=true.")
    max_result_bytes: int = Field(
        2_000_000, ge=1024, description="Byte cap on the rows returned in the answer (JSON-encoded)."
    )
    timeout_seconds: float = Field(120.0, gt=0, description="Wall-clock limit for one attempt's execution.")
    worker_memory_mb: int = Field(
        4096,
        ge=256,
        description="Address-space limit of the sandboxed worker process that runs generated code.",
    )
    sample_values: int = Field(
        3, ge=0, le=20, description="Sample values per column shown to the model (0 shows none)."
    )
    privacy: Privacy = Field(
        "samples",
        description="What the model may see of the data: schema (names, types, comments; no values), "
        "samples (sample values) or masked (sample values with every letter and digit masked, keeping "
        "their shape: 'ab-12' -> 'xx-99').",
    )
    privacy_columns: dict[str, Privacy] = Field(
        default_factory=_default_privacy_columns,
        description="Per-column privacy overrides: a JSON object mapping a glob pattern (matched "
        "case-insensitively against COLUMN, TABLE.COLUMN and DB.TABLE.COLUMN) to schema, samples or "
        "masked. A column gets the most private of the privacy setting and its matching patterns, so a "
        "pattern can only hide more. Default: email and phone columns are masked.",
    )
    catalog: str = Field(
        "local",
        description="Default catalog id for table names without a CATALOG: prefix: local, glue or iceberg.",
    )
    auto_tables: int = Field(
        4,
        ge=1,
        le=20,
        description="When no table or file is named, at most this many catalog tables are picked by the "
        "question (lexical scoring of names, comments and column names).",
    )
    auto_min_score: float = Field(
        0.35,
        ge=0,
        le=1,
        description="A table picked by the question must score at least this fraction of the best table's "
        "score (keeps the prompt small when one table clearly fits).",
    )
    aws_region: str | None = Field(
        None,
        description="AWS region of the Glue catalog and the emr-serverless engine (default: AWS_REGION).",
    )
    aws_endpoint_url: str | None = Field(
        None,
        description="Endpoint of the AWS APIs (Glue, S3, EMR Serverless) instead of AWS's: a local moto server in "
        "tests, http://127.0.0.1:PORT.",
    )
    s3_cache_max_bytes: int = Field(
        1024 * 1024 * 1024,
        ge=0,
        description="Size of the local engine's S3 read-through cache (home/s3cache): the least recently "
        "used locations are removed to make room; one location (an object, or all objects under a prefix) "
        "larger than it is an error on the local engine and runs on auto_cluster with the auto engine.",
    )
    s3_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="Deadline of each S3 call of the cache (connect, and each read of HEAD, "
        "list and GET); a call is retried once.",
    )
    glue_catalog_id: str | None = Field(
        None, description="Glue catalog id (the AWS account id); default: the caller's account."
    )
    iceberg_uri: str | None = Field(
        None,
        description="Iceberg catalog: sqlite:///PATH for a SQL catalog or http(s)://HOST for a REST catalog; "
        "default: a SQL catalog in HOME/iceberg/catalog.db.",
    )
    iceberg_warehouse: str | None = Field(
        None, description="Iceberg warehouse location for new tables; default: HOME/iceberg/warehouse."
    )
    sandbox: bool = Field(
        True,
        description="Run generated code inside the bubblewrap sandbox. Turning it off is for development "
        "only and is announced on every run.",
    )
    sandbox_user: str = Field(
        "askspark-sandbox",
        description="When askspark runs as root: the unprivileged host user its sandboxed processes (the "
        "local Spark server, workers) run as outside their namespaces; scripts/setup.sh creates it. 'root' "
        "keeps the sandbox's uid mapped to root outside (not recommended).",
    )
    spark_driver_memory: str = Field("2g", description="Driver memory of the locally owned Spark server.")
    spark_master: str = Field(
        "local[2]",
        description="Master of the locally owned Spark server. local[N] runs tasks in the server's JVM (the "
        "default: no executor hop, less memory; a heap-exhausting task can stop the server's Spark, which "
        "the engine restarts). local-cluster[workers,cores,MB] runs them in executors with their own JVMs "
        "(MB of heap each): a task that exhausts its heap ends its executor, not the server (+0.1-0.7 s per "
        "query, +300-600 MB; for a shared server).",
    )
    spark_shuffle_partitions: int = Field(
        4, ge=1, description="spark.sql.shuffle.partitions of the locally owned Spark server."
    )
    spark_startup_seconds: float = Field(
        120.0, gt=0, description="How long to wait for the local Spark server to accept connections."
    )
    engine_idle_minutes: float = Field(
        0.0,
        ge=0,
        description="Stop the shared Spark server of 'askspark engine start' after this many minutes "
        "without a new job, plus the attempt timeout (0: keep it until 'askspark engine stop').",
    )
    remote: str | None = Field(
        None,
        description="Spark Connect endpoint of the connect engine, sc://host:port (a cluster's Connect "
        "server). The cluster reads each table at its catalog location, so the location must be one the "
        "cluster can reach.",
    )
    connect_token: SecretStr | None = Field(
        None,
        description="Spark 4 Connect authentication token (the server's spark.connect.authenticate.token). "
        "Added by askspark's own bridge: generated code never sees it. Sent only over TLS "
        "(sc://...;use_ssl=true) or to a loopback host.",
    )
    connect_results_dir: str | None = Field(
        None,
        description="Where the connect engine's cluster writes the full result of a truncated answer "
        "(a directory or URI the cluster can write and you can read). Unset: only the bounded rows are "
        "kept for such answers.",
    )
    auto_threshold_bytes: int = Field(
        256 * 1024 * 1024,
        ge=0,
        description="The auto engine runs an attempt on the local engine when the data its code reads (the "
        "sum of the file sizes at the locations of the selected tables it refers to) is at most this many "
        "bytes, else on auto_cluster.",
    )
    auto_cluster: str = Field(
        "connect", description="The engine id the auto engine uses for data above auto_threshold_bytes."
    )
    llm_max_tokens: int = Field(1024, ge=64, description="Maximum tokens the model may write per attempt.")
    llm_timeout_seconds: float = Field(
        120.0, gt=0, description="Timeout of one request to a remote LLM provider."
    )
    model_threads: int = Field(
        default_factory=lambda: max(1, (os.cpu_count() or 2) - 1),
        ge=1,
        description="CPU threads of the embedded model; one core is left to Spark so neither starves the "
        "other (on 2 cores, 2 threads ran 5-15x slower than 1 whenever Spark was busy).",
    )
    model_context: int = Field(
        8192,
        ge=1024,
        description="Context window (tokens) of the embedded model (Qwen2.5-Coder supports 32k). 8192 holds "
        "the pruned schemas of 30 tables plus repair feedback; each 4096 more tokens cost about 115 MB of "
        "KV cache and no prompt speed.",
    )
    # --- context levers (docs/settings.md); each can be turned off alone to measure it ---
    context_join_keys: bool = Field(
        True,
        description="Show join keys between the selected tables as a.x = b.y lines: declared foreign keys, "
        "else columns whose names match (ticker_id ~ ticker.id, trTickerId ~ tickerId) with compatible types.",
    )
    context_values: bool = Field(
        True,
        description="Show every distinct value of low-cardinality text columns (at most 25, short ones) instead "
        "of a few samples, and the stored values that match words of the question ('USA' -> 'United States'). "
        "Subject to the privacy settings like samples.",
    )
    context_type_hints: bool = Field(
        True,
        description="When the question asks by day, date or hour and a table has a timestamp column, tell the "
        "model to use to_date(col) / hour(col) (a timestamp compared with a date string keeps only midnight).",
    )
    context_examples: bool = Field(
        True,
        description="Add worked Spark SQL examples (join, top row per group, previous-row difference, "
        "median/percentile, counts including zero, rank within groups) to the sql-style prompt.",
    )
    context_cross_table_feedback: bool = Field(
        True,
        description="When a column does not resolve but is a column of another selected table, the repair "
        "feedback says so and names the join that reaches it; a table the query made up whose name is a "
        "column of a selected table ('plans' for users.plan) is pointed to that column.",
    )
    context_budget_tokens: int | None = Field(
        None,
        ge=0,
        description="Tokens the whole prompt may take; beyond it the schemas are pruned to the question "
        "(columns it does not name, then the tables it matches least). Unset: model_context minus "
        "llm_max_tokens. 0: never prune.",
    )
    verified_replay: bool = Field(
        True,
        description="A question that asks what a verified answer asked (same content words; no number, "
        "negation or direction word differs) re-runs the verified code after validation and a dry run on "
        "today's schemas, instead of asking the model. Only verified answers are ever replayed.",
    )
    verified_replay_similarity: float = Field(
        1.0,
        ge=0.5,
        le=1,
        description="The share of content words (Jaccard) a question must share with a verified one to be "
        "replayed; 1.0: all of them. A differing number, negation or direction word never replays.",
    )
    verified_examples: int = Field(
        2,
        ge=0,
        le=10,
        description="Verified answers on the selected tables most like the question (BM25 over their "
        "questions) shown to the model as worked examples (0: none).",
    )
    follow_up_turns: int = Field(
        3,
        ge=1,
        le=20,
        description="Earlier turns of a conversation (question and final code) in a follow-up's prompt, "
        "the newest first kept; they take at most a quarter of the prompt's token budget.",
    )
    # --- knowledge and clarification (issue 13, docs/knowledge.md) ---
    knowledge: bool = Field(
        True,
        description="Show the knowledge entries (descriptions, synonyms, business terms, join paths) relevant "
        "to the question, from 'askspark knowledge', in the prompt; the answer lists them as knowledge_used.",
    )
    knowledge_budget_tokens: int = Field(
        400,
        ge=0,
        description="Tokens the knowledge entries may take in the prompt; the best-matching entries that fit.",
    )
    clarify: bool | None = Field(
        None,
        description="Let the model answer 'NEEDS_CLARIFICATION: what is missing' when the selected data does "
        "not hold what the question needs; the answer's status is then needs_clarification, with the closest "
        "columns, tables, values and terms that exist. Unset: on for the API models and scripted, off for "
        "embedded (it never used the line in docs/evaluation.md's probe, and the rule's effect on its "
        "held-out accuracy is not measured).",
    )
    clarify_from_errors: bool = Field(
        True,
        description="When every attempt (at least two) failed on the same column or table name and no "
        "selected table has a column or table of that name (nor spelt so but for case, underscores or a "
        "plural), the answer is needs_clarification naming it and the closest names that exist, not "
        "failed: the data cannot answer the question as the model reads it. Independent of the model.",
    )
    api_token: str | None = Field(
        None,
        description="Bearer token the HTTP API requires ('Authorization: Bearer TOKEN'). 'askspark serve' "
        "refuses to bind beyond 127.0.0.1 without one.",
    )
    max_request_bytes: int = Field(
        1_000_000, ge=1024, description="Largest HTTP request body accepted, uploads excepted (413 beyond)."
    )
    max_upload_bytes: int = Field(
        100_000_000, ge=1024, description="Largest file accepted by the HTTP upload endpoint (413 beyond)."
    )
    max_concurrent_runs: int = Field(
        2, ge=1, le=64, description="Questions the HTTP server runs at once; more wait in the queue."
    )
    max_queued_runs: int = Field(
        32,
        ge=0,
        description="Questions waiting for a free slot in the HTTP server; beyond that it answers 429 "
        "with Retry-After.",
    )
    mcp_max_answer_bytes: int = Field(
        100_000,
        ge=1024,
        description="Largest answer document an MCP tool returns (JSON bytes): beyond it attempt logs are "
        "cut and result rows dropped (truncated=true, a notice says so); the full result stays on disk.",
    )
    hive_metastore_uri: str | None = Field(
        None,
        description="Thrift URI of an external Hive metastore (thrift://host:9083) for the hive catalog; "
        "unset, askspark runs a local Derby network server on 127.0.0.1 with its data under home/hive.",
    )
    hive_warehouse_dir: Path | None = Field(
        None,
        description="Warehouse directory of the hive catalog's managed tables (default home/hive/warehouse).",
    )
    hive_derby_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="Port of the local Derby metastore server (0: a free port, chosen once).",
    )
    jdbc_url: str | None = Field(
        None,
        description="JDBC URL of the jdbc catalog's PostgreSQL database (jdbc:postgresql://host:port/db), "
        "without credentials.",
    )
    jdbc_user: str | None = Field(None, description="User name for the jdbc catalog.")
    jdbc_password: SecretStr | None = Field(
        None,
        description="Password for the jdbc catalog (prefer jdbc_password_file). Never shown to the model or "
        "to generated code.",
    )
    jdbc_password_file: Path | None = Field(
        None, description="File holding the jdbc catalog's password (first line), e.g. a mounted secret."
    )
    jdbc_schemas: str = Field(
        "",
        description="Comma-separated PostgreSQL schemas the jdbc catalog lists (empty: all but system ones).",
    )
    # --- the emr-serverless engine (docs/engines.md) ---
    emr_application_id: str = Field(
        "", description="EMR Serverless application (Spark) that runs the jobs of the emr-serverless engine."
    )
    emr_execution_role_arn: str = Field(
        "", description="IAM role the EMR Serverless job runs as; it needs read access to the tables' S3 "
        "locations and read/write access to ASKSPARK_EMR_S3_PREFIX.",
    )  # fmt: skip
    emr_s3_prefix: str = Field(
        "", description="s3://bucket/prefix where code, runner, job logs and results are staged; every "
        "attempt gets a fresh prefix under it.",
    )  # fmt: skip
    emr_upload_local_data: bool = Field(
        False,
        description="Upload tables stored at local paths to the S3 prefix (once per content) so EMR can "
        "read them; when false such tables are refused with a hint.",
    )
    emr_poll_seconds: float = Field(
        2.0, gt=0, description="First wait between two job-run status polls of the emr-serverless engine."
    )
    emr_poll_max_seconds: float = Field(
        15.0, gt=0, description="Longest wait between two status polls (the wait grows by half each poll)."
    )
    emr_spark_submit_parameters: str = Field(
        "", description="Extra spark-submit parameters for EMR job runs (e.g. --conf spark.executor.cores=2)."
    )
    # --- the ray engine (docs/engines.md) ---
    ray_address: str = Field(
        "", description="Ray cluster of the ray engine as ray://host:port; empty starts a private local Ray "
        "inside each sandboxed worker.",
    )  # fmt: skip
    ray_memory_mb: int = Field(
        6144,
        ge=1024,
        description="Memory cap (cgroup) of one sandboxed Ray worker with its local Ray runtime.",
    )
    ray_object_store_mb: int = Field(
        512, ge=80, description="Object store size of the local Ray runtime started for one job."
    )

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse"

    @property
    def hive_warehouse(self) -> Path:
        return self.hive_warehouse_dir or self.home / "hive" / "warehouse"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def engine_dir(self) -> Path:
        return self.home / "engine"


def get_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit ``overrides`` (None values are ignored).

    Raises:
        UsageError: a setting has an invalid value; the message names the ASKSPARK_* variable.
    """
    values: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    return _validated(
        lambda: Settings(**values)
    )  # the constructor reads ASKSPARK_* (model_validate does not)


def with_overrides(settings: Settings, **overrides: object) -> Settings:
    """``settings`` with per-call overrides (None values are ignored), validated like the environment."""
    changed = {k: v for k, v in overrides.items() if v is not None}
    if not changed:
        return settings
    return _validated(lambda: Settings.model_validate(settings.model_dump() | changed))


def _validated(make: Callable[[], Settings]) -> Settings:
    try:
        return make()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "ASKSPARK_" + str(first["loc"][0]).upper() if first["loc"] else "a setting"
        raise UsageError(
            f"invalid value for {name}: {first['msg']}",
            suggestion=f"fix or unset {name}; see docs/settings.md",
            errors=[
                {"setting": str(e["loc"][0]) if e["loc"] else "", "message": e["msg"]} for e in exc.errors()
            ],
        ) from None
