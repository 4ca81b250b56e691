"""Fixtures for the warehouse: a lake schema of this test's own, fed by a replicated and
Spark-applied scratch source (the lakehouse fixtures)."""

from __future__ import annotations

import uuid

import pytest

from services.platform.catalog import iceberg_catalog
from services.platform.clients import Role, postgres_connect
from services.warehouse.loader import WarehouseLoader


@pytest.fixture
def warehouse_settings(lake_settings):
    suffix = uuid.uuid4().hex[:8]
    streaming = lake_settings.streaming.model_copy(update={"realtime_namespace": f"realtime_{suffix}"})
    warehouse = lake_settings.warehouse.model_copy(update={"lake_schema": f"lake_{suffix}"})
    return lake_settings.model_copy(update={"warehouse": warehouse, "streaming": streaming})


@pytest.fixture
def warehouse(warehouse_settings, services):
    with postgres_connect(warehouse_settings, warehouse_settings.postgres.warehouse_db, Role.DBT, autocommit=True) as c:
        yield c
        c.execute(f'DROP SCHEMA IF EXISTS "{warehouse_settings.warehouse.lake_schema}" CASCADE')


@pytest.fixture
def loader(warehouse_settings, warehouse) -> WarehouseLoader:
    return WarehouseLoader(warehouse_settings, iceberg_catalog(warehouse_settings), warehouse)


def lake_rows(conn, schema: str, table: str, key: str) -> dict[object, dict[str, object]]:
    with conn.cursor() as cur:
        cur.execute(f'SELECT * FROM "{schema}"."{table}"')
        names = [d.name for d in cur.description]
        return {row[names.index(key)]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}
