"""Which Iceberg tables the warehouse loads into its `lake` schema, and by which key.

Every table of the silver namespace, as the catalog lists it, keyed by its `sandbox.primary-key`
property (the lakehouse sets it), and the real-time `events` table.
The lake table has the Iceberg table's name and columns; dbt's sources point at them.
Besides its key, a lake table is indexed on the columns dbt's incremental models look rows up
by: the load that wrote a row (`_sandbox_load_id`, every table) and the parent key an order's
lines and payments, and a customer's orders, are gathered by. Without them an incremental run
scans every table whole to find a tick's rows. An order's facts sum its lines and payments, so
those two keep their previous versions (`<table>__previous`): a line deleted, or moved to
another order, tells the order model which order lost it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchNamespaceError
from pyiceberg.schema import Schema

from services.lakehouse.design import KEY_PROPERTY, SHOP_TABLES, keys_of_property
from services.platform.settings import Settings
from services.streaming.tables import EVENTS_SCHEMA
from services.warehouse.postgres_schema import LOAD_ID


@dataclass(frozen=True)
class LakeTable:
    namespace: str  # the Iceberg namespace it is read from
    name: str  # the same name in Iceberg and in the warehouse's lake schema
    keys: tuple[str, ...]  # its primary key
    declared: Schema | None = None  # created empty from this when Iceberg has no such table yet
    lookups: tuple[str, ...] = ()  # columns indexed for dbt's incremental lookups
    keeps_previous: bool = False  # keep the rows a load deletes or changes, as they were

    @property
    def identifier(self) -> str:
        return f"{self.namespace}.{self.name}"


PARENT_LOOKUPS: dict[str, tuple[str, ...]] = {
    "orders": ("customer_id",),
    "order_items": ("order_id",),
    "payments": ("order_id",),
}
KEEP_PREVIOUS_VERSIONS = ("order_items", "payments")


def lake_tables(settings: Settings, catalog: Catalog) -> list[LakeTable]:
    namespace = settings.lakehouse.silver_namespace
    try:
        names = sorted(name for _, name in catalog.list_tables(namespace))
    except NoSuchNamespaceError:
        names = []
    shop = {t.name: t.keys for t in SHOP_TABLES}
    names = [n for n in shop if n in names] + [n for n in names if n not in shop]  # parents first
    silver = []
    for name in names:
        declared = catalog.load_table((namespace, name)).properties.get(KEY_PROPERTY)
        keys = keys_of_property(declared) if declared else shop.get(name)
        if keys:  # a table silver made before it recorded keys, and not the shop's: its next merge records them
            silver.append(
                LakeTable(
                    namespace,
                    name,
                    keys,
                    lookups=(LOAD_ID, *PARENT_LOOKUPS.get(name, ())),
                    keeps_previous=name in KEEP_PREVIOUS_VERSIONS,
                )
            )
    events = LakeTable(settings.streaming.realtime_namespace, "events", ("event_id",), EVENTS_SCHEMA, (LOAD_ID,))
    return [*silver, events]
