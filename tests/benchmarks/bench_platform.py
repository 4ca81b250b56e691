"""Platform: cold and warm `sandbox up` to all-healthy, `up` when all run, a killed service's
way back, and each service's idle memory.

Targets: warm `up` < 10 s (the services survive a laptop's life); idle total RSS < 2.5 GB.
"""

from __future__ import annotations

import json
import signal
import time

import psutil

from services.platform.local.servers import local_services
from services.platform.local.supervisor import Supervisor, wait_until
from tests.benchmarks.isolated import isolated_sandbox, sandbox, tree_rss_mb

IDLE_SECONDS = 10


def _timed_up(env: dict[str, str]) -> float:
    started = time.monotonic()
    sandbox(env, "up")
    return round(time.monotonic() - started, 2)


def _recovery_seconds(supervisor: Supervisor, spec_name: str, settings) -> float:
    """SIGKILL the service's own process; seconds until its keeper has it answering again."""
    spec = next(s for s in local_services(settings) if s.name == spec_name)
    restarts = supervisor.restarts(spec.name)
    (service,) = psutil.Process(supervisor.pid(spec.name)).children()
    started = time.monotonic()
    service.send_signal(signal.SIGKILL)
    back = wait_until(lambda: supervisor.restarts(spec.name) > restarts and supervisor.status(spec).healthy, 120)
    return round(time.monotonic() - started, 2) if back else float("inf")


def run() -> dict[str, object]:
    with isolated_sandbox("platform") as (settings, env):
        cold = _timed_up(env)  # initdb, Prefect's migrations, first SeaweedFS start
        sandbox(env, "down")
        warm = _timed_up(env)
        running = _timed_up(env)  # everything already answers: only the checks
        time.sleep(IDLE_SECONDS)  # let start-up work settle before reading idle memory
        statuses = json.loads(sandbox(env, "status", "--json").stdout)
        rss = {s["name"]: round(tree_rss_mb(s["pid"]), 1) for s in statuses}
        supervisor = Supervisor(settings.home)
        recovery = {name: _recovery_seconds(supervisor, name, settings) for name in ("postgres", "prefect-worker")}
    return {
        "cold_up_seconds": cold,
        "warm_up_seconds": warm,
        "up_when_running_seconds": running,
        "killed_service_back_seconds": recovery,
        "idle_rss_mb": rss,
        "idle_rss_total_mb": round(sum(rss.values()), 1),
        "targets": {"warm_up_seconds": "< 10", "idle_rss_total_mb": "< 2500"},
    }
