"""A newly published table that gets 200,000 rows in one transaction, through every hop.

The table is published while empty and already in silver and the warehouse (as a user's new
table is after the next run); then one transaction inserts 200,000 rows. Timed: replicate,
lakehouse and the warehouse load, each as its `sandbox` command.

Target (issue: any schema): replicate + lakehouse + transform < 60 s.
"""

from __future__ import annotations

import sys

from services.platform.bootstrap import ensure_buckets
from services.platform.clients import Role, postgres_connect
from tests.benchmarks.isolated import isolated_sandbox, load_source, start
from tests.benchmarks.measure import run_measured

ROWS = 200_000
TABLE = (
    "CREATE TABLE shop.sensor_readings (reading_id bigint PRIMARY KEY, sensor text NOT NULL,"
    " taken_at timestamptz NOT NULL, value numeric(12, 4), flags int[], note text)"
)
INSERT = (
    "INSERT INTO shop.sensor_readings SELECT n, 'sensor-' || mod(n, 97), timestamptz '2026-06-15 00:00Z'"
    " + n * interval '1 s', mod(n, 10007) / 7.0, ARRAY[mod(n, 3), mod(n, 5)]::int[],"
    " CASE WHEN mod(n, 11) = 0 THEN NULL ELSE 'reading ' || n END FROM generate_series(1, %s) AS n"
)
STAGES = ("replicate", "lakehouse", "transform")  # transform: the warehouse load, then dbt build


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "services.cli", *args]


def run() -> dict[str, object]:
    with isolated_sandbox("new-table") as (settings, env):
        start(settings, "postgres", "seaweedfs")
        ensure_buckets(settings)
        load_source(settings, 1_000)
        with postgres_connect(settings, settings.postgres.source_db, Role.APP) as conn:
            conn.execute(TABLE)
            conn.execute(f"ALTER PUBLICATION {settings.replication.publication} ADD TABLE shop.sensor_readings")
        for stage in STAGES:
            run_measured(_cli(stage), env)
        with postgres_connect(settings, settings.postgres.source_db, Role.APP) as conn:
            conn.execute(INSERT, (ROWS,))
        seconds = {stage: round(run_measured(_cli(stage), env)[0], 2) for stage in STAGES}
    return {
        "rows": ROWS,
        "seconds": seconds,
        "total_seconds": round(sum(seconds.values()), 2),
        "targets": {"total_seconds": "< 60"},
    }
