"""S3 data for the local engine: a read-through cache of ``s3://`` objects under ``HOME/s3cache``.

pyspark ships no S3 filesystem, and the Spark server and the workers must never hold credentials. So
askspark itself fetches the objects (boto3, the standard credential chain, in the askspark process),
and the engine reads the cached local files, read-only, like any other local data.

A location is one object (``s3://bucket/sales.csv``) or a prefix of many (a Parquet directory,
``s3://bucket/events/`` with ``year=2024/`` partitions). Each fetch lists the location (HEAD for an
object, ListObjectsV2 for a prefix, every call with a deadline) and names the cached copy by its
objects' keys and ETags: an unchanged location is a cache hit, a changed ETag fetches anew (objects of a
prefix that did not change are linked from the previous copy, not downloaded again). Older copies of
the location are removed. The cache is bounded by ``s3_cache_max_bytes``: a location larger than it
belongs on a cluster engine, and before a new copy is fetched the least recently used other locations
are removed until the copy fits. A file over the limit is described from parts of it (``s3parts``: the
first bytes of a CSV or JSON-lines file, plain or gzip; a Parquet footer) and keeps its ``s3://``
location (the ``auto`` engine sends it to its cluster).

Layout: ``s3cache/BUCKET/H(location)/VERSION/...`` with ``VERSION.json`` beside it (keys, ETags, sizes).
The catalog layer owns this because it is where data locations are described: file schemas are inferred
(``files.infer_table``) and Glue samples read (``files.attach_samples``) from the cached copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from askspark.catalog.base import TableInfo
from askspark.errors import (
    AccessDeniedError,
    AskSparkError,
    CatalogUnavailableError,
    NotFoundError,
    TooLargeError,
    UsageError,
    missing_extra,
)
from askspark.settings import Settings, human_bytes

SCHEMES = ("s3", "s3a", "s3n")  # Hadoop's names for the same store appear in Glue locations
_URI = re.compile(r"(?P<scheme>[A-Za-z0-9]+)://(?P<bucket>[^/]*)/?(?P<key>.*)", re.DOTALL)
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")  # S3's bucket naming rules
_SKIPPED = ("/", "_$folder$")  # directory markers, not data
_DENIED = {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled"}
_CHUNK = 1024 * 1024
HEAD_BYTES = 1024 * 1024  # read of a file over the cache limit to learn its schema and samples
_MISSING = {"404", "NoSuchKey", "NotFound"}
_UNREACHABLE = ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError")


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str  # "" for the whole bucket

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class S3Object:
    key: str
    etag: str
    size: int


@dataclass
class Listing:
    """What is at a location: one object (``prefix`` None) or the objects under a prefix."""

    uri: S3Uri
    objects: list[S3Object]
    prefix: str | None

    @property
    def size(self) -> int:
        return sum(o.size for o in self.objects)

    @property
    def canonical(self) -> str:
        """The location's key as listed: ``s3://b/x`` and ``s3://b/x/`` of a prefix are one location."""
        return self.prefix if self.prefix is not None else self.uri.key

    @property
    def version(self) -> str:
        """Names the cached copy: changes when any key, ETag or size does."""
        lines = sorted(f"{o.key}\t{o.etag}\t{o.size}" for o in self.objects)
        return _digest("\n".join(lines))


def is_s3(location: str | Path) -> bool:
    """Whether a location names S3 (``s3://``, ``s3a://``, ``s3n://``). A Path has lost its ``//``."""
    return isinstance(location, str) and location.split("://", 1)[0].lower() in SCHEMES and "://" in location


def parse_uri(location: str) -> S3Uri:
    """``s3://bucket/key`` as its parts.

    Raises:
        UsageError: not an S3 URI, no bucket, or a bucket name S3 does not allow.
    """
    match = _URI.fullmatch(location.strip())
    if match is None or match["scheme"].lower() not in SCHEMES:
        raise _malformed(location, "it does not start with s3://")
    if not match["bucket"]:
        raise _malformed(location, "it names no bucket")
    if not _BUCKET.fullmatch(match["bucket"]) or ".." in match["bucket"]:
        raise _malformed(location, f"{match['bucket']!r} is not a valid bucket name")
    return S3Uri(match["bucket"], match["key"])


