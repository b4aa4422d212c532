"""One exception root for everything askspark raises on purpose.

Every error carries what went wrong (``message``), how to fix it (``suggestion``), structured
``details`` and the HTTP ``status`` the API answers with. The CLI's ``--json`` output and the HTTP API
use the same shape, produced by :meth:`AskSparkError.to_dict`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


class AskSparkError(Exception):
    """Root of askspark's errors."""

    status: int = 500
    code: str = "error"

    def __init__(self, message: str, *, suggestion: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.suggestion = suggestion
        self.details = details

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.suggestion}" if self.suggestion else self.message

    def to_dict(self) -> dict[str, Any]:
        """The one error shape of the CLI (``--json``) and the HTTP API."""
        return {
            "error": {
                "code": self.code,
                "status": self.status,
                "message": self.message,
                "suggestion": self.suggestion,
                "details": self.details,
            }
        }


class UsageError(AskSparkError):
    """The caller asked for something malformed or unknown."""

    status = 400
    code = "usage"


class NotFoundError(AskSparkError):
    """A named table, database, file, run or model does not exist."""

    status = 404
    code = "not_found"


class UnauthorizedError(AskSparkError):
    """The HTTP API needs a bearer token and none or a wrong one was given."""

    status = 401
    code = "unauthorized"


class AccessDeniedError(AskSparkError):
    """The credentials askspark found may not read the data (e.g. S3's AccessDenied)."""

    status = 403
    code = "access_denied"


class TooLargeError(AskSparkError):
    """A request body, an uploaded file or data to fetch (S3) is larger than its limit."""

    status = 413
    code = "too_large"


class BusyError(AskSparkError):
    """The HTTP server's run queue is full; ``details["retry_after"]`` says when to try again."""

    status = 429
    code = "busy"


class MissingExtraError(UsageError):
    """An optional part is selected but its Python packages are not installed."""

    code = "missing_extra"


class ProviderError(AskSparkError):
    """The LLM provider could not be reached or answered with an error."""

    status = 502
    code = "provider"


class ModelNotInstalledError(AskSparkError):
    """The embedded model file is missing or corrupt."""

    status = 503
    code = "model_not_installed"


class EngineUnavailableError(AskSparkError):
    """The execution engine cannot be started or reached."""

    status = 503
    code = "engine_unavailable"


class CatalogUnavailableError(AskSparkError):
    """A catalog (a metastore, a database server) cannot be started or reached."""

    status = 503
    code = "catalog_unavailable"


class StoreUnavailableError(AskSparkError):
    """The run store cannot record a run (locked by another writer, disk full, read-only)."""

    status = 503
    code = "store_unavailable"


class SandboxUnavailableError(AskSparkError):
    """The sandbox cannot be set up; askspark refuses to run generated code without it."""

    status = 503
    code = "sandbox_unavailable"


def did_you_mean(given: str, known: Iterable[str]) -> str | None:
    """The closest known name to ``given``, for "did you mean" suggestions."""
    matches = difflib.get_close_matches(given, list(known), n=1, cutoff=0.5)
    return matches[0] if matches else None


def unknown_name(
    kind: str, given: str, known: Iterable[str], cls: type[AskSparkError] = UsageError
) -> AskSparkError:
    """An error for an unknown plug-in id or object name, naming the closest and all known ones."""
    known = sorted(known)
    guess = did_you_mean(given, known)
    hint = f"did you mean {guess!r}? " if guess else ""
    return cls(
        f"unknown {kind} {given!r}",
        suggestion=f"{hint}known: {', '.join(known) or '(none)'}",
        known=known,
    )


def missing_extra(what: str, extra: str, package: str) -> MissingExtraError:
    """An error for an optional dependency that is not installed, with the install command."""
    return MissingExtraError(
        f"{what} needs the Python package {package!r}, which is not installed",
        suggestion=f"pip install 'askspark[{extra}]'",
        extra=extra,
    )
