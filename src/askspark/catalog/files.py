"""Schema inference for CSV, Parquet and newline-delimited JSON files, with pyarrow.

:func:`infer_table` reads a file or a directory of files once and describes it as a :class:`TableInfo`:
Spark SQL column types, nullability, a few sample values, the row count and the reader options Spark
needs to read the data back with the inferred schema
(``spark.read.format(fmt).schema(ddl).options(**options).load(location)``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.json as pajson
import pyarrow.parquet as pq

from askspark.catalog.base import Column, TableInfo
from askspark.errors import AskSparkError, NotFoundError, UsageError, unknown_name

FORMATS: dict[str, tuple[str, ...]] = {
    "csv": (".csv",),
    "parquet": (".parquet", ".pq"),
    "json": (".json", ".jsonl", ".ndjson"),
}
"""Supported formats and the file extensions that select them."""

_EXTENSIONS = {ext: fmt for fmt, exts in FORMATS.items() for ext in exts}
_COMPRESSIONS = (".gz", ".bz2")  # decompressed transparently by both pyarrow and Spark
_SAMPLE_ROWS = 10_000  # rows looked at for sample values
_SAMPLE_CHARS = 80
_VALUES_MAX = 25  # a text column with at most this many distinct values lists them all
_VALUE_CHARS = 40  # ... each at most this long
_VALUES_MAX_ROWS = 20_000_000  # beyond the sample, whole columns are read only for tables up to this size
_PROBE_BYTES = 64 * 1024  # bytes of a CSV file looked at to guess its delimiter and header
_DELIMITERS = (",", ";", "\t", "|")
_TRUE = ["true", "True", "TRUE"]  # what Spark's CSV reader parses as booleans
_FALSE = ["false", "False", "FALSE"]
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_SIMPLE_TYPES: dict[pa.DataType, str] = {
    pa.int8(): "tinyint",
    pa.int16(): "smallint",
    pa.int32(): "int",
    pa.int64(): "bigint",
    pa.uint8(): "smallint",
    pa.uint16(): "int",
    pa.uint32(): "bigint",
    pa.uint64(): "decimal(20,0)",
    pa.float16(): "float",
    pa.float32(): "float",
    pa.float64(): "double",
    pa.bool_(): "boolean",
    pa.date32(): "date",
    pa.date64(): "date",
    pa.binary(): "binary",
    pa.large_binary(): "binary",
}


@dataclass
class _Scan:
    """What one format reader learned about the data."""

    schema: pa.Schema
    sample: dict[str, pa.ChunkedArray | pa.Array]  # column -> values to take samples from
    row_count: int
    nulls: dict[str, bool] = field(default_factory=dict)  # column -> has nulls, where known
    options: dict[str, str] = field(default_factory=dict)
    partition_columns: list[str] = field(default_factory=list)
    # Reads one whole column (for the distinct values of a column the sample suggests is low-cardinality).
    whole_column: Callable[[str], pa.ChunkedArray | pa.Array] | None = None


def table_name_for(path: str | Path) -> str:
    """A safe SQL identifier from a file or directory name: ``2023 Sales.csv`` -> ``t_2023_sales``."""
    name = Path(path).name.lower()
    for suffix in (*_COMPRESSIONS, *_EXTENSIONS):
        name = name.removesuffix(suffix)
    name = re.sub(r"[^a-z0-9]+", "_", name).strip("_") or "table"
    return f"t_{name}" if name[0].isdigit() else name


def spark_type(arrow_type: pa.DataType) -> str:
    """The Spark SQL type string of an arrow type (``int64`` -> ``bigint``; unknown ones -> ``string``)."""
    t = arrow_type
    if pa.types.is_dictionary(t):
        return spark_type(t.value_type)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return f"array<{spark_type(t.value_type)}>"
    if pa.types.is_map(t):
        return f"map<{spark_type(t.key_type)},{spark_type(t.item_type)}>"
    if pa.types.is_struct(t):
        return "struct<" + ",".join(f"{_quote(f.name)}:{spark_type(f.type)}" for f in t) + ">"
    if pa.types.is_decimal(t):
        return f"decimal({min(t.precision, 38)},{t.scale})"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_fixed_size_binary(t):
        return "binary"
    return _SIMPLE_TYPES.get(t, "string")


def _quote(name: str) -> str:
    return name if _IDENTIFIER.fullmatch(name) else "`" + name.replace("`", "``") + "`"


def infer_table(
    path: str | Path,
    *,
    database: str,
    name: str,
    fmt: str | None = None,
    sample_values: int = 3,
    options: dict[str, str] | None = None,
) -> TableInfo:
    """Describe the data at ``path`` (a file or a directory of files) as a table.

    Args:
        path: A CSV, Parquet or JSON file, or a directory of them (hive-style ``key=value``
            subdirectories become partition columns).
        database: The database the table is registered in.
        name: The table name.
        fmt: ``csv``, ``parquet`` or ``json``; guessed from the file extensions when None.
        sample_values: Distinct sample values kept per column.
        options: CSV reader options that override the guessed ones (``header``, ``sep``).

    Raises:
        NotFoundError: ``path`` does not exist.
        UsageError: The format is unsupported or the data cannot be read.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise NotFoundError(
            f"no such file or directory: {root}",
            suggestion=f"check the path (relative paths start at {Path.cwd()})",
            path=str(root),
        )
    root = root.resolve()
    fmt = _format_of(root, fmt)
    files = _data_files(root, fmt)
    try:
        scan = _READERS[fmt](root, files, dict(options or {}))
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise _unreadable(root, fmt, exc) from exc
    return _table_info(
        scan, database=database, name=name, fmt=fmt, location=root, sample_values=sample_values
    )