def _malformed(location: str, why: str) -> UsageError:
    return UsageError(
        f"malformed S3 location {location!r}: {why}",
        suggestion="write it as s3://BUCKET/KEY for one object or s3://BUCKET/PREFIX/ for a directory of "
        "objects (bucket names: 3-63 lowercase letters, digits, dots and hyphens)",
        location=location,
    )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class S3Cache:
    """Fetches S3 locations into ``HOME/s3cache`` and answers with the local copy."""

    def __init__(self, settings: Settings) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise missing_extra("reading s3:// data", "s3", "boto3") from None
        self.settings = settings
        self.root = cache_root(settings)
        endpoint = settings.aws_endpoint_url  # else boto3 reads AWS_ENDPOINT_URL(_S3) itself
        custom = endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        config = Config(
            connect_timeout=settings.s3_timeout_seconds,
            read_timeout=settings.s3_timeout_seconds,
            retries={"max_attempts": 2, "mode": "standard"},
            # S3-compatible stores (MinIO, moto, Ceph) answer on one host: path-style addressing.
            s3={"addressing_style": "path" if custom else "auto"},
        )
        self.client = boto3.client(
            "s3", region_name=settings.aws_region, endpoint_url=endpoint, config=config
        )

    # --- what is there ----------------------------------------------------------------------------

    def listing(self, location: str) -> Listing:
        """The object at ``location``, or the objects under it as a prefix.

        Raises:
            UsageError: a malformed URI. NotFoundError: no such bucket or nothing at the location.
            AccessDeniedError: the credentials may not read it. CatalogUnavailableError: S3 unreachable.
        """
        uri = parse_uri(location)
        if uri.key and not uri.key.endswith("/"):
            found = self._head(uri)
            if found is not None:
                return Listing(uri, [found], None)
        prefix = uri.key if not uri.key or uri.key.endswith("/") else uri.key + "/"
        objects = self._list(uri, prefix)
        if not objects:
            raise NotFoundError(
                f"nothing at {uri}: no object with that key and none under it",
                suggestion=f"check the key (list it with 'aws s3 ls s3://{uri.bucket}/{prefix}')",
                location=str(uri),
            )
        return Listing(uri, objects, prefix)

    def _head(self, uri: S3Uri) -> S3Object | None:
        try:
            head = self.client.head_object(Bucket=uri.bucket, Key=uri.key)
        except Exception as exc:
            if _code(exc) in _MISSING:
                return None  # a prefix, a missing key or a missing bucket: the listing tells which
            raise s3_error(exc, uri) from None
        return S3Object(uri.key, head["ETag"].strip('"'), head["ContentLength"])

    def _list(self, uri: S3Uri, prefix: str) -> list[S3Object]:
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=uri.bucket, Prefix=prefix)
            return [
                S3Object(o["Key"], o["ETag"].strip('"'), o["Size"])
                for page in pages
                for o in page.get("Contents", [])
                if not o["Key"].endswith(_SKIPPED)
            ]
        except Exception as exc:
            raise s3_error(exc, uri) from None

    # --- the cached copy --------------------------------------------------------------------------

    def fetch(self, listing: Listing) -> Path:
        """The local copy of the listed objects (a file, or a directory for a prefix), fetched when the
        cache has no copy of this version. Older versions of the location are removed."""
        home = self.home(listing)
        final = home / listing.version
        if not final.is_dir():
            home.mkdir(parents=True, exist_ok=True)
            evict(self.root, self.settings.s3_cache_max_bytes - listing.size, keep=home)
            self._download(listing, home, final)
        _drop_other_versions(home, listing.version)
        now = time.time_ns()  # the last use, exact (a directory's own mtime has a coarse clock)
        os.utime(home, ns=(now, now))
        return final if listing.prefix is not None else final / relative_path(listing, listing.objects[0])

    def head_table(self, listing: Listing, name: str) -> TableInfo:
        """One CSV or JSON-lines object described from its first ``HEAD_BYTES`` (:func:`describe_head`)."""
        obj = listing.objects[0]
        head = self.read(listing.uri, obj, 0, min(obj.size, HEAD_BYTES))
        described = f"its first {human_bytes(HEAD_BYTES)}"
        return describe_head(head, relative_path(listing, obj).name, name, self.settings, described)

    def home(self, listing: Listing) -> Path:
        """The directory of a location's cached copies (one per version, and what was learned of each)."""
        return self.root / listing.uri.bucket / _digest(listing.canonical)

    def _download(self, listing: Listing, home: Path, final: Path) -> None:
        """Every object into a temporary directory renamed into place once complete, so a reader never
        sees half a copy; unchanged objects of an older version are hard-linked instead."""
        previous = _previous_copies(home)
        staging = Path(tempfile.mkdtemp(prefix=".fetch-", dir=home))
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the copy from the sandbox user the engine runs as
        try:
            for obj in listing.objects:
                target = staging / relative_path(listing, obj)
                target.parent.mkdir(parents=True, exist_ok=True)
                old = previous.get((obj.key, obj.etag))
                if old is not None and old.is_file():
                    os.link(old, target)
                else:
                    self._get(listing.uri, obj, target)
            manifest = {"prefix": listing.prefix, "objects": [asdict(o) for o in listing.objects]}
            (home / f"{listing.version}.json").write_text(json.dumps(manifest))
            staging.rename(final)
        except OSError:
            if not final.is_dir():
                raise  # a rename onto an existing copy: another thread or process fetched it meanwhile
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _get(self, uri: S3Uri, obj: S3Object, target: Path) -> None:
        """The object into ``target``."""
        try:
            # IfMatch: the object must still be the version listed, or the copy would be misnamed.
            body = self.client.get_object(Bucket=uri.bucket, Key=obj.key, IfMatch=obj.etag)["Body"]
            with body, open(target, "wb") as out:
                for chunk in body.iter_chunks(_CHUNK):  # each read is bounded by s3_timeout_seconds
                    out.write(chunk)
        except Exception as exc:
            raise _get_error(exc, uri, obj) from None

    def read(self, uri: S3Uri, obj: S3Object, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive) of the listed version of an object: one ranged
        ``GetObject``, held in memory (callers bound the range)."""
        try:
            part = f"bytes={start}-{end - 1}"
            got = self.client.get_object(Bucket=uri.bucket, Key=obj.key, IfMatch=obj.etag, Range=part)
            body = got["Body"]  # not "with ... as": a StreamingBody enters as its raw urllib3 stream
            with body:
                return b"".join(body.iter_chunks(_CHUNK))
        except Exception as exc:
            raise _get_error(exc, uri, obj) from None


def _get_error(exc: Exception, uri: S3Uri, obj: S3Object) -> AskSparkError:
    if _code(exc) in ("412", "PreconditionFailed"):
        return UsageError(
            f"s3://{uri.bucket}/{obj.key} changed while askspark was fetching it",
            suggestion="ask again: the new version will be fetched",
        )
    return s3_error(exc, S3Uri(uri.bucket, obj.key))


def describe_head(
    head: bytes, filename: str, name: str, settings: Settings, described_from: str
) -> TableInfo:
    """A CSV or JSON-lines file described from its first bytes ``head`` (cut at the last whole line),
    as if it were named ``filename``: columns, types and samples; no row count, and no column's full
    list of values (the rest of the file may hold others). Nothing is kept but what was learned."""
    from askspark.catalog.files import infer_table  # pyarrow only when describing

    with tempfile.TemporaryDirectory(prefix="askspark-s3head-") as tmp:
        target = Path(tmp) / filename
        target.write_bytes(head[: head.rfind(b"\n") + 1] or head)
        info = infer_table(target, database="files", name=name, sample_values=settings.sample_values)
    info.row_count = None
    for column in info.columns:
        column.values = None
    info.details = {**info.details, "described_from": described_from}
    return info


def cache_root(settings: Settings) -> Path:
    """Where cached S3 data lives; the local Spark server reads it (read-only) like the uploads."""
    return settings.home / "s3cache"


def _drop_other_versions(home: Path, version: str) -> None:
    """Remove a location's copies and what was learned of them, but ``version``'s."""
    for old in home.iterdir():
        if not old.name.startswith(".") and old.name.split(".", 1)[0] != version:
            shutil.rmtree(old) if old.is_dir() else old.unlink(missing_ok=True)


_EVICTING = threading.Lock()  # one eviction at a time: two would count the same bytes as freed


def evict(root: Path, room: int, keep: Path) -> list[Path]:
    """Remove the least recently used locations (but ``keep``, and any being fetched) until the cache
    holds at most ``room`` bytes besides ``keep``; the removed locations' directories. A question
    still reading a removed copy may fail (asked again, it fetches the location anew)."""
    with _EVICTING:
        candidates = [h for h in root.glob("*/" + "?" * 16) if h != keep and not any(h.glob(".fetch-*"))]
        sizes = {h: size for h in candidates if (size := _cached_bytes(h)) > 0}  # 0: not fetched yet
        homes = list(sizes)
        total, removed = sum(sizes.values()), []
        for home in sorted(homes, key=lambda h: (_last_use(h), h.name)):
            if total <= max(room, 0):
                break
            shutil.rmtree(home, ignore_errors=True)
            total -= sizes[home]
            removed.append(home)
        return removed


def _cached_bytes(home: Path) -> int:
    """The bytes a location's copies hold, from their manifests (no walk over the data)."""
    total = 0
    for manifest in home.glob("?" * 16 + ".json"):
        with suppress(OSError, ValueError, KeyError, TypeError):
            total += sum(o["size"] for o in json.loads(manifest.read_text())["objects"])
    return total


