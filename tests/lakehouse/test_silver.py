"""Raw -> silver with Spark and Iceberg, checked against the source database row for row.

Silver is read back with pyiceberg, so every check also proves the other engine reads
what Spark wrote."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from services.lakehouse.design import SHOP_TABLES
from services.lakehouse.maintenance import maintain_tables
from services.platform.catalog import iceberg_catalog
from services.replication.raw_zone import Manifest, TableFiles, batch_id, now_utc
from services.source.tables import PRIMARY_KEYS, TABLES
from services.source.tick import tick
from tests.fixed_time import TICK_AT
from tests.lakehouse.conftest import data_files, silver_rows
from tests.replication.conftest import comparable, source_rows
from tests.shop_rows import order_with_line


def assert_silver_equals_source(settings, conn, tables=TABLES) -> None:
    for table in tables:
        key = PRIMARY_KEYS[table]
        silver, expected = silver_rows(settings, table, key), source_rows(conn, table)
        assert silver.keys() == expected.keys(), f"{table}: keys differ"
        for k, row in expected.items():
            assert comparable(silver[k], True) == comparable(row, False), f"{table} {key}={k}"


def snapshot_ids(spark, settings) -> dict[str, int]:
    ns = settings.lakehouse.silver_namespace
    return {
        t.name: spark.sql(f"SELECT snapshot_id FROM {ns}.{t.name}.snapshots ORDER BY committed_at DESC LIMIT 1")
        .first()
        .snapshot_id
        for t in SHOP_TABLES
    }


def test_silver_equals_the_source_after_snapshot_and_ticks(replicator, job, source, lake_settings, spark) -> None:
    snapshot = replicator.run_once()
    backlog, tables = job.backlog, [t.name for t in SHOP_TABLES]
    assert backlog.rows(tables) == snapshot.rows
    first = job.run()
    assert {r.table: r.mode for r in first} == {t.name: "replace" for t in SHOP_TABLES}
    assert backlog.rows(tables) == 0
    assert_silver_equals_source(lake_settings, source)
    replayed = snapshot.rows  # what a full refresh applies: the snapshot and every change since
    for seed in (1, 2):
        tick(source, orders=25, seed=seed, at=TICK_AT)
        source.commit()
        changes = replicator.run_once()
        replayed += changes.rows
        assert backlog.rows(tables) == changes.rows
        assert backlog.rows(tables, full_refresh=True) == replayed
        assert backlog.quick_start()
        results = job.run()
        assert {r.mode for r in results} <= {"merge", "up to date"}
        assert sum(r.deletes for r in results) > 0
    assert_silver_equals_source(lake_settings, source)

    before = snapshot_ids(spark, lake_settings)
    assert {r.mode for r in job.run()} == {"up to date"}  # a rerun on the same raw data changes nothing
    assert snapshot_ids(spark, lake_settings) == before

    # Updates write delete files (merge-on-read). Compaction rewrites every data file that has any
    # (delete-file-threshold 1), applying them: whatever the data's layout, no live data file still
    # needs a delete file when it is read. (Delete files left pointing at rewritten files are
    # harmless; Iceberg drops them once no data file older than them remains in their partition.)
    assert delete_files(lake_settings, "orders")
    maintain_tables(spark, lake_settings, ["orders"])
    live = {f["file_path"] for f in data_files(lake_settings, f"{lake_settings.lakehouse.silver_namespace}.orders")}
    assert not any(targets & live for targets in delete_files(lake_settings, "orders").values())
    assert_silver_equals_source(lake_settings, source, ["orders"])
    assert {r.mode for r in job.run()} == {"up to date"}  # the bookmark survives compaction


def delete_files(settings, table: str) -> dict[str, set[str]]:
    """The position delete files of a silver table's current snapshot, each with the data files it points at."""
    loaded = iceberg_catalog(settings).load_table(f"{settings.lakehouse.silver_namespace}.{table}")
    found = {}
    for path in loaded.inspect.delete_files()["file_path"].to_pylist():
        with loaded.io.new_input(path).open() as f:
            found[path] = set(pq.read_table(f, columns=["file_path"])["file_path"].to_pylist())
    return found