def _table_info(
    scan: _Scan, *, database: str, name: str, fmt: str, location: Path | str, sample_values: int
) -> TableInfo:
    columns = [
        Column(
            name=f.name,
            type=spark_type(f.type),
            nullable=scan.nulls.get(f.name, f.nullable) if scan.row_count else f.nullable,
            samples=column_samples(scan.sample[f.name], sample_values),
            values=_scan_values(scan, f.name) if spark_type(f.type) == "string" and sample_values else None,
        )
        for f in scan.schema
    ]
    return TableInfo(
        database=database,
        name=name,
        columns=columns,
        format=fmt,
        location=str(location),
        options=scan.options,
        partition_columns=scan.partition_columns,
        row_count=scan.row_count,
    )


def _unreadable(path: Path, fmt: str, exc: Exception) -> UsageError:
    hints = {
        "csv": "check it is a comma-, semicolon-, tab- or pipe-separated file with one record per line",
        "parquet": "check it is a complete Parquet file (not still being written)",
        "json": "check it holds one JSON object per line (or one JSON array of objects)",
    }
    return UsageError(
        f"cannot read {path} as {fmt}: {exc}",
        suggestion=f"{hints[fmt]}, or pass the right format (one of {', '.join(FORMATS)})",
        path=str(path),
        format=fmt,
    )


# --- which files, which format -------------------------------------------------------------------


def _extension(path: PurePath) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSIONS:
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def _supported() -> str:
    return "; ".join(f"{fmt} ({', '.join(exts)})" for fmt, exts in FORMATS.items())


def _format_of(root: Path, fmt: str | None) -> str:
    """The format asked for, or the one the file extensions name."""
    if fmt is not None:
        if fmt.lower() not in FORMATS:
            raise unknown_name("format", fmt, FORMATS)
        return fmt.lower()
    candidates = [root] if root.is_file() else _visible_files(root)
    found = sorted({_EXTENSIONS[e] for e in map(_extension, candidates) if e in _EXTENSIONS})
    if len(found) == 1:
        return found[0]
    if found:
        raise UsageError(
            f"{root} mixes formats: {', '.join(found)}",
            suggestion="put each table's files in a directory of their own, or pass the format to use",
            path=str(root),
        )
    what = f"extension {_extension(root) or '(none)'!r}" if root.is_file() else "files"
    raise UsageError(
        f"unsupported file format: {root} has no supported {what}",
        suggestion=f"supported formats: {_supported()}; or pass the format explicitly",
        path=str(root),
        supported=list(FORMATS),
    )


