"""The warehouse stage as plain functions: load the lake schema, build with dbt, export the marts.

The CLI and the Prefect flows call these; each builds its clients from `Settings` through
the platform's factories.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from dbt.cli.main import dbtRunnerResult

from services.platform.catalog import iceberg_catalog
from services.platform.clients import Role, postgres_connect, s3_client, snowflake_connect
from services.platform.settings import Settings
from services.warehouse import dbt
from services.warehouse.export import ExportResult, PostgresMarts, export_marts
from services.warehouse.loader import LoadResult, WarehouseLoader
from services.warehouse.snowflake import SnowflakeLake, SnowflakeMarts
from services.warehouse.tables import lake_tables


def load_lake(settings: Settings, tables: list[str] | None = None, full_refresh: bool = False) -> list[LoadResult]:
    """Postgres copies the Iceberg tables; Snowflake registers them and reads them in place."""
    if settings.warehouse.engine == "snowflake":
        with snowflake_connect(settings) as conn:
            return SnowflakeLake(settings, conn).run(tables)
    names = tables or [table.name for table in lake_tables(settings)]
    with postgres_connect(settings, settings.postgres.warehouse_db, Role.DBT, autocommit=True) as conn:
        WarehouseLoader(settings, iceberg_catalog(settings), conn).prepare(names)

    def load(name: str) -> LoadResult:
        """One table on a connection of its own (each table is still one transaction)."""
        with postgres_connect(settings, settings.postgres.warehouse_db, Role.DBT, autocommit=True) as conn:
            return WarehouseLoader(settings, iceberg_catalog(settings), conn).load_table(name, full_refresh)

    # Tables are independent: loading two at once keeps both cores busy (Arrow encodes while
    # Postgres parses another table's COPY).
    with ThreadPoolExecutor(settings.warehouse.load_workers) as pool:
        return list(pool.map(load, names))


def build_models(settings: Settings, select: list[str] | None = None, full_refresh: bool = False) -> dbtRunnerResult:
    return dbt.build(settings, select, full_refresh)


def generate_docs(settings: Settings) -> None:
    """dbt's documentation site, into the sandbox home (the dashboard serves it at /dbt-docs/)."""
    outcome = dbt.dbt(settings, "docs", "generate")
    if not outcome.success:
        raise RuntimeError(f"dbt docs generate failed: {outcome.exception or 'see the dbt log'}")


def export(settings: Settings) -> list[ExportResult]:
    schema = settings.warehouse.marts_schema
    if settings.warehouse.engine == "snowflake":
        with snowflake_connect(settings) as conn:
            return export_marts(settings, SnowflakeMarts(conn, schema), s3_client(settings), iceberg_catalog(settings))
    with postgres_connect(settings, settings.postgres.warehouse_db, Role.DBT, autocommit=True) as conn:
        return export_marts(settings, PostgresMarts(conn, schema), s3_client(settings), iceberg_catalog(settings))