def test_a_truncate_and_later_changes_replace_the_table(replicator, job, source, lake_settings) -> None:
    replicator.run_once()
    job.run()
    order_id = source.execute("SELECT min(order_id) FROM shop.orders").fetchone()[0]
    source.execute("TRUNCATE shop.payments")
    insert = (
        "INSERT INTO shop.payments (order_id, method, amount, status, attempted_at)"
        " VALUES (%s, 'card', 9.99, 'captured', now()) RETURNING payment_id"
    )
    kept, gone = (source.execute(insert, (order_id,)).fetchone()[0] for _ in range(2))
    source.execute("DELETE FROM shop.payments WHERE payment_id = %s", (gone,))
    source.commit()
    replicator.run_once()
    result = next(iter(job.run(["payments"])))
    assert (result.mode, result.upserts, result.deletes, result.quarantined) == ("replace", 1, 0, {})
    assert silver_rows(lake_settings, "payments", "payment_id").keys() == {kept}


def test_a_job_stopped_before_its_commit_reruns_exactly(replicator, job, source, lake_settings, spark) -> None:
    replicator.run_once()
    job.run()
    tick(source, orders=25, seed=3, at=TICK_AT)
    source.commit()
    replicator.run_once()

    class Stopped(BaseException):
        """Like a kill: nothing in the job may handle it (a table's own errors are its result)."""

    def stop(point: str) -> None:
        raise Stopped(point)

    from services.lakehouse.silver import SilverJob

    with pytest.raises(Stopped):
        SilverJob(spark, lake_settings, database=source.info.dbname, step=stop).run(["orders"])
    job.run()
    assert_silver_equals_source(lake_settings, source)


def test_a_new_source_column_becomes_a_silver_column(replicator, job, source, lake_settings) -> None:
    replicator.run_once()
    job.run()
    tick(source, orders=20, seed=4, drift=True, at=TICK_AT)
    source.commit()
    replicator.run_once()
    customers = next(r for r in job.run() if r.table == "customers")
    assert customers.schema_changes == ["added loyalty_tier string"]
    assert_silver_equals_source(lake_settings, source, ["customers"])
    assert any(row["loyalty_tier"] for row in silver_rows(lake_settings, "customers", "customer_id").values())


def _raw_batch(replicator, table: str, rows: list[dict], schema: pa.Schema, op: str = "insert") -> None:
    """Commit a hand-made change batch to the raw zone, as the replicator would."""
    latest = replicator.raw.manifests()[-1]
    lsn, at = latest.end_lsn + 1, now_utc()
    batch = batch_id(lsn, "changes")
    meta = {"_op": op, "_lsn": lsn, "_commit_ts": at, "_ingested_at": at, "_batch_id": batch}
    data = pa.Table.from_pylist([{"_unchanged": None, **row, **meta, "_seq": i} for i, row in enumerate(rows)], schema)
    unchanged = sorted({c for row in rows for c in row.get("_unchanged") or ()})
    key = replicator.raw.file_key(table, batch, 0)
    size = replicator.raw.put_table(key, data)
    manifest = Manifest(
        batch,
        "changes",
        replicator.database,
        lsn,
        lsn + 1,
        at.isoformat(),
        at.isoformat(),
        at.isoformat(),
        {table: TableFiles([key], len(rows), {op: len(rows)}, size, unchanged)},
    )
    replicator.raw.commit(manifest)


