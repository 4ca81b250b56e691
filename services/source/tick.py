"""One tick of the live shop (what the 2-hourly schedule runs): every kind of change, each time.

In one transaction: new customers and orders arrive (inserts), orders move through
their lifecycle and prices change (updates), some orders are cancelled and some
cancelled ones are purged (hard deletes, cascading to items and payments). New rows are
built by the same functions as the bulk generator; ids come from the tables' sequences.
With `drift`, the next schema release in `drift/` is applied first and its new column
gets values, so schema evolution is exercised downstream.

Deterministic: every choice and value comes from `seed` (rows are drawn by a seeded hash of
their keys, see `sampling.py`, never by SQL `random()`), and new rows are stamped from `at`;
the same seed at the same moment on the same database makes the same changes.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pyarrow as pa
from psycopg import sql

from services.source.generator import (
    PeoplePools,
    load_reference,
    make_addresses,
    make_customers,
    make_order_items,
    make_orders,
    make_payments,
    popularity,
)
from services.source.sampling import drawn_fraction, drawn_order, next_seed
from services.source.schema import DRIFT, apply_migrations
from services.source.tables import SCHEMA

# (status from, status to, share of the "from" orders moved per tick, payment update)
LIFECYCLE = (
    ("shipped", "delivered", 0.3, None),
    ("paid", "shipped", 0.4, None),
    ("placed", "paid", 0.5, ("authorized", "captured")),
    ("delivered", "returned", 0.002, ("captured", "refunded")),
    ("placed", "cancelled", 0.05, ("authorized", "refunded")),
)
MAX_MOVED_PER_STEP = 5000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class TickResult:
    inserted: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    deleted: Counter[str] = field(default_factory=Counter)
    drift_applied: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        def fmt(counts: Counter[str]) -> str:
            return ", ".join(f"{table} {n}" for table, n in sorted(counts.items()) if n) or "none"

        return f"inserted: {fmt(self.inserted)}; updated: {fmt(self.updated)}; deleted: {fmt(self.deleted)}"


def _next_ids(conn: psycopg.Connection, table: str, key: str, count: int) -> np.ndarray:
    rows = conn.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)", (f"{SCHEMA}.{table}", key, count)
    ).fetchall()
    return np.array([r[0] for r in rows], dtype=np.int64)


def _insert(conn: psycopg.Connection, table: str, rows: pa.Table, skip: tuple[str, ...] = ()) -> int:
    """COPY Arrow rows into a table; columns in `skip` (generated ids) are left to the database."""
    rows = rows.drop_columns(list(skip))
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(SCHEMA, table), sql.SQL(", ").join(map(sql.Identifier, rows.column_names))
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows.to_pylist():
            copy.write_row(list(row.values()))
    return len(rows)


def _columns(conn: psycopg.Connection, table: str) -> set[str]:
    query = "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
    return {r[0] for r in conn.execute(query, (SCHEMA, table))}


def _arrivals(
    conn: psycopg.Connection, rng: np.random.Generator, seed: int, orders: int, now_us: int, result: TickResult
) -> None:
    """New customers sign up and existing and new customers place orders (in the 2 hours before `now_us`)."""
    reference = load_reference()
    new_customers = max(1, orders // 5)
    customer_ids = _next_ids(conn, "customers", "customer_id", new_customers)
    country = rng.choice(len(reference.country_codes), size=new_customers, p=reference.country_share)
    pools = PeoplePools(reference.locales, seed, size=50)
    customers = make_customers(rng, reference, pools, customer_ids, country, np.full(new_customers, now_us))
    result.inserted["customers"] += _insert(conn, "customers", customers)
    shipping = make_addresses(rng, reference, pools, customer_ids, country, first_id=0)
    shipping = shipping.filter(pa.compute.equal(shipping["kind"], "shipping"))
    result.inserted["addresses"] += _insert(conn, "addresses", shipping, skip=("address_id",))

    buyers = conn.execute(
        "SELECT c.customer_id, a.address_id FROM shop.customers c"
        " JOIN LATERAL (SELECT address_id FROM shop.addresses WHERE customer_id = c.customer_id AND kind = 'shipping'"
        f"  ORDER BY address_id LIMIT 1) a ON true {drawn_order('c.customer_id', next_seed(rng))} LIMIT %s",
        (orders,),
    ).fetchall()
    products = conn.execute(
        "SELECT product_id, (price * 100)::bigint FROM shop.products WHERE active ORDER BY product_id"
    ).fetchall()
    if not buyers or not products:
        return
    pick = rng.integers(0, len(buyers), orders)
    order_ids = _next_ids(conn, "orders", "order_id", orders)
    ordered_us = now_us - np.sort(rng.integers(0, 7_200_000_000, orders))[::-1]  # spread over the last 2 hours
    new_orders = make_orders(
        rng, order_ids, np.array([buyers[i][0] for i in pick]), np.array([buyers[i][1] for i in pick]), ordered_us,
        end=np.datetime64(now_us, "us"),
    )  # fmt: skip
    new_orders = new_orders.set_column(
        new_orders.schema.get_field_index("status"), "status", pa.array(["placed"] * orders)
    )
    product_ids = np.array([p[0] for p in products])
    items, totals = make_order_items(
        rng, new_orders, product_ids, np.array([p[1] for p in products]), popularity(rng, len(products), 1.1), 0
    )
    payments, status = make_payments(rng, new_orders, totals, 0)
    new_orders = new_orders.set_column(
        new_orders.schema.get_field_index("status"), "status", pa.array(status.astype(str))
    )
    result.inserted["orders"] += _insert(conn, "orders", new_orders)
    result.inserted["order_items"] += _insert(conn, "order_items", items, skip=("order_item_id",))
    result.inserted["payments"] += _insert(conn, "payments", payments, skip=("payment_id",))


def _lifecycle(conn: psycopg.Connection, rng: np.random.Generator, result: TickResult) -> None:
    for source, target, share, payment in LIFECYCLE:
        moved = conn.execute(
            "UPDATE shop.orders SET status = %(target)s WHERE order_id IN ("
            f" SELECT order_id FROM shop.orders WHERE status = %(source)s {drawn_order('order_id', next_seed(rng))}"
            " LIMIT least(%(cap)s, ceil(%(share)s * (SELECT count(*) FROM shop.orders WHERE status = %(source)s))))"
            " RETURNING order_id",
            {"source": source, "target": target, "share": share, "cap": MAX_MOVED_PER_STEP},
        ).fetchall()
        result.updated["orders"] += len(moved)
        if payment and moved:
            cur = conn.execute(
                "UPDATE shop.payments SET status = %s WHERE status = %s AND order_id = ANY(%s)",
                (payment[1], payment[0], [r[0] for r in moved]),
            )
            result.updated["payments"] += cur.rowcount


def _purge_cancelled(conn: psycopg.Connection, rng: np.random.Generator, count: int, result: TickResult) -> None:
    """Hard-delete some cancelled orders; their items and payments go with them (ON DELETE CASCADE)."""
    query = f"SELECT order_id FROM shop.orders WHERE status = 'cancelled' {drawn_order('order_id', next_seed(rng))}"
    doomed = [r[0] for r in conn.execute(f"{query} LIMIT %s", (count,))]
    if not doomed:
        return
    for child in ("order_items", "payments"):
        query = sql.SQL("SELECT count(*) FROM {} WHERE order_id = ANY(%s)").format(sql.Identifier(SCHEMA, child))
        result.deleted[child] += conn.execute(query, (doomed,)).fetchone()[0]
    result.deleted["orders"] += conn.execute("DELETE FROM shop.orders WHERE order_id = ANY(%s)", (doomed,)).rowcount


def _reprice(conn: psycopg.Connection, rng: np.random.Generator, count: int, result: TickResult) -> None:
    """Change some prices by -15%..+15% (always a real change, so every update is visible), within
    numeric(10,2): a price at its largest value (a chaos tick puts some there) moves down."""
    fraction, order = drawn_fraction("product_id", next_seed(rng)), drawn_order("product_id", next_seed(rng))
    cur = conn.execute(
        "UPDATE shop.products p SET price = CASE WHEN c.new_price <> p.price THEN c.new_price"
        " WHEN p.price <= 99999998.99 THEN p.price + 1 ELSE p.price - 1 END"
        " FROM (SELECT product_id,"
        f"  least(99999999.99, greatest(0.99, round(price * (0.85 + {fraction} * 0.3)) - 0.01)) AS new_price"
        f"  FROM shop.products {order} LIMIT %s) c"
        " WHERE p.product_id = c.product_id",
        (count,),
    )
    result.updated["products"] += cur.rowcount


def _fill_drift_columns(conn: psycopg.Connection, rng: np.random.Generator, count: int, result: TickResult) -> None:
    """Give the drift release's column values, so it carries data downstream."""
    if "loyalty_tier" not in _columns(conn, "customers"):
        return
    fraction, order = drawn_fraction("customer_id", next_seed(rng)), drawn_order("customer_id", next_seed(rng))
    cur = conn.execute(
        f"UPDATE shop.customers SET loyalty_tier = (ARRAY['bronze', 'silver', 'gold'])[1 + floor({fraction} * 3)::int]"
        f" WHERE customer_id IN (SELECT customer_id FROM shop.customers WHERE loyalty_tier IS NULL {order} LIMIT %s)",
        (count,),
    )
    result.updated["customers"] += cur.rowcount


def tick(
    conn: psycopg.Connection,
    orders: int = 100,
    seed: int | None = None,
    drift: bool = False,
    at: datetime | None = None,
) -> TickResult:
    """Apply one tick of changes in one transaction and count them per table.

    `seed` fixes every choice (default: the clock's seconds, a new tick each time); `at` is the
    moment the tick happens, which new customers and orders are stamped with (default: now)."""
    started, result = time.monotonic(), TickResult()
    at = at or datetime.now(UTC)
    seed = int(at.timestamp()) if seed is None else seed
    rng = np.random.default_rng(seed)
    with conn.transaction():
        if drift:
            result.drift_applied = apply_migrations(conn, DRIFT)
        _lifecycle(conn, rng, result)  # before arrivals, so new orders stay 'placed' this tick
        _arrivals(conn, rng, seed, orders, (at - EPOCH) // timedelta(microseconds=1), result)
        _purge_cancelled(conn, rng, max(1, orders // 20), result)
        _reprice(conn, rng, max(1, orders // 20), result)
        _fill_drift_columns(conn, rng, max(1, orders // 5), result)
    result.seconds = time.monotonic() - started
    return result
