"""A reader of silver through pyiceberg (the lakehouse fixtures live in tests/conftest.py:
the warehouse tests use them too)."""

from __future__ import annotations

from services.platform.catalog import iceberg_catalog


def silver_rows(settings, table: str, key: str, namespace: str | None = None) -> dict[object, dict[str, object]]:
    """A silver table read with pyiceberg (not Spark): the other engine must agree."""
    name = f"{namespace or settings.lakehouse.silver_namespace}.{table}"
    rows = iceberg_catalog(settings).load_table(name).scan().to_arrow().to_pylist()
    return {row[key]: row for row in rows}
