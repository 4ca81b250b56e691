"""Source rows the tests write by hand, shapes the generator never makes."""

from __future__ import annotations

from datetime import datetime

import psycopg


def order_with_line(
    source: psycopg.Connection, ordered_at: str | datetime, quantity: int = 1, unit_price: str = "5"
) -> tuple[int, int]:
    """An order of an existing customer, placed at `ordered_at`, with one line; (order, line) ids.
    Not committed: the caller adds what else belongs in the transaction."""
    customer, address = source.execute("SELECT customer_id, address_id FROM shop.addresses LIMIT 1").fetchone()
    product = source.execute("SELECT product_id FROM shop.products LIMIT 1").fetchone()[0]
    order = source.execute(
        "INSERT INTO shop.orders (customer_id, shipping_address_id, status, ordered_at)"
        " VALUES (%s, %s, 'placed', %s) RETURNING order_id",
        (customer, address, ordered_at),
    ).fetchone()[0]
    line = source.execute(
        "INSERT INTO shop.order_items (order_id, product_id, quantity, unit_price) VALUES (%s, %s, %s, %s)"
        " RETURNING order_item_id",
        (order, product, quantity, unit_price),
    ).fetchone()[0]
    return order, line
