"""A reader of silver through pyiceberg (the lakehouse fixtures live in tests/conftest.py:
the warehouse tests use them too)."""

from __future__ import annotations

from services.platform.catalog import iceberg_catalog


def silver_rows(settings, table: str, key: str, namespace: str | None = None) -> dict[object, dict[str, object]]:
    """A silver table read with pyiceberg (not Spark): the other engine must agree."""
    name = f"{namespace or settings.lakehouse.silver_namespace}.{table}"
    rows = iceberg_catalog(settings).load_table(name).scan().to_arrow().to_pylist()
    return {row[key]: row for row in rows}


def data_files(settings, qualified: str) -> list[dict[str, object]]:
    """The data files of an Iceberg table's current snapshot (path, partition, counts)."""
    return iceberg_catalog(settings).load_table(qualified).inspect.data_files().to_pylist()


def data_files_per_partition(settings, qualified: str) -> dict[str, int]:
    """How many data files each partition of an Iceberg table's current snapshot holds."""
    counts: dict[str, int] = {}
    for file in data_files(settings, qualified):
        counts[str(file["partition"])] = counts.get(str(file["partition"]), 0) + 1
    return counts
