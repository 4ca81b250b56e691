"""The real-time path's Iceberg tables, declared once: the consumer writes them, the warehouse
loader reads `events`, and both create them from here when they are missing.

`events` holds one row per accepted clickstream event (partitioned by the hour it happened);
`events_per_minute` is its running aggregate; `dead_letter` keeps every record the consumer
refused, with the reason, so nothing read from Kinesis is ever dropped silently.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from pyiceberg.catalog import Catalog
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.transforms import DayTransform, HourTransform
from pyiceberg.types import (
    DecimalType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    TimestamptzType,
)

# Fields are optional in Iceberg's sense: Spark writes them from Parquet staged on S3, whose
# columns it always reads as nullable; the consumer's validation guarantees what must be there.
EVENTS_SCHEMA = Schema(
    NestedField(1, "event_id", StringType()),
    NestedField(2, "event_type", StringType()),
    NestedField(3, "session_id", StringType()),
    NestedField(4, "customer_id", LongType()),  # null for anonymous shoppers
    NestedField(5, "product_id", LongType()),
    NestedField(6, "quantity", IntegerType()),
    NestedField(7, "price", DecimalType(10, 2)),  # null for page views
    NestedField(8, "occurred_at", TimestamptzType()),
    NestedField(9, "arrived_at", TimestamptzType()),  # Kinesis' approximate arrival time
    NestedField(10, "shard_id", StringType()),
    NestedField(11, "sequence_number", StringType()),
)
EVENTS_PARTITIONING = PartitionSpec(PartitionField(8, 1000, HourTransform(), "occurred_hour"))

EVENTS_PER_MINUTE_SCHEMA = Schema(
    NestedField(1, "minute", TimestamptzType()),
    NestedField(2, "event_type", StringType()),
    NestedField(3, "events", LongType()),
    NestedField(4, "revenue", DecimalType(18, 2)),  # price x quantity of purchases
)
EVENTS_PER_MINUTE_PARTITIONING = PartitionSpec(PartitionField(1, 1000, DayTransform(), "minute_day"))

DEAD_LETTER_SCHEMA = Schema(
    NestedField(1, "shard_id", StringType()),
    NestedField(2, "sequence_number", StringType()),
    NestedField(3, "reason", StringType()),
    NestedField(4, "payload", StringType()),  # the record's bytes, decoded leniently
    NestedField(5, "arrived_at", TimestamptzType()),
)


class EventRow(NamedTuple):
    """A row of `events`: its fields are the table's columns, in order (checked below)."""

    event_id: str
    event_type: str
    session_id: str
    customer_id: int | None
    product_id: int
    quantity: int
    price: Decimal | None
    occurred_at: datetime
    arrived_at: datetime
    shard_id: str
    sequence_number: str


class DeadLetterRow(NamedTuple):
    """A row of `dead_letter`: its fields are the table's columns, in order (checked below)."""

    shard_id: str
    sequence_number: str
    reason: str
    payload: str
    arrived_at: datetime


def _check_row_fields(row: type, schema: Schema) -> None:
    """Rows reach Arrow by position; a field out of the schema's order would fill wrong columns."""
    columns = tuple(f.name for f in schema.fields)
    if row._fields != columns:
        raise TypeError(f"{row.__name__} fields {row._fields} differ from the table's columns {columns}")


_check_row_fields(EventRow, EVENTS_SCHEMA)
_check_row_fields(DeadLetterRow, DEAD_LETTER_SCHEMA)

TABLES: dict[str, tuple[Schema, PartitionSpec]] = {
    "events": (EVENTS_SCHEMA, EVENTS_PARTITIONING),
    "events_per_minute": (EVENTS_PER_MINUTE_SCHEMA, EVENTS_PER_MINUTE_PARTITIONING),
    "dead_letter": (DEAD_LETTER_SCHEMA, PartitionSpec()),
}
# No shuffle before a write: a micro-batch is small and spans an hour or two, so each task
# writes its rows straight to their partitions (fanout) instead of waiting on an exchange.
PROPERTIES = {
    "format-version": "2",
    "write.parquet.compression-codec": "zstd",
    "write.distribution-mode": "none",
    "write.spark.fanout.enabled": "true",
}


def ensure_realtime_table(catalog: Catalog, namespace: str, name: str) -> Table:
    """Load `namespace.name`, creating it (and the namespace) from its declaration if missing."""
    schema, partitioning = TABLES[name]
    catalog.create_namespace_if_not_exists(namespace)
    return catalog.create_table_if_not_exists(
        f"{namespace}.{name}", schema, partition_spec=partitioning, properties=PROPERTIES
    )
