"""Thin Prefect tasks, one per stage action; each calls `services/` and returns what moved.

Retries are set where a service can hiccup (a network call, a restarting server); each
action is idempotent, so a retry is always safe. Settings are read in each task from the
environment the worker hands the flow run, never passed as parameters (they hold secrets).
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from services.platform.settings import Settings, load_settings

RETRY = {"retries": 2, "retry_delay_seconds": [5, 20], "cache_policy": NO_CACHE}


@cache
def settings(profile: str | None = None) -> Settings:
    return load_settings(**({"profile": profile} if profile else {}))


def _spark(config: Settings, quick_start: bool = False):
    """The flow run's Spark session; the first task to ask sizes its JVM (see `quick_start`)."""
    from services.platform.spark import spark_session

    return spark_session(config, app_name="sandbox-flow", quick_start=quick_start)


@task(name="seed the source database", cache_policy=NO_CACHE)
def seed_source(orders: int, seed: int, profile: str | None = None) -> dict[str, int]:
    """Generate and load `orders` orders, unless the source already holds data."""
    from services.platform.clients import Role, postgres_connect
    from services.source.generator import default_output, generate_dataset, write_csvs
    from services.source.loader import load_folder
    from services.source.schema import apply_migrations

    config, log = settings(profile), get_run_logger()
    with postgres_connect(config, config.postgres.source_db, Role.APP) as conn:
        apply_migrations(conn)
        existing = conn.execute("SELECT count(*) FROM shop.orders").fetchone()[0]
        if existing:
            log.info("source already holds %s orders; not seeding", f"{existing:,}")
            return {}
        folder = default_output(orders, seed)
        if not folder.is_dir():
            write_csvs(generate_dataset(orders, seed), folder)
        result = load_folder(conn, folder)
    log.info("loaded %s", ", ".join(f"{t} {n:,}" for t, n in result.rows.items()))
    return result.rows


@task(name="tick the source", cache_policy=NO_CACHE)
def tick_source(orders: int, seed: int | None = None, profile: str | None = None) -> dict[str, int]:
    from services.platform.clients import Role, postgres_connect
    from services.source.schema import apply_migrations
    from services.source.tick import tick

    config = settings(profile)
    with postgres_connect(config, config.postgres.source_db, Role.APP) as conn:
        apply_migrations(conn)
        result = tick(conn, orders=orders, seed=seed)
    get_run_logger().info("tick: %s", result.summary())
    return {"inserted": sum(result.inserted.values()), "updated": sum(result.updated.values()),
            "deleted": sum(result.deleted.values())}  # fmt: skip


@task(name="replicate source to raw", **RETRY, timeout_seconds=3600)
def replicate(profile: str | None = None) -> dict[str, float]:
    from services.replication.native import NativeEngine

    result = NativeEngine(settings(profile)).run_once(lambda m: get_run_logger().info("batch %s", m.batch_id))
    get_run_logger().info("replicated %s", result.summary() if result.batches else "nothing (raw is up to date)")
    return {"batches": len(result.batches), "rows": result.rows, "lag_seconds": result.lag_seconds or 0.0}


@task(name="apply raw to silver", **RETRY, timeout_seconds=3600)
def apply_silver(full_refresh: bool = False, profile: str | None = None) -> dict[str, int]:
    from services.lakehouse.backlog import SilverBacklog
    from services.lakehouse.silver import SilverJob

    config = settings(profile)
    spark = _spark(config, SilverBacklog(config).quick_start(full_refresh=full_refresh))
    results = SilverJob(spark, config).run(full_refresh=full_refresh)
    for r in results:
        get_run_logger().info(r.summary())
    if stopped := [r.summary() for r in results if r.error]:
        raise RuntimeError("silver tables stopped: " + "; ".join(stopped))
    return {r.table: r.upserts + r.deletes for r in results}


@task(name="maintain the lake", **RETRY)
def maintain_lake(profile: str | None = None) -> dict[str, dict[str, int]]:
    from services.lakehouse.maintenance import maintain

    config = settings(profile)
    return maintain(_spark(config), config)


