"""`sandbox tick --chaos`: every change shape the source accepts that an ordinary tick never makes.

What the pipeline must carry exactly (or quarantine by a named rule), in one run of separate
transactions: lone child deletes and updates, a cascading parent delete, primary-key changes,
a key deleted and inserted again in one transaction, a row inserted and deleted in one
transaction, large incompressible values (text, jsonb, text[], bytea) both rewritten and left
untouched by an update, NULL <-> value <-> '' moves, text with a character of every Unicode
class, control characters, quotes, backslashes and COPY's `\\N`, numerics at their declared
limits, timestamps at microsecond precision and at the edges of the plausible range (and just
past them), one transaction larger than a replication batch, a TRUNCATE, and schema drift (a
column added with a default or dropped, a type widened).

The TRUNCATE and the drift happen on `shop.chaos_notes`, a table of its own that the first chaos
tick creates and adds to the publication (so a table joining the publication is exercised too),
leaving the shop's marts their meaning. Everything is drawn from `seed` (rows by a seeded hash
of their keys, never SQL `random()`): the same seed on the same data makes the same changes.
"""

from __future__ import annotations

import json
import random
import sys
import time
import unicodedata
from collections.abc import Callable

import psycopg

from services.source.sampling import drawn_order, next_seed
from services.source.tick import TickResult

NOTES = "shop.chaos_notes"
BIG_TRANSACTION_ROWS = 50_001  # one more than a replication batch's default size
NUMERIC_10_2_MAX = "99999999.99"
LARGE = "chaos-large"  # the category of the products with large values


def every_unicode_class() -> str:
    """One character of every general category Postgres' UTF-8 can store (all but surrogates and
    NUL), first code point each, plus the characters text formats trip over."""
    found: dict[str, str] = {}
    for code in range(1, sys.maxunicode + 1):
        category = unicodedata.category(chr(code))
        if category not in found and category != "Cs":
            found[category] = chr(code)
    tricky = "\\N \\ \" ' , ; | \t \r\n \x1f \x7f \ufeff \u200d e\u0301 👩‍💻 ﷽ 東京 عربى"
    return "".join(found[c] for c in sorted(found)) + tricky


