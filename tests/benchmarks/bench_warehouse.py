"""Warehouse: loading 1M orders' silver tables into Postgres, and `dbt build` on them.

Targets (issue: warehouse and dbt): load >= 200k rows/s; incremental `dbt build` after a
tick < 30 s. Reported beside a full-refresh build and the incremental load of that tick.
"""

from __future__ import annotations

import sys
import time

from services.platform.bootstrap import ensure_buckets
from services.platform.clients import Role, postgres_connect
from services.platform.settings import Settings
from services.source.tick import tick
from services.warehouse.stage import load_lake
from tests.benchmarks.isolated import isolated_sandbox, load_source, start
from tests.benchmarks.measure import run_measured
from tests.fixed_time import TICK_AT

ORDERS = 1_000_000


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "services.cli", *args]


def _tick_and_build(settings: Settings, env: dict[str, str], seed: int) -> tuple[float, int, float]:
    """One tick through replication, silver and the warehouse load, then `dbt build`:
    (load seconds, changes loaded, build seconds)."""
    with postgres_connect(settings, settings.postgres.source_db, Role.APP) as conn:
        tick(conn, orders=1200, seed=seed, at=TICK_AT)
    run_measured(_cli("replicate"), env)
    run_measured(_cli("lakehouse"), env)
    started = time.monotonic()
    loaded = load_lake(settings)
    load_seconds = time.monotonic() - started
    build_seconds, _ = run_measured(_cli("transform", "--skip-load"), env)
    return load_seconds, sum(r.upserts + r.deletes for r in loaded), build_seconds


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

        # The first incremental build after the initial load and a full refresh; the target is the
        # steady state, a build after the next tick; both are reported.
        _, _, first_incremental = _tick_and_build(settings, env, seed=7)
        incremental_seconds, tick_changes, incremental_build = _tick_and_build(settings, env, seed=8)
    return {
        "orders": ORDERS,
        "load_rows": loaded_rows,
        "load_seconds": round(load_seconds, 2),
        "load_rows_per_second": round(loaded_rows / load_seconds),
        "dbt_build_seconds": round(build_seconds, 2),
        "dbt_build_peak_rss_mb": round(build_rss),
        "dbt_build_full_refresh_seconds": round(refresh_seconds, 2),
        "first_incremental_dbt_build_after_initial_load_seconds": round(first_incremental, 2),
        "tick_changes_loaded": tick_changes,
        "incremental_load_seconds": round(incremental_seconds, 2),
        "incremental_dbt_build_seconds": round(incremental_build, 2),
        "targets": {"load_rows_per_second": ">= 200000", "incremental_dbt_build_seconds": "< 30"},
    }
