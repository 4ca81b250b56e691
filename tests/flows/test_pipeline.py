"""The `pipeline` flow end to end on the real local services, then what the orchestrator promises:
reconciliation passes, marts equal an independent computation from the source, a failing
dbt test fails the flow run with its reason, deployments carry the seeds' schedules.

The flow runs once per module (it takes a few minutes); the tests read what it left.
"""

from __future__ import annotations

import asyncio
import io
from collections import defaultdict
from datetime import UTC
from decimal import Decimal

import pyarrow.parquet as pq
import pytest
from prefect.client.orchestration import get_client

from services.platform.clients import Role, postgres_connect, s3_client
from services.warehouse.export import read_mart
from tests.cli import sandbox

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
    # 6 tables x 4 hops + the clickstream check, all equal (the flow fails otherwise)
    assert pipeline_run["checks"] == 25
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
        from services.platform.catalog import iceberg_catalog

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
    from services.warehouse.transform import build_models

    lake = settings.warehouse.lake_schema
    customer_id, email = warehouse.execute(f"SELECT customer_id, email FROM {lake}.customers LIMIT 1").fetchone()
    warehouse.execute(
        f"UPDATE {lake}.customers SET email = 'moved@example.org', updated_at = now() WHERE customer_id = %s",
        (customer_id,),
    )
    build_models(settings, ["customers_snapshot"])
    versions = warehouse.execute(
        "SELECT email, dbt_valid_to IS NULL FROM snapshots.customers_snapshot WHERE customer_id = %s"
        " ORDER BY dbt_valid_from",
        (customer_id,),
    ).fetchall()
    assert versions == [(email, False), ("moved@example.org", True)]


def test_incremental_models_after_a_tick_equal_a_full_rebuild(pipeline_run, source, warehouse, settings) -> None:
    """A tick's inserts, updates and hard deletes through the incremental models give the rows
    a whole rebuild gives, and only the changed rows were rebuilt. No look-back here, so the
    run takes only this tick (the pipeline's own rows are minutes old)."""
    from flows.stages import lakehouse, replicate
    from services.source.tick import tick
    from services.warehouse.dbt import dbt
    from services.warehouse.transform import load_lake

    before_tick = source.execute("SELECT clock_timestamp()").fetchone()[0]
    changes = tick(source, orders=40, seed=11)
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

    incremental = dbt(settings, "build", "--vars", "{changes_lookback_minutes: 0}")
    assert incremental.success, incremental.exception
    after_tick = contents()
    rebuilt = {r.node.name: r.adapter_response.get("rows_affected") for r in incremental.result.results if r.node}
    for name in models:
        assert 0 < rebuilt[name] < len(after_tick[name]), (name, rebuilt[name])

    # with the default look-back the tick's changes are read again, but rows built as they
    # are now are not rewritten
    again = dbt(settings, "build", "--select", *models)
    assert again.success, again.exception
    assert {
        r.node.name: r.adapter_response.get("rows_affected") for r in again.result.results if r.node.name in models
    } == {name: 0 for name in models}
    assert contents() == after_tick

    whole = dbt(settings, "build", "--full-refresh")
    assert whole.success, whole.exception
    assert contents() == after_tick
