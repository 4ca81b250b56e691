"""Replication: the snapshot of 1M orders (all six tables) beside dlt and the COPY floor, and
follow-mode lag at 1,000 changes/s.

Targets (issue: replication): snapshot >= 5x dlt and >= 50% of the floor; lag p99 < 2 s;
peak RSS < 1 GB. The floor is `COPY (SELECT ...) TO STDOUT` of the same tables read and
thrown away; dlt (`sql_database(..., backend="pyarrow")` to Parquet on the same S3) runs
from its own venv, `.venv-dlt`, built from requirements-dlt.txt.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from datetime import datetime

import numpy as np

from services.platform.bootstrap import ensure_buckets
from services.platform.clients import Role, postgres_connect, s3_client
from services.platform.settings import PROJECT_ROOT, Settings
from services.replication.raw_zone import RawZone
from services.source.tables import TABLES
from tests.benchmarks.isolated import isolated_sandbox, load_source, start
from tests.benchmarks.measure import run_measured

ORDERS = 1_000_000
LAG_RATE, LAG_SECONDS, CHANGES_PER_TRANSACTION = 1000, 30, 20
DLT_PYTHON = PROJECT_ROOT / ".venv-dlt" / "bin" / "python"
DLT_RUN = textwrap.dedent("""
    import sys, dlt
    from dlt.sources.sql_database import sql_database
    url, bucket_url, endpoint, key, secret, workdir, *tables = sys.argv[1:]
    source = sql_database(credentials=url, schema="shop", table_names=tables, backend="pyarrow")
    credentials = {"aws_access_key_id": key, "aws_secret_access_key": secret, "endpoint_url": endpoint,
                   "region_name": "us-east-1"}
    destination = dlt.destinations.filesystem(bucket_url=bucket_url, credentials=credentials)
    pipeline = dlt.pipeline("bench", destination=destination, dataset_name="shop", pipelines_dir=workdir)
    pipeline.run(source, loader_file_format="parquet")
""")


def _copy_floor(settings: Settings) -> float:
    started = time.monotonic()
    with postgres_connect(settings, settings.postgres.source_db, Role.REPLICATION) as conn, conn.cursor() as cur:
        for table in TABLES:
            with cur.copy(f"COPY (SELECT * FROM shop.{table}) TO STDOUT (FORMAT csv)") as copy:
                for _ in copy:
                    pass
    return time.monotonic() - started


def _dlt(settings: Settings, env: dict[str, str]) -> dict[str, object]:
    if not DLT_PYTHON.exists():
        return {"skipped": f"{DLT_PYTHON} is missing (make bench builds it)"}
    user_password_host = (
        f"{settings.postgres.replication_user}:{settings.postgres.replication_password.get_secret_value()}"
    )
    url = f"postgresql://{user_password_host}@{settings.postgres.host}:{settings.postgres.port}/{settings.postgres.source_db}"
    aws = settings.aws
    with tempfile.TemporaryDirectory() as workdir:
        seconds, rss = run_measured(
            [
                str(DLT_PYTHON),
                "-c",
                DLT_RUN,
                url,
                f"s3://{settings.s3.raw_bucket}/dlt-bench",
                settings.s3.endpoint_url,
                aws.access_key_id.get_secret_value(),
                aws.secret_access_key.get_secret_value(),
                workdir,
                *TABLES,
            ],
            env,
        )
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(rss)}


def _write_changes(settings: Settings, stop: threading.Event) -> int:
    """About LAG_RATE row changes per second, in transactions of CHANGES_PER_TRANSACTION."""
    changes, interval = 0, CHANGES_PER_TRANSACTION / LAG_RATE
    rng = np.random.default_rng(1)
    with postgres_connect(settings, settings.postgres.source_db, Role.APP, autocommit=True) as conn:
        next_at = time.monotonic()
        while not stop.is_set():
            ids = [int(i) for i in rng.integers(1, ORDERS, CHANGES_PER_TRANSACTION)]
            cur = conn.execute("UPDATE shop.orders SET currency = currency WHERE order_id = ANY(%s)", (ids,))
            changes += cur.rowcount
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
    return changes


def _follow_lag(settings: Settings, env: dict[str, str]) -> dict[str, object]:
    follower = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "replicate", "--follow"],
        env={**env, "SANDBOX_REPLICATION__FOLLOW_INTERVAL_SECONDS": "0.1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stop = threading.Event()
    timer = threading.Timer(LAG_SECONDS, stop.set)
    timer.start()
    started = time.monotonic()
    changes = _write_changes(settings, stop)
    rate = changes / (time.monotonic() - started)
    time.sleep(3)  # let the follower drain the last transactions before it is stopped
    follower.send_signal(signal.SIGINT)
    follower.wait(60)
    raw = RawZone(s3_client(settings), settings.s3.raw_bucket, settings.postgres.source_db)
    lags = []
    for manifest in raw.manifests():
        if manifest.kind != "changes":
            continue
        visible = datetime.fromisoformat(manifest.created_at)
        rows = raw.read_table("orders", [manifest])
        lags += [(visible - ts).total_seconds() for ts in rows["_commit_ts"].to_pylist()]
    return {
        "changes_written": changes,
        "changes_per_second": round(rate),
        "changes_replicated": len(lags),
        "lag_p50_seconds": round(float(np.percentile(lags, 50)), 3) if lags else None,
        "lag_p99_seconds": round(float(np.percentile(lags, 99)), 3) if lags else None,
    }


def run() -> dict[str, object]:
    with isolated_sandbox("replication") as (settings, env):
        start(settings, "postgres", "seaweedfs")
        ensure_buckets(settings)
        rows = load_source(settings, ORDERS)
        floor = _copy_floor(settings)
        ours, ours_rss = run_measured([sys.executable, "-m", "services.cli", "replicate"], env)
        snapshot = RawZone(
            s3_client(settings),
            settings.s3.raw_bucket,
            settings.postgres.source_db,
        ).manifests()[0]
        dlt = _dlt(settings, env)
        lag = _follow_lag(settings, env)
    result = {
        "orders": ORDERS,
        "rows": rows,
        "snapshot_seconds": round(ours, 2),
        "snapshot_rows_per_second": round(rows / ours),
        "snapshot_parquet_mb": round(snapshot.bytes / 1e6, 1),
        "snapshot_peak_rss_mb": round(ours_rss),
        "copy_floor_seconds": round(floor, 2),
        "snapshot_vs_floor": round(floor / ours, 3),
        "dlt": dlt,
        "follow": lag,
        "targets": {
            "snapshot_vs_dlt": ">= 5",
            "snapshot_vs_floor": ">= 0.5",
            "lag_p99_seconds": "< 2",
            "snapshot_peak_rss_mb": "< 1000",
        },
    }
    if "seconds" in dlt:
        result["snapshot_vs_dlt"] = round(dlt["seconds"] / ours, 2)
    return result