def _last_use(home: Path) -> int:
    try:
        return home.stat().st_mtime_ns
    except OSError:
        return 0


def relative_path(listing: Listing, obj: S3Object) -> PurePosixPath:
    """An object's path inside its cached copy: its basename, or its key below the prefix. Components
    that could leave the copy (``..``, ``.``, empty) are renamed, so no key writes outside the cache."""
    rest = obj.key[len(listing.prefix) :] if listing.prefix is not None else obj.key.rsplit("/", 1)[-1]
    parts = [p if p not in ("", ".", "..") else "_" for p in rest.split("/")]
    return PurePosixPath(*parts)


def _previous_copies(home: Path) -> dict[tuple[str, str], Path]:
    """(key, ETag) -> the cached file of every complete older version of a location."""
    found: dict[tuple[str, str], Path] = {}
    for manifest in home.glob("?" * 16 + ".json"):  # VERSION.json, not what was learned of a version
        try:
            saved = json.loads(manifest.read_text())
            listing = Listing(S3Uri("", ""), [S3Object(**o) for o in saved["objects"]], saved["prefix"])
        except (OSError, ValueError, TypeError, KeyError):
            continue
        for obj in listing.objects:
            found[(obj.key, obj.etag)] = manifest.with_suffix("") / relative_path(listing, obj)
    return found


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def s3_error(exc: Exception, uri: S3Uri) -> AskSparkError:
    """An AWS error about ``uri`` in the one error shape, saying what to check."""
    code, name = _code(exc), type(exc).__name__
    if code == "NoSuchBucket":
        return NotFoundError(
            f"the S3 bucket {uri.bucket!r} of {uri} does not exist",
            suggestion="check the bucket name, the region (aws_region) and the endpoint (aws_endpoint_url, "
            "AWS_ENDPOINT_URL); to use a local copy instead, 'aws s3 sync' it to a directory and register it",
            location=str(uri),
        )
    if code in _DENIED:
        return AccessDeniedError(
            f"access denied to {uri} ({code})",
            suggestion="the AWS credentials askspark found (environment, ~/.aws, instance role) may not read "
            f"it: allow s3:GetObject and s3:ListBucket on bucket {uri.bucket!r}, or use other credentials",
            location=str(uri),
        )
    if code in _MISSING:
        return NotFoundError(f"no object at {uri}", suggestion="check the key", location=str(uri))
    if name == "NoCredentialsError":
        return UsageError(
            f"no AWS credentials to read {uri}",
            suggestion="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run 'aws configure'",
        )
    if name in _UNREACHABLE:
        return CatalogUnavailableError(
            f"S3 could not be reached for {uri}: {exc}",
            suggestion="check the network and the endpoint (aws_endpoint_url, AWS_ENDPOINT_URL)",
        )
    return CatalogUnavailableError(f"S3 failed on {uri}: {exc}", suggestion="try again; check the endpoint")


