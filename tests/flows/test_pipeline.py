"""The `pipeline` flow end to end on the real local services, then what the orchestrator promises:
reconciliation passes, marts equal an independent computation from the source, a failing
dbt test fails the flow run with its reason, deployments carry the seeds' schedules.

The flow runs once per module (it takes a few minutes); the tests read what it left.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections import defaultdict
from contextlib import contextmanager
from datetime import UTC
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from prefect.client.orchestration import get_client
from psycopg import sql

from services.platform.catalog import iceberg_catalog
from services.platform.clients import Role, postgres_connect, s3_client
from services.replication.raw_zone import RawZone
from services.source.chaos import shapes as change_shapes
from services.warehouse.export import read_mart
from tests.cli import sandbox
from tests.exotic_types import EXOTIC, ODD_NAMES, change_exotic_table, exotic_rows_as_text, publish_exotic_table
from tests.fixed_time import TICK_AT
from tests.shop_rows import order_with_line

ORDERS, SEED = 300, 7


@pytest.fixture(scope="module")
def pipeline_run(settings, services, spark):
    from flows.pipeline import pipeline

    state = pipeline(orders=ORDERS, seed=SEED, tick_orders=20, stream_seconds=5, stream_rate=200, return_state=True)
    assert state.is_completed(), state.message
    return state.result()


@pytest.fixture
def source(settings):
    with postgres_connect(settings, settings.postgres.source_db, Role.APP) as conn:
        yield conn


@pytest.fixture
def warehouse(settings):
    with postgres_connect(settings, settings.postgres.warehouse_db, Role.DBT, autocommit=True) as conn:
        yield conn


def test_pipeline_reconciles_every_hop(pipeline_run) -> None:
    # 6 tables x 4 hops + the clickstream check + 2 incremental models, all equal (the flow fails otherwise)
    assert pipeline_run["checks"] == 27
    stages = set(pipeline_run["stages"])
    assert stages >= {"replicate", "silver", "stream (beside replicate and silver)", "warehouse load", "reconcile"}


def test_reconcile_names_the_hop_that_differs(pipeline_run, warehouse, settings) -> None:
    passed = sandbox("reconcile")
    assert passed.returncode == 0, passed.stderr
    assert "DIFFERS" not in passed.stderr and "orders" in passed.stderr

    lake = settings.warehouse.lake_schema
    order_id = warehouse.execute(f"SELECT max(order_id) FROM {lake}.orders").fetchone()[0]
    saved = warehouse.execute(f"SELECT * FROM {lake}.orders WHERE order_id = %s", (order_id,)).fetchone()
    warehouse.execute(f"DELETE FROM {lake}.orders WHERE order_id = %s", (order_id,))
    try:
        failed = sandbox("reconcile", "--no-stream")
    finally:
        placeholders = ", ".join(["%s"] * len(saved))
        warehouse.execute(f"INSERT INTO {lake}.orders VALUES ({placeholders})", saved)
    assert failed.returncode == 1
    # the lake table and dbt's staging view over it both lack the row; every other hop agrees
    assert "2 of 24 reconciliation checks differ" in failed.stderr
    assert "- orders at warehouse: " in failed.stderr and "- orders at marts input: " in failed.stderr
    assert f"order_id={order_id}: missing" in failed.stderr


@contextmanager
def _raw_cell_changed(settings, table: str, key: str, value: object, column: str, wrong: object):
    """One cell of the raw zone's snapshot file of `table` changed, then the file put back."""
    s3, bucket = s3_client(settings), settings.s3.raw_bucket
    snapshot = next(m for m in RawZone(s3, bucket, settings.postgres.source_db).manifests() if m.kind == "snapshot")
    path = snapshot.tables[table].files[0]
    original = s3.get_object(Bucket=bucket, Key=path)["Body"].read()
    rows = pq.read_table(io.BytesIO(original))
    at = rows.column_names.index(column)
    changed = pc.if_else(
        pc.equal(rows.column(key), value), pa.scalar(wrong, rows.schema.field(column).type), rows.column(column)
    )
    buffer = io.BytesIO()
    pq.write_table(rows.set_column(at, column, changed), buffer)
    s3.put_object(Bucket=bucket, Key=path, Body=buffer.getvalue())
    try:
        yield
    finally:
        s3.put_object(Bucket=bucket, Key=path, Body=original)


