"""Fixtures for the warehouse: a lake schema of this test's own, fed by a replicated and
Spark-applied scratch source (the lakehouse fixtures)."""

from __future__ import annotations

import uuid

import pytest

from services.platform.clients import Role, postgres_connect
from services.warehouse.postgres_schema import LOAD_ID
from services.warehouse.stage import load_lake


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


class Loads:
    """The warehouse stage's own entry (`load_lake`) for this test's lake schema."""

    def __init__(self, settings, conn) -> None:
        self.settings, self.conn = settings, conn

    def run(self, names: list[str] | None = None, full_refresh: bool = False) -> list:
        return load_lake(self.settings, names, full_refresh)

    def loaded_snapshot(self, name: str) -> int | None:
        row = self.conn.execute(
            f'SELECT snapshot_id FROM "{self.settings.warehouse.lake_schema}"._loads WHERE table_name = %s', (name,)
        ).fetchone()
        return row[0] if row else None


@pytest.fixture
def loader(warehouse_settings, warehouse) -> Loads:
    return Loads(warehouse_settings, warehouse)


def lake_rows(conn, schema: str, table: str, key: str) -> dict[object, dict[str, object]]:
    """A lake table's rows by key, without the loader's bookkeeping column."""
    with conn.cursor() as cur:
        cur.execute(f'SELECT * FROM "{schema}"."{table}"')
        names = [d.name for d in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    return {row[key]: {k: v for k, v in row.items() if k != LOAD_ID} for row in rows}
