"""Reconciliation at 1M orders: every cell of 4.74M rows at every hop, and the marts check.

Targets (issue: value-exact through the marts): `sandbox reconcile` (source, raw, silver, lake,
staging) < 60 s with peak memory < 1.5 GB; the incremental models against their builds from
scratch < 2x the incremental `dbt build` they check. The sandbox is brought to a steady state
first: the initial load, then a tick carried through every stage.
"""

from __future__ import annotations

import sys

from services.platform.bootstrap import ensure_buckets
from services.platform.clients import Role, postgres_connect
from services.source.tick import tick
from services.warehouse.stage import load_lake
from tests.benchmarks.isolated import isolated_sandbox, load_source, start
from tests.benchmarks.measure import run_measured
from tests.fixed_time import TICK_AT

ORDERS = 1_000_000
MARTS_ONLY = "from services.platform.settings import load_settings; from services.reconciliation.marts import " \
    "marts_checks; checks = marts_checks(load_settings()); assert all(c.ok for c in checks), checks"  # fmt: skip


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "services.cli", *args]


def _tick_through(settings, env: dict[str, str], seed: int) -> None:
    with postgres_connect(settings, settings.postgres.source_db, Role.APP) as conn:
        tick(conn, orders=1200, seed=seed, at=TICK_AT)
    run_measured(_cli("replicate"), env)
    run_measured(_cli("lakehouse"), env)


def run() -> dict[str, object]:
    with isolated_sandbox("reconcile") as (settings, env):
        start(settings, "postgres", "seaweedfs")
        ensure_buckets(settings)
        rows = load_source(settings, ORDERS)
        for stage in (("replicate",), ("lakehouse",), ("transform",)):
            run_measured(_cli(*stage), env)
        _tick_through(settings, env, seed=7)
        run_measured(_cli("transform"), env)
        _tick_through(settings, env, seed=8)
        load_lake(settings)
        build_seconds, _ = run_measured(_cli("transform", "--skip-load"), env)
        runs = [run_measured(_cli("reconcile", "--no-stream"), env) for _ in range(2)]
        marts_seconds, marts_rss = run_measured([sys.executable, "-c", MARTS_ONLY], env)
    return {
        "orders": ORDERS,
        "source_rows": rows,
        "hops": 5,
        "reconcile_seconds": [round(s, 1) for s, _ in runs],
        "reconcile_peak_rss_mb": [round(m) for _, m in runs],
        "incremental_dbt_build_seconds": round(build_seconds, 1),
        "marts_check_seconds": round(marts_seconds, 1),
        "marts_check_peak_rss_mb": round(marts_rss),
        "marts_check_vs_incremental_dbt_build": round(marts_seconds / build_seconds, 2),
        "targets": {
            "reconcile_seconds": "< 60",
            "reconcile_peak_rss_mb": "< 1500",
            "marts_check_vs_incremental_dbt_build": "< 2",
        },
    }
