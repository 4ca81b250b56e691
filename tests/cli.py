"""Run the `sandbox` command as a user would: a subprocess sharing the test session's settings."""

from __future__ import annotations

import os
import subprocess
import sys


def sandbox(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`env` adds settings for this run only (e.g. a scratch database)."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
