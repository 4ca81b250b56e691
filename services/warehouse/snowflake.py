"""The aws profile's warehouse: Snowflake reads the lake's Iceberg tables in place.

Instead of copying rows, each lake table is registered once as a Snowflake Iceberg table
over the same REST catalog (through a catalog integration and an external volume that an
administrator creates once, see infra/README.md) and refreshed to the catalog's current
snapshot on every load: Snowflake's own way of loading from S3/Iceberg. dbt's sources then
read `lake.<table>` as on Postgres.
"""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa

from services.platform.catalog import iceberg_catalog
from services.platform.settings import Settings
from services.warehouse.export import MART_NAMES_QUERY
from services.warehouse.loader import LoadResult
from services.warehouse.tables import lake_tables


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def register_statements(settings: Settings, namespace: str, table: str) -> list[str]:
    """SQL that makes `lake.<table>` the Iceberg table `namespace.table`, at its current snapshot."""
    sf, lake = settings.snowflake, _quoted(settings.warehouse.lake_schema.upper())
    target = f"{lake}.{_quoted(table.upper())}"
    return [
        f"CREATE SCHEMA IF NOT EXISTS {lake}",
        f"CREATE ICEBERG TABLE IF NOT EXISTS {target} EXTERNAL_VOLUME = '{sf.external_volume}' "
        f"CATALOG = '{sf.catalog_integration}' CATALOG_NAMESPACE = '{namespace}' CATALOG_TABLE_NAME = '{table}'",
        f"ALTER ICEBERG TABLE {target} REFRESH",
    ]


class SnowflakeLake:
    def __init__(self, settings: Settings, conn: Any) -> None:
        self.settings, self.conn = settings, conn

    def run(self, names: list[str] | None = None) -> list[LoadResult]:
        results = []
        with self.conn.cursor() as cursor:
            for table in lake_tables(self.settings, iceberg_catalog(self.settings)):
                if names and table.name not in names:
                    continue
                started = time.monotonic()
                for statement in register_statements(self.settings, table.namespace, table.name):
                    cursor.execute(statement)
                results.append(LoadResult(table.name, mode="refreshed in place", seconds=time.monotonic() - started))
        return results


class SnowflakeMarts:
    """Marts read from Snowflake as Arrow, for the same export as on Postgres."""

    def __init__(self, conn: Any, schema: str) -> None:
        self.conn, self.schema = conn, schema.upper()

    def names(self) -> list[str]:
        with self.conn.cursor() as cursor:
            cursor.execute(MART_NAMES_QUERY, (self.schema,))
            return [row[0].lower() for row in cursor.fetchall()]

    def read(self, mart: str) -> pa.Table:
        with self.conn.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {_quoted(self.schema)}.{_quoted(mart.upper())}")
            table = cursor.fetch_arrow_all(force_return_table=True)
        return table.rename_columns([name.lower() for name in table.column_names])
