"""Iceberg commits that carry our own snapshot-summary properties (the silver bookmark).

Spark SQL's MERGE takes no write options, so the properties travel the way Iceberg's
`CommitMetadata.withCommitProperties` offers: a thread-local set on the JVM thread that
runs the write. PySpark's pinned-thread py4j mode runs the Python callback on that same
JVM thread, so the MERGE (or DataFrame write) made inside it commits the properties in
the very snapshot that holds its data: one atomic step.
"""

from __future__ import annotations

from collections.abc import Callable

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
