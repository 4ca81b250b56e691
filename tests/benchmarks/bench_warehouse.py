"""Warehouse: loading 1M orders' silver tables into Postgres, and `dbt build` on them.

Targets (issue: warehouse and dbt): load >= 200k rows/s; incremental `dbt build` after a
tick < 30 s. Reported beside a full-refresh build and the incremental load of that tick.
"""

from __future__ import annotations

import sys
import time

from services.platform.bootstrap import ensure_buckets
from services.platform.clients import Role, postgres_connect
from services.source.tick import tick
from services.warehouse.transform import load_lake
from tests.benchmarks.isolated import isolated_sandbox, load_source, start
from tests.benchmarks.measure import run_measured

ORDERS = 1_000_000


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "services.cli", *args]


def run() -> dict[str, object]:
    with isolated_sandbox("warehouse") as (settings, env):
        start(settings, "postgres", "seaweedfs")
        ensure_buckets(settings)
        load_source(settings, ORDERS)
        run_measured(_cli("replicate"), env)
        run_measured(_cli("lakehouse"), env)

        started = time.monotonic()
        first = load_lake(settings)
        load_seconds = time.monotonic() - started
        loaded_rows = sum(r.upserts for r in first)
        build_seconds, build_rss = run_measured(_cli("transform", "--skip-load"), env)
        refresh_seconds, _ = run_measured(_cli("transform", "--skip-load", "--full-refresh"), env)

        with postgres_connect(settings, settings.postgres.source_db, Role.APP) as conn:
            tick(conn, orders=1200, seed=7)
        run_measured(_cli("replicate"), env)
        run_measured(_cli("lakehouse"), env)
        started = time.monotonic()
        incremental = load_lake(settings)
        incremental_seconds = time.monotonic() - started
        incremental_build, _ = run_measured(_cli("transform", "--skip-load"), env)
    return {
        "orders": ORDERS,
        "load_rows": loaded_rows,
        "load_seconds": round(load_seconds, 2),
        "load_rows_per_second": round(loaded_rows / load_seconds),
        "dbt_build_seconds": round(build_seconds, 2),
        "dbt_build_peak_rss_mb": round(build_rss),
        "dbt_build_full_refresh_seconds": round(refresh_seconds, 2),
        "tick_changes_loaded": sum(r.upserts + r.deletes for r in incremental),
        "incremental_load_seconds": round(incremental_seconds, 2),
        "incremental_dbt_build_seconds": round(incremental_build, 2),
        "targets": {"load_rows_per_second": ">= 200000", "incremental_dbt_build_seconds": "< 30"},
    }