def test_one_wrong_cell_is_named_at_every_hop(pipeline_run, warehouse, settings, spark) -> None:
    """A cell changed in raw, silver, the lake, dbt's staging and an incremental mart: reconciliation
    names that hop, key and column, and only that hop."""
    from services.reconciliation.checks import ReconciliationError
    from services.reconciliation.reconcile import reconcile
    from services.warehouse.stage import load_lake

    lake, marts = settings.warehouse.lake_schema, settings.warehouse.marts_schema
    order_id, status = warehouse.execute(
        f"SELECT order_id, status FROM {lake}.orders WHERE order_id = (SELECT min(order_id) FROM {lake}.orders)"
    ).fetchone()
    silver = f"{settings.lakehouse.silver_namespace}.orders"
    view = warehouse.execute("SELECT pg_get_viewdef('staging.stg_shop__orders'::regclass)").fetchone()[0]

    def differing(**kwargs) -> list[str]:
        with pytest.raises(ReconciliationError) as failure:
            reconcile(settings, stream=False, tables=["orders"], **kwargs)
        return [f"{c.hop}: {' | '.join(c.differences)}" for c in failure.value.checks if not c.ok]

    def wrong(hop: str, column: str = "status") -> list[str]:
        return [f"{hop}: order_id={order_id}: {column} is 'lost', expected '{status}'"]

    with _raw_cell_changed(settings, "orders", "order_id", order_id, "status", "lost"):
        assert differing() == wrong("raw")
    spark.sql(f"UPDATE {silver} SET status = 'lost' WHERE order_id = {order_id}")
    try:
        assert differing() == wrong("silver")
    finally:
        spark.sql(f"UPDATE {silver} SET status = '{status}' WHERE order_id = {order_id}")
        load_lake(settings)  # takes in silver's two new snapshots (the same rows: nothing written)
    warehouse.execute(f"UPDATE {lake}.orders SET status = 'lost' WHERE order_id = %s", (order_id,))
    try:  # the staging view reads the lake table: both hops show it
        assert differing() == wrong("warehouse") + wrong("marts input")
    finally:
        warehouse.execute(f"UPDATE {lake}.orders SET status = %s WHERE order_id = %s", (status, order_id))
    wrong_view = view.replace(
        "status AS order_status", f"CASE WHEN order_id = {order_id} THEN 'lost' ELSE status END AS order_status"
    )
    warehouse.execute(f"CREATE OR REPLACE VIEW staging.stg_shop__orders AS {wrong_view}")
    try:
        assert differing() == wrong("marts input")
    finally:
        warehouse.execute(f"CREATE OR REPLACE VIEW staging.stg_shop__orders AS {view}")
    net = warehouse.execute(f"SELECT net_amount FROM {marts}.fct_orders WHERE order_id = %s", (order_id,)).fetchone()[0]
    warehouse.execute(
        "UPDATE intermediate.int_orders__joined_items_payments SET net_amount = net_amount + 1 WHERE order_id = %s",
        (order_id,),
    )
    try:
        [mart] = [line for line in differing(marts=True) if line.startswith("marts")]
    finally:
        warehouse.execute(
            "UPDATE intermediate.int_orders__joined_items_payments SET net_amount = %s WHERE order_id = %s",
            (net, order_id),
        )
    assert mart == (
        f"marts (incremental vs from scratch): order_id={order_id}: net_amount is '{net + 1}', expected '{net}'"
    )
    reconcile(settings, stream=False, tables=["orders"], marts=True)  # all put back


