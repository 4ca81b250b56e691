"""Wall time and peak memory of a child process (and its children), sampled with psutil."""

from __future__ import annotations

import subprocess
import tempfile
import time

import psutil


def run_measured(argv: list[str], env: dict[str, str], interval: float = 0.05) -> tuple[float, float]:
    """Run `argv` to completion; return (seconds, peak resident MB of its process tree)."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a chatty run never blocks on it
        process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        tree, peak = psutil.Process(process.pid), 0
        while process.poll() is None:
            try:
                members = [tree, *tree.children(recursive=True)]
                peak = max(peak, sum(m.memory_info().rss for m in members))
            except psutil.NoSuchProcess:
                pass
            time.sleep(interval)
        seconds = time.monotonic() - started
        if process.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"{argv[0]} failed:\n{errors.read().decode(errors='replace')[-3000:]}")
    return seconds, peak / 1e6
