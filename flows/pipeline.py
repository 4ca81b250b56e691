"""The whole pipeline end to end, then reconciliation of every hop; a Prefect artifact reports it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows import tasks


@flow(
    name="pipeline",
    description="Seed or tick the source, replicate, silver, warehouse + dbt, stream, reconcile every hop and mart.",
)
def pipeline(
    orders: int = 100_000,
    seed: int = 42,
    tick_orders: int = 200,
    stream_seconds: float = 60.0,
    stream_rate: float = 1000.0,
    profile: str | None = None,
    chaos: bool = False,
) -> dict[str, Any]:
    """`chaos`: the tick makes every change shape the source accepts (`sandbox tick --chaos`)."""
    report: list[tuple[str, float, str]] = []

    def stage(name: str, run: Callable[[], Any]) -> Any:
        started = time.monotonic()
        outcome = run()
        report.append((name, time.monotonic() - started, _describe(outcome)))
        return outcome

    stage("seed source", lambda: tasks.seed_source(orders, seed, profile))
    stage("tick source", lambda: tasks.tick_source(tick_orders, seed, profile, chaos))
    # The real-time path shares nothing with the batch path until the warehouse load, so it
    # runs beside replication and the lakehouse (its consumer in a process of its own).
    stream_started = time.monotonic()
    if stream_seconds > 0:
        streaming = tasks.stream_clickstream.submit(stream_rate, stream_seconds, seed, profile)
    replicated = stage("replicate", lambda: tasks.replicate(profile))
    stage("silver", lambda: tasks.apply_silver(profile=profile))
    streamed = {}
    if stream_seconds > 0:
        streamed = streaming.result()
        report.append(("stream (beside replicate and silver)", time.monotonic() - stream_started, _describe(streamed)))
    stage("warehouse load", lambda: tasks.load_warehouse(profile=profile))
    stage("dbt build", lambda: tasks.dbt_build(profile=profile))
    stage("dbt docs", lambda: tasks.dbt_docs(profile))
    stage("export marts", lambda: tasks.export_marts(profile))
    checks = stage("reconcile", lambda: tasks.reconcile(stream_seconds > 0, True, profile))
    freshness = f"replication lag {replicated['lag_seconds']:.1f} s"
    if streamed:
        freshness += (
            f"; stream arrival -> visible p99 {streamed['p99_seconds']:.1f} s"
            f" (worst batch's p99 {streamed['worst_batch_p99_seconds']:.1f} s)"
        )
    lines = ["| stage | seconds | moved |", "|---|---:|---|"] + [f"| {n} | {s:.1f} | {d} |" for n, s, d in report]
    create_markdown_artifact("\n".join([*lines, "", f"Freshness: {freshness}."]), key="pipeline-run")
    return {
        "stages": {n: s for n, s, _ in report},
        "checks": len(checks),
        "freshness": freshness,
        "stream_p99_seconds": streamed.get("p99_seconds"),  # over every event, beside the batch stages
        "stream_worst_batch_p99_seconds": streamed.get("worst_batch_p99_seconds"),
    }


def _describe(outcome: Any) -> str:
    if isinstance(outcome, dict):
        return ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in outcome.items()) or "-"
    if isinstance(outcome, list):
        return f"{len(outcome)} checks passed"
    return "done"
