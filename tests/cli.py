"""Run the `sandbox` command as a user would: a subprocess sharing the test session's settings."""

from __future__ import annotations

import subprocess
import sys


def sandbox(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.cli", *args], capture_output=True, text=True, timeout=300)
