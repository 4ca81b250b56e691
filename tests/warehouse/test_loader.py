"""Iceberg silver -> the warehouse's lake schema: exact, incremental, transactional."""

from __future__ import annotations

import json

import pytest

from services.lakehouse.design import SHOP_TABLES
from services.source.tables import PRIMARY_KEYS, TABLES
from services.source.tick import tick
from services.warehouse import loader as loader_module
from services.warehouse.postgres_schema import LOAD_ID
from tests.fixed_time import TICK_AT
from tests.lakehouse.conftest import silver_rows
from tests.replication.conftest import source_rows
from tests.warehouse.conftest import lake_rows


def assert_lake_equals_source(conn, schema: str, source) -> None:
    for table in TABLES:
        key = PRIMARY_KEYS[table]
        lake, expected = lake_rows(conn, schema, table, key), source_rows(source, table)
        assert lake.keys() == expected.keys(), f"{table}: keys differ"
        for k, row in expected.items():
            got = dict(lake[k])
            if "attributes" in got:  # JSON travels as its text; the source hands back parsed values
                got["attributes"] = json.loads(got["attributes"])
            assert got == row, f"{table} {key}={k}"


def test_load_is_exact_then_incremental(replicator, job, source, loader, warehouse, warehouse_settings) -> None:
    schema = warehouse_settings.warehouse.lake_schema
    replicator.run_once()
    job.run()
    first = {r.table: r for r in loader.run()}
    assert {t.name: first[t.name].mode for t in SHOP_TABLES} == {t.name: "full" for t in SHOP_TABLES}
    assert first["events"].mode.startswith("empty")  # declared by the real-time path, not yet written
    assert lake_rows(warehouse, schema, "events", "event_id") == {}
    assert_lake_equals_source(warehouse, schema, source)
    assert maintenance(warehouse, schema, "orders") == {"analyzed": True, "vacuumed": False}  # stats after a reload

    ticked = tick(source, orders=25, seed=11, at=TICK_AT)
    source.commit()
    replicator.run_once()
    job.run()
    second = {r.table: r for r in loader.run()}
    assert all(r.mode in ("incremental", "up to date") or r.mode.startswith("empty") for r in second.values())
    assert second["orders"].mode == "incremental"
    assert sum(r.deletes for r in second.values()) == sum(ticked.deleted.values()) > 0
    # only what changed was read: far fewer rows than the tables hold
    assert second["orders"].upserts < len(source_rows(source, "orders")) / 2
    assert_lake_equals_source(warehouse, schema, source)
    assert maintenance(warehouse, schema, "orders")["vacuumed"]  # changed pages all-visible again

    assert all(r.mode.startswith(("up to date", "empty")) for r in loader.run())  # rerun: nothing to do

    full = {r.table: r for r in loader.run(full_refresh=True)}
    assert full["orders"].mode == "full"
    assert_lake_equals_source(warehouse, schema, source)
    # the lookup indexes a full reload drops for its COPY are there again
    assert indexed_columns(warehouse, schema) == {
        "orders": {"order_id", LOAD_ID, "customer_id"},
        "order_items": {"order_item_id", LOAD_ID, "order_id"},
        "payments": {"payment_id", LOAD_ID, "order_id"},
    }


def maintenance(conn, schema: str, table: str) -> dict[str, bool]:
    """Whether the loader (not autovacuum) has analyzed and vacuumed the table."""
    analyzed, vacuumed = conn.execute(
        "SELECT last_analyze IS NOT NULL, last_vacuum IS NOT NULL FROM pg_stat_user_tables"
        " WHERE schemaname = %s AND relname = %s",
        (schema, table),
    ).fetchone()
    return {"analyzed": analyzed, "vacuumed": vacuumed}


def indexed_columns(conn, schema: str) -> dict[str, set[str]]:
    """The single-column indexes of the order tables, by table."""
    rows = conn.execute(
        "SELECT t.relname, a.attname FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid"
        " JOIN pg_namespace n ON n.oid = t.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0]"
        " WHERE n.nspname = %s AND t.relname IN ('orders', 'order_items', 'payments')",
        (schema,),
    ).fetchall()
    indexed: dict[str, set[str]] = {}
    for table, column in rows:
        indexed.setdefault(table, set()).add(column)
    return indexed