def _revenue_orders(source) -> dict[int, tuple]:
    """order_id -> (customer_id, UTC order date, net amount) for orders that are not cancelled."""
    rows = source.execute(
        "SELECT o.order_id, o.customer_id, o.ordered_at, coalesce(sum(i.quantity * i.unit_price - i.discount), 0)"
        " FROM shop.orders o LEFT JOIN shop.order_items i USING (order_id) WHERE o.status <> 'cancelled'"
        " GROUP BY o.order_id"
    ).fetchall()
    return {r[0]: (r[1], r[2].astimezone(UTC).date(), r[3]) for r in rows}


def test_daily_revenue_and_lifetime_value_equal_a_recomputation(pipeline_run, source, warehouse, settings) -> None:
    orders = _revenue_orders(source)
    daily: dict[object, Decimal] = defaultdict(Decimal)
    lifetime: dict[int, Decimal] = defaultdict(Decimal)
    for customer, day, amount in orders.values():
        daily[day] += amount
        lifetime[customer] += amount
    marts = settings.warehouse.marts_schema
    got_daily = dict(warehouse.execute(f"SELECT order_date, revenue FROM {marts}.mart_daily_revenue").fetchall())
    assert {d: v for d, v in got_daily.items() if v} == {d: v for d, v in daily.items() if v}
    got_ltv = dict(
        warehouse.execute(f"SELECT customer_id, lifetime_revenue FROM {marts}.mart_customer_lifetime_value").fetchall()
    )
    assert {c: v for c, v in got_ltv.items() if v} == {c: v for c, v in lifetime.items() if v}


def test_payment_failure_rates_equal_a_recomputation(pipeline_run, source, warehouse, settings) -> None:
    counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for method, attempted_at, status in source.execute("SELECT method, attempted_at, status FROM shop.payments"):
        cell = counts[(attempted_at.astimezone(UTC).date(), method)]
        cell[0] += 1
        cell[1] += status == "failed"
    got = warehouse.execute(
        f"SELECT attempt_date, payment_method, attempts, failures FROM {settings.warehouse.marts_schema}"
        ".mart_payment_failure_rates"
    ).fetchall()
    assert {(d, m): [a, f] for d, m, a, f in got} == dict(counts)


def test_exported_parquet_equals_the_marts(pipeline_run, warehouse, settings) -> None:
    s3, bucket = s3_client(settings), settings.s3.final_bucket
    for mart in ("fct_orders", "mart_daily_revenue", "mart_customer_cohorts"):
        table = read_mart(warehouse, settings.warehouse.marts_schema, mart)
        body = s3.get_object(Bucket=bucket, Key=f"{mart}/{mart}.parquet")["Body"].read()
        exported = pq.read_table(io.BytesIO(body))
        assert exported.num_rows == table.num_rows > 0
        assert exported.sort_by(table.column_names[0]).equals(table.sort_by(table.column_names[0]))
        gold = iceberg_catalog(settings).load_table(f"{settings.warehouse.gold_namespace}.{mart}").scan().to_arrow()
        assert gold.num_rows == table.num_rows


def test_a_failing_dbt_test_fails_the_flow_run_with_its_reason(pipeline_run, warehouse, settings) -> None:
    from flows.stages import transform

    lake = settings.warehouse.lake_schema
    order_id = warehouse.execute(f"SELECT min(order_id) FROM {lake}.orders").fetchone()[0]
    status = warehouse.execute(f"SELECT status FROM {lake}.orders WHERE order_id = %s", (order_id,)).fetchone()[0]
    warehouse.execute(f"UPDATE {lake}.orders SET status = 'teleported' WHERE order_id = %s", (order_id,))
    try:
        state = transform(select=["stg_shop__orders"], return_state=True)
    finally:
        warehouse.execute(f"UPDATE {lake}.orders SET status = %s WHERE order_id = %s", (status, order_id))
    assert state.is_failed()
    with pytest.raises(Exception, match="accepted_values_stg_shop__orders_order_status") as failure:
        state.result()
    assert "teleported" in str(failure.value)  # the failing row is shown, not just counted