def large_text(rng: random.Random, characters: int = 6000) -> str:
    """Incompressible text far beyond the TOAST threshold (~2 kB)."""
    return rng.randbytes(characters // 2).hex()


Step = Callable[[psycopg.Connection, random.Random, TickResult], None]


def chaos_tick(conn: psycopg.Connection, seed: int, big_transaction_rows: int = BIG_TRANSACTION_ROWS) -> TickResult:
    """Apply every change shape (see the module's docstring), each step its own transaction."""
    return apply_shapes(conn, list(shapes()), seed, big_transaction_rows=big_transaction_rows)


def shapes(big_transaction_rows: int = BIG_TRANSACTION_ROWS) -> dict[str, Step]:
    """Every change shape by name, in the order a chaos tick applies them (the property test draws
    sequences of them)."""
    return {
        "lone child deletes and updates": _lone_children,
        "cascading parent delete": _cascading_delete,
        "primary-key changes": _key_changes,
        "a key deleted and inserted again in one transaction": _same_key_again,
        "a row inserted and deleted in one transaction": _born_and_gone,
        "large values": _large_values,
        "large values rewritten or left untouched": _large_values_rewritten_or_untouched,
        "NULL, '' and value moves": _null_empty_value,
        "every Unicode class": _awkward_text,
        "numerics at their limits": _numeric_limits,
        "timestamps at the edges": _timestamps,
        "a transaction larger than a batch": lambda c, r, res: _big_transaction(c, res, big_transaction_rows),
        "truncate and drift": _notes_truncate_and_drift,
    }


def apply_shapes(conn: psycopg.Connection, names: list[str], seed: int, **options: int) -> TickResult:
    """Apply the named change shapes in order, each its own transaction, drawn from `seed`."""
    started, result, rng = time.monotonic(), TickResult(), random.Random(seed)  # noqa: S311 - test data, not secrets
    known = shapes(**options)
    for name in names:
        with conn.transaction():
            known[name](conn, rng, result)
    result.seconds = time.monotonic() - started
    return result


def _one(conn: psycopg.Connection, query: str, params: tuple = ()) -> object:
    row = conn.execute(query, params).fetchone()
    return row[0] if row else None


def _drawn(rng: random.Random, key: str) -> str:
    """`ORDER BY` a shuffle of the rows by `key`, drawn from the tick's generator."""
    return drawn_order(key, next_seed(rng))


def _nudged(column: str, largest: str, step: str) -> str:
    """SQL moving `column` by `step`, down instead of up at its type's largest value: an earlier
    shape may have put it there, and the source would refuse the overflow."""
    return f"CASE WHEN {column} <= {largest} - {step} THEN {column} + {step} ELSE {column} - {step} END"


def _lone_children(conn: psycopg.Connection, rng: random.Random, result: TickResult) -> None:
    """A line and a payment deleted on their own, another of each updated, the order untouched."""
    pick = (
        "SELECT {key} FROM shop.{table} WHERE order_id IN"
        " (SELECT order_id FROM shop.{table} GROUP BY 1 HAVING count(*) > 1) {order} LIMIT 2"
    )
    for table, key, change in (
        ("order_items", "order_item_id", f"quantity = {_nudged('quantity', '2147483647', '1')}"),
        ("payments", "payment_id", f"amount = {_nudged('amount', '9999999999.99', '0.01')}"),
    ):
        rows = [r[0] for r in conn.execute(pick.format(key=key, table=table, order=_drawn(rng, key)))]
        if len(rows) == 2:
            result.deleted[table] += conn.execute(f"DELETE FROM shop.{table} WHERE {key} = %s", (rows[0],)).rowcount
            result.updated[table] += conn.execute(
                f"UPDATE shop.{table} SET {change} WHERE {key} = %s", (rows[1],)
            ).rowcount


def _cascading_delete(conn: psycopg.Connection, rng: random.Random, result: TickResult) -> None:
    order = _one(
        conn,
        "SELECT order_id FROM shop.orders o WHERE EXISTS (SELECT FROM shop.order_items i WHERE i.order_id = o.order_id)"
        f" {_drawn(rng, 'order_id')} LIMIT 1",
    )
    if order is None:
        return
    for child in ("order_items", "payments"):
        result.deleted[child] += _one(conn, f"SELECT count(*) FROM shop.{child} WHERE order_id = %s", (order,))
    result.deleted["orders"] += conn.execute("DELETE FROM shop.orders WHERE order_id = %s", (order,)).rowcount


def _new_product(conn: psycopg.Connection, rng: random.Random, name: str, **values: object) -> int:
    """Insert a chaos product; its SKU carries the next free id, so equal seeds on grown data never collide."""
    next_id = _one(conn, "SELECT coalesce(max(product_id), 0) + 1 FROM shop.products")
    sku = f"CHAOS-{next_id}-{rng.getrandbits(48):012x}"
    columns = {"sku": sku, "name": name, "category": "chaos", "price": 1, **values}
    names = ", ".join(columns)
    marks = ", ".join(["%s"] * len(columns))
    return _one(
        conn, f"INSERT INTO shop.products ({names}) VALUES ({marks}) RETURNING product_id", tuple(columns.values())
    )


def _key_changes(conn: psycopg.Connection, rng: random.Random, result: TickResult) -> None:
    """A line, and a product no line refers to, given new primary keys."""
    line = _one(conn, f"SELECT order_item_id FROM shop.order_items {_drawn(rng, 'order_item_id')} LIMIT 1")
    if line is not None:
        result.updated["order_items"] += conn.execute(
            "UPDATE shop.order_items SET order_item_id ="
            " nextval(pg_get_serial_sequence('shop.order_items', 'order_item_id')) WHERE order_item_id = %s",
            (line,),
        ).rowcount
    product = _new_product(conn, rng, "re-keyed")
    result.inserted["products"] += 1
    result.updated["products"] += conn.execute(
        "UPDATE shop.products SET product_id = nextval(pg_get_serial_sequence('shop.products', 'product_id'))"
        " WHERE product_id = %s",
        (product,),
    ).rowcount


def _same_key_again(conn: psycopg.Connection, rng: random.Random, result: TickResult) -> None:
    """A payment deleted and inserted again under the same key, with other values, in one transaction."""
    row = conn.execute(
        f"SELECT payment_id, order_id, method, amount FROM shop.payments {_drawn(rng, 'payment_id')} LIMIT 1"
    ).fetchone()
    if row is None:
        return
    conn.execute("DELETE FROM shop.payments WHERE payment_id = %s", (row[0],))
    conn.execute(
        "INSERT INTO shop.payments (payment_id, order_id, method, amount, status, failure_reason, attempted_at)"
        " VALUES (%s, %s, %s, %s, 'failed', 'insufficient_funds', now())",
        (row[0], row[1], row[2], row[3]),
    )
    result.deleted["payments"] += 1
    result.inserted["payments"] += 1


def _born_and_gone(conn: psycopg.Connection, rng: random.Random, result: TickResult) -> None:
    """A line inserted and deleted in one transaction: the source never shows it committed."""
    order, product = conn.execute(
        f"SELECT (SELECT order_id FROM shop.orders {_drawn(rng, 'order_id')} LIMIT 1),"
        " (SELECT min(product_id) FROM shop.products)"
    ).fetchone()
    if order is None or product is None:
        return
    line = _one(
        conn,
        "INSERT INTO shop.order_items (order_id, product_id, quantity, unit_price) VALUES (%s, %s, 1, 1)"
        " RETURNING order_item_id",
        (order, product),
    )
    conn.execute("DELETE FROM shop.order_items WHERE order_item_id = %s", (line,))


def _large_values(conn: psycopg.Connection, rng: random.Random, result: TickResult) -> None:
    """Products with large text, jsonb and text[] values (stored out of line by Postgres)."""
    for _ in range(3):
        attributes = json.dumps({"blob": large_text(rng)})
        _new_product(conn, rng, large_text(rng), category=LARGE, tags=[large_text(rng), "small"], attributes=attributes)
        result.inserted["products"] += 1


def _large_values_rewritten_or_untouched(conn: psycopg.Connection, rng: random.Random, result: TickResult) -> None:
    """In a later transaction (within one, Postgres would resend them): one product's large values
    rewritten, the others' left untouched by a price change. Nothing to do before a "large values"
    shape made some."""
    large = [
        r[0]
        for r in conn.execute(
            "SELECT product_id FROM shop.products WHERE category = %s ORDER BY product_id DESC LIMIT 3", (LARGE,)
        )
    ]
    if not large:
        return
    result.updated["products"] += conn.execute(
        "UPDATE shop.products SET attributes = %s, tags = %s WHERE product_id = %s",
        (json.dumps({"blob": large_text(rng), "rating": 4.5}), [large_text(rng)], large[0]),
    ).rowcount
    result.updated["products"] += conn.execute(
        f"UPDATE shop.products SET price = {_nudged('price', NUMERIC_10_2_MAX, '1')} WHERE product_id = ANY(%s)",
        (large[1:],),
    ).rowcount


def _null_empty_value(conn: psycopg.Connection, rng: random.Random, result: TickResult) -> None:
    """Phones moved NULL -> '' -> a value -> NULL, and failure reasons likewise."""
    ids = [r[0] for r in conn.execute(f"SELECT customer_id FROM shop.customers {_drawn(rng, 'customer_id')} LIMIT 3")]
    for customer, phone in zip(ids, ("", None, "+1 555 0100"), strict=False):
        result.updated["customers"] += conn.execute(
            "UPDATE shop.customers SET phone = CASE WHEN phone IS NULL THEN '' WHEN phone = '' THEN %s ELSE NULL END"
            " WHERE customer_id = %s",
            (phone or "+44 20 7946 0000", customer),
        ).rowcount
    result.updated["payments"] += conn.execute(
        "UPDATE shop.payments SET failure_reason = CASE WHEN failure_reason IS NULL THEN '' ELSE NULL END"
        f" WHERE payment_id IN (SELECT payment_id FROM shop.payments {_drawn(rng, 'payment_id')} LIMIT 3)"
    ).rowcount


def _awkward_text(conn: psycopg.Connection, rng: random.Random, result: TickResult) -> None:
    """A customer named with a character of every Unicode class, quotes, backslashes, `\\N`, controls."""
    text = every_unicode_class()
    customer = _one(conn, f"SELECT customer_id FROM shop.customers {_drawn(rng, 'customer_id')} LIMIT 1")
    result.updated["customers"] += conn.execute(
        "UPDATE shop.customers SET first_name = %s, last_name = %s WHERE customer_id = %s",
        (text, "\\N", customer),
    ).rowcount
    address = _one(conn, f"SELECT address_id FROM shop.addresses {_drawn(rng, 'address_id')} LIMIT 1")
    result.updated["addresses"] += conn.execute(
        "UPDATE shop.addresses SET street = %s, city = '' WHERE address_id = %s", (text[::-1], address)
    ).rowcount


def _numeric_limits(conn: psycopg.Connection, rng: random.Random, result: TickResult) -> None:
    """Quantities and prices at their columns' largest values, a discount equal to its line, money at 0."""
    lines = [
        r[0] for r in conn.execute(f"SELECT order_item_id FROM shop.order_items {_drawn(rng, 'order_item_id')} LIMIT 2")
    ]
    if len(lines) == 2:
        result.updated["order_items"] += conn.execute(
            f"UPDATE shop.order_items SET quantity = 2147483647, unit_price = {NUMERIC_10_2_MAX}, discount = 0"
            " WHERE order_item_id = %s",
            (lines[0],),
        ).rowcount
        result.updated["order_items"] += conn.execute(
            f"UPDATE shop.order_items SET discount = least(quantity * unit_price, {NUMERIC_10_2_MAX})"
            " WHERE order_item_id = %s",
            (lines[1],),
        ).rowcount
    result.updated["payments"] += conn.execute(
        "UPDATE shop.payments SET amount = 9999999999.99 WHERE payment_id = (SELECT min(payment_id) FROM shop.payments)"
    ).rowcount
    result.updated["products"] += conn.execute(
        f"UPDATE shop.products SET price = CASE WHEN product_id % 2 = 0 THEN 0 ELSE {NUMERIC_10_2_MAX} END"
        f" WHERE product_id IN (SELECT product_id FROM shop.products {_drawn(rng, 'product_id')} LIMIT 2)"
    ).rowcount


def _timestamps(conn: psycopg.Connection, rng: random.Random, result: TickResult) -> None:
    """Order and payment times at the microsecond and at the plausible range's edges; one just
    before it (silver quarantines that one as impossible_ordered_at)."""
    times = ("2000-01-01 00:00:00+00", "2000-01-01 00:00:00.000001+00", "1999-12-31 23:59:59.999999+00")
    orders = [r[0] for r in conn.execute(f"SELECT order_id FROM shop.orders {_drawn(rng, 'order_id')} LIMIT 3")]
    for order, at in zip(orders, times, strict=False):
        result.updated["orders"] += conn.execute(
            "UPDATE shop.orders SET ordered_at = %s WHERE order_id = %s", (at, order)
        ).rowcount
    result.updated["payments"] += conn.execute(
        "UPDATE shop.payments SET attempted_at = date_trunc('second', now()) + interval '0.999999 second'"
        f" WHERE payment_id IN (SELECT payment_id FROM shop.payments {_drawn(rng, 'payment_id')} LIMIT 2)"
    ).rowcount


def _big_transaction(conn: psycopg.Connection, result: TickResult, rows: int) -> None:
    """One transaction with more changes than a replication batch holds (each a real change)."""
    result.updated["order_items"] += conn.execute(
        "UPDATE shop.order_items SET discount = discount WHERE order_item_id IN"
        " (SELECT order_item_id FROM shop.order_items ORDER BY order_item_id LIMIT %s)",
        (rows,),
    ).rowcount  # the trigger moves updated_at: every row is a change


def _notes_truncate_and_drift(conn: psycopg.Connection, rng: random.Random, result: TickResult) -> None:
    """`shop.chaos_notes`: created and published once; each tick it is truncated and filled anew, a
    column is added with a default (or dropped, if there), and a numeric type is widened."""
    if _one(conn, "SELECT to_regclass(%s)", (NOTES,)) is None:
        conn.execute(
            f"CREATE TABLE {NOTES} (note_id bigint PRIMARY KEY, body text, doc jsonb, tags text[],"
            " blob bytea, amount numeric(12, 2), noted_at timestamptz NOT NULL DEFAULT clock_timestamp())"
        )
        conn.execute(f"ALTER PUBLICATION shop_cdc ADD TABLE {NOTES}")
        result.drift_applied.append(f"created {NOTES}")
    conn.execute(f"TRUNCATE {NOTES}")
    columns = {
        r[0]
        for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            (NOTES,),
        )
    }
    if "extra" in columns:
        conn.execute(f"ALTER TABLE {NOTES} DROP COLUMN extra")
        result.drift_applied.append("dropped chaos_notes.extra")
    else:
        conn.execute(f"ALTER TABLE {NOTES} ADD COLUMN extra int NOT NULL DEFAULT {rng.randint(1, 99)}")
        result.drift_applied.append("added chaos_notes.extra with a default")
    precision = _one(
        conn,
        "SELECT (atttypmod - 4) >> 16 FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'amount'",
        (NOTES,),
    )
    if precision < 30:
        conn.execute(f"ALTER TABLE {NOTES} ALTER COLUMN amount TYPE numeric({precision + 2}, 2)")
        result.drift_applied.append(f"widened chaos_notes.amount to numeric({precision + 2}, 2)")
    rows = [
        (n, large_text(rng) if n == 1 else every_unicode_class()[n:], json.dumps({"n": n, "blob": large_text(rng)}),
         [None, "", large_text(rng)], rng.randbytes(4000), "9999999999.99" if n == 2 else None)
        for n in range(1, 6)
    ]  # fmt: skip
    with conn.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {NOTES} (note_id, body, doc, tags, blob, amount) VALUES (%s, %s, %s, %s, %s, %s)", rows
        )
    result.inserted["chaos_notes"] += len(rows)
    conn.execute(f"UPDATE {NOTES} SET amount = 1 WHERE note_id = 1")  # its large values untouched
    result.updated["chaos_notes"] += 1