def test_a_failed_load_leaves_the_table_and_its_bookmark(
    replicator, job, source, loader, warehouse, warehouse_settings, monkeypatch
) -> None:
    schema = warehouse_settings.warehouse.lake_schema
    replicator.run_once()
    job.run()
    loader.run(["orders"])
    before, bookmark = lake_rows(warehouse, schema, "orders", "order_id"), loader.loaded_snapshot("orders")
    tick(source, orders=25, seed=12, at=TICK_AT)
    source.commit()
    replicator.run_once()
    job.run()

    def crash(*args, **kwargs):
        raise ConnectionError("warehouse went away mid-COPY")

    monkeypatch.setattr(loader_module, "copy_batches", crash)
    with pytest.raises(ConnectionError):
        loader.run(["orders"])
    assert lake_rows(warehouse, schema, "orders", "order_id") == before
    assert loader.loaded_snapshot("orders") == bookmark

    monkeypatch.undo()
    assert loader.run(["orders"])[0].mode == "incremental"
    assert lake_rows(warehouse, schema, "orders", "order_id").keys() == source_rows(source, "orders").keys()


def test_a_table_that_fails_to_load_stops_alone(
    replicator, job, source, loader, warehouse, warehouse_settings, monkeypatch
) -> None:
    """A failure that is not the warehouse being away (here a value it refuses) is that table's
    result, named with the cause; the other tables load exactly."""
    replicator.run_once()
    job.run()
    load = loader_module.WarehouseLoader._load

    def refusing(self, table, full_refresh):
        if table.name == "products":
            raise ValueError("invalid byte sequence for encoding UTF8: 0x00")
        return load(self, table, full_refresh)

    monkeypatch.setattr(loader_module.WarehouseLoader, "_load", refusing)
    results = {r.table: r for r in loader.run()}
    assert {name for name, r in results.items() if r.error} == {"products"}
    assert results["products"].error.startswith("ValueError: invalid byte sequence for encoding UTF8: 0x00")
    schema = warehouse_settings.warehouse.lake_schema
    for table in ("customers", "orders", "payments"):
        key = PRIMARY_KEYS[table]
        assert lake_rows(warehouse, schema, table, key).keys() == source_rows(source, table).keys(), table


def test_new_source_column_reaches_the_warehouse(replicator, job, source, loader, warehouse, warehouse_settings):
    schema = warehouse_settings.warehouse.lake_schema
    replicator.run_once()
    job.run()
    loader.run(["customers"])
    drifted = tick(source, orders=10, seed=13, drift=True, at=TICK_AT)
    source.commit()
    assert drifted.drift_applied
    replicator.run_once()
    job.run()
    result = loader.run(["customers"])[0]
    assert any("loyalty_tier" in change for change in result.schema_changes)
    lake = lake_rows(warehouse, schema, "customers", "customer_id")
    expected = source_rows(source, "customers")
    assert {k: r["loyalty_tier"] for k, r in lake.items()} == {k: r["loyalty_tier"] for k, r in expected.items()}


def test_an_expired_bookmark_falls_back_to_a_full_reload(
    replicator, job, source, loader, warehouse, warehouse_settings
):
    replicator.run_once()
    job.run()
    loader.run(["products"])
    schema = warehouse_settings.warehouse.lake_schema
    warehouse.execute(f'UPDATE "{schema}"._loads SET snapshot_id = 42 WHERE table_name = %s', ("products",))
    tick(source, orders=10, seed=14, at=TICK_AT)
    source.commit()
    replicator.run_once()
    job.run()
    assert loader.run(["products"])[0].mode == "full"
    assert lake_rows(warehouse, schema, "products", "product_id").keys() == source_rows(source, "products").keys()


def test_unknown_table_is_named(loader) -> None:
    with pytest.raises(ValueError, match="unknown table nope"):
        loader.run(["nope"])


def load_ids(conn, schema: str, table: str, key: str) -> dict[object, int]:
    return dict(conn.execute(f'SELECT {key}, {LOAD_ID} FROM "{schema}"."{table}"').fetchall())