def test_deployments_carry_the_seed_schedules(settings, services) -> None:
    from flows.deployments import DEPLOYMENTS, deploy_all

    deploy_all(settings)

    async def schedules() -> dict[str, list[str]]:
        async with get_client() as client:
            found = {}
            for spec in DEPLOYMENTS:
                deployment = await client.read_deployment_by_name(f"{spec.flow}/sandbox")
                found[spec.flow] = [s.schedule.cron for s in deployment.schedules]
                assert deployment.work_pool_name == settings.prefect.work_pool
                assert deployment.paused is not settings.prefect.schedules_active  # tests: paused
            return found

    assert asyncio.run(schedules()) == {
        "generate": ["0 */2 * * *"],
        "replicate": ["0 1 * * *"],
        "lakehouse": ["30 1 * * *"],
        "transform": ["0 2 * * *"],
        "maintain": ["0 3 * * 0"],
        "stream": [],
        "pipeline": [],
    }


def test_deploying_creates_a_missing_work_pool_once(settings, services) -> None:
    """The compose profile registers the deployments before its worker has made the pool."""
    import uuid

    from flows.deployments import _ensure_work_pool

    name = f"test-pool-{uuid.uuid4().hex[:8]}"
    _ensure_work_pool(name)
    _ensure_work_pool(name)  # the second call finds it
    with get_client(sync_client=True) as client:
        assert client.read_work_pool(name).type == "process"
        assert [p.name for p in client.read_work_pools()].count(name) == 1
        client.delete_work_pool(name)


def test_sandbox_run_executes_a_deployment_on_the_worker(pipeline_run, source, settings) -> None:
    from flows.deployments import deploy_all

    deploy_all(settings)
    before = source.execute("SELECT count(*) FROM shop.orders").fetchone()[0]
    done = sandbox("run", "generate", "--param", "orders=5", "--param", "seed=99")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "generate completed" in done.stderr
    source.commit()
    assert source.execute("SELECT count(*) FROM shop.orders").fetchone()[0] > before
    unknown = sandbox("run", "nope")
    assert unknown.returncode != 0 and "unknown flow 'nope'" in unknown.stderr


def test_the_customer_snapshot_keeps_history(pipeline_run, warehouse, settings) -> None:
    """dbt's SCD2 snapshot: a changed customer gets a closed old version and a current new one."""
    from services.warehouse.stage import build_models

    lake = settings.warehouse.lake_schema
    customer_id, email, updated_at = warehouse.execute(
        f"SELECT customer_id, email, updated_at FROM {lake}.customers LIMIT 1"
    ).fetchone()
    warehouse.execute(
        f"UPDATE {lake}.customers SET email = 'moved@example.org', updated_at = now() WHERE customer_id = %s",
        (customer_id,),
    )
    try:
        build_models(settings, ["customers_snapshot"])
    finally:  # the lake as the loader left it, for the tests after this one
        warehouse.execute(
            f"UPDATE {lake}.customers SET email = %s, updated_at = %s WHERE customer_id = %s",
            (email, updated_at, customer_id),
        )
    versions = warehouse.execute(
        "SELECT email, dbt_valid_to IS NULL FROM snapshots.customers_snapshot WHERE customer_id = %s"
        " ORDER BY dbt_valid_from",
        (customer_id,),
    ).fetchall()
    assert versions == [(email, False), ("moved@example.org", True)]