# --- tables and files on S3 ---------------------------------------------------------------------------


def too_large(location: str, size: int, settings: Settings, *, file: bool) -> TooLargeError:
    """The data at ``location`` is over the local cache's limit: say where it can run instead."""
    where = (
        "its schema is read from its data, and only CSV and JSON-lines files (plain or gzip) and "
        "Parquet files and directories are described from parts of them: register it as a table (e.g. "
        "in Glue, whose schema needs no local copy) and ask with --engine auto or a cluster engine "
        "(connect, emr-serverless)"
        if file
        else "use --engine auto (it sends data this large to its cluster engine, auto_cluster) or a "
        "cluster engine (--engine connect or emr-serverless)"
    )
    return TooLargeError(
        f"{location} holds {human_bytes(size)}, over the local engine's S3 cache limit "
        f"(s3_cache_max_bytes = {human_bytes(settings.s3_cache_max_bytes)})",
        suggestion=f"{where}; or raise ASKSPARK_S3_CACHE_MAX_BYTES if this machine can hold it",
        location=location,
        bytes=size,
        limit=settings.s3_cache_max_bytes,
    )


def localize(tables: list[TableInfo], settings: Settings, engine_id: str) -> list[TableInfo]:
    """The tables with their S3 data where ``engine_id`` reads it.

    The local engine reads every S3 table from the cache (over ``s3_cache_max_bytes`` is an error
    saying where it can run); ``auto`` reads it from the cache when it fits both that limit and
    ``auto_threshold_bytes``, else keeps the ``s3://`` location, which sends the run to its cluster.
    Other engines read S3 themselves. Samples for the prompt come from the cached copy.
    """
    if not any(_s3_location(t) for t in tables):
        return tables
    if engine_id not in ("local", "auto"):
        return [_at(t, origin) if (origin := _s3_location(t)) else t for t in tables]
    cache = S3Cache(settings)
    return [_placed(t, origin, cache, engine_id) if (origin := _s3_location(t)) else t for t in tables]


