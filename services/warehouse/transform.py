"""The warehouse stage as plain functions: load the lake schema, build with dbt, export the marts.

The CLI and the Prefect flows call these; each builds its clients from `Settings` through
the platform's factories.
"""

from __future__ import annotations

from dbt.cli.main import dbtRunnerResult

from services.platform.catalog import iceberg_catalog
from services.platform.clients import Role, postgres_connect, s3_client
from services.platform.settings import Settings
from services.warehouse import dbt
from services.warehouse.export import ExportResult, export_marts
from services.warehouse.loader import LoadResult, WarehouseLoader


def load_lake(settings: Settings, tables: list[str] | None = None, full_refresh: bool = False) -> list[LoadResult]:
    with postgres_connect(settings, settings.postgres.warehouse_db, Role.DBT, autocommit=True) as conn:
        return WarehouseLoader(settings, iceberg_catalog(settings), conn).run(tables, full_refresh)


def build_models(settings: Settings, select: list[str] | None = None, full_refresh: bool = False) -> dbtRunnerResult:
    return dbt.build(settings, select, full_refresh)


def export(settings: Settings) -> list[ExportResult]:
    with postgres_connect(settings, settings.postgres.warehouse_db, Role.DBT, autocommit=True) as conn:
        return export_marts(settings, conn, s3_client(settings), iceberg_catalog(settings))
