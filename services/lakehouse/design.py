"""The silver tables' design: key, partitioning, sort order and data-quality rules.

Every table the raw zone holds gets a silver table, with no code change: by default it is
keyed by the source's primary key (recorded in the raw manifests), unpartitioned, sorted by
its key, and its rows must have a key. `SHOP_TABLES` overrides that for the shop's tables.

Partitioning only where it pays: orders by month of order time and payments by month of
attempt (the marts filter by date); the dimension tables stay whole. Months, not days: at
the sandbox's volumes (up to a few million orders a year) a day holds a few thousand rows,
and daily partitions made hundreds of tiny files per table that every merge had to open;
switch to days(...) where a day holds hundreds of MB.
Sort orders cluster rows the way they are joined. Every table is Iceberg format v2 with
zstd Parquet (see `TABLE_PROPERTIES`); its key is the table property `sandbox.primary-key`,
which the warehouse reads.

A rule's `violation` is a Spark SQL condition that is true for a broken row, naming columns as
the raw zone does (`raw_zone.raw_column`: the shop's names are the same there) (`{now}` in it
stands for the moment of the run, from the job's clock); a foreign-key rule names the parent
table and column instead. Broken rows go to
`quarantine.<table>` with the rule's name and the raw row; nothing is dropped silently.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from services.replication.raw_zone import Manifest, raw_column

TABLE_PROPERTIES = {
    "format-version": "2",
    "write.parquet.compression-codec": "zstd",
    "write.distribution-mode": "hash",
    "write.merge.mode": "merge-on-read",
    "write.update.mode": "merge-on-read",
    "write.delete.mode": "merge-on-read",
}
KEY_PROPERTY = "sandbox.primary-key"  # the table's key columns: `key_property`
EARLIEST_PLAUSIBLE = "TIMESTAMP '2000-01-01 00:00:00'"
LAKE_TABLE_NAME = re.compile(r"[a-z0-9]([a-z0-9_]{0,253}[a-z0-9])?")  # S3 Tables' rule for table names
NOW = "{now}"  # in a rule's condition: the moment of the run, as a timestamp literal


@dataclass(frozen=True)
class Rule:
    name: str
    violation: str | None = None  # Spark SQL, true when the row breaks the rule
    parent: tuple[str, str] | None = None  # (table, column) the row's column must exist in
    column: str | None = None  # the referencing column, for a foreign-key rule
    # may pass later with no change at the source (a parent arrives, time moves on): silver
    # checks its quarantined rows again on every run (`quarantine.py`: waiting)
    rechecked: bool = False


@dataclass(frozen=True)
class SilverTable:
    name: str
    keys: tuple[str, ...]
    partitioned_by: str | None  # an Iceberg transform, e.g. months(ordered_at)
    ordered_by: tuple[str, ...]
    rules: tuple[Rule, ...]


def key_property(keys: tuple[str, ...]) -> str:
    """The key columns as `KEY_PROPERTY` holds them: a JSON list, as a name may hold a comma."""
    return json.dumps(list(keys), ensure_ascii=False)


def keys_of_property(text: str) -> tuple[str, ...]:
    """`key_property`'s inverse; tables of older releases hold the names comma-separated."""
    return tuple(json.loads(text)) if text.startswith("[") else tuple(text.split(","))


def not_null_key(*keys: str) -> Rule:
    return Rule("null_key", " OR ".join(f"`{key}` IS NULL" for key in keys))


def foreign_key(column: str, parent: str, parent_key: str) -> Rule:
    return Rule(f"unknown_{column}", parent=(parent, parent_key), column=column, rechecked=True)


def plausible_time(column: str) -> Rule:
    return Rule(
        f"impossible_{column}",
        f"{column} < {EARLIEST_PLAUSIBLE} OR {column} > {NOW} + INTERVAL 1 DAY",
        rechecked=True,  # a time more than a day ahead becomes plausible as the clock moves on
    )