def test_broken_rows_go_to_quarantine_with_their_rule(replicator, job, source, lake_settings) -> None:
    replicator.run_once()
    job.run()
    template = replicator.raw.read_table("order_items")
    good = {**template.slice(0, 1).to_pylist()[0]}
    rows = [
        {**good, "order_item_id": 900001, "quantity": -2},  # non_positive_quantity
        {**good, "order_item_id": 900002, "order_id": 777777},  # unknown order_id
        {**good, "order_item_id": None},  # null_key
        {**good, "order_item_id": 900004, "quantity": 3},  # fine
    ]
    _raw_batch(replicator, "order_items", rows, template.schema)
    result = next(r for r in job.run(["order_items"]))
    assert result.quarantined == {"non_positive_quantity": 1, "unknown_order_id": 1, "null_key": 1}
    silver = silver_rows(lake_settings, "order_items", "order_item_id")
    assert 900004 in silver and not {900001, 900002} & silver.keys()
    quarantine = silver_rows(lake_settings, "order_items", "_seq", lake_settings.lakehouse.quarantine_namespace)
    assert {r["rule"]: r["state"] for r in quarantine.values()} == {
        "non_positive_quantity": "held",
        "null_key": "held",
        "unknown_order_id": "waiting",  # checked again on every run, until its order is in silver
    }
    assert all('"order_item_id"' in r["raw_row"] or r["rule"] == "null_key" for r in quarantine.values())
    job.run(["order_items"])  # nothing new: the quarantine is not written twice
    assert len(silver_rows(lake_settings, "order_items", "_seq", lake_settings.lakehouse.quarantine_namespace)) == 3

    orders = replicator.raw.read_table("orders")
    future = {**orders.slice(0, 1).to_pylist()[0], "order_id": 900010, "ordered_at": datetime(2999, 1, 1, tzinfo=UTC)}
    _raw_batch(replicator, "orders", [future], orders.schema)
    assert next(iter(job.run(["orders"]))).quarantined == {"impossible_ordered_at": 1}
    assert 900010 not in silver_rows(lake_settings, "orders", "order_id")


def test_a_type_change_iceberg_cannot_widen_copies_only_its_table_anew(replicator, job, source, lake_settings) -> None:
    """Replication copies the retyped table anew; silver replaces it under the new type while
    the other tables merge their changes as always."""
    replicator.run_once()
    job.run()
    source.execute("ALTER TABLE shop.products ALTER COLUMN currency DROP DEFAULT")
    source.execute("ALTER TABLE shop.products ALTER COLUMN currency TYPE integer USING 840")
    tick(source, orders=10, seed=5, at=TICK_AT)  # other tables keep changing
    source.commit()
    replicator.run_once()
    results = {r.table: r for r in job.run()}
    assert (results["products"].error, results["products"].mode) == (None, "replace")
    assert "retyped currency string -> int" in results["products"].schema_changes
    assert results["orders"].error is None and results["orders"].mode == "merge"
    assert_silver_equals_source(lake_settings, source, ["products", "orders", "order_items", "payments"])


def test_time_travel_returns_the_earlier_state(replicator, job, source, lake_settings, spark) -> None:
    replicator.run_once()
    job.run()
    table = f"{lake_settings.lakehouse.silver_namespace}.orders"
    before = spark.sql(f"SELECT snapshot_id, committed_at FROM {table}.snapshots ORDER BY committed_at DESC").first()
    statuses = {r.order_id: r.status for r in spark.sql(f"SELECT order_id, status FROM {table}").collect()}
    tick(source, orders=25, seed=6, at=TICK_AT)
    source.commit()
    replicator.run_once()
    job.run()
    then = spark.sql(f"SELECT order_id, status FROM {table} VERSION AS OF {before.snapshot_id}").collect()
    assert {r.order_id: r.status for r in then} == statuses
    at = before.committed_at.strftime("%Y-%m-%d %H:%M:%S.%f")
    assert spark.sql(f"SELECT count(*) AS n FROM {table} TIMESTAMP AS OF '{at}'").first().n == len(statuses)
    assert spark.sql(f"SELECT count(*) AS n FROM {table}").first().n != len(statuses)


