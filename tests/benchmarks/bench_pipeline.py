"""The `pipeline` flow end to end at 100k and 1M orders: wall time and the peak resident memory
of every sandbox process together (services, the flow and its Spark JVM).

Targets (issue: orchestration): 1M orders < 5 min after install; peak RSS < 6 GB; at 1M with a
chaos tick (every change shape) and the marts check in the reconcile, still < 5 min; the stream's
arrival -> visible p99, consumed beside replication and silver in the same run, < 10 s. Each scale
runs in a fresh sandbox with every local service started, as `make demo` has them.
"""

from __future__ import annotations

import json
import sys

from services.platform.bootstrap import create_platform_resources
from services.platform.local.servers import local_services
from services.platform.local.supervisor import Supervisor
from tests.benchmarks.isolated import isolated_sandbox, tree_rss_mb
from tests.benchmarks.measure import run_measured

SCALES = ((100_000, False), (1_000_000, True))  # orders, and whether the tick is a chaos tick
STREAM_SECONDS = 30


def _services_rss(settings) -> float:
    supervisor = Supervisor(settings.home)
    pids = [supervisor.pid(spec.name) for spec in local_services(settings)]
    return sum(tree_rss_mb(pid) for pid in pids if pid)


def run() -> dict[str, object]:
    runs = [local_pipeline(orders, chaos, STREAM_SECONDS) for orders, chaos in SCALES]
    targets = {
        "pipeline_seconds at 1M": "< 300",
        "peak_total_rss_mb": "< 6000",
        "stream_p99_seconds_beside_batch": "< 10",
    }
    return {"runs": runs, "targets": targets}


def local_pipeline(orders: int, chaos: bool, stream_seconds: float) -> dict[str, object]:
    """One `pipeline` flow in a fresh local sandbox, its services started as `make demo` has them."""
    with isolated_sandbox(f"pipeline-{orders}") as (settings, env):
        supervisor = Supervisor(settings.home)
        for spec in local_services(settings):
            supervisor.start(spec)
        create_platform_resources(settings)
        services_idle = _services_rss(settings)
        outcome = settings.home / "pipeline-outcome.json"
        code = (
            "import json; from flows.pipeline import pipeline; "
            f"outcome = pipeline(orders={orders}, seed=42, tick_orders=200, stream_seconds={stream_seconds}, "
            f"chaos={chaos}); open({str(outcome)!r}, 'w').write(json.dumps(outcome))"
        )
        seconds, flow_peak = run_measured([sys.executable, "-c", code], env)
        result = json.loads(outcome.read_text())
        services_after = _services_rss(settings)
    return {
        "orders": orders,
        "chaos_tick": chaos,
        "pipeline_seconds": round(seconds, 1),
        "stream_seconds_included": stream_seconds,
        "flow_process_peak_rss_mb": round(flow_peak),
        "services_rss_mb_idle_before": round(services_idle),
        "services_rss_mb_after": round(services_after),
        "peak_total_rss_mb_upper_bound": round(flow_peak + services_after),
        "stage_seconds": {name: round(value, 1) for name, value in result["stages"].items()},
        "stream_p99_seconds_beside_batch": result["stream_p99_seconds"],  # over every event
        "stream_worst_batch_p99_seconds": result["stream_worst_batch_p99_seconds"],
    }
