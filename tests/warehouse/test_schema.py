"""Lake tables follow their Iceberg schema safely: widen in place (even under dbt's views),
refuse anything else by name, and keep the data either way."""

from __future__ import annotations

import pyarrow as pa
import pytest

from services.warehouse.postgres_schema import LOAD_ID, WarehouseSchemaError, ensure_table


def test_widening_under_a_view_then_refusing_a_narrowing(warehouse, warehouse_settings) -> None:
    schema = warehouse_settings.warehouse.lake_schema
    ensure_table(warehouse, schema, "things", pa.schema([("id", pa.int64()), ("n", pa.int32())]), ("id",))
    warehouse.execute(f'INSERT INTO "{schema}".things (id, n, {LOAD_ID}) VALUES (1, 7, 0)')
    warehouse.execute(f'CREATE VIEW "{schema}".things_view AS SELECT n FROM "{schema}".things')

    changes = ensure_table(
        warehouse, schema, "things", pa.schema([("id", pa.int64()), ("n", pa.int64()), ("note", pa.string())]), ("id",)
    )
    assert changes == [f"dropped view {schema}.things_view (dbt recreates it)", "widened n integer -> bigint",
                       "added note text"]  # fmt: skip
    with pytest.raises(WarehouseSchemaError, match=rf"{schema}\.things\.n is bigint .* but text in Iceberg"):
        ensure_table(warehouse, schema, "things", pa.schema([("id", pa.int64()), ("n", pa.string())]), ("id",))
    assert warehouse.execute(f'SELECT id, n, note FROM "{schema}".things').fetchall() == [(1, 7, None)]
