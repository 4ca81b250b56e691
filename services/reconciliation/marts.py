"""The incremental dbt models against a build of the same models from scratch.

Each incremental model is compiled as a full refresh compiles it (`is_incremental()` false),
built into a scratch schema of the warehouse, and compared with the table the incremental runs
keep, cell by cell (`canonical.py`, `diff.py`): an incremental model that missed a change shows
here as the keys and columns it holds wrong. Loads and dbt builds wait meanwhile (the
warehouse's advisory lock), so both sides read the same lake.
"""

from __future__ import annotations

from psycopg import sql

from services.platform.clients import Role, postgres_connect
from services.platform.settings import Settings
from services.reconciliation.checks import Check
from services.reconciliation.diff import first_differences
from services.reconciliation.sides import PostgresSide, columns_of
from services.warehouse.dbt import dbt, manifest_nodes
from services.warehouse.stage import one_at_a_time

SCRATCH_SCHEMA = "reconcile_scratch"
HOP = "marts (incremental vs from scratch)"


def marts_checks(settings: Settings) -> list[Check]:
    compiled = dbt(settings, "compile", "--select", "config.materialized:incremental", "--full-refresh", "--quiet")
    if not compiled.success:
        raise RuntimeError(f"dbt compile of the incremental models failed: {compiled.error()}")
    nodes = manifest_nodes(settings)
    checks = []
    with (
        one_at_a_time(settings),
        postgres_connect(settings, settings.postgres.warehouse_db, Role.DBT, autocommit=True) as conn,
    ):
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCRATCH_SCHEMA)))
        for result in (r for r in compiled.results if r.resource_type == "model"):
            node = nodes[result.unique_id]
            unique_key, schema, alias = node["config"]["unique_key"], node["schema"], node["alias"]
            keys = [unique_key] if isinstance(unique_key, str) else list(unique_key)
            scratch = sql.Identifier(SCRATCH_SCHEMA, alias)
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(scratch))
            conn.execute(sql.SQL("CREATE TABLE {} AS {}").format(scratch, sql.SQL(result.compiled_code)))
            try:
                columns = columns_of(conn, schema, alias)
                expected = PostgresSide(conn, SCRATCH_SCHEMA, alias, columns, keys)
                actual = PostgresSide(conn, schema, alias, columns, keys)
                got, want = actual.fingerprint(), expected.fingerprint()
                differences = [] if got == want else [d.describe(keys) for d in first_differences(expected, actual)]
                checks.append(Check(alias, HOP, got, want, "", differences))
            finally:
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(scratch))
    return checks