def test_incremental_models_after_a_tick_equal_a_full_rebuild(pipeline_run, source, warehouse, settings) -> None:
    """A tick's inserts, updates and hard deletes through the incremental models give the rows
    a whole rebuild gives, and only the changed rows were rebuilt."""
    from flows.stages import lakehouse, replicate
    from services.source.tick import tick
    from services.warehouse.dbt import dbt
    from services.warehouse.stage import load_lake

    before_tick = source.execute("SELECT clock_timestamp()").fetchone()[0]
    changes = tick(source, orders=40, seed=11, at=TICK_AT)
    # and what renumbers a customer's orders besides inserts and deletes: an order moved to
    # another customer (as its first order) and an order re-timed before its customer's first
    # (of customers the tick left alone, so nothing else renumbers them)
    repeaters = (
        "SELECT customer_id FROM shop.orders GROUP BY customer_id"
        " HAVING count(*) > 1 AND max(updated_at) < %s ORDER BY 1 LIMIT 3"
    )
    first, second, third = (row[0] for row in source.execute(repeaters, (before_tick,)).fetchall())
    source.execute(
        "UPDATE shop.orders SET customer_id = %s, ordered_at = ordered_at - interval '5 years'"
        " WHERE order_id = (SELECT max(order_id) FROM shop.orders WHERE customer_id = %s)",
        (second, first),
    )
    source.execute(
        "UPDATE shop.orders SET ordered_at = ordered_at - interval '5 years'"
        " WHERE order_id = (SELECT max(order_id) FROM shop.orders WHERE customer_id = %s)",
        (third,),
    )
    source.commit()
    assert changes.inserted["orders"] and changes.updated["orders"] and changes.deleted["orders"]
    replicate()
    lakehouse()
    load_lake(settings)
    models = {
        "int_orders__joined_items_payments": "intermediate.int_orders__joined_items_payments ORDER BY order_id",
        "fct_order_items": f"{settings.warehouse.marts_schema}.fct_order_items ORDER BY order_item_id",
    }

    def contents() -> dict[str, list[tuple]]:
        return {name: warehouse.execute(f"SELECT * FROM {table}").fetchall() for name, table in models.items()}

    incremental = dbt(settings, "build")
    assert incremental.success, incremental.error()
    after_tick = contents()
    rebuilt = {r.name: r.rows_affected for r in incremental.results if r.resource_type == "model"}
    for name in models:
        assert 0 < rebuilt[name] < len(after_tick[name]), (name, rebuilt[name])

    # a run with nothing new rewrites nothing
    again = dbt(settings, "build", "--select", *models)
    assert again.success, again.error()
    assert {r.name: r.rows_affected for r in again.results if r.name in models} == {name: 0 for name in models}
    assert contents() == after_tick

    whole = dbt(settings, "build", "--full-refresh")
    assert whole.success, whole.error()
    assert contents() == after_tick


