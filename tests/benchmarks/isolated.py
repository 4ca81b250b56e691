"""A throwaway sandbox for one benchmark: temp home, free ports, services stopped and deleted after."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from services.platform.clients import Role, postgres_connect, prefect_environment
from services.platform.local.servers import local_services
from services.platform.local.supervisor import Supervisor
from services.platform.settings import Settings, load_settings
from services.source.generator import generate_dataset, write_csvs
from services.source.loader import load_folder
from services.source.schema import apply_migrations
from tests.ports import isolated_environment


@contextmanager
def isolated_sandbox(name: str) -> Iterator[tuple[Settings, dict[str, str]]]:
    """Point this process (and any `sandbox` it runs) at a fresh sandbox; yield its settings and env."""
    home = Path(tempfile.mkdtemp(prefix=f"sandbox-bench-{name}-"))
    # The tests' short waits would cut a benchmark's million-row builds: the defaults apply.
    variables = isolated_environment(home, work_pool=f"bench-{name}") | {
        "SANDBOX_DBT__TIMEOUT_SECONDS": "3600",
        "SANDBOX_WAREHOUSE__LOCK_WAIT_SECONDS": "3600",
    }
    saved = {key: os.environ.get(key) for key in variables}
    os.environ.update(variables)
    settings = load_settings()
    # Prefect reads its own variables: without them a flow run starts a throwaway server of its own
    prefect = prefect_environment(settings)
    saved |= {key: os.environ.get(key) for key in prefect}
    os.environ.update(prefect)
    try:
        yield settings, dict(os.environ)
    finally:
        supervisor = Supervisor(settings.home)
        for spec in reversed(local_services(settings)):
            supervisor.stop(spec)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(home, ignore_errors=True)


def start(settings: Settings, *names: str) -> None:
    """Start only the named local services (a benchmark needs no more)."""
    supervisor = Supervisor(settings.home)
    for spec in local_services(settings):
        if spec.name in names:
            supervisor.start(spec)


def load_source(settings: Settings, orders: int, seed: int = 42) -> int:
    """Generate `orders` orders and load them into the sandbox's source database; return the rows."""
    with tempfile.TemporaryDirectory() as scratch:
        dataset = generate_dataset(orders, seed=seed, as_of=settings.source.history_end())
        rows = sum(len(t) for t in dataset.values())
        write_csvs(dataset, Path(scratch) / "data")
        del dataset
        with postgres_connect(settings, settings.postgres.source_db, Role.APP) as conn:
            apply_migrations(conn)
            load_folder(conn, Path(scratch) / "data")
    return rows


def sandbox(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args], env=env, check=True, capture_output=True, text=True
    )


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its children, in MB."""
    parent = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)]) / 1e6