@task(name="load the warehouse", **RETRY, timeout_seconds=3600)
def load_warehouse(full_refresh: bool = False, profile: str | None = None) -> dict[str, int]:
    from services.warehouse.transform import load_lake

    results = load_lake(settings(profile), full_refresh=full_refresh)
    for r in results:
        get_run_logger().info(r.summary())
    if stopped := [r.summary() for r in results if r.error]:
        raise RuntimeError("lake tables stopped: " + "; ".join(stopped))
    return {r.table: r.upserts + r.deletes for r in results}


@task(name="dbt build", cache_policy=NO_CACHE, timeout_seconds=3600)
def dbt_build(select: list[str] | None = None, full_refresh: bool = False, profile: str | None = None) -> None:
    """No retries: a failing dbt test is a finding, not a hiccup; its rows are in the error."""
    from services.warehouse.transform import build_models

    build_models(settings(profile), select, full_refresh)


@task(name="generate dbt docs", **RETRY)
def dbt_docs(profile: str | None = None) -> None:
    from services.warehouse.transform import generate_docs

    generate_docs(settings(profile))


@task(name="export marts", **RETRY)
def export_marts(profile: str | None = None) -> dict[str, int]:
    from services.warehouse.transform import export

    return {r.mart: r.rows for r in export(settings(profile))}


@task(name="produce clickstream", **RETRY)
def produce_clickstream(rate: float, seconds: float, seed: int, profile: str | None = None) -> int:
    from services.platform.bootstrap import ensure_stream
    from services.platform.clients import Role, kinesis_client, postgres_connect
    from services.source.clickstream import clickstream, read_catalogue
    from services.streaming.producer import produce

    config = settings(profile)
    with postgres_connect(config, config.postgres.source_db, Role.APP) as conn:
        catalogue = read_catalogue(conn)
    ensure_stream(config)
    events = clickstream(catalogue, seed)
    result = produce(kinesis_client(config), config.kinesis.stream, events, config.streaming, rate, seconds)
    get_run_logger().info("produced %s events at %.0f/s", f"{result.events:,}", result.rate)
    return result.events


@task(name="consume clickstream", **RETRY, timeout_seconds=timedelta(hours=24).total_seconds())
def consume_clickstream(
    until_idle: bool = True, not_before_seconds: float = 0.0, profile: str | None = None
) -> dict[str, float]:
    """With `until_idle`, stop once the stream is drained, but not before `not_before_seconds`."""
    from services.platform.catalog import iceberg_catalog
    from services.platform.clients import kinesis_client
    from services.streaming.consumer import BatchResult, StreamConsumer

    config, log = settings(profile), get_run_logger()
    consumer = StreamConsumer(_spark(config), config, kinesis_client(config), iceberg_catalog(config))

    def report(batch: BatchResult) -> None:
        log.info(
            "batch: %s events, %s dead letters, arrival -> visible p99 %.2f s",
            f"{batch.events:,}", batch.dead_letters, batch.latency_p99,
        )  # fmt: skip

    result = consumer.run(until_idle, not_before_seconds=not_before_seconds, on_batch=report)
    log.info("consumed %s", result.summary())
    return {"events": result.events, "dead_letters": result.dead_letters,
            "p99_seconds": max(result.latencies, default=0.0)}  # fmt: skip


@task(name="reconcile every hop", cache_policy=NO_CACHE)
def reconcile(stream: bool = True, profile: str | None = None) -> list[dict[str, object]]:
    """Fails the run (and lists every difference) when any hop disagrees with the source."""
    from services.reconciliation.reconcile import ReconciliationError
    from services.reconciliation.reconcile import reconcile as run_reconcile

    try:
        checks = run_reconcile(settings(profile), stream)
    except ReconciliationError as error:
        _reconciliation_artifact(error.checks)
        raise
    _reconciliation_artifact(checks)
    return [{"table": c.table, "hop": c.hop, "rows": c.got.rows, "ok": c.ok} for c in checks]


def _reconciliation_artifact(checks: list) -> None:
    rows = [
        {"table": c.table, "hop": c.hop, "rows": c.got.rows, "expected rows": c.expected.rows,
         "checksum": f"{c.got.checksum:016x}", "expected checksum": f"{c.expected.checksum:016x}",
         "status": "ok" if c.ok else "DIFFERS"}
        for c in checks
    ]  # fmt: skip
    create_table_artifact(rows, key="reconciliation", description="Rows and checksums at every hop")
