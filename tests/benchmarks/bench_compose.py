"""The compose profile beside the local one: `make up` to all-healthy, the `pipeline` flow on
the compose worker (Spark on the standalone cluster) and in the local profile at the same
small size, and the stack's idle and peak memory (`docker stats`).

Targets (issue: compose for real): compose pipeline within 1.5x of the local profile's time at
the same size; idle stack < 4 GB. Without Docker and Compose v2 it reports what is missing and
measures nothing; `make test-compose` is the same run as a test.
"""

from __future__ import annotations

from tests.benchmarks.bench_pipeline import local_pipeline
from tests.compose.end_to_end import missing_docker, run_stack_test

ORDERS, STREAM_SECONDS = 3000, 20


def run() -> dict[str, object]:
    if problem := missing_docker():
        return {"skipped": problem}
    stack = run_stack_test(ORDERS, STREAM_SECONDS).as_json()
    local = local_pipeline(ORDERS, False, STREAM_SECONDS)
    compose_seconds = stack["seconds"]["pipeline flow on the compose worker"]
    return {
        "orders": ORDERS,
        "stream_seconds_included": STREAM_SECONDS,
        "up_to_healthy_seconds": stack["seconds"]["up (all healthy)"],
        "compose_pipeline_seconds": compose_seconds,
        "local_pipeline_seconds": local["pipeline_seconds"],
        "compose_over_local": round(compose_seconds / local["pipeline_seconds"], 2),
        "stack_idle_mb": stack["stack_idle_mb"],
        "stack_peak_mb": stack["stack_peak_mb"],
        "container_idle_mb": stack["container_idle_mb"],
        "container_peak_mb": stack["container_peak_mb"],
        "compose_stream_p99_seconds": stack["stream_p99_seconds"],
        "local_stream_p99_seconds": local["stream_p99_seconds_beside_batch"],
        "targets": {"compose_over_local": "< 1.5", "stack_idle_mb": "< 4096"},
    }
