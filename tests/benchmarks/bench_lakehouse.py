"""Lakehouse: the initial raw -> silver load of 1M orders, then a tick of ~10k changes, with
the JVM's peak memory, beside a pyiceberg + pyarrow load of the same snapshot (no JVM).

Targets (issue: lakehouse): initial 1M orders < 90 s including Spark's start; a 10k-change
tick < 20 s; JVM peak < 2 GB. Each Spark run is a `sandbox lakehouse` process, so its
time includes the session start and its memory is measured on its own process tree.
"""

from __future__ import annotations

import sys
import time

import pyarrow.parquet as pq
from pyarrow import fs

from services.platform.bootstrap import ensure_buckets
from services.platform.catalog import iceberg_catalog
from services.platform.clients import Role, postgres_connect, s3_client
from services.platform.settings import Settings
from services.platform.spark.session import driver_class_archive, driver_spark_home
from services.replication.raw_zone import META_COLUMNS, RawZone
from services.source.tick import tick
from tests.benchmarks.isolated import isolated_sandbox, load_source, start
from tests.benchmarks.measure import run_measured
from tests.fixed_time import TICK_AT

TICK_ORDERS = 600  # about 17k row changes at 1M orders: status moves of older orders dominate


def _pyiceberg_reference(settings: Settings) -> float:
    """Load the raw snapshot into Iceberg with pyiceberg and pyarrow only."""
    raw = RawZone(s3_client(settings), settings.s3.raw_bucket, settings.postgres.source_db)
    snapshot = raw.manifests()[0]
    aws = settings.aws
    s3 = fs.S3FileSystem(
        access_key=aws.access_key_id.get_secret_value(),
        secret_key=aws.secret_access_key.get_secret_value(),
        endpoint_override=settings.s3.endpoint_url,
        region=aws.region,
    )
    catalog = iceberg_catalog(settings)
    catalog.create_namespace_if_not_exists("reference")
    started = time.monotonic()
    for table, files in snapshot.tables.items():
        data = pq.ParquetDataset([f"{settings.s3.raw_bucket}/{key}" for key in files.files], filesystem=s3).read()
        data = data.drop_columns(list(META_COLUMNS))
        catalog.create_table(f"reference.{table}", schema=data.schema).append(data)
    return time.monotonic() - started


def _changes_in(settings: Settings) -> int:
    raw = RawZone(s3_client(settings), settings.s3.raw_bucket, settings.postgres.source_db)
    return raw.manifests()[-1].rows


def run() -> dict[str, object]:
    with isolated_sandbox("lakehouse") as (settings, env):
        # whether the Spark runs below start warm (an earlier run recorded the archive) or record it
        home = driver_spark_home(settings)
        warm = driver_class_archive(home).exists()
        start(settings, "postgres", "seaweedfs")
        ensure_buckets(settings)
        rows = load_source(settings, 1_000_000)
        run_measured([sys.executable, "-m", "services.cli", "replicate"], env)
        initial, initial_rss = run_measured([sys.executable, "-m", "services.cli", "lakehouse"], env)
        with postgres_connect(settings, settings.postgres.source_db, Role.APP) as conn:
            tick(conn, orders=TICK_ORDERS, seed=7, at=TICK_AT)
        run_measured([sys.executable, "-m", "services.cli", "replicate"], env)
        changes = _changes_in(settings)
        ticked, tick_rss = run_measured([sys.executable, "-m", "services.cli", "lakehouse"], env)
        reference = _pyiceberg_reference(settings)
    return {
        "orders": 1_000_000,
        "rows": rows,
        "initial_load_seconds_with_spark_start": round(initial, 2),
        "initial_load_rows_per_second": round(rows / initial),
        "initial_peak_rss_mb": round(initial_rss),
        "tick_changes": changes,
        "tick_seconds_with_spark_start": round(ticked, 2),
        "tick_peak_rss_mb": round(tick_rss),
        "pyiceberg_pyarrow_initial_load_seconds": round(reference, 2),
        "one_jar_spark_home": home is not None,
        "class_archive_recorded_before": warm,
        "targets": {
            "initial_load_seconds_with_spark_start": "< 90",
            "tick_seconds_with_spark_start": "< 20",
            "peak_rss_mb": "< 2000",
        },
    }
