"""The source tables the generator writes and the loader reads, in foreign-key order.

The CSV columns are the table's columns minus `created_at`/`updated_at`, which the
database maintains. Kept in one place so generator, loader and tests agree.
"""

from __future__ import annotations

SCHEMA = "shop"

CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id", "email", "first_name", "last_name", "phone", "country_code", "segment", "signup_at"),
    "addresses": ("address_id", "customer_id", "kind", "street", "city", "postal_code", "country_code"),
    "products": ("product_id", "sku", "name", "category", "price", "currency", "active", "tags", "attributes"),
    "orders": ("order_id", "customer_id", "shipping_address_id", "status", "ordered_at", "currency"),
    "order_items": ("order_item_id", "order_id", "product_id", "quantity", "unit_price", "discount"),
    "payments": ("payment_id", "order_id", "method", "amount", "status", "failure_reason", "attempted_at"),
}

TABLES: tuple[str, ...] = tuple(CSV_COLUMNS)  # parents before children

PRIMARY_KEYS: dict[str, str] = {table: columns[0] for table, columns in CSV_COLUMNS.items()}


def csv_name(table: str) -> str:
    return f"{table}.csv"
