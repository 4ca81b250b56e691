"""The real-time path's Iceberg tables, declared once: the consumer writes them, the warehouse
loader reads `events`, and both create them from here when they are missing.

`events` holds one row per accepted clickstream event (partitioned by the hour it happened);
`events_per_minute` is its running aggregate; `dead_letter` keeps every record the consumer
refused, with the reason, so nothing read from Kinesis is ever dropped silently.
"""

from __future__ import annotations

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
from pyspark.sql import types as T

EVENTS_SCHEMA = Schema(
    NestedField(1, "event_id", StringType(), required=True),
    NestedField(2, "event_type", StringType(), required=True),
    NestedField(3, "session_id", StringType(), required=True),
    NestedField(4, "customer_id", LongType()),
    NestedField(5, "product_id", LongType(), required=True),
    NestedField(6, "quantity", IntegerType(), required=True),
    NestedField(7, "price", DecimalType(10, 2)),
    NestedField(8, "occurred_at", TimestamptzType(), required=True),
    NestedField(9, "arrived_at", TimestamptzType(), required=True),  # Kinesis' approximate arrival time
    NestedField(10, "shard_id", StringType(), required=True),
    NestedField(11, "sequence_number", StringType(), required=True),
    identifier_field_ids=[1],
)
EVENTS_PARTITIONING = PartitionSpec(PartitionField(8, 1000, HourTransform(), "occurred_hour"))

# Written by Spark aggregations and MERGE, whose columns are all nullable: hence optional fields.
EVENTS_PER_MINUTE_SCHEMA = Schema(
    NestedField(1, "minute", TimestamptzType()),
    NestedField(2, "event_type", StringType()),
    NestedField(3, "events", LongType()),
    NestedField(4, "revenue", DecimalType(18, 2)),  # price x quantity of purchases
)
EVENTS_PER_MINUTE_PARTITIONING = PartitionSpec(PartitionField(1, 1000, DayTransform(), "minute_day"))

DEAD_LETTER_SCHEMA = Schema(
    NestedField(1, "shard_id", StringType(), required=True),
    NestedField(2, "sequence_number", StringType(), required=True),
    NestedField(3, "reason", StringType(), required=True),
    NestedField(4, "payload", StringType(), required=True),  # the record's bytes, decoded leniently
    NestedField(5, "arrived_at", TimestamptzType(), required=True),
)

TABLES: dict[str, tuple[Schema, PartitionSpec]] = {
    "events": (EVENTS_SCHEMA, EVENTS_PARTITIONING),
    "events_per_minute": (EVENTS_PER_MINUTE_SCHEMA, EVENTS_PER_MINUTE_PARTITIONING),
    "dead_letter": (DEAD_LETTER_SCHEMA, PartitionSpec()),
}
PROPERTIES = {"format-version": "2", "write.parquet.compression-codec": "zstd"}


_SPARK_TYPES = {StringType(): T.StringType(), LongType(): T.LongType(), IntegerType(): T.IntegerType(),
                TimestamptzType(): T.TimestampType()}  # fmt: skip


def spark_schema(schema: Schema) -> T.StructType:
    """The Spark rows a table takes, required fields as non-nullable (Spark checks them on write)."""

    def spark_type(kind: object) -> T.DataType:
        if isinstance(kind, DecimalType):
            return T.DecimalType(kind.precision, kind.scale)
        return _SPARK_TYPES[kind]

    return T.StructType([T.StructField(f.name, spark_type(f.field_type), not f.required) for f in schema.fields])


def ensure_realtime_table(catalog: Catalog, namespace: str, name: str) -> Table:
    """Load `namespace.name`, creating it (and the namespace) from its declaration if missing."""
    schema, partitioning = TABLES[name]
    catalog.create_namespace_if_not_exists(namespace)
    return catalog.create_table_if_not_exists(
        f"{namespace}.{name}", schema, partition_spec=partitioning, properties=PROPERTIES
    )
