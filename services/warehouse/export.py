"""Marts -> the final zone: each mart as Parquet on S3 and as an Iceberg table `gold.<mart>`.

Consumers pick either: plain files (`s3://final/<mart>/<mart>.parquet`, replaced in one PUT)
or a table with history (one overwrite commit per export, so time travel shows each
export). Types follow the mart's contract: numeric(p,s) stays decimal(p,s); a numeric
without precision (a ratio) becomes a double.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from typing import Protocol

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql
from pyiceberg.catalog import Catalog

from services.platform.settings import Settings
from services.platform.type_maps import NUMERIC, UnsupportedTypeError, arrow_type

log = logging.getLogger(__name__)
FETCH_ROWS = 100_000


@dataclass(frozen=True)
class ExportResult:
    mart: str
    rows: int
    key: str  # the Parquet object in the final bucket
    sha256: str  # of the Parquet object, for consumers who verify downloads


class MartSource(Protocol):
    """Where the marts are read from: the Postgres warehouse here, Snowflake on aws."""

    def names(self) -> list[str]: ...

    def read(self, mart: str) -> pa.Table: ...


# Marts are tables and views (fct_orders is a view over an incremental model); both engines
# answer this standard query.
MART_NAMES_QUERY = (
    "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
    " AND table_type IN ('BASE TABLE', 'VIEW') ORDER BY table_name"
)


class PostgresMarts:
    def __init__(self, conn: psycopg.Connection, schema: str) -> None:
        self.conn, self.schema = conn, schema

    def names(self) -> list[str]:
        rows = self.conn.execute(MART_NAMES_QUERY, (self.schema,)).fetchall()
        return [r[0] for r in rows]

    def read(self, mart: str) -> pa.Table:
        return read_mart(self.conn, self.schema, mart)


def _arrow_field(column: psycopg.Column) -> pa.Field:
    if column.type_code == NUMERIC:
        if column.precision is not None and column.precision <= 38:
            return pa.field(column.name, pa.decimal128(column.precision, column.scale or 0))
        return pa.field(column.name, pa.float64())
    try:
        return pa.field(column.name, arrow_type(column.type_code))
    except UnsupportedTypeError:
        raise ValueError(
            f"mart column {column.name} has a Postgres type (oid {column.type_code}) export cannot map"
        ) from None


def read_mart(conn: psycopg.Connection, schema: str, mart: str) -> pa.Table:
    """The whole mart as Arrow, fetched in slices from a server-side cursor."""
    with conn.transaction(), conn.cursor(name=f"export_{mart}") as cursor:
        cursor.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, mart)))
        batches, arrow_schema = [], None
        while rows := cursor.fetchmany(FETCH_ROWS):
            if arrow_schema is None:
                arrow_schema = pa.schema([_arrow_field(c) for c in cursor.description])
            columns = [
                pa.array(values, type=f.type) for values, f in zip(zip(*rows, strict=True), arrow_schema, strict=True)
            ]
            batches.append(pa.RecordBatch.from_arrays(columns, schema=arrow_schema))
        if arrow_schema is None:  # empty mart: the description is there without rows
            arrow_schema = pa.schema([_arrow_field(c) for c in cursor.description])
    return pa.Table.from_batches(batches, schema=arrow_schema)


def export_marts(settings: Settings, source: MartSource, s3: object, catalog: Catalog) -> list[ExportResult]:
    schema, bucket = settings.warehouse.marts_schema, settings.s3.final_bucket
    namespace = settings.warehouse.gold_namespace
    catalog.create_namespace_if_not_exists(namespace)
    results = []
    names = source.names()
    if not names:
        raise ValueError(f"the warehouse has no marts in schema {schema!r}: run `sandbox transform` first")
    for mart in names:
        table = source.read(mart)
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        key = f"{settings.warehouse.final_prefix}{mart}/{mart}.parquet"
        s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
        gold = catalog.create_table_if_not_exists(f"{namespace}.{mart}", schema=table.schema)
        with gold.update_schema() as update:
            update.union_by_name(table.schema)
        if gold.current_snapshot() is None:
            gold.append(table)
        else:
            gold.overwrite(table)
        result = ExportResult(mart, table.num_rows, key, hashlib.sha256(buffer.getvalue()).hexdigest())
        log.info("%s: %s rows -> s3://%s/%s and %s.%s", mart, f"{table.num_rows:,}", bucket, key, namespace, mart)
        results.append(result)
    return results