def large(seed: int) -> str:
    """Incompressible text far beyond the TOAST threshold (~2 kB): Postgres stores it out of line."""
    return random.Random(seed).randbytes(5000).hex()


def test_large_values_an_update_left_untouched_keep_their_value(replicator, job, source, lake_settings) -> None:
    """Postgres does not resend a TOASTed value an update leaves alone; silver must not write NULL."""

    def new_product(seed: int) -> int:
        return source.execute(
            "INSERT INTO shop.products (sku, name, category, price, tags, attributes)"
            " VALUES (%s, 'big', 'toys', 10, %s, %s) RETURNING product_id",
            (f"BIG-{seed}", [large(seed), "small"], json.dumps({"blob": large(seed + 1)})),
        ).fetchone()[0]

    kept, rewritten, rekeyed = new_product(1), new_product(3), new_product(5)
    source.commit()
    replicator.run_once()
    job.run()
    late = new_product(7)  # inserted and updated within one backlog
    source.execute("UPDATE shop.products SET price = 11 WHERE product_id IN (%s, %s)", (kept, late))
    source.execute("UPDATE shop.products SET attributes = %s WHERE product_id = %s", ('{"blob": "x"}', rewritten))
    source.commit()
    source.execute("UPDATE shop.products SET price = 12 WHERE product_id = %s", (rewritten,))
    source.execute("UPDATE shop.products SET product_id = 900100 WHERE product_id = %s", (rekeyed,))
    source.commit()
    source.execute("UPDATE shop.products SET price = 13 WHERE product_id = 900100")  # untouched since the key change
    source.execute("UPDATE shop.products SET product_id = 900101 WHERE product_id = %s", (late,))
    source.commit()
    replicator.run_once()
    result = next(iter(job.run(["products"])))
    assert result.quarantined == {}
    assert_silver_equals_source(lake_settings, source, ["products"])
    assert silver_rows(lake_settings, "products", "product_id")[900100]["tags"][0] == large(5)


def test_an_untouched_value_no_earlier_version_holds_is_quarantined(replicator, job, source, lake_settings) -> None:
    replicator.run_once()
    job.run()
    template = replicator.raw.read_table("products")
    row = {**template.slice(0, 1).to_pylist()[0], "product_id": 900200, "attributes": None}
    _raw_batch(replicator, "products", [{**row, "_unchanged": ["attributes"]}], template.schema, op="update")
    result = next(iter(job.run(["products"])))
    assert result.quarantined == {"unknown_unchanged_value": 1}
    assert 900200 not in silver_rows(lake_settings, "products", "product_id")


def test_a_table_copied_anew_replaces_only_its_silver_table(replicator, job, source, lake_settings) -> None:
    replicator.run_once()
    job.run()
    source.execute("ALTER TABLE shop.products ADD COLUMN origin text NOT NULL DEFAULT 'unknown'")
    tick(source, orders=10, seed=22, at=TICK_AT)
    source.commit()
    replicator.run_once()
    modes = {r.table: r.mode for r in job.run()}
    assert modes["products"] == "replace" and modes["orders"] == "merge"
    assert_silver_equals_source(lake_settings, source)
    assert {r["origin"] for r in silver_rows(lake_settings, "products", "product_id").values()} == {"unknown"}


def test_a_value_the_raw_zone_keeps_as_text_quarantines_its_row(replicator, job, source, lake_settings) -> None:
    replicator.run_once()
    job.run()
    order_id, product_id = (source.execute(f"SELECT min({k}) FROM shop.{t}").fetchone()[0] for t, k in
                            (("orders", "order_id"), ("products", "product_id")))  # fmt: skip
    before = silver_rows(lake_settings, "orders", "order_id")[order_id]
    source.execute("UPDATE shop.orders SET ordered_at = 'infinity' WHERE order_id = %s", (order_id,))
    source.execute("UPDATE shop.products SET price = 'NaN' WHERE product_id = %s", (product_id,))  # price >= 0 holds
    source.commit()
    replicator.run_once()
    results = {r.table: r for r in job.run(["orders", "products"])}
    assert results["orders"].quarantined == results["products"].quarantined == {"unrepresentable_value": 1}
    assert silver_rows(lake_settings, "orders", "order_id")[order_id] == before  # its last good version stays


