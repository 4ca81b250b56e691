"""What each silver table has still to apply from the raw zone, known without Spark.

A table's bookmark (the raw end LSN in the summary of its newest bookmarked Iceberg
snapshot) and the raw zone's manifests say what is pending: a newer snapshot batch holding
the table (the first run, a resync, or a copy of that table alone) means "replace the
table", later change batches mean "merge".
Both are small documents read over the catalog and S3 APIs, so callers can size the Spark
session to the work before starting one (see `spark_session(quick_start=...)`).
"""

from __future__ import annotations

from collections.abc import Iterable

from pyiceberg.exceptions import NoSuchTableError

from services.lakehouse.design import silver_designs
from services.platform.catalog import iceberg_catalog
from services.platform.clients import s3_client
from services.platform.iceberg import newest_property
from services.platform.settings import Settings
from services.replication.raw_zone import Manifest, RawZone, TableFiles

BOOKMARK = "sandbox.raw-end-lsn"
# Up to this many pending raw rows a quick-start JVM wins (see `spark.QUICK_START_JAVA_OPTIONS`):
# measured faster at a tick (18k rows), slower at the 1M-order initial load (4.7M rows).
QUICK_START_MAX_ROWS = 250_000


class SilverBacklog:
    def __init__(self, settings: Settings, database: str | None = None) -> None:
        self.raw = RawZone(s3_client(settings), settings.s3.raw_bucket, database or settings.postgres.source_db)
        self.catalog = iceberg_catalog(settings)
        self.namespace = settings.lakehouse.silver_namespace

    def bookmark(self, table: str) -> int | None:
        """The raw end LSN of the newest bookmarked snapshot in the table's current history."""
        try:
            iceberg = self.catalog.load_table((self.namespace, table))
        except NoSuchTableError:
            return None
        value = newest_property(iceberg, BOOKMARK)
        return None if value is None else int(value)

    def pending(self, table: str, manifests: list[Manifest], full_refresh: bool = False) -> tuple[str, list[Manifest]]:
        """How the table catches up (replace, merge or up to date) and from which batches."""
        snapshots = [i for i, m in enumerate(manifests) if m.kind == "snapshot" and table in m.tables]
        if not snapshots:
            return "up to date", []
        newest = snapshots[-1]
        bookmark = None if full_refresh else self.bookmark(table)
        if bookmark is None or bookmark < manifests[newest].end_lsn:
            return "replace", manifests[newest:]
        return "merge", [m for m in manifests if m.end_lsn > bookmark]

    def rows(self, tables: Iterable[str] | None = None, full_refresh: bool = False) -> int:
        """Raw rows the next run applies to these tables (every silver table by default)."""
        manifests = self.raw.manifests()
        chosen = tables or [design.name for design in silver_designs(manifests)]
        return sum(
            batch.tables.get(table, TableFiles()).rows
            for table in chosen
            for batch in self.pending(table, manifests, full_refresh)[1]
        )

    def quick_start(self, tables: list[str] | None = None, full_refresh: bool = False) -> bool:
        """Whether the next run is small enough for a quick-start Spark session."""
        return self.rows(tables, full_refresh) <= QUICK_START_MAX_ROWS
