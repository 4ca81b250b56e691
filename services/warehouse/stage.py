"""The warehouse stage as plain functions: load the lake schema, build with dbt, export the marts.

The CLI and the Prefect flows call these; each builds its clients from `Settings` through
the platform's factories.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import psycopg

from services.platform.catalog import iceberg_catalog
from services.platform.clients import Role, postgres_connect, s3_client, snowflake_connect
from services.platform.pg_sessions import waits_named
from services.platform.settings import Settings
from services.warehouse import dbt
from services.warehouse.export import ExportResult, PostgresMarts, export_marts
from services.warehouse.loader import LoadResult, WarehouseLoader
from services.warehouse.snowflake import SnowflakeLake, SnowflakeMarts
from services.warehouse.tables import lake_tables

WAREHOUSE_LOCK = "sandbox-warehouse"  # held by loads and dbt builds: one at a time


class WarehouseBusyError(RuntimeError):
    """Another load or build held the warehouse for longer than `lock_wait_seconds`."""


@contextmanager
def one_at_a_time(settings: Settings) -> Iterator[None]:
    """Hold the warehouse's advisory lock: a load committing while dbt reads would hand dbt a
    load id newer than one it has not seen yet, and its incremental models would skip that one."""
    if settings.warehouse.engine != "postgres":
        yield
        return
    timeout = settings.warehouse.lock_wait_seconds
    with postgres_connect(settings, settings.postgres.warehouse_db, Role.DBT, autocommit=True) as conn:
        with (
            postgres_connect(settings, settings.postgres.warehouse_db, Role.DBT, autocommit=True) as watch,
            waits_named(conn, watch, timeout, "taking the warehouse lock") as holders,
        ):
            try:
                conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (WAREHOUSE_LOCK,))
            except psycopg.errors.QueryCanceled as error:
                raise WarehouseBusyError(
                    f"waited {timeout:.0f} s (SANDBOX_WAREHOUSE__LOCK_WAIT_SECONDS) for the warehouse lock, which "
                    "loads, dbt builds and the marts check take in turn; held by "
                    f"{'; '.join(holders) or 'nobody any more'}"
                ) from error
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (WAREHOUSE_LOCK,))


def load_lake(settings: Settings, tables: list[str] | None = None, full_refresh: bool = False) -> list[LoadResult]:
    """Postgres copies the Iceberg tables; Snowflake registers them and reads them in place."""
    if settings.warehouse.engine == "snowflake":
        with snowflake_connect(settings) as conn:
            return SnowflakeLake(settings, conn).run(tables)
    with one_at_a_time(settings):
        return _load_postgres(settings, tables, full_refresh)


def _load_postgres(settings: Settings, tables: list[str] | None, full_refresh: bool) -> list[LoadResult]:
    known = lake_tables(settings, iceberg_catalog(settings))
    names = tables or [table.name for table in known]
    with postgres_connect(settings, settings.postgres.warehouse_db, Role.DBT, autocommit=True) as conn:
        WarehouseLoader(settings, iceberg_catalog(settings), conn, known).prepare(names)

    def load(name: str) -> LoadResult:
        """One table on a connection of its own (each table is still one transaction)."""
        with postgres_connect(settings, settings.postgres.warehouse_db, Role.DBT, autocommit=True) as conn:
            return WarehouseLoader(settings, iceberg_catalog(settings), conn, known).load_table(name, full_refresh)

    # Tables are independent: loading two at once keeps both cores busy (Arrow encodes while
    # Postgres parses another table's COPY).
    with ThreadPoolExecutor(settings.warehouse.load_workers) as pool:
        return list(pool.map(load, names))


def build_models(settings: Settings, select: list[str] | None = None, full_refresh: bool = False) -> dbt.DbtRun:
    with one_at_a_time(settings):
        return dbt.build(settings, select, full_refresh)


def generate_docs(settings: Settings) -> None:
    """dbt's documentation site, into the sandbox home (the dashboard serves it at /dbt-docs/)."""
    outcome = dbt.dbt(settings, "docs", "generate")
    if not outcome.success:
        raise RuntimeError(f"dbt docs generate failed: {outcome.error()}")


def export(settings: Settings) -> list[ExportResult]:
    schema = settings.warehouse.marts_schema
    if settings.warehouse.engine == "snowflake":
        with snowflake_connect(settings) as conn:
            return export_marts(settings, SnowflakeMarts(conn, schema), s3_client(settings), iceberg_catalog(settings))
    with postgres_connect(settings, settings.postgres.warehouse_db, Role.DBT, autocommit=True) as conn:
        return export_marts(settings, PostgresMarts(conn, schema), s3_client(settings), iceberg_catalog(settings))
