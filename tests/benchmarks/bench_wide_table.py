"""A wide table: 100 columns across the type catalog, 1M rows, through replicate, lakehouse and
the warehouse load (`sandbox transform`, which also builds the shop's small dbt project).

Reported as rows/s per stage, beside the shop tables' rows/s of the replication, lakehouse and
warehouse benchmarks (README, Benchmarks). The table is made by SQL in the source, so its values
are the same on every run.
"""

from __future__ import annotations

import sys

from services.platform.bootstrap import ensure_buckets
from services.platform.clients import Role, postgres_connect
from tests.benchmarks.isolated import isolated_sandbox, load_source, start
from tests.benchmarks.measure import run_measured

ROWS = 1_000_000
# (type, the value of row n): ten kinds, each ten times, make the 100 columns
KINDS = (
    ("int", "mod(n * {i}, 100003)"),
    ("bigint", "n::bigint * 1000003 + {i}"),
    ("numeric(14, 4)", "mod(n * {i}, 1000003) / 7.0"),
    ("double precision", "n / ({i} + 0.5)"),
    ("text", "'value ' || n || ' of column {i}'"),
    ("boolean", "mod(n + {i}, 3) = 0"),
    ("timestamptz", "timestamptz '2026-06-15 00:00Z' - mod(n * {i}, 86400 * 365) * interval '1 s'"),
    ("date", "date '2026-06-15' - mod(n + {i}, 3650)"),
    ("jsonb", "jsonb_build_object('n', n, 'c', {i})"),
    ("interval", "mod(n, 1000) * interval '1 minute' + {i} * interval '1 day'"),
)
STAGES = ("replicate", "lakehouse", "transform")


def _columns() -> list[tuple[str, str, str]]:
    return [(f"c{k}_{i}", kind, value.format(i=i + 1)) for i in range(10) for k, (kind, value) in enumerate(KINDS)]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "services.cli", *args]


def run() -> dict[str, object]:
    columns = _columns()
    with isolated_sandbox("wide-table") as (settings, env):
        start(settings, "postgres", "seaweedfs")
        ensure_buckets(settings)
        load_source(settings, 1_000)
        with postgres_connect(settings, settings.postgres.source_db, Role.APP) as conn:
            definitions = ", ".join(f"{name} {kind}" for name, kind, _ in columns)
            conn.execute(f"CREATE TABLE shop.wide (id bigint PRIMARY KEY, {definitions})")
            values = ", ".join(value for _, _, value in columns)
            conn.execute(f"INSERT INTO shop.wide SELECT n, {values} FROM generate_series(1, {ROWS}) AS n")
            conn.execute(f"ALTER PUBLICATION {settings.replication.publication} ADD TABLE shop.wide")
        seconds = {stage: round(run_measured(_cli(stage), env)[0], 2) for stage in STAGES}
    return {
        "rows": ROWS,
        "columns": len(columns) + 1,
        "seconds": seconds,
        "rows_per_second": {stage: round(ROWS / s) for stage, s in seconds.items()},
    }
