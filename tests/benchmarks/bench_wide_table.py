"""A wide table: 100 columns of twenty kinds across the type catalog, 1M rows, through replicate, lakehouse and
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
# (type, the value of row n): twenty kinds across the catalog, each five times, make the 100
# columns: Arrow-typed ones and ones the hops carry as their text (time, interval, inet, ranges,
# an unconstrained numeric), arrays of both
KINDS = (
    ("int", "mod(n * {i}, 100003)"),
    ("bigint", "n::bigint * 1000003 + {i}"),
    ("smallint", "mod(n + {i}, 32000)::smallint"),
    ("numeric(14, 4)", "mod(n * {i}, 1000003) / 7.0"),
    ("numeric", "n::numeric / 3 + {i}"),
    ("double precision", "n / ({i} + 0.5)"),
    ("real", "(n / ({i} + 0.25))::real"),
    ("text", "'value ' || n || ' of column {i}'"),
    ("boolean", "mod(n + {i}, 3) = 0"),
    ("timestamptz", "timestamptz '2026-06-15 00:00Z' - mod(n * {i}, 86400 * 365) * interval '1 s'"),
    ("date", "date '2026-06-15' - mod(n + {i}, 3650)"),
    ("time", "time '00:00' + mod(n * {i}, 86400) * interval '1 s'"),
    ("jsonb", "jsonb_build_object('n', n, 'c', {i})"),
    ("uuid", "md5(n || '-{i}')::uuid"),
    ("bytea", "decode(md5(n || '/{i}'), 'hex')"),
    ("interval", "mod(n, 1000) * interval '1 minute' + {i} * interval '1 day'"),
    ("inet", "('10.' || mod(n, 256) || '.' || mod(n / 256, 256) || '.{i}')::inet"),
    ("int4range", "int4range(mod(n, 1000), mod(n, 1000) + {i})"),
    ("int[]", "ARRAY[n, {i}, NULL]::int[]"),
    ("text[]", "ARRAY['a' || n, 'b{i}']"),
)
STAGES = ("replicate", "lakehouse", "transform")


def _columns() -> list[tuple[str, str, str]]:
    return [(f"c{k}_{i}", kind, value.format(i=i + 1)) for i in range(5) for k, (kind, value) in enumerate(KINDS)]


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
        # Silver's Spark driver needs 2g for 100 such columns at 1M rows (on the default 1g its heap
        # runs out, and a JVM out of memory stops every table of the run): README, Troubleshooting.
        env = {**env, "SANDBOX_SPARK__DRIVER_MEMORY": "2g"}
        seconds = {stage: round(run_measured(_cli(stage), env)[0], 2) for stage in STAGES}
    return {
        "rows": ROWS,
        "columns": len(columns) + 1,
        "seconds": seconds,
        "rows_per_second": {stage: round(ROWS / s) for stage, s in seconds.items()},
    }
