"""S3 files over the cache limit, described from parts of them read with ranged ``GetObject`` calls.

A file larger than ``s3_cache_max_bytes`` is not copied, but its schema can still be learned without
reading it whole, so that it keeps its ``s3://`` location and the ``auto`` engine sends it to its
cluster (the local engine refuses it, :func:`askspark.catalog.s3.localize`):

- a CSV or JSON-lines object: its first ``HEAD_BYTES`` (:meth:`S3Cache.head_table`);
- a gzip-compressed one (``.csv.gz``, ``.jsonl.gz``, ...): its first ``HEAD_BYTES`` decompressed, from a
  read of at most ``HEAD_BYTES`` of its start;
- a Parquet object: its footer (schema, row count, which columns hold nulls), plus samples from its first
  row group when that is at most ``HEAD_BYTES`` (writers' usual ~128 MiB row groups give no samples);
- a prefix of Parquet parts (``year=2024/`` partitions): the footer of its first part, and the partition
  columns from every part's key.

Every read goes through the cache's client (its deadlines, ``If-Match`` the listed ETag) and is bounded.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import PurePath

import pyarrow as pa
import pyarrow.parquet as pq

from askspark.catalog import s3
from askspark.catalog.base import TableInfo
from askspark.catalog.files import FORMATS, is_data_file, parquet_footer_table
from askspark.errors import UsageError
from askspark.settings import human_bytes

Describer = Callable[["s3.S3Cache", "s3.Listing", str], TableInfo]

_MAGIC = b"PAR1"
_TAIL_BYTES = 64 * 1024  # the first read of a Parquet file's end: most footers fit, one request reads it
_FOOTER_MAX = 64 * 1024 * 1024  # a footer claiming more is corrupt (real ones are KiBs to a few MiB)
_ROWS_MAX = 16 * 1024 * 1024  # decompressed bytes of a first row group read for samples
_GZIP_HEADS = tuple(ext + ".gz" for ext in (*FORMATS["csv"], *FORMATS["json"]))


def describer(listing: s3.Listing) -> Describer | None:
    """How a location over the cache limit is described, or None when no part of it tells its schema."""
    key = listing.uri.key.lower()
    if listing.prefix is not None:
        return prefix_table if _parquet_parts(listing) else None
    if key.endswith(FORMATS["parquet"]):
        return parquet_table
    if key.endswith(_GZIP_HEADS):
        return gzip_head_table
    if key.endswith((*FORMATS["csv"], *FORMATS["json"])):
        return s3.S3Cache.head_table
    return None


# --- gzip ---------------------------------------------------------------------------------------------


def gzip_head_table(cache: s3.S3Cache, listing: s3.Listing, name: str) -> TableInfo:
    """A gzip-compressed CSV or JSON-lines object described from its first ``HEAD_BYTES`` decompressed
    (:func:`s3.describe_head`): Spark reads the ``.gz`` file itself, so the table keeps its format."""
    obj = listing.objects[0]
    limit = s3.HEAD_BYTES
    data = cache.read(listing.uri, obj, 0, min(obj.size, limit))
    head = gunzip_head(data, limit, f"s3://{listing.uri.bucket}/{obj.key}")
    filename = PurePath(obj.key).name.removesuffix(PurePath(obj.key).suffix)  # orders.csv.gz -> orders.csv
    return s3.describe_head(
        head, filename, name, cache.settings, f"its first {human_bytes(limit)} decompressed"
    )


def gunzip_head(data: bytes, limit: int, where: str) -> bytes:
    """At most ``limit`` bytes decompressed from the start of a gzip file (``data``, which may stop
    mid-stream); a file of several gzip members (concatenated files) is read across them."""
    out = b""
    try:
        while data and len(out) < limit:
            unzip = zlib.decompressobj(16 + zlib.MAX_WBITS)  # 16: a gzip header and trailer, not zlib's
            out += unzip.decompress(data, limit - len(out))
            data = unzip.unused_data  # the next member's bytes, once this member ended
    except zlib.error as exc:
        if not out:  # garbage after a whole member is ignored, as gzip does; a bad first one is not
            raise UsageError(
                f"cannot decompress {where} as gzip: {exc}",
                suggestion="check it is a gzip file (its name ends with .gz), or rename it to what it holds",
                location=where,
            ) from None
    return out


# --- Parquet ------------------------------------------------------------------------------------------


def parquet_table(cache: s3.S3Cache, listing: s3.Listing, name: str) -> TableInfo:
    """One Parquet object described from its footer, with samples from its first row group when small."""
    obj = listing.objects[0]
    meta = read_footer(cache, listing.uri, obj)
    rows = _first_rows(cache, listing.uri, obj, meta)
    info = parquet_footer_table(meta, rows, [], name=name, sample_values=cache.settings.sample_values)
    what = "its Parquet footer" + (" and first row group" if rows is not None else "")
    info.details = {**info.details, "described_from": what}
    return info


def prefix_table(cache: s3.S3Cache, listing: s3.Listing, name: str) -> TableInfo:
    """A directory of Parquet parts described from its first part's footer, with the partition columns
    (and their values) from all the parts' keys; no row count (the footer is one part's)."""
    parts = _parquet_parts(listing)
    first = parts[0]
    meta = read_footer(cache, listing.uri, first)
    relative = [s3.relative_path(listing, obj) for obj in parts]
    info = parquet_footer_table(meta, None, relative, name=name, sample_values=cache.settings.sample_values)
    where = f"s3://{listing.uri.bucket}/{first.key}"
    info.details = {**info.details, "described_from": f"the Parquet footer of {where} and {len(parts)} keys"}
    return info


def _parquet_parts(listing: s3.Listing) -> list[s3.S3Object]:
    """The Parquet files Spark reads under a prefix (not ``_SUCCESS``, ``.crc``, ``_temporary/``)."""
    return sorted(
        (o for o in listing.objects if is_data_file(s3.relative_path(listing, o), "parquet")),
        key=lambda o: o.key,
    )


def read_footer(cache: s3.S3Cache, uri: s3.S3Uri, obj: s3.S3Object) -> pq.FileMetaData:
    """A Parquet object's footer (schema, row groups, statistics) from its last bytes: one ranged read of
    ``_TAIL_BYTES``, a second only for a footer longer than that.

    Raises:
        UsageError: the object is not a Parquet file or its footer is corrupt.
    """
    where = f"s3://{uri.bucket}/{obj.key}"
    tail = cache.read(uri, obj, max(obj.size - _TAIL_BYTES, 0), obj.size)
    length = _footer_length(tail, obj.size, where)
    if length + 8 > len(tail):  # the rest of a long footer, just before the tail already read
        tail = cache.read(uri, obj, obj.size - length - 8, obj.size - len(tail)) + tail
    try:  # a file of the magic and the footer alone: the footer's offsets are never followed
        return pq.ParquetFile(pa.BufferReader(_MAGIC + tail[-(length + 8) :])).metadata
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _corrupt(where, f"its footer cannot be read ({exc})") from None


def _footer_length(tail: bytes, size: int, where: str) -> int:
    """The footer's length from a Parquet file's last 8 bytes (the length, then ``PAR1``)."""
    if size < 12 or tail[-4:] != _MAGIC:
        what = "an encrypted Parquet footer" if tail[-4:] == b"PARE" else "no Parquet footer"
        raise _corrupt(where, f"it ends with {what} (a Parquet file ends with 'PAR1')")
    (length,) = struct.unpack("<I", tail[-8:-4])
    if length + 12 > size or length > _FOOTER_MAX:
        raise _corrupt(where, f"its footer claims {human_bytes(length)} of a {human_bytes(size)} file")
    return int(length)


def _corrupt(where: str, why: str) -> UsageError:
    return UsageError(
        f"cannot read {where} as Parquet: {why}",
        suggestion="check it is a complete Parquet file (not still being written, not renamed from another "
        "format), or name the file by the format it holds",
        location=where,
        format="parquet",
    )


def _first_rows(cache: s3.S3Cache, uri: s3.S3Uri, obj: s3.S3Object, meta: pq.FileMetaData) -> pa.Table | None:
    """The first row group, read when its bytes fit ``HEAD_BYTES`` (its samples are real values); None
    when it is larger, or unreadable: samples are a nicety, the footer described the table."""
    end = _first_group_end(meta)
    if end is None or end > min(obj.size, s3.HEAD_BYTES) or meta.row_group(0).total_byte_size > _ROWS_MAX:
        return None
    start = cache.read(uri, obj, 0, end)
    try:  # with the footer given, only the first row group's byte ranges are read
        return pq.ParquetFile(pa.BufferReader(start), metadata=meta).read_row_group(0)
    except (pa.ArrowException, OSError, ValueError):
        return None


def _first_group_end(meta: pq.FileMetaData) -> int | None:
    """Where the first row group's column chunks end in the file; None when there is none."""
    if meta.num_row_groups == 0 or meta.row_group(0).num_columns == 0:
        return None
    group = meta.row_group(0)
    chunks = [group.column(i) for i in range(group.num_columns)]
    return max(
        (c.dictionary_page_offset if c.has_dictionary_page else c.data_page_offset) + c.total_compressed_size
        for c in chunks
    )
