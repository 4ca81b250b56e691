"""An isolated sandbox configuration: a temp home and free TCP ports, as SANDBOX_* variables.

Used by the test session (conftest.py) and by the benchmarks, so neither touches a
sandbox the user is running. SeaweedFS also needs each port + 10000 for gRPC.
"""

from __future__ import annotations

import random
from pathlib import Path

from services.platform.local.supervisor import port_is_free
from tests.fixed_time import AS_OF

GRPC_OFFSET = 10000


def free_ports(count: int) -> list[int]:
    """`count` distinct ports below the ephemeral range whose port + 10000 is free too."""
    chosen: list[int] = []
    for port in random.sample(range(15000, 22000), 2000):
        if port_is_free(port) and port_is_free(port + GRPC_OFFSET) and port not in chosen:
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise RuntimeError("no free ports between 15000 and 22000")


def isolated_environment(home: Path, work_pool: str) -> dict[str, str]:
    pg, s3, catalog, kinesis, prefect, master, volume, filer, admin, dashboard = free_ports(10)
    return {
        "SANDBOX_PROFILE": "local",
        # Seeded histories end on the suite's fixed day, never today (tests/fixed_time.py).
        "SANDBOX_SOURCE__AS_OF": AS_OF.isoformat(),
        "SANDBOX_HOME": str(home),
        "SANDBOX_POSTGRES__PORT": str(pg),
        "SANDBOX_S3__ENDPOINT_URL": f"http://127.0.0.1:{s3}",
        "SANDBOX_CATALOG__URI": f"http://127.0.0.1:{catalog}",
        "SANDBOX_KINESIS__ENDPOINT_URL": f"http://127.0.0.1:{kinesis}",
        "SANDBOX_PREFECT__API_URL": f"http://127.0.0.1:{prefect}/api",
        "SANDBOX_PREFECT__WORK_POOL": work_pool,
        # A schedule firing mid-session would run a stage beside a test's own (a tick during a
        # reconcile, say): deployments keep their schedules, paused.
        "SANDBOX_PREFECT__SCHEDULES_ACTIVE": "false",
        # A slot's creation blocked by a forgotten transaction fails a test in 2 minutes, naming it.
        "SANDBOX_REPLICATION__SLOT_WAIT_SECONDS": "120",
        # A stalled dbt command fails its test in 4 minutes (a test's dbt runs take seconds), naming
        # its threads' stacks and what its sessions wait for.
        "SANDBOX_DBT__TIMEOUT_SECONDS": "240",
        # A load or build waiting for a warehouse lock nobody gives back fails in 2 minutes, naming the holder.
        "SANDBOX_WAREHOUSE__LOCK_WAIT_SECONDS": "120",
        "SANDBOX_SEAWEEDFS__MASTER": str(master),
        "SANDBOX_SEAWEEDFS__VOLUME": str(volume),
        "SANDBOX_SEAWEEDFS__FILER": str(filer),
        "SANDBOX_SEAWEEDFS__ADMIN": str(admin),
        "SANDBOX_DASHBOARD__PORT": str(dashboard),
    }
