"""The flows of each stage, as the seeds schedule them (see `flows/deployments.py`)."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows import tasks


@flow(name="generate", description="One tick of live shop changes (every 2 hours).")
def generate(orders: int = 100, seed: int | None = None) -> dict[str, int]:
    return tasks.tick_source(orders, seed)


@flow(name="replicate", description="Drain pending changes from the source into the S3 raw zone (daily).")
def replicate() -> dict[str, float]:
    return tasks.replicate()


@flow(name="lakehouse", description="Apply new raw batches to the Iceberg silver tables with Spark.")
def lakehouse(full_refresh: bool = False) -> dict[str, int]:
    return tasks.apply_silver(full_refresh)


@flow(name="transform", description="Load silver into the warehouse, dbt build, export marts (daily).")
def transform(select: list[str] | None = None, full_refresh: bool = False) -> dict[str, int]:
    tasks.load_warehouse(full_refresh)
    tasks.dbt_build(select, full_refresh)
    tasks.dbt_docs()
    return tasks.export_marts()


@flow(name="stream", description="Produce clickstream events to Kinesis while Spark consumes them into Iceberg.")
def stream(seconds: float = 60.0, rate: float = 1000.0, seed: int = 0) -> dict[str, float]:
    outcome = tasks.stream_clickstream(rate, seconds, seed)
    create_markdown_artifact(
        f"Produced {outcome['produced']:,} events; {outcome['events']:,} landed in realtime.events, "
        f"{outcome['dead_letters']:,} in dead_letter. Freshness: Kinesis arrival -> visible in Iceberg, "
        f"p99 {outcome['p99_seconds']:.1f} s (worst batch's p99 {outcome['worst_batch_p99_seconds']:.1f} s).",
        key="stream-run",
    )
    return outcome


@flow(name="maintain", description="Compact, rewrite manifests, expire snapshots, remove orphans (weekly).")
def maintain() -> dict[str, dict[str, int]]:
    return tasks.maintain_lake()
