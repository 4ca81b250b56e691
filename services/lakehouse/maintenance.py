"""Iceberg upkeep for the silver tables (the weekly job): compaction, manifest rewrite,
snapshot expiry and orphan-file removal, with the windows from `LakehouseSettings`.

Expiry bounds time travel: snapshots younger than `expire_snapshots_older_than_hours`, and
the last `retain_last_snapshots`, stay queryable. Orphan files younger than 24 hours are
never removed (Iceberg refuses: a running write's files look orphaned until it commits).
"""

from __future__ import annotations

from datetime import timedelta

from pyspark.sql import SparkSession

from services.platform.catalog import CATALOG_NAME
from services.platform.settings import Settings


def _timestamp(spark: SparkSession, hours_ago: float) -> str:
    """A moment `hours_ago` before now on the clock of the engine that commits (the JVM's), the
    clock Iceberg stamped the snapshots and files with, not this Python process's."""
    seconds = round(timedelta(hours=hours_ago).total_seconds())
    moment = spark.sql(  # formatted in the session time zone (UTC), which the literal is read in
        f"SELECT date_format(current_timestamp() - INTERVAL {seconds} SECONDS, 'yyyy-MM-dd HH:mm:ss') AS moment"
    ).first()
    return f"TIMESTAMP '{moment.moment}'"


def maintain_table(spark: SparkSession, settings: Settings, qualified: str) -> dict[str, int]:
    """Run the four procedures on one table (`namespace.table`); return what each changed."""
    lake = settings.lakehouse
    call = f"CALL {CATALOG_NAME}.system"
    target_bytes = lake.target_file_size_mb * 1024 * 1024
    compacted = spark.sql(
        f"{call}.rewrite_data_files(table => '{qualified}', options => map("
        f"'min-input-files', '2', 'target-file-size-bytes', '{target_bytes}', 'delete-file-threshold', '1', "
        # drops delete files older than every data file left in their partition; those the rewrite
        # just applied have its starting sequence number and go at a later compaction
        f"'remove-dangling-deletes', 'true'))"
    ).first()
    manifests = spark.sql(f"{call}.rewrite_manifests(table => '{qualified}')").first()
    older_than = _timestamp(spark, lake.expire_snapshots_older_than_hours)
    expired = spark.sql(
        f"{call}.expire_snapshots(table => '{qualified}', older_than => {older_than}, "
        f"retain_last => {lake.retain_last_snapshots})"
    ).first()
    # A table that never held a data file has no data folder to list (and the object store
    # answers a listing of a missing folder with 403): nothing can be orphaned there.
    has_files = bool(spark.sql(f"SELECT 1 FROM {qualified}.all_files LIMIT 1").take(1))
    orphans = (
        spark.sql(
            f"{call}.remove_orphan_files(table => '{qualified}', "
            f"older_than => {_timestamp(spark, max(24.0, lake.orphan_files_older_than_hours))})"
        ).count()
        if has_files
        else 0
    )
    return {
        "data_files_rewritten": compacted.rewritten_data_files_count,
        "data_files_added": compacted.added_data_files_count,
        "delete_files_removed": compacted.removed_delete_files_count,
        "manifests_rewritten": manifests.rewritten_manifests_count,
        "data_files_expired": expired.deleted_data_files_count,
        "snapshot_lists_expired": expired.deleted_manifest_lists_count,
        "orphan_files_removed": orphans,
    }


def maintain_tables(
    spark: SparkSession, settings: Settings, tables: list[str] | None = None
) -> dict[str, dict[str, int]]:
    """Maintain every table of the silver and real-time namespaces (or the named ones), as the
    catalog lists them.

    The real-time tables need it most: each micro-batch adds a snapshot to each of them.
    """
    done = {}
    for namespace in (settings.lakehouse.silver_namespace, settings.streaming.realtime_namespace):
        if not spark.sql(f"SHOW NAMESPACES IN {CATALOG_NAME} LIKE '{namespace}'").take(1):
            continue
        for row in spark.sql(f"SHOW TABLES IN {CATALOG_NAME}.{namespace}").collect():
            if not tables or row.tableName in tables:
                done[row.tableName] = maintain_table(spark, settings, f"{namespace}.{row.tableName}")
    return done
