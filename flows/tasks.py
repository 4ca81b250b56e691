"""Thin Prefect tasks, one per stage action; each calls its stage's entry (`services/<stage>/stage.py`,
the same function its `sandbox` command calls) and returns what moved.

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
from prefect.states import State

from services.platform.settings import Settings, load_settings

RETRY = {"retries": 2, "retry_delay_seconds": [5, 20], "cache_policy": NO_CACHE}


class TablesStopped(RuntimeError):
    """Tables a stage refused for what they are (a name clash, a schema change the warehouse cannot
    take), each named with its fix; every other table went on. A rerun would meet the same."""


def _unless_tables_stopped(task: object, task_run: object, state: State) -> bool:
    return not isinstance(state.data, TablesStopped)


REFUSING = {**RETRY, "retry_condition_fn": _unless_tables_stopped}  # a failure of the services still retries


@cache
def settings(profile: str | None = None) -> Settings:
    return load_settings(**({"profile": profile} if profile else {}))


@task(name="seed the source database", cache_policy=NO_CACHE)
def seed_source(orders: int, seed: int, profile: str | None = None) -> dict[str, int]:
    """Generate and load `orders` orders, unless the source already holds data."""
    from services.source import stage

    result, log = stage.seed(settings(profile), orders, seed), get_run_logger()
    if result.loaded is None:
        log.info("source already holds %s orders; not seeding", f"{result.existing_orders:,}")
        return {}
    log.info("loaded %s", ", ".join(f"{t} {n:,}" for t, n in result.loaded.rows.items()))
    return result.loaded.rows


@task(name="tick the source", cache_policy=NO_CACHE)
def tick_source(
    orders: int, seed: int | None = None, profile: str | None = None, chaos: bool = False
) -> dict[str, int]:
    """A tick of the shop, or with `chaos` every change shape the source accepts."""
    from services.source import stage

    result = stage.tick(settings(profile), orders=orders, seed=seed, chaos=chaos)
    get_run_logger().info("tick: %s", result.summary())
    return {"inserted": sum(result.inserted.values()), "updated": sum(result.updated.values()),
            "deleted": sum(result.deleted.values())}  # fmt: skip


@task(name="replicate source to raw", **REFUSING, timeout_seconds=3600)
def replicate(profile: str | None = None) -> dict[str, float]:
    """With the engine `SANDBOX_REPLICATION__ENGINE` names (native, or an Airbyte server)."""
    from services.replication import stage

    result = stage.replicate(settings(profile), on_batch=lambda m: get_run_logger().info("batch %s", m.batch_id))
    get_run_logger().info("replicated %s", result.summary() if result.rows else "nothing (raw is up to date)")
    if stopped := [f"{table}: {error}" for table, error in result.stopped.items()]:  # every other table went on
        raise TablesStopped("tables stopped in replication: " + "; ".join(stopped))
    return {"rows": result.rows, "lag_seconds": result.lag_seconds or 0.0}


@task(name="apply raw to silver", **RETRY, timeout_seconds=3600)
def apply_silver(full_refresh: bool = False, profile: str | None = None) -> dict[str, int]:
    from services.lakehouse.stage import apply_silver as run_silver

    results = run_silver(settings(profile), full_refresh=full_refresh)
    for r in results:
        get_run_logger().info(r.summary())
    if stopped := [r.summary() for r in results if r.error]:
        raise RuntimeError("silver tables stopped: " + "; ".join(stopped))
    return {r.table: r.upserts + r.deletes for r in results}


@task(name="maintain the lake", **RETRY)
def maintain_lake(profile: str | None = None) -> dict[str, dict[str, int]]:
    from services.lakehouse.stage import maintain

    return maintain(settings(profile))


@task(name="load the warehouse", **REFUSING, timeout_seconds=3600)
def load_warehouse(full_refresh: bool = False, profile: str | None = None) -> dict[str, int]:
    from services.warehouse.stage import load_lake

    results = load_lake(settings(profile), full_refresh=full_refresh)
    for r in results:
        get_run_logger().info(r.summary())
    if stopped := [r.summary() for r in results if r.error]:
        raise TablesStopped("lake tables stopped: " + "; ".join(stopped))
    return {r.table: r.upserts + r.deletes for r in results}


@task(name="dbt build", cache_policy=NO_CACHE, timeout_seconds=3600)
def dbt_build(select: list[str] | None = None, full_refresh: bool = False, profile: str | None = None) -> None:
    """No retries: a failing dbt test is a finding, not a hiccup; its rows are in the error."""
    from services.warehouse.stage import build_models

    build_models(settings(profile), select, full_refresh)


@task(name="generate dbt docs", **RETRY)
def dbt_docs(profile: str | None = None) -> None:
    from services.warehouse.stage import generate_docs

    generate_docs(settings(profile))


@task(name="export marts", **RETRY)
def export_marts(profile: str | None = None) -> dict[str, int]:
    from services.warehouse.stage import export

    return {r.mart: r.rows for r in export(settings(profile))}


@task(name="stream clickstream", **RETRY, timeout_seconds=timedelta(hours=24).total_seconds())
def stream_clickstream(rate: float, seconds: float, seed: int, profile: str | None = None) -> dict[str, float]:
    """Produce for `seconds` while a consumer in a process of its own takes the events into
    Iceberg, until the stream is drained."""
    from services.streaming.consumer import BatchResult
    from services.streaming.stage import stream

    log = get_run_logger()

    def report(batch: BatchResult) -> None:
        log.info(
            "batch: %s events, %s dead letters, arrival -> visible p99 %.2f s",
            f"{batch.events:,}", batch.dead_letters, batch.latency_p99,
        )  # fmt: skip

    result = stream(settings(profile), rate=rate, seconds=seconds, seed=seed, on_batch=report)
    consumed = result.consumed
    log.info("produced %s events at %.0f/s", f"{result.produced.events:,}", result.produced.rate)
    log.info("consumed %s", consumed.summary())
    return {
        "produced": result.produced.events, "events": consumed.events, "dead_letters": consumed.dead_letters,
        "p99_seconds": consumed.p99_seconds, "worst_batch_p99_seconds": consumed.worst_batch_p99_seconds,
    }  # fmt: skip


@task(name="reconcile every hop", cache_policy=NO_CACHE)
def reconcile(stream: bool = True, marts: bool = True, profile: str | None = None) -> list[dict[str, object]]:
    """Fails the run (and names every differing key and column) when any hop disagrees with the
    source, or an incremental model with its build from scratch."""
    from services.reconciliation.checks import ReconciliationError
    from services.reconciliation.reconcile import reconcile as run_reconcile

    try:
        checks = run_reconcile(settings(profile), stream, marts=marts)
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