SHOP_TABLES: tuple[SilverTable, ...] = (  # parents before children: foreign keys see this run's parents
    SilverTable("customers", ("customer_id",), None, ("customer_id",), (not_null_key("customer_id"),)),
    SilverTable(
        "addresses", ("address_id",), None, ("customer_id",),
        (not_null_key("address_id"), foreign_key("customer_id", "customers", "customer_id")),
    ),
    SilverTable(
        "products", ("product_id",), None, ("category", "product_id"),
        (not_null_key("product_id"), Rule("negative_price", "price < 0")),
    ),
    SilverTable(
        "orders", ("order_id",), "months(ordered_at)", ("customer_id",),
        (
            not_null_key("order_id"),
            foreign_key("customer_id", "customers", "customer_id"),
            plausible_time("ordered_at"),
        ),
    ),
    SilverTable(
        "order_items", ("order_item_id",), None, ("order_id",),
        (
            not_null_key("order_item_id"),
            Rule("non_positive_quantity", "quantity <= 0"),
            # the source allows it, but a line worth less than nothing breaks every revenue rule
            Rule("discount_exceeds_line_amount", "quantity > 0 AND discount > quantity * unit_price"),
            foreign_key("order_id", "orders", "order_id"),
            foreign_key("product_id", "products", "product_id"),
        ),
    ),
    SilverTable(
        "payments", ("payment_id",), "months(attempted_at)", ("order_id",),
        (not_null_key("payment_id"), foreign_key("order_id", "orders", "order_id"), plausible_time("attempted_at")),
    ),
)  # fmt: skip


def default_design(name: str, keys: tuple[str, ...]) -> SilverTable:
    """A table of the source that the shop's design does not know: keyed, whole, sorted by key."""
    return SilverTable(name, keys, None, keys, (not_null_key(*map(raw_column, keys)),))


def _held_and_keys(manifests: list[Manifest]) -> tuple[set[str], dict[str, tuple[str, ...]]]:
    """The tables the raw zone holds, and the primary key of those that have one (newest manifest wins)."""
    keys: dict[str, tuple[str, ...]] = {}
    held: set[str] = set()
    for manifest in manifests:
        held |= set(manifest.tables)
        keys |= {name: tuple(schema.key) for name, schema in manifest.schemas.items() if schema.key}
    return held, keys


def keyless_tables(manifests: list[Manifest]) -> list[str]:
    """Tables the raw zone holds without a primary key (published under REPLICA IDENTITY FULL):
    silver cannot key them, and says so for each instead of leaving them out in silence."""
    held, keys = _held_and_keys(manifests)
    known = {d.name for d in SHOP_TABLES}
    return sorted(name for name in held - known if name not in keys)


def unnamable_tables(manifests: list[Manifest]) -> dict[str, str]:
    """{table: the error} for tables the raw zone holds under a name the Iceberg catalog refuses.
    S3 Tables (the aws profile's catalog) takes lowercase letters, digits and underscores, starting
    and ending with a letter or digit; every profile keeps that rule, so what runs here runs there."""
    held, _ = _held_and_keys(manifests)
    return {
        name: f"the table's name {name!r} is not one the Iceberg catalog takes (lowercase letters, digits and "
        "underscores, starting and ending with a letter or digit): rename the table at the source, or leave it "
        "out of the publication; its rows wait in the raw zone"
        for name in sorted(held)
        if not LAKE_TABLE_NAME.fullmatch(name)
    }


def silver_designs(manifests: list[Manifest]) -> list[SilverTable]:
    """The design of every table the raw zone holds with a primary key, parents before children:
    the shop's tables as `SHOP_TABLES` says, any other one by default."""
    held, keys = _held_and_keys(manifests)
    designs = [d for d in SHOP_TABLES if d.name in held]
    known = {d.name for d in SHOP_TABLES}
    return designs + [default_design(name, keys[name]) for name in sorted(held - known) if name in keys]