def test_loads_stamp_what_they_change_and_keep_what_it_replaced(
    replicator, job, source, loader, warehouse, warehouse_settings, spark
) -> None:
    """dbt reads changes by load: a load stamps only the rows it writes, keeps the lines it deletes
    or changes as they were, and a compaction (same rows, new files) writes nothing."""
    from services.lakehouse.maintenance import maintain_tables

    schema = warehouse_settings.warehouse.lake_schema
    replicator.run_once()
    job.run()
    first = {r.table: r for r in loader.run()}
    assert set(load_ids(warehouse, schema, "order_items", "order_item_id").values()) == {first["order_items"].load_id}
    deleted, changed = (r[0] for r in source.execute("SELECT order_item_id FROM shop.order_items ORDER BY 1 LIMIT 2"))
    quantity = source.execute("SELECT quantity FROM shop.order_items WHERE order_item_id = %s", (changed,)).fetchone()[
        0
    ]
    source.execute("DELETE FROM shop.order_items WHERE order_item_id = %s", (deleted,))
    source.execute("UPDATE shop.order_items SET quantity = quantity + 1 WHERE order_item_id = %s", (changed,))
    source.commit()
    replicator.run_once()
    job.run(["order_items"])
    second = loader.run(["order_items"])[0]
    assert (second.upserts, second.deletes) == (1, 1)
    ids = load_ids(warehouse, schema, "order_items", "order_item_id")
    assert ids[changed] == second.load_id > first["order_items"].load_id
    assert {k for k, v in ids.items() if v == second.load_id} == {changed}
    previous = warehouse.execute(
        f'SELECT order_item_id, quantity, {LOAD_ID} FROM "{schema}".order_items__previous ORDER BY 1'
    ).fetchall()
    assert [(row[0], row[2]) for row in previous] == [(deleted, second.load_id), (changed, second.load_id)]
    assert previous[1][1] == quantity  # the changed line as it was

    assert maintain_tables(spark, warehouse_settings, ["order_items"])["order_items"]["data_files_rewritten"] > 0
    compacted = loader.run(["order_items"])[0]
    assert (compacted.upserts, compacted.deletes) == (0, 0)
    assert load_ids(warehouse, schema, "order_items", "order_item_id") == ids
    assert_lake_equals_source(warehouse, schema, source)


def test_a_changed_key_reloads_the_table_under_the_new_one(
    replicator, job, source, loader, warehouse, warehouse_settings
):
    """The source's primary key moved to other columns: silver merges by the new key, and the
    warehouse, whose table was keyed by the old one, reloads it whole instead of stopping on a
    unique violation."""
    schema = warehouse_settings.warehouse.lake_schema
    source.execute("CREATE TABLE shop.seats (seat_id int PRIMARY KEY, code text NOT NULL, holder text)")
    source.execute("INSERT INTO shop.seats VALUES (1, 'A1', 'ann'), (2, 'A2', 'bo')")
    source.execute("ALTER PUBLICATION shop_cdc ADD TABLE shop.seats")
    source.commit()
    replicator.run_once()
    job.run()
    loader.run(["seats"])
    source.execute("ALTER TABLE shop.seats DROP CONSTRAINT seats_pkey, ADD PRIMARY KEY (code)")
    source.execute("UPDATE shop.seats SET seat_id = 2, holder = 'cy' WHERE code = 'A1'")  # two seat_id 2 now
    source.execute("UPDATE shop.seats SET holder = 'di' WHERE code = 'A2'")
    source.commit()
    replicator.run_once()
    assert not [r for r in job.run() if r.error]
    (result,) = loader.run(["seats"])
    assert any("key changed from (seat_id) to (code)" in change for change in result.schema_changes)
    assert lake_rows(warehouse, schema, "seats", "code") == {
        "A1": {"seat_id": 2, "code": "A1", "holder": "cy"},
        "A2": {"seat_id": 2, "code": "A2", "holder": "di"},
    }


def test_a_type_no_hop_can_widen_copies_the_table_anew_at_every_hop(
    replicator, job, source, loader, warehouse, warehouse_settings
):
    """`ALTER COLUMN ... TYPE text USING ...` rewrote every row at the source: replication copies
    the table anew, silver and the warehouse take the new type and every value, nothing stops."""
    schema = warehouse_settings.warehouse.lake_schema
    source.execute("CREATE TABLE shop.stock (item_id int PRIMARY KEY, qty int)")
    source.execute("INSERT INTO shop.stock VALUES (1, 5), (2, 7)")
    source.execute("ALTER PUBLICATION shop_cdc ADD TABLE shop.stock")
    source.commit()
    replicator.run_once()
    job.run()
    loader.run(["stock"])
    source.execute("ALTER TABLE shop.stock ALTER COLUMN qty TYPE text USING qty || ' units'")
    source.execute("INSERT INTO shop.stock VALUES (3, 'a dozen')")
    source.commit()
    copied = replicator.run_once()
    assert [b.tables["stock"].rows for b in copied.batches if b.kind == "snapshot"] == [3]  # anew, the new type
    silver = {r.table: r for r in job.run()}["stock"]
    assert silver.error is None and "retyped qty int -> string" in silver.schema_changes
    (loaded,) = loader.run(["stock"])
    assert "reloaded whole: qty changed from integer to text" in loaded.schema_changes
    expected = {1: "5 units", 2: "7 units", 3: "a dozen"}
    assert {k: r["qty"] for k, r in silver_rows(warehouse_settings, "stock", "item_id").items()} == expected
    assert {k: r["qty"] for k, r in lake_rows(warehouse, schema, "stock", "item_id").items()} == expected
