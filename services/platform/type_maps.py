"""The type maps between Postgres, Arrow, Iceberg and Spark: one home for each.

- Postgres -> Arrow (`arrow_type`): how a Postgres column (type oid and modifier) is held in
  Arrow, for the raw zone's Parquet (`services/replication/types.py` documents the table) and
  the marts' export.
- Arrow -> Postgres (`postgres_type`): the DDL of the warehouse's lake tables.
- Iceberg -> Spark (`spark_schema`): the real-time tables' schemas for Spark data frames.

A stage that needs a type picks it here, so the same Postgres type never lands as two
different Arrow types on two paths.
"""

from __future__ import annotations

import pyarrow as pa
from pyiceberg.schema import Schema
from pyiceberg.types import DecimalType, IntegerType, LongType, StringType, TimestamptzType
from pyspark.sql import types as T

NUMERIC, JSON_TYPES, UUID = 1700, (114, 3802), 2950

POSTGRES_SCALARS: dict[int, pa.DataType] = {
    21: pa.int16(), 23: pa.int32(), 20: pa.int64(),
    700: pa.float32(), 701: pa.float64(),
    16: pa.bool_(),
    25: pa.string(), 1043: pa.string(), 1042: pa.string(), 19: pa.string(),
    1184: pa.timestamp("us", tz="UTC"), 1114: pa.timestamp("us"),
    1082: pa.date32(),  # time is carried as its text: Spark 3.5 reads no Parquet TIME column
    114: pa.string(), 3802: pa.string(), 2950: pa.string(),  # json, jsonb, uuid: their text
    17: pa.binary(),
}  # fmt: skip
# array type oid -> element type oid
POSTGRES_ARRAYS: dict[int, int] = {
    1005: 21, 1007: 23, 1016: 20, 1021: 700, 1022: 701, 1231: NUMERIC, 1000: 16, 1009: 25, 1015: 1043,
    1014: 1042, 1185: 1184, 1115: 1114, 1182: 1082, 2951: UUID,
}  # fmt: skip


class UnsupportedTypeError(TypeError):
    """A type with no entry in a map here; the caller names the table and column."""


def numeric_precision(modifier: int) -> tuple[int, int] | None:
    """(precision, scale) of a numeric's type modifier when a decimal128 (and an Iceberg decimal)
    holds every value of it exactly; None for a numeric without (p, s), or with a precision above
    38, or a scale below zero or above the precision (Postgres 15 allows numeric(3, -2), which
    rounds to hundreds, and numeric(2, 5)): those keep their exact text."""
    if modifier < 4:
        return None
    precision, scale = ((modifier - 4) >> 16) & 0xFFFF, (modifier - 4) & 0x7FF
    scale = scale - 0x800 if scale & 0x400 else scale  # eleven bits, two's complement
    return (precision, scale) if 1 <= precision <= 38 and 0 <= scale <= precision else None


def carried_as_text(oid: int) -> bool:
    """True for a Postgres type with no Arrow type of its own here (enums, domains, interval,
    money, network and bit-string types, ranges, geometric and composite types, arrays of those,
    any extension's type): it is carried as its exact text, as the type's output function prints
    it (what `::text` and logical replication both give)."""
    return oid not in POSTGRES_SCALARS and oid not in POSTGRES_ARRAYS and oid != NUMERIC


def arrow_type(oid: int, modifier: int = -1) -> pa.DataType:
    """The Arrow type of a Postgres type: numeric(p, s) is decimal(p, s); a numeric without
    (p, s) can hold any size, so it keeps its exact text; arrays are lists of their elements;
    any other type is its text (`carried_as_text`)."""
    if oid in POSTGRES_ARRAYS:
        return pa.list_(arrow_type(POSTGRES_ARRAYS[oid], modifier))
    if oid == NUMERIC:
        precision = numeric_precision(modifier)
        return pa.string() if precision is None else pa.decimal128(*precision)
    return POSTGRES_SCALARS.get(oid, pa.string())


_POSTGRES_OF_ARROW = {
    pa.bool_(): "boolean",
    pa.int16(): "smallint",
    pa.int32(): "integer",
    pa.int64(): "bigint",
    pa.float32(): "real",
    pa.float64(): "double precision",
    pa.string(): "text",
    pa.large_string(): "text",
    pa.binary(): "bytea",
    pa.large_binary(): "bytea",
    pa.date32(): "date",
}


def postgres_type(arrow: pa.DataType) -> str:
    """The Postgres column type that holds every value of an Arrow type exactly."""
    if arrow in _POSTGRES_OF_ARROW:
        return _POSTGRES_OF_ARROW[arrow]
    if pa.types.is_decimal(arrow):
        return f"numeric({arrow.precision},{arrow.scale})"
    if pa.types.is_timestamp(arrow):
        return "timestamp with time zone" if arrow.tz else "timestamp without time zone"
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        return postgres_type(arrow.value_type) + "[]"
    raise UnsupportedTypeError(f"no Postgres type for Arrow type {arrow}")


_SPARK_OF_ICEBERG = {StringType(): T.StringType(), LongType(): T.LongType(), IntegerType(): T.IntegerType(),
                     TimestamptzType(): T.TimestampType()}  # fmt: skip


def spark_schema(schema: Schema) -> T.StructType:
    """The Spark schema of an Iceberg schema (for data frames built in Python, empty ones too)."""

    def spark_type(kind: object) -> T.DataType:
        if isinstance(kind, DecimalType):
            return T.DecimalType(kind.precision, kind.scale)
        if kind not in _SPARK_OF_ICEBERG:
            raise UnsupportedTypeError(f"no Spark type for Iceberg type {kind}")
        return _SPARK_OF_ICEBERG[kind]

    return T.StructType([T.StructField(f.name, spark_type(f.field_type), not f.required) for f in schema.fields])
