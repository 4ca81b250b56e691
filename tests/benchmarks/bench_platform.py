"""Platform: cold and warm `sandbox up` to all-healthy, and each service's idle memory.

Targets (issue: platform): warm `up` < 30 s; idle total RSS < 2.5 GB.
"""

from __future__ import annotations

import json
import time

from tests.benchmarks.isolated import isolated_sandbox, sandbox, tree_rss_mb

IDLE_SECONDS = 10


def _timed_up(env: dict[str, str]) -> float:
    started = time.monotonic()
    sandbox(env, "up")
    return round(time.monotonic() - started, 2)


def run() -> dict[str, object]:
    with isolated_sandbox("platform") as (_, env):
        cold = _timed_up(env)  # initdb, Prefect's migrations, first SeaweedFS start
        sandbox(env, "down")
        warm = _timed_up(env)
        time.sleep(IDLE_SECONDS)  # let start-up work settle before reading idle memory
        statuses = json.loads(sandbox(env, "status", "--json").stdout)
        rss = {s["name"]: round(tree_rss_mb(s["pid"]), 1) for s in statuses}
    return {
        "cold_up_seconds": cold,
        "warm_up_seconds": warm,
        "idle_rss_mb": rss,
        "idle_rss_total_mb": round(sum(rss.values()), 1),
        "targets": {"warm_up_seconds": "< 30", "idle_rss_total_mb": "< 2500"},
    }