def _order_before_the_plausible_range(source) -> tuple[int, int, int]:
    """An order silver quarantines (impossible_ordered_at), with a line and a payment beside it,
    which wait in quarantine for their order (unknown_order_id). Returns their ids."""
    order, line = order_with_line(source, "1999-12-31 23:00:00+00")
    payment = source.execute(
        "INSERT INTO shop.payments (order_id, method, amount, status, attempted_at)"
        " VALUES (%s, 'card', 5, 'captured', '2020-01-01 00:00:00.123456+00') RETURNING payment_id",
        (order,),
    ).fetchone()[0]
    source.commit()
    return order, line, payment


def _states(settings, table: str) -> dict[str, list[str]]:
    records = iceberg_catalog(settings).load_table(f"{settings.lakehouse.quarantine_namespace}.{table}").scan()
    states: dict[str, list[str]] = {}
    for record in records.to_arrow().to_pylist():
        states.setdefault(record["rule"], []).append(record["state"])
    return states


def test_rows_waiting_for_their_order_enter_silver_once_the_order_does(replicator, job, source, lake_settings) -> None:
    """The line and the payment wait in quarantine; the source then corrects the order's time:
    the order reaches silver, and its line and payment, which the source never changed again,
    follow in the same run, every cell exact (microseconds included)."""
    replicator.run_once()
    job.run()
    order, line, payment = _order_before_the_plausible_range(source)
    replicator.run_once()
    first = {r.table: r for r in job.run(["orders", "order_items", "payments"])}
    assert {t: r.quarantined for t, r in first.items()} == {
        "orders": {"impossible_ordered_at": 1},
        "order_items": {"unknown_order_id": 1},
        "payments": {"unknown_order_id": 1},
    }
    assert _states(lake_settings, "order_items") == {"unknown_order_id": ["waiting"]}
    assert next(iter(job.run(["order_items"]))).reentered == 0  # still no order: it waits, counted once
    source.execute("UPDATE shop.orders SET ordered_at = '2020-01-01 00:00:00+00' WHERE order_id = %s", (order,))
    source.commit()
    replicator.run_once()
    second = {r.table: r for r in job.run(["orders", "order_items", "payments"])}
    assert {t: (r.quarantined, r.reentered) for t, r in second.items()} == {
        "orders": ({}, 0),
        "order_items": ({}, 1),
        "payments": ({}, 1),
    }
    assert line in silver_rows(lake_settings, "order_items", "order_item_id")
    assert payment in silver_rows(lake_settings, "payments", "payment_id")
    assert_silver_equals_source(lake_settings, source, ["orders", "order_items", "payments"])
    assert _states(lake_settings, "payments") == {"unknown_order_id": ["entered_silver"]}
    assert next(iter(job.run(["payments"]))).mode == "up to date"  # nothing waits any more


