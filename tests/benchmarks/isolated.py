"""A throwaway sandbox for one benchmark: temp home, free ports, services started and stopped."""

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

from tests.ports import isolated_environment


@contextmanager
def isolated_sandbox(name: str) -> Iterator[dict[str, str]]:
    """Yield the environment of a fresh sandbox; stop its services and delete it afterwards."""
    home = Path(tempfile.mkdtemp(prefix=f"sandbox-bench-{name}-"))
    env = {**os.environ, **isolated_environment(home, work_pool=f"bench-{name}")}
    try:
        yield env
    finally:
        sandbox(env, "down", check=False)
        shutil.rmtree(home, ignore_errors=True)


def sandbox(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args], env=env, check=check, capture_output=True, text=True
    )


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its children, in MB."""
    parent = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)]) / 1e6