def _visible_files(root: Path) -> list[Path]:
    """Files under ``root`` that Spark reads: none under names starting with ``.`` or ``_`` (but ``_x=1``)."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(_hidden(part) for part in p.relative_to(root).parts)
    )


def _hidden(part: str) -> bool:
    return part.startswith(".") or (part.startswith("_") and "=" not in part)


def is_data_file(path: PurePath, fmt: str) -> bool:
    """Whether a file (its path below a table's root) is one of the table's ``fmt`` files Spark reads."""
    return not any(_hidden(part) for part in path.parts) and _EXTENSIONS.get(_extension(path)) == fmt


def _data_files(root: Path, fmt: str) -> list[Path]:
    if root.is_file():
        return [root]
    files = _visible_files(root)
    matching = [p for p in files if _EXTENSIONS.get(_extension(p)) == fmt]
    files = matching or files
    if not files:
        raise UsageError(f"{root} holds no data files", suggestion=f"supported formats: {_supported()}")
    return files


def _partition_values(root: PurePath, file: PurePath) -> dict[str, str | None]:
    """Hive-style ``key=value`` directories between ``root`` and ``file``."""
    values: dict[str, str | None] = {}
    for part in file.relative_to(root).parts[:-1] if file != root else ():
        key, sep, value = part.partition("=")
        if sep and key:
            values[key] = None if value == "__HIVE_DEFAULT_PARTITION__" else value
    return values


# --- CSV -----------------------------------------------------------------------------------------


def _read_csv(root: Path, files: list[Path], options: dict[str, str]) -> _Scan:
    options.setdefault("sep", _sniff_delimiter(_probe(files[0])))
    options.setdefault("header", "true" if _has_header(_probe(files[0]), options["sep"]) else "false")
    tables = [_read_csv_file(f, options) for f in files]
    tables = [
        t.rename_columns(tables[0].column_names) if t.num_columns == tables[0].num_columns else t
        for t in tables
    ]
    table, partitions = _with_partitions(root, files, tables)
    options = {"header": options["header"], "sep": options["sep"], "escape": '"', **options}
    if options["sep"] == ",":
        del options["sep"]
    if _has_newlines(table):
        options["multiLine"] = "true"
    return _in_memory_scan(table, options, partitions)


def _probe(path: Path) -> bytes:
    """The first complete lines of a file (up to ~64 KiB), decompressed."""
    with pa.input_stream(str(path), compression="detect") as stream:
        data = stream.read(_PROBE_BYTES)
    if len(data) == _PROBE_BYTES and b"\n" in data:
        data = data[: data.rindex(b"\n") + 1]
    return data


def _sniff_delimiter(probe: bytes) -> str:
    first_line = probe.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    counts = {d: first_line.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _has_header(probe: bytes, sep: str) -> bool:
    """False when the first line looks like data: typed the same as the lines below it.

    A first line counts as data only when it holds a value no header would: a decimal number, a date,
    a timestamp or a boolean in a column of that type. Integers are ambiguous (year headers), so a file
    of integers and strings is taken to have a header, as Spark's ``header=true`` would.
    """
    try:
        with_header = _parse_csv(pa.BufferReader(probe), sep, header=True)
        without = _parse_csv(pa.BufferReader(probe), sep, header=False)
    except pa.ArrowException:
        return True
    if with_header.num_rows == 0 or with_header.schema.types != without.schema.types:
        return True
    first = without.slice(0, 1)
    telling = (pa.types.is_floating, pa.types.is_temporal, pa.types.is_boolean)
    return not any(
        any(is_type(col.type) for is_type in telling) and col.null_count == 0 for col in first.columns
    )


def _parse_csv(source: Any, sep: str, *, header: bool) -> pa.Table:
    return pacsv.read_csv(
        source,
        read_options=pacsv.ReadOptions(autogenerate_column_names=not header),
        parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            null_values=[""],  # like Spark: only empty fields are null
            true_values=_TRUE,
            false_values=_FALSE,
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )


def _read_csv_file(path: Path, options: dict[str, str]) -> pa.Table:
    table = _parse_csv(str(path), options["sep"], header=options["header"].lower() == "true")
    return table.rename_columns(_column_names(table.column_names, options["header"].lower() == "true"))


def _column_names(names: list[str], header: bool) -> list[str]:
    """Spark's names for headerless files (``_c0``...); empty and repeated header names made unique."""
    result: list[str] = []
    for i, name in enumerate(names):
        name = name.strip() if header else ""
        name = name or f"_c{i}"
        result.append(f"{name}_{i}" if name in result else name)
    return result


def _has_newlines(table: pa.Table) -> bool:
    return any(
        pc.any(pc.match_substring(col, "\n")).as_py()
        for col in table.columns
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
    )


# --- JSON ----------------------------------------------------------------------------------------


def _read_json(root: Path, files: list[Path], options: dict[str, str]) -> _Scan:
    arrays = [_starts_with_bracket(f) for f in files]
    tables = [
        _read_json_array(f) if array else _read_ndjson(f) for f, array in zip(files, arrays, strict=True)
    ]
    table, partitions = _with_partitions(root, files, tables)
    return _in_memory_scan(table, {"multiLine": "true"} if any(arrays) else {}, partitions)


def _read_ndjson(path: Path) -> pa.Table:
    return pajson.read_json(str(path))


def _starts_with_bracket(path: Path) -> bool:
    return _probe(path).lstrip().startswith(b"[")


def _read_json_array(path: Path) -> pa.Table:
    """A file holding one JSON array of objects (Spark reads it with ``multiLine=true``)."""
    with pa.input_stream(str(path), compression="detect") as stream:
        rows = json.loads(stream.read())
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError("a JSON array file must hold a list of objects")
    return pa.Table.from_struct_array(pa.array(rows)) if rows else pa.table({})


# --- CSV and JSON: tables read in full -----------------------------------------------------------


def _with_partitions(root: Path, files: list[Path], tables: list[pa.Table]) -> tuple[pa.Table, list[str]]:
    """One table from all files, with the hive-style partition values as extra columns."""
    keys: list[str] = []
    for i, (file, table) in enumerate(zip(files, tables, strict=True)):
        for key, value in _partition_values(root, file).items():
            if key not in table.column_names:
                table = table.append_column(key, pa.array([value] * table.num_rows, pa.string()))
                keys.append(key)
        tables[i] = table
    keys = list(dict.fromkeys(keys))
    return _typed_partitions(pa.concat_tables(tables, promote_options="permissive"), keys), keys


def _typed_partitions(table: pa.Table, keys: list[str]) -> pa.Table:
    """Integer-looking partition values as ``int``, as pyarrow's (and Spark's) partition discovery does."""
    for key in keys:
        try:
            column = pc.cast(table.column(key), pa.int32())
        except pa.ArrowException:
            continue
        table = table.set_column(table.column_names.index(key), key, column)
    return table


def _in_memory_scan(table: pa.Table, options: dict[str, str], partitions: list[str]) -> _Scan:
    sample = {
        n: pc.unique(c) if n in partitions else c.slice(0, _SAMPLE_ROWS)
        for n, c in zip(table.column_names, table.columns, strict=True)
    }
    return _Scan(
        schema=table.schema.remove_metadata(),
        sample=sample,
        row_count=table.num_rows,
        nulls={name: table.column(name).null_count > 0 for name in table.column_names},
        options=options,
        partition_columns=partitions,
        whole_column=table.column,
    )


# --- Parquet -------------------------------------------------------------------------------------


def _read_parquet(root: Path, files: list[Path], options: dict[str, str]) -> _Scan:
    metas = [pq.ParquetFile(f).metadata for f in files]
    file_schema = pa.unify_schemas([m.schema.to_arrow_schema() for m in metas], promote_options="permissive")
    dataset = _parquet_dataset(root, files, None)
    partitions = pa.schema([f for f in dataset.schema if f.name not in file_schema.names])
    dataset = _parquet_dataset(root, files, pa.schema([*file_schema, *partitions]).remove_metadata())
    parts = _partition_table(dataset, partitions)
    head = dataset.head(_SAMPLE_ROWS, columns=file_schema.names)
    sample = {
        **{n: head.column(n) for n in head.column_names},
        **{n: pc.unique(parts.column(n)) for n in parts.column_names},
    }
    nulls = {
        **_parquet_nulls(metas, file_schema.names),
        **{p.name: parts.column(p.name).null_count > 0 for p in partitions},
    }
    row_count = sum(m.num_rows for m in metas)

    def whole(name: str) -> pa.ChunkedArray:
        return dataset.to_table(columns=[name]).column(name)

    return _Scan(dataset.schema, sample, row_count, nulls, {}, partitions.names, whole)


def parquet_footer_table(
    meta: pq.FileMetaData, rows: pa.Table | None, parts: Sequence[PurePath], *, name: str, sample_values: int
) -> TableInfo:
    """A Parquet table in database ``files`` described from one file's footer: its schema, row count and
    which columns hold nulls (the statistics); samples from ``rows``, its first rows when they were read;
    and the hive-style partition columns (typed, with their values) of ``parts``, the paths of the
    table's files below its root (none for one file). Its location is left for the caller to set."""
    schema = meta.schema.to_arrow_schema().remove_metadata()
    rows = (rows if rows is not None else schema.empty_table()).select(schema.names)
    partitions = _partitions_of(parts)
    partitions = partitions.drop_columns([n for n in partitions.column_names if n in schema.names])
    sample = {
        **{n: rows.column(n) for n in schema.names},
        **{n: pc.unique(partitions.column(n)) for n in partitions.column_names},
    }
    nulls = {
        **(_parquet_nulls([meta], schema.names) if not parts else {}),
        **{n: partitions.column(n).null_count > 0 for n in partitions.column_names},
    }
    whole = pa.schema([*schema, *partitions.schema])
    scan = _Scan(whole, sample, meta.num_rows, nulls, {}, partitions.column_names)
    info = _table_info(
        scan, database="files", name=name, fmt="parquet", location="", sample_values=sample_values
    )
    if parts:  # the footer is one file's: the others may hold more rows, nulls and values
        info.row_count = None
        for column in info.columns:
            column.values = column.values if column.name in info.partition_columns else None
    return info


def _partitions_of(parts: Sequence[PurePath]) -> pa.Table:
    """One row per file: its ``key=value`` directories, typed as partition discovery types them."""
    rows = [_partition_values(PurePath(), part) for part in parts]
    keys = list(dict.fromkeys(key for row in rows for key in row))
    table = pa.table({key: pa.array([row.get(key) for row in rows], pa.string()) for key in keys})
    return _typed_partitions(table, keys)


def _parquet_dataset(root: Path, files: list[Path], schema: pa.Schema | None) -> ds.Dataset:
    return ds.dataset(
        [str(f) for f in files],
        schema=schema,
        format="parquet",
        partitioning=ds.HivePartitioning.discover(),
        partition_base_dir=str(root) if root.is_dir() else None,
    )


def _partition_table(dataset: ds.FileSystemDataset, partitions: pa.Schema) -> pa.Table:
    """One row per file: its partition values (null for ``__HIVE_DEFAULT_PARTITION__``)."""
    keys = [ds.get_partition_keys(f.partition_expression) for f in dataset.get_fragments()]
    return pa.Table.from_pylist([{n: k.get(n) for n in partitions.names} for k in keys], schema=partitions)


def _parquet_nulls(metas: list[pq.FileMetaData], names: list[str]) -> dict[str, bool]:
    """Which top-level columns hold nulls, from the row groups' statistics where all of them have them."""
    counts: dict[str, list[int | None]] = {name: [] for name in names}
    for meta in metas:
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            chunks = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
            for name in names:
                counts[name].append(_null_count(chunks.get(name)))
    return {name: sum(c) > 0 for name, c in counts.items() if None not in c}  # type: ignore[arg-type]


def _null_count(chunk: pq.ColumnChunkMetaData | None) -> int | None:
    stats = chunk.statistics if chunk is not None else None
    return stats.null_count if stats is not None and stats.has_null_count else None


# --- sample values -------------------------------------------------------------------------------


def column_samples(column: pa.ChunkedArray | pa.Array, limit: int) -> list[str]:
    """Up to ``limit`` distinct non-null values as text, in first-seen order."""
    seen: dict[str, None] = {}
    if limit <= 0:
        return []
    for value in column.drop_null().to_pylist():
        seen.setdefault(_text(value), None)
        if len(seen) >= limit:
            break
    return list(seen)


def column_values(column: pa.ChunkedArray | pa.Array) -> list[str] | None:
    """Every distinct non-null value of a low-cardinality text column, sorted; None when there are more
    than ``_VALUES_MAX`` or one is longer than ``_VALUE_CHARS`` (free text, not a category)."""
    distinct = pc.unique(column.drop_null())
    if len(distinct) > _VALUES_MAX:
        return None
    values = sorted(_text(v) for v in distinct.to_pylist())
    if any(len(v) > _VALUE_CHARS for v in values):
        return None
    return values


def _scan_values(scan: _Scan, name: str) -> list[str] | None:
    """A column's distinct values: from the sample when it holds every row, else (when the sample looks
    low-cardinality) from the whole column, read with pyarrow; None when unknown or too many."""
    sample = scan.sample[name]
    if len(sample) >= scan.row_count or name in scan.partition_columns:
        return column_values(sample)
    if scan.whole_column is None or scan.row_count > _VALUES_MAX_ROWS or column_values(sample) is None:
        return None
    try:
        return column_values(scan.whole_column(name))
    except (pa.ArrowException, OSError, ValueError):  # values are a nicety, like samples
        return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dict | list):
        text = json.dumps(value, default=str, ensure_ascii=False)
    elif isinstance(value, bytes):
        text = f"X'{value.hex().upper()}'"
    else:
        text = str(value)
    return text if len(text) <= _SAMPLE_CHARS else text[: _SAMPLE_CHARS - 3] + "..."


