"""Iceberg commits that carry our own snapshot-summary properties, and reading them back.

Both paths keep their progress in the snapshot that holds their data: silver its raw bookmark,
the stream consumer its shard positions. Writing and reading such a property live here, once.

Spark SQL's MERGE takes no write options, so the properties travel the way Iceberg's
`CommitMetadata.withCommitProperties` offers: a thread-local set on the JVM thread that
runs the write. PySpark's pinned-thread py4j mode runs the Python callback on that same
JVM thread, so the MERGE (or DataFrame write) made inside it commits the properties in
the very snapshot that holds its data: one atomic step.
"""

from __future__ import annotations

from collections.abc import Callable

from pyiceberg.table import Table
from pyiceberg.table.snapshots import ancestors_of
from pyspark.sql import SparkSession


class _JavaCallable:
    """A `java.util.concurrent.Callable` implemented in Python, keeping Python's own exception."""

    def __init__(self, work: Callable[[], object]) -> None:
        self.work, self.error = work, None

    def call(self) -> None:
        try:
            self.work()
        except BaseException as error:  # noqa: BLE001 - re-raised in Python by commit_with_properties
            self.error = error

    class Java:
        implements = ["java.util.concurrent.Callable"]


def commit_with_properties(spark: SparkSession, properties: dict[str, str], write: Callable[[], object]) -> None:
    """Run `write` (one Iceberg write) so that its snapshot summary also holds `properties`."""
    jvm = spark._jvm
    java_properties = jvm.java.util.HashMap()
    for key, value in properties.items():
        java_properties.put(key, value)
    callback = _JavaCallable(write)
    jvm.org.apache.iceberg.spark.CommitMetadata.withCommitProperties(
        java_properties, callback, jvm.java.lang.Class.forName("java.lang.RuntimeException")
    )
    if callback.error is not None:
        raise callback.error


def newest_property(table: Table, key: str) -> str | None:
    """`key` in the summary of the newest snapshot of the table's current history that has it.

    Compaction, manifest rewrites and snapshot expiry add snapshots without our properties, so
    the newest ancestor that has one is the answer, not the current snapshot.
    """
    for snapshot in ancestors_of(table.current_snapshot(), table.metadata):
        if snapshot.summary is not None and (value := snapshot.summary.get(key)) is not None:
            return value
    return None
