"""The AWS Glue Data Catalog, through boto3.

Glue holds definitions only; the data is read directly by location with the catalog's schema (there is
no metastore between the engine and the files, as on the seeds' Lambda). Partition keys become columns
filled from Hive-style directories (``year=2024/``). The local engine reads local paths and ``file://``
URIs; a table on ``s3://`` is read from askspark's local copy of it (``catalog/s3.py``).
"""

from __future__ import annotations

import re
from typing import Any

from askspark.catalog.base import Catalog, Column, TableInfo
from askspark.errors import NotFoundError, ProviderError, missing_extra, unknown_name
from askspark.settings import Settings

# Hive SerDe and input-format class names (and Glue's ``classification``) -> a Spark reader format.
_FORMATS = (
    ("parquet", "parquet"),
    ("orc", "orc"),
    ("avro", "avro"),
    ("json", "json"),
    ("opencsv", "csv"),
    ("csv", "csv"),
    ("lazysimpleserde", "csv"),
    ("textinputformat", "csv"),
)
_ROW_COUNT_KEYS = ("recordCount", "numRows", "numrows", "record_count")


class GlueCatalog(Catalog):
    """Databases and tables of a Glue Data Catalog (settings: aws_region, aws_endpoint_url, glue_catalog_id)."""

    id = "glue"
    page_size = 100  # Glue's maximum for GetTables

    def __init__(self, settings: Settings) -> None:
        try:
            import boto3
        except ImportError:
            raise missing_extra("the glue catalog", "glue", "boto3") from None
        self.settings = settings
        self.client = boto3.client(
            "glue", region_name=settings.aws_region or "us-east-1", endpoint_url=settings.aws_endpoint_url
        )
        self._ids: dict[str, str] = (
            {"CatalogId": settings.glue_catalog_id} if settings.glue_catalog_id else {}
        )

    def _pages(self, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
        """Every item of a paginated Glue listing; AWS errors become ProviderError/NotFoundError."""
        try:
            paginator = self.client.get_paginator(operation)
            pages = paginator.paginate(**self._ids, **kwargs, PaginationConfig={"PageSize": self.page_size})
            return [item for page in pages for item in page[key]]
        except self.client.exceptions.EntityNotFoundException as exc:
            raise NotFoundError(
                str(exc), suggestion="check the name with 'askspark catalog list --catalog glue'"
            ) from None
        except Exception as exc:  # botocore's ClientError, EndpointConnectionError, NoCredentialsError ...
            raise _provider_error(exc) from None

    def list_databases(self) -> list[str]:
        """Database names, sorted."""
        return sorted(d["Name"] for d in self._pages("get_databases", "DatabaseList"))

    def list_tables(self, database: str) -> list[str]:
        """Table names of ``database``, sorted; NotFoundError naming the known databases when missing."""
        return sorted(t["Name"] for t in self._tables(database))

    def describe(self, database: str, table: str) -> TableInfo:
        """The table's definition from ``GetTable``; NotFoundError naming the known tables when missing."""
        try:
            found = self.client.get_table(**self._ids, DatabaseName=database, Name=table)["Table"]
        except self.client.exceptions.EntityNotFoundException:
            known = [f"{database}.{t}" for t in self.list_tables(database)]
            raise unknown_name("table", f"{database}.{table}", known, NotFoundError) from None
        except Exception as exc:
            raise _provider_error(exc) from None
        from askspark.catalog.files import attach_samples  # pyarrow only when describing

        return attach_samples(table_info(database, found), self.settings.sample_values)

    def describe_all(self) -> list[TableInfo]:
        """Every table of every database (one paginated ``GetTables`` per database), without samples."""
        return [table_info(db, t) for db in self.list_databases() for t in self._tables(db)]

    def _tables(self, database: str) -> list[dict[str, Any]]:
        try:
            return self._pages("get_tables", "TableList", DatabaseName=database)
        except NotFoundError:
            raise unknown_name("database", database, self.list_databases(), NotFoundError) from None


def table_info(database: str, table: dict[str, Any]) -> TableInfo:
    """A Glue ``Table`` structure as a TableInfo: columns then partition keys, location, format, rows."""
    sd = table.get("StorageDescriptor", {})
    keys = table.get("PartitionKeys", [])
    columns = [_column(c) for c in [*sd.get("Columns", []), *keys]]
    params = {**sd.get("Parameters", {}), **table.get("Parameters", {})}
    fmt, options = _format(sd, params)
    details: dict[str, Any] = {"table_type": table.get("TableType"), "parameters": params}
    if params.get("table_type", "").upper() in ("ICEBERG", "DELTA", "HUDI") or params.get(
        "spark.sql.sources.provider", ""
    ).lower() in ("delta", "hudi"):
        kind = params.get("table_type") or params.get("spark.sql.sources.provider")
        details["unreadable"] = (
            f"a {kind} table: its location holds metadata and files of many versions, not one readable "
            "dataset"
        )
        details["unreadable_hint"] = (
            "for an Iceberg table, register it in an Iceberg catalog askspark can reach (iceberg_uri) and "
            "ask about iceberg:DB.TABLE; Delta and Hudi tables are not supported"
        )
    return TableInfo(
        database=database,
        name=table["Name"],
        columns=columns,
        format=fmt,
        location=local_location(sd.get("Location", "")),
        options=options,
        partition_columns=[k["Name"] for k in keys],
        row_count=_row_count(params),
        comment=table.get("Description") or params.get("comment"),
        catalog="glue",
        details=details,
    )


def _column(col: dict[str, Any]) -> Column:
    return Column(name=col["Name"], type=spark_type(col.get("Type", "string")), comment=col.get("Comment"))


def spark_type(hive_type: str) -> str:
    """A Hive/Glue column type as Spark DDL: ``varchar(20)``/``char(3)`` read as string, the rest as is."""
    return re.sub(r"\b(var)?char\(\d+\)", "string", hive_type.strip().lower()) or "string"


def _format(sd: dict[str, Any], params: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The reader format and options, from the classification, the SerDe or the input format."""
    serde = sd.get("SerdeInfo", {})
    hints = [
        params.get("classification", ""),
        serde.get("SerializationLibrary", ""),
        sd.get("InputFormat", ""),
    ]
    fmt = next((f for hint in hints for key, f in _FORMATS if key in hint.lower()), "parquet")
    options: dict[str, str] = {}
    if fmt == "csv":
        sp = serde.get("Parameters", {})
        sep = sp.get("separatorChar") or sp.get("field.delim") or params.get("delimiter") or ","
        options["sep"] = sep
        options["header"] = "true" if params.get("skip.header.line.count", "0") not in ("", "0") else "false"
        if sp.get("quoteChar"):
            options["quote"] = sp["quoteChar"]
    return fmt, options


def _row_count(params: dict[str, str]) -> int | None:
    for key in _ROW_COUNT_KEYS:
        value = params.get(key)
        if value is not None and str(value).strip().lstrip("-").isdigit() and int(value) >= 0:
            return int(value)
    return None


def local_location(location: str) -> str:
    """``file:///data/x`` as ``/data/x`` (what the engines' sandbox checks understand); other URIs as is."""
    return location[len("file://") :] if location.startswith("file://") else location


def _provider_error(exc: Exception) -> ProviderError:
    return ProviderError(
        f"the Glue catalog could not be read: {exc}",
        suggestion="check AWS credentials and the settings aws_region / aws_endpoint_url / glue_catalog_id",
    )
