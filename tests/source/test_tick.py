"""A tick changes the live shop with every change-capture op type; drift adds a column."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from services.source.loader import load_folder
from services.source.tick import tick
from tests.fixed_time import TICK_AT


def counts(conn) -> dict[str, int]:
    return {
        t: conn.execute(f"SELECT count(*) FROM shop.{t}").fetchone()[0]
        for t in ("customers", "addresses", "orders", "order_items", "payments")
    }


def test_a_tick_inserts_updates_and_deletes(scratch_source, small_csvs) -> None:
    load_folder(scratch_source, small_csvs)
    before = counts(scratch_source)
    statuses_before = dict(scratch_source.execute("SELECT order_id, status FROM shop.orders").fetchall())
    prices_before = dict(scratch_source.execute("SELECT product_id, price FROM shop.products").fetchall())

    result = tick(scratch_source, orders=40, seed=5, at=TICK_AT)

    after = counts(scratch_source)
    assert result.inserted["orders"] == 40 and result.inserted["customers"] == 8
    assert all(result.inserted[t] > 0 for t in ("addresses", "order_items", "payments"))
    assert result.deleted["orders"] >= 1 and result.deleted["order_items"] >= 1
    for table in after:
        assert after[table] == before[table] + result.inserted[table] - result.deleted[table], table

    statuses_after = dict(scratch_source.execute("SELECT order_id, status FROM shop.orders").fetchall())
    changed = {o for o in statuses_before.keys() & statuses_after.keys() if statuses_before[o] != statuses_after[o]}
    assert len(changed) == result.updated["orders"] > 0
    gone = statuses_before.keys() - statuses_after.keys()
    assert len(gone) == result.deleted["orders"] and all(statuses_before[o] == "cancelled" for o in gone)
    orphans = scratch_source.execute(
        "SELECT count(*) FROM shop.order_items WHERE order_id = ANY(%s)", (list(gone),)
    ).fetchone()
    assert orphans == (0,)
    prices_after = dict(scratch_source.execute("SELECT product_id, price FROM shop.products").fetchall())
    assert sum(prices_before[p] != prices_after[p] for p in prices_before) == result.updated["products"] > 0


def test_new_orders_are_placed_with_payments_that_match(scratch_source, small_csvs) -> None:
    load_folder(scratch_source, small_csvs)
    tick(scratch_source, orders=30, seed=9, at=TICK_AT)
    mismatched = scratch_source.execute(
        "SELECT count(*) FROM shop.orders o JOIN shop.payments p USING (order_id)"
        " WHERE o.order_id > 300 AND p.amount <> (SELECT sum(quantity * unit_price - discount)"
        "  FROM shop.order_items i WHERE i.order_id = o.order_id)"
    ).fetchone()
    assert mismatched == (0,)
    statuses = {r[0] for r in scratch_source.execute("SELECT DISTINCT status FROM shop.orders WHERE order_id > 300")}
    assert statuses <= {"placed", "cancelled"}


def test_drift_adds_a_column_and_data_keeps_flowing(scratch_source, small_csvs) -> None:
    load_folder(scratch_source, small_csvs)
    first = tick(scratch_source, orders=20, seed=1, drift=True, at=TICK_AT)
    assert first.drift_applied == ["drift/0001_customers_loyalty_tier"]
    tiers = scratch_source.execute("SELECT count(loyalty_tier) FROM shop.customers").fetchone()[0]
    assert tiers == first.updated["customers"] > 0

    second = tick(scratch_source, orders=20, seed=2, drift=True, at=TICK_AT)
    assert second.drift_applied == []
    assert second.inserted["orders"] == 20
    assert scratch_source.execute("SELECT count(loyalty_tier) FROM shop.customers").fetchone()[0] > tiers


def _contents(conn) -> dict[str, list[tuple]]:
    """Every shop table's rows, but for the times the database stamps when a change happens."""
    stamped = {"created_at", "updated_at", "noted_at", "attempted_at"}
    found = {}
    for (table,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'shop' ORDER BY 1"):
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM shop.{table} ORDER BY 1")
            keep = [i for i, d in enumerate(cur.description) if d.name not in stamped]
            found[table] = [tuple(row[i] for i in keep) for row in cur.fetchall()]
    return found


@contextmanager
def twin_of(settings, conn, csvs) -> Iterator[psycopg.Connection]:
    """A second database loaded with the same CSVs (same data, ids and sequences) as `conn`'s."""
    from services.platform.clients import Role, postgres_connect
    from services.source.schema import apply_migrations

    name = f"{conn.info.dbname}_twin"
    with postgres_connect(settings, "postgres", Role.ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" OWNER "{settings.postgres.app_user}"')
    try:
        with postgres_connect(settings, name, Role.APP) as twin:
            apply_migrations(twin)
            load_folder(twin, csvs)
            yield twin
    finally:
        with postgres_connect(settings, "postgres", Role.ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_a_tick_makes_the_same_changes_for_a_seed_whatever_the_rows_order_on_disk(
    settings, scratch_source, small_csvs
) -> None:
    load_folder(scratch_source, small_csvs)
    with twin_of(settings, scratch_source, small_csvs) as twin:
        # Rewrite every row of the twin: the same data, but a sequential scan meets it in another order.
        for table in ("customers", "products", "orders"):
            twin.execute(f"UPDATE shop.{table} SET updated_at = updated_at")
        twin.commit()
        results = [tick(conn, orders=30, seed=8, at=TICK_AT, drift=True) for conn in (scratch_source, twin)]
        assert _contents(scratch_source) == _contents(twin)
    assert results[0].summary() == results[1].summary()
    assert results[0].updated["orders"] and results[0].deleted["orders"] and results[0].updated["products"]


def test_a_chaos_tick_is_repeatable_for_a_seed_and_makes_every_shape(settings, scratch_source, small_csvs) -> None:
    from services.source.chaos import chaos_tick, every_unicode_class

    load_folder(scratch_source, small_csvs)
    with twin_of(settings, scratch_source, small_csvs) as twin:
        results = [chaos_tick(conn, seed=3, big_transaction_rows=50) for conn in (scratch_source, twin)]
        assert _contents(scratch_source) == _contents(twin)
    first = results[0]
    assert first.summary() == results[1].summary()
    assert first.deleted["order_items"] and first.deleted["payments"] and first.deleted["orders"]
    assert first.updated["order_items"] >= 50 and first.inserted["chaos_notes"] == 5
    assert "added chaos_notes.extra with a default" in first.drift_applied
    categories = {unicodedata.category(c) for c in every_unicode_class()}
    assert len(categories) == 29  # every general category but surrogates (Cs)
    assert scratch_source.execute(
        "SELECT count(*) FROM shop.customers WHERE first_name = %s", (every_unicode_class(),)
    ).fetchone() == (1,)


def test_values_at_their_types_limits_never_make_a_later_tick_fail(scratch_source, small_csvs) -> None:
    """A chaos tick leaves prices, quantities and amounts at their columns' largest values; the
    changes made to them later (a tick's repricing, the chaos shapes' nudges) stay in range
    instead of overflowing and stopping the tick."""
    from services.source.chaos import apply_shapes

    load_folder(scratch_source, small_csvs)
    scratch_source.execute("UPDATE shop.products SET price = 99999999.99")
    scratch_source.execute("UPDATE shop.order_items SET quantity = 2147483647, unit_price = 99999999.99")
    scratch_source.execute("UPDATE shop.payments SET amount = 9999999999.99")
    scratch_source.commit()
    apply_shapes(scratch_source, ["large values", "lone child deletes and updates"], seed=0)
    apply_shapes(scratch_source, ["large values rewritten or left untouched", "numerics at their limits"], seed=1)
    result = tick(scratch_source, orders=5, seed=3, at=TICK_AT)
    assert result.updated["products"] > 0
    ceiling = scratch_source.execute(
        "SELECT max(price) <= 99999999.99, (SELECT max(quantity) FROM shop.order_items) <= 2147483647"
        " FROM shop.products"
    ).fetchone()
    assert ceiling == (True, True)
