"""Which Iceberg tables the warehouse loads into its `lake` schema, and by which key.

Every silver table (keyed as in the lakehouse's design) and the real-time `events` table.
The lake table has the Iceberg table's name and columns; dbt's sources point at them.
Besides its key, a lake table is indexed on the columns dbt's incremental models look rows up
by: the change time (`updated_at`) and the parent key an order's lines and payments are
gathered by. Without them an incremental run scans every table whole to find a tick's rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyiceberg.schema import Schema

from services.lakehouse.design import SILVER_TABLES
from services.platform.settings import Settings
from services.streaming.tables import EVENTS_SCHEMA


@dataclass(frozen=True)
class LakeTable:
    namespace: str  # the Iceberg namespace it is read from
    name: str  # the same name in Iceberg and in the warehouse's lake schema
    key: str
    declared: Schema | None = None  # created empty from this when Iceberg has no such table yet
    lookups: tuple[str, ...] = ()  # columns indexed for dbt's incremental lookups

    @property
    def identifier(self) -> str:
        return f"{self.namespace}.{self.name}"


LOOKUPS: dict[str, tuple[str, ...]] = {
    "orders": ("updated_at", "customer_id"),
    "order_items": ("updated_at", "order_id"),
    "payments": ("updated_at", "order_id"),
}


def lake_tables(settings: Settings) -> list[LakeTable]:
    silver = [
        LakeTable(settings.lakehouse.silver_namespace, t.name, t.key, lookups=LOOKUPS.get(t.name, ()))
        for t in SILVER_TABLES
    ]
    return [*silver, LakeTable(settings.streaming.realtime_namespace, "events", "event_id", EVENTS_SCHEMA)]