def test_a_waiting_row_changed_again_at_the_source_never_comes_back(replicator, job, source, lake_settings) -> None:
    """A waiting line moved to another order reaches silver; the old version is superseded and
    stays out when its first order is corrected later. So is one deleted at the source."""
    replicator.run_once()
    job.run()
    order, line, payment = _order_before_the_plausible_range(source)
    replicator.run_once()
    job.run(["orders", "order_items", "payments"])
    other = source.execute("SELECT min(order_id) FROM shop.orders").fetchone()[0]
    source.execute("UPDATE shop.order_items SET order_id = %s, quantity = 3 WHERE order_item_id = %s", (other, line))
    source.execute("DELETE FROM shop.payments WHERE payment_id = %s", (payment,))
    source.commit()
    replicator.run_once()
    job.run(["orders", "order_items", "payments"])
    assert (
        _states(lake_settings, "order_items")
        == _states(lake_settings, "payments")
        == {"unknown_order_id": ["superseded"]}
    )
    source.execute("UPDATE shop.orders SET ordered_at = '2020-01-01 00:00:00+00' WHERE order_id = %s", (order,))
    source.commit()
    replicator.run_once()
    results = {r.table: r.reentered for r in job.run(["orders", "order_items", "payments"])}
    assert results == {"orders": 0, "order_items": 0, "payments": 0}
    assert silver_rows(lake_settings, "order_items", "order_item_id")[line]["quantity"] == 3
    assert payment not in silver_rows(lake_settings, "payments", "payment_id")
    assert_silver_equals_source(lake_settings, source, ["orders", "order_items", "payments"])


def test_an_order_too_far_ahead_enters_silver_once_the_clock_catches_up(
    replicator, job, source, lake_settings, spark
) -> None:
    """More than a day ahead is implausible today, plausible tomorrow: the order waits in
    quarantine, its line beside it, and both enter silver with no change at the source."""
    from services.lakehouse.silver import SilverJob

    replicator.run_once()
    job.run()
    today = datetime.now(UTC)
    order_with_line(source, today + timedelta(days=1, hours=1))
    source.commit()
    replicator.run_once()
    first = {r.table: r.quarantined for r in job.run(["orders", "order_items"])}
    assert first == {"orders": {"impossible_ordered_at": 1}, "order_items": {"unknown_order_id": 1}}
    tomorrow = SilverJob(spark, lake_settings, database=source.info.dbname, clock=lambda: today + timedelta(days=1))
    second = {r.table: r.reentered for r in tomorrow.run(["orders", "order_items"])}
    assert second == {"orders": 1, "order_items": 1}
    assert_silver_equals_source(lake_settings, source, ["orders", "order_items"])


def test_a_waiting_update_keeps_the_value_silver_holds_of_a_column_the_source_dropped(
    replicator, job, source, lake_settings
) -> None:
    """An update waits for its order after the source dropped one of its table's columns; when
    it enters silver on its own (no newer raw batch of its table), the dropped column keeps the
    value silver holds, as an update that never waited does, and is not written as NULL."""
    replicator.run_once()
    job.run()
    line = source.execute("SELECT min(order_item_id) FROM shop.order_items").fetchone()[0]
    source.execute("ALTER TABLE shop.order_items ADD COLUMN gift_note text")
    source.execute("UPDATE shop.order_items SET gift_note = 'wrapped' WHERE order_item_id = %s", (line,))
    source.commit()
    replicator.run_once()
    job.run(["orders", "order_items"])
    source.execute("ALTER TABLE shop.order_items DROP COLUMN gift_note")
    order, _ = order_with_line(source, "1999-12-31 23:00:00+00")  # quarantined: its lines wait for it
    source.execute("UPDATE shop.order_items SET order_id = %s, quantity = 7 WHERE order_item_id = %s", (order, line))
    source.commit()
    replicator.run_once()
    waits = {r.table: r.quarantined for r in job.run(["orders", "order_items"])}
    assert waits == {"orders": {"impossible_ordered_at": 1}, "order_items": {"unknown_order_id": 2}}
    source.execute("UPDATE shop.orders SET ordered_at = '2020-01-01 00:00:00+00' WHERE order_id = %s", (order,))
    source.commit()
    replicator.run_once()
    assert not replicator.raw.manifests()[-1].tables.get("order_items")  # the lines enter on their own
    entered = {r.table: r.reentered for r in job.run(["orders", "order_items"])}
    assert entered == {"orders": 0, "order_items": 2}
    row = silver_rows(lake_settings, "order_items", "order_item_id")[line]
    assert (row["order_id"], row["quantity"], row["gift_note"]) == (order, 7, "wrapped")
