"""A tick changes the live shop with every change-capture op type; drift adds a column."""

from __future__ import annotations

from services.source.loader import load_folder
from services.source.tick import tick


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

    result = tick(scratch_source, orders=40, seed=5)

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
    tick(scratch_source, orders=30, seed=9)
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
    first = tick(scratch_source, orders=20, seed=1, drift=True)
    assert first.drift_applied == ["drift/0001_customers_loyalty_tier"]
    tiers = scratch_source.execute("SELECT count(loyalty_tier) FROM shop.customers").fetchone()[0]
    assert tiers == first.updated["customers"] > 0

    second = tick(scratch_source, orders=20, seed=2, drift=True)
    assert second.drift_applied == []
    assert second.inserted["orders"] == 20
    assert scratch_source.execute("SELECT count(loyalty_tier) FROM shop.customers").fetchone()[0] > tiers
