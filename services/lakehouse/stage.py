"""The lakehouse stage as plain functions: raw into Iceberg silver, and keeping the tables lean.

`sandbox lakehouse / maintain` and the Prefect tasks call these and only render what they
return. Each sizes the Spark session it needs: a run whose backlog is small gets a quick-start
JVM (see `services/platform/spark/session.py`); in a flow run the first task to ask starts
the session and the later ones share it.
"""

from __future__ import annotations

from services.lakehouse.backlog import SilverBacklog
from services.lakehouse.maintenance import maintain_tables
from services.lakehouse.silver import SilverJob, TableResult
from services.platform.settings import Settings
from services.platform.spark.session import spark_session


def apply_silver(settings: Settings, tables: list[str] | None = None, full_refresh: bool = False) -> list[TableResult]:
    """Apply the raw zone's new batches to every (or each named) silver table; a table that
    stops says why in its result, and the others still run."""
    quick_start = SilverBacklog(settings).quick_start(tables, full_refresh)
    return SilverJob(spark_session(settings, quick_start=quick_start), settings).run(tables, full_refresh=full_refresh)


def maintain(settings: Settings, tables: list[str] | None = None) -> dict[str, dict[str, int]]:
    """Compact, rewrite manifests, expire snapshots and remove orphans of the lake's tables."""
    return maintain_tables(spark_session(settings), settings, tables)