def _s3_location(table: TableInfo) -> str | None:
    """Where a table's data is on S3: its location, or where a cached file was fetched from. None for
    tables read by explicit files (an Iceberg snapshot's) and tables no engine reads (refused later by
    ``check_readable``): their location is not one dataset to copy."""
    if table.paths is not None or table.details.get("unreadable"):
        return None
    origin = table.details.get("s3_location")
    if isinstance(origin, str):
        return origin
    return table.location if is_s3(table.location) else None


def _at(table: TableInfo, location: str) -> TableInfo:
    return table.model_copy(
        update={"location": location, "details": {**table.details, "s3_location": location}}
    )


def _placed(table: TableInfo, origin: str, cache: S3Cache, engine_id: str) -> TableInfo:
    """The table read from its cached copy (fetched now when missing or changed), or left on S3 for
    the auto engine's cluster."""
    settings = cache.settings
    listing = cache.listing(origin)  # HEAD or list, with a deadline: a changed ETag is fetched anew
    if engine_id == "auto" and listing.size > min(settings.s3_cache_max_bytes, settings.auto_threshold_bytes):
        return _at(table, origin)  # no local copy: the auto engine sends it to its cluster
    if listing.size > settings.s3_cache_max_bytes:
        raise too_large(origin, listing.size, settings, file=False)
    local = _at(table, origin).model_copy(update={"location": str(cache.fetch(listing))})
    if any(c.samples for c in table.columns):
        return local
    from askspark.catalog.files import attach_samples  # pyarrow only when sampling

    return attach_samples(local, settings.sample_values)


def describe_file(location: str, settings: Settings, name: str) -> TableInfo:
    """An S3 file (or prefix) named as an ad-hoc file, as a table in database ``files``: its schema,
    samples and values inferred from the cached copy once per version (kept beside the copy, so a
    later question on the unchanged object reads neither S3 nor the data again).

    A file over ``s3_cache_max_bytes`` is described from parts of it (:mod:`askspark.catalog.s3parts`:
    the first bytes of a CSV or JSON-lines file, plain or gzip; a Parquet file's footer; the first
    Parquet part of a prefix) and keeps its ``s3://`` location: the local engine refuses it
    (:func:`localize`), ``auto`` sends it to its cluster.

    Raises:
        TooLargeError: any other file or prefix over ``s3_cache_max_bytes`` (no part of it tells its
            schema).
    """
    from askspark.catalog.files import infer_table  # pyarrow only when describing

    cache = S3Cache(settings)
    listing = cache.listing(location)
    if listing.size > settings.s3_cache_max_bytes:
        return _described_from_head(cache, listing, location, name)
    path = cache.fetch(listing)
    memo = cache.home(listing) / f"{listing.version}.table-{settings.sample_values}.json"
    if memo.is_file():
        info = TableInfo.model_validate_json(memo.read_text())
    else:
        info = infer_table(path, database="files", name=name, sample_values=settings.sample_values)
        memo.write_text(info.model_dump_json())
    info.name, info.location = name, str(path)
    info.details = {**info.details, "s3_location": location}
    return info


def _described_from_head(cache: S3Cache, listing: Listing, location: str, name: str) -> TableInfo:
    """A file too large for the cache, described from parts of it once per version (kept beside where
    its copy would be), at its ``s3://`` location."""
    from askspark.catalog.s3parts import describer  # it builds on this module

    settings = cache.settings
    describe = describer(listing)
    if describe is None:
        raise too_large(location, listing.size, settings, file=True)
    home = cache.home(listing)
    memo = home / f"{listing.version}.head-{settings.sample_values}.json"
    if memo.is_file():
        info = TableInfo.model_validate_json(memo.read_text())
    else:
        info = describe(cache, listing, name)
        home.mkdir(parents=True, exist_ok=True)
        _drop_other_versions(home, listing.version)
        memo.write_text(info.model_dump_json())
    info.name, info.location = name, location
    info.details = {**info.details, "s3_location": location}
    return info


def file_name(location: str) -> str:
    """The last path component of an S3 location (``s3://b/x/sales.csv`` -> ``sales.csv``)."""
    uri = parse_uri(location)
    return uri.key.rstrip("/").rsplit("/", 1)[-1] or uri.bucket