def _order_facts_from_source(source, order_ids: list[int]) -> dict[int, tuple]:
    """order_id -> (lines, net amount, payment attempts, captured amount), straight from the source."""
    rows = source.execute(
        "SELECT o.order_id,"
        " (SELECT count(*) FROM shop.order_items i WHERE i.order_id = o.order_id),"
        " (SELECT coalesce(sum(i.quantity * i.unit_price - i.discount), 0) FROM shop.order_items i"
        "   WHERE i.order_id = o.order_id),"
        " (SELECT count(*) FROM shop.payments p WHERE p.order_id = o.order_id),"
        " (SELECT coalesce(sum(p.amount) FILTER (WHERE p.status = 'captured'), 0) FROM shop.payments p"
        "   WHERE p.order_id = o.order_id)"
        " FROM shop.orders o WHERE o.order_id = ANY(%s)",
        (order_ids,),
    ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def test_lone_child_changes_and_extreme_values_reach_the_order_facts(pipeline_run, source, warehouse, settings):
    """Changes a tick never makes, through the incremental models: a line deleted on its own, a
    payment deleted on its own, a line moved to another order, a line at its columns' limits,
    a line whose discount exceeds its amount (quarantined). dbt builds, and every order's facts
    equal the source's, as a whole rebuild's do."""
    from flows.stages import lakehouse, replicate
    from services.warehouse.dbt import dbt
    from services.warehouse.stage import build_models, load_lake

    busy = source.execute(
        "SELECT o.order_id FROM shop.orders o WHERE (SELECT count(*) FROM shop.order_items i"
        " WHERE i.order_id = o.order_id) >= 2 AND EXISTS (SELECT FROM shop.payments p WHERE p.order_id = o.order_id)"
        " ORDER BY o.order_id LIMIT 6"
    ).fetchall()
    lone_line, lone_payment, moved_from, moved_to, extreme, bad = (row[0] for row in busy)
    first_line = "(SELECT min(order_item_id) FROM shop.order_items WHERE order_id = %s)"
    source.execute(f"DELETE FROM shop.order_items WHERE order_item_id = {first_line}", (lone_line,))
    source.execute(
        "DELETE FROM shop.payments WHERE payment_id = (SELECT min(payment_id) FROM shop.payments WHERE order_id = %s)",
        (lone_payment,),
    )
    source.execute(
        f"UPDATE shop.order_items SET order_id = %s WHERE order_item_id = {first_line}", (moved_to, moved_from)
    )
    source.execute(
        "UPDATE shop.order_items SET quantity = 2147483647, unit_price = 99999999.99, discount = 0"
        f" WHERE order_item_id = {first_line}",
        (extreme,),
    )
    before_bad = _order_facts_from_source(source, [bad])
    source.execute(
        f"UPDATE shop.order_items SET discount = quantity * unit_price + 1 WHERE order_item_id = {first_line}", (bad,)
    )
    source.commit()
    replicate()
    lakehouse()
    load_lake(settings)
    build_models(settings)  # raises on any failing model or test

    changed = [lone_line, lone_payment, moved_from, moved_to, extreme]
    facts = {
        row[0]: tuple(row[1:])
        for row in warehouse.execute(
            f"SELECT order_id, item_count, net_amount, payment_attempts, captured_amount"
            f" FROM {settings.warehouse.marts_schema}.fct_orders WHERE order_id = ANY(%s)",
            ([*changed, bad],),
        )
    }
    assert {k: facts[k] for k in changed} == _order_facts_from_source(source, changed)
    assert facts[extreme][1] >= 2147483647 * Decimal("99999999.99")  # the line alone: 2^31 - 1 units at the top price
    assert facts[bad] == before_bad[bad]  # the line's new version sits in quarantine; its last good one counts
    rules = (
        iceberg_catalog(settings)
        .load_table(f"{settings.lakehouse.quarantine_namespace}.order_items")
        .scan(selected_fields=("rule",))
        .to_arrow()
        .column("rule")
        .to_pylist()
    )
    assert "discount_exceeds_line_amount" in rules

    tables = {
        "int_orders__joined_items_payments": "intermediate.int_orders__joined_items_payments ORDER BY order_id",
        "fct_order_items": f"{settings.warehouse.marts_schema}.fct_order_items ORDER BY order_item_id",
    }
    incremental = {name: warehouse.execute(f"SELECT * FROM {table}").fetchall() for name, table in tables.items()}
    whole = dbt(settings, "build", "--full-refresh")
    assert whole.success, whole.error()
    assert {
        name: warehouse.execute(f"SELECT * FROM {table}").fetchall() for name, table in tables.items()
    } == incremental


def test_a_line_waiting_for_its_order_reaches_the_marts_once_the_order_does(
    pipeline_run, source, warehouse, settings
) -> None:
    """An order placed before the plausible range is quarantined, and the line beside it waits for
    it. Reconcile leaves both keys out; once the source corrects the order's time, both reach the
    marts (the line never changed again) and reconcile compares them like any other row."""
    from flows.stages import lakehouse, replicate
    from services.reconciliation.reconcile import reconcile
    from services.warehouse.stage import build_models, load_lake

    order, _ = order_with_line(source, "1999-12-31 23:00:00+00", quantity=2, unit_price="7.5")
    source.commit()

    def left_out() -> dict[str, int]:
        """Per table, the keys reconcile leaves out (their newest change sits in quarantine)."""
        replicate()
        lakehouse()
        load_lake(settings)
        build_models(settings)
        checks = reconcile(settings, stream=False, tables=["orders", "order_items"])
        return {
            c.table: int(re.match(r"[\d,]*", c.note).group().replace(",", "") or 0) for c in checks if c.hop == "silver"
        }

    waiting = left_out()
    source.execute("UPDATE shop.orders SET ordered_at = '2020-01-01 00:00:00+00' WHERE order_id = %s", (order,))
    source.commit()
    assert left_out() == {"orders": waiting["orders"] - 1, "order_items": waiting["order_items"] - 1}
    facts = warehouse.execute(
        f"SELECT order_id, item_count, net_amount, payment_attempts, captured_amount"
        f" FROM {settings.warehouse.marts_schema}.fct_orders WHERE order_id = %s",
        (order,),
    ).fetchall()
    assert {row[0]: tuple(row[1:]) for row in facts} == _order_facts_from_source(source, [order])


def test_a_table_added_to_the_publication_flows_end_to_end(pipeline_run, source, warehouse, settings) -> None:
    """No code change: its default design comes from the catalog (here a composite text key)."""
    from flows.stages import lakehouse, replicate
    from services.reconciliation.reconcile import reconcile
    from services.warehouse.stage import load_lake

    source.execute(
        "CREATE TABLE shop.gift_cards (code text, region int, balance numeric(8, 2), note text,"
        " PRIMARY KEY (code, region))"
    )
    source.execute("INSERT INTO shop.gift_cards VALUES ('A', 1, 10, NULL), ('A', 2, 20, ''), ('Ü', 1, 0, 'x')")
    source.execute("ALTER PUBLICATION shop_cdc ADD TABLE shop.gift_cards")
    source.commit()
    replicate()
    source.execute("UPDATE shop.gift_cards SET balance = 5 WHERE code = 'A' AND region = 1")
    source.execute("DELETE FROM shop.gift_cards WHERE code = 'Ü'")
    source.execute("INSERT INTO shop.gift_cards VALUES ('B', 3, 30, 'late')")
    source.commit()
    replicate()
    lakehouse()
    load_lake(settings)
    checks = reconcile(settings, stream=False, tables=["gift_cards"])
    assert [(c.hop, c.got.rows) for c in checks] == [("raw", 3), ("silver", 3), ("warehouse", 3)]
    lake = settings.warehouse.lake_schema
    assert warehouse.execute(f"SELECT code, region, balance FROM {lake}.gift_cards ORDER BY 1, 2").fetchall() == [
        ("A", 1, Decimal("5.00")),
        ("A", 2, Decimal("20.00")),
        ("B", 3, Decimal("30.00")),
    ]


def test_any_column_name_flows_to_every_hop(pipeline_run, source, warehouse, settings) -> None:
    """Column names like the pipeline's own, with dots, quotes, backticks, case twins and unicode,
    keyed by `_id`: every hop holds them under the source's names, reconciled cell by cell."""
    from flows.stages import lakehouse, replicate
    from services.reconciliation.reconcile import reconcile
    from services.warehouse.stage import load_lake

    names = [sql.Identifier(name).as_string(source) for name in ODD_NAMES]
    source.execute(f'CREATE TABLE shop.odd_names ("_id" int PRIMARY KEY, {", ".join(n + " text" for n in names)})')
    source.execute("ALTER PUBLICATION shop_cdc ADD TABLE shop.odd_names")
    values = [f"{name}?" for name in ODD_NAMES]
    source.execute(f"INSERT INTO shop.odd_names VALUES (1, {', '.join(['%s'] * len(values))})", values)
    source.commit()
    replicate()
    source.execute(f'INSERT INTO shop.odd_names ("_id", {names[0]}) VALUES (2, %s)', ("x",))
    source.execute('UPDATE shop.odd_names SET "Name" = NULL, "a.b" = \'b\' WHERE "_id" = 1')
    source.commit()
    replicate()
    lakehouse()
    load_lake(settings)
    checks = reconcile(settings, stream=False, tables=["odd_names"])
    assert [(c.hop, c.got.rows) for c in checks] == [("raw", 2), ("silver", 2), ("warehouse", 2)]

    def rows(conn, schema: str) -> list[tuple]:
        columns = sql.SQL(", ").join(map(sql.Identifier, ["_id", *ODD_NAMES]))
        table = sql.Identifier(schema, "odd_names")
        return conn.execute(sql.SQL("SELECT {} FROM {} ORDER BY 1").format(columns, table)).fetchall()

    assert rows(warehouse, settings.warehouse.lake_schema) == rows(source, "shop")


def test_types_without_an_arrow_type_flow_as_their_text_to_every_hop(pipeline_run, source, warehouse, settings) -> None:
    """Enums, domains, interval, money, network, range, geometric and composite values, and arrays
    of them, reach raw, silver and the warehouse as the text Postgres prints, reconciled cell by cell."""
    from flows.stages import lakehouse, replicate
    from services.reconciliation.reconcile import reconcile
    from services.warehouse.stage import load_lake

    publish_exotic_table(source)
    replicate()
    change_exotic_table(source)
    source.commit()
    replicate()
    lakehouse()
    load_lake(settings)
    checks = reconcile(settings, stream=False, tables=["exotic"])
    assert [(c.hop, c.got.rows) for c in checks] == [("raw", 3), ("silver", 3), ("warehouse", 3)]
    lake = settings.warehouse.lake_schema
    columns = ", ".join(["id", *EXOTIC])
    held = {row[0]: row for row in warehouse.execute(f"SELECT {columns} FROM {lake}.exotic").fetchall()}
    assert {k: dict(zip(["id", *EXOTIC], v, strict=True)) for k, v in held.items()} == exotic_rows_as_text(source)


def test_chaos_ticks_flow_exactly(pipeline_run, source, warehouse, settings) -> None:
    """Every change shape, twice (the second drops the column the first added), through every hop
    with replication batches smaller than the large transaction: every hop and mart reconciles."""
    from flows.stages import lakehouse
    from services.reconciliation.reconcile import reconcile
    from services.replication.native import NativeEngine
    from services.source.chaos import chaos_tick
    from services.warehouse.stage import build_models, load_lake

    small = settings.model_copy(update={"replication": settings.replication.model_copy(update={"batch_changes": 100})})
    for seed in (1, 2):
        changes = chaos_tick(source, seed=seed, big_transaction_rows=150)
        assert changes.deleted["order_items"] and changes.updated["products"] and changes.drift_applied
        batches = NativeEngine(small).run_once().batches
        assert any(b.tables.get("order_items") and b.tables["order_items"].ops.get("update", 0) >= 150 for b in batches)
        lakehouse()
        load_lake(settings)
        build_models(settings)
        checks = reconcile(settings, stream=False, marts=True)
        assert {c.table for c in checks} >= {"chaos_notes", "int_orders__joined_items_payments"}
    quarantined = iceberg_catalog(settings).load_table(f"{settings.lakehouse.quarantine_namespace}.orders")
    assert "impossible_ordered_at" in quarantined.scan(selected_fields=("rule",)).to_arrow().column("rule").to_pylist()


@given(
    shapes=st.lists(st.sampled_from(list(change_shapes())), min_size=1, max_size=5),
    seed=st.integers(0, 2**16),
)
@hypothesis_settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_any_sequence_of_change_shapes_reconciles(pipeline_run, source, settings, spark, shapes, seed) -> None:
    """Property: whatever sequence of change shapes the source takes, every hop equals the source
    cell for cell and every incremental mart equals its build from scratch. A failure shrinks to
    the shortest sequence. `make test` tries a few sequences, `make fuzz` many (tests/conftest.py)."""
    from services.lakehouse.silver import SilverJob
    from services.reconciliation.reconcile import reconcile
    from services.replication.native import NativeEngine
    from services.source.chaos import apply_shapes
    from services.warehouse.stage import build_models, load_lake

    apply_shapes(source, shapes, seed, big_transaction_rows=150)
    small = settings.model_copy(update={"replication": settings.replication.model_copy(update={"batch_changes": 100})})
    NativeEngine(small).run_once()
    assert not [r.summary() for r in SilverJob(spark, settings).run() if r.error]
    load_lake(settings)
    build_models(settings)
    reconcile(settings, stream=False, marts=True)
