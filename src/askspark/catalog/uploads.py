"""The upload area, ``HOME/uploads``: data handed to askspark by the HTTP API (``POST /v1/uploads``) or a
notebook (``askspark.register``), each registered as the table ``uploads.NAME`` of the local catalog.

The HTTP API reads files only from here, and the local Spark server may always read it, so a new upload
never restarts the server.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

from askspark.catalog.base import TableInfo
from askspark.catalog.files import table_name_for
from askspark.errors import UsageError
from askspark.settings import Settings

UPLOAD_DATABASE = "uploads"


def upload_table_name(name: str) -> str:
    """``name`` as an upload's table name (lowercase SQL identifier); UsageError when it is not one."""
    table = name.lower()
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", table):
        raise UsageError(
            f"invalid table name {table!r}: use letters, digits and underscores, not starting with a digit",
            suggestion=f"for example {table_name_for(table)!r}",
        )
    return table


def store_upload(settings: Settings, table: str, filename: str, write: Callable[[Path], None]) -> TableInfo:
    """Write an upload with ``write(path)`` into ``uploads/TABLE/FILENAME`` (replacing the table's
    earlier data only once the new one is complete) and register it as ``uploads.TABLE``, its schema
    inferred. Data the catalog cannot read is removed again."""
    from askspark.catalog.local import LocalCatalog

    directory = settings.home / "uploads" / table
    staging = directory.with_name(f".{directory.name}.uploading")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        write(staging / filename)
        shutil.rmtree(directory, ignore_errors=True)
        staging.rename(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    try:
        return LocalCatalog(settings).add(UPLOAD_DATABASE, table, directory / filename)
    except Exception:
        shutil.rmtree(directory, ignore_errors=True)
        raise