_READERS: dict[str, Callable[[Path, list[Path], dict[str, str]], _Scan]] = {
    "csv": _read_csv,
    "parquet": _read_parquet,
    "json": _read_json,
}


# --- previews ------------------------------------------------------------------------------------


def preview(info: TableInfo, limit: int = 20) -> pa.Table:
    """The first ``limit`` rows of a table's data (of its first file for CSV and JSON), read as data.

    For browsing: pyarrow parses the files in the caller's process; no code of the data's runs.
    """
    root = Path(info.location)
    files = _data_files(root, info.format)
    try:
        if info.format == "parquet":
            return _parquet_dataset(root, files, None).head(limit)
        if info.format == "csv":
            table = _read_csv_file(files[0], {"sep": ",", "header": "true", **info.options})
        else:
            table = _read_json_array(files[0]) if _starts_with_bracket(files[0]) else _read_ndjson(files[0])
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise _unreadable(root, info.format, exc) from exc
    return table.slice(0, limit)


def attach_samples(info: TableInfo, limit: int) -> TableInfo:
    """Fill ``info``'s column samples from its local data (for catalogs that hold no values: Glue).

    Columns are matched by name, or by position for a CSV without a header line. Data that cannot be
    read locally (``s3://``, a missing directory, an unsupported format) leaves the samples empty: the
    definition is still valid, the model just sees no values.
    """
    if limit <= 0 or info.format not in _READERS or "://" in info.location:
        return info
    try:
        found = infer_table(
            info.location,
            database=info.database,
            name=info.name,
            fmt=info.format,
            sample_values=limit,
            options=info.options,
        )
    except AskSparkError:
        return info
    by_name = {c.name: c for c in found.columns}
    positional = info.format == "csv" and info.options.get("header") == "false"
    for i, column in enumerate(info.columns):
        seen = found.columns[i] if positional and i < len(found.columns) else by_name.get(column.name)
        column.samples = seen.samples if seen else []
        column.values = seen.values if seen and column.type == "string" else None
    return info
