"""Recognising the local services' processes: after a clock step, and without their pid files.

A pid alone can be reused by another program, so the supervisor records with it when the
process started. psutil's `create_time()` will not do on Linux: it adds the start (in clock
ticks since boot) to a boot time the kernel derives from the wall clock, so an NTP step or
a laptop waking up moves it and every service looks like a stranger. The start in ticks
itself (`/proc/<pid>/stat`, field 22) never moves; other systems keep a start time that a
clock step does not rewrite, which psutil reads.

Every process a service starts carries `MARKER` in its environment (the sandbox home and
the service's name), inherited by its children: `processes_of(home)` finds them all even
when a pid file is gone, and never a process this home did not start.
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from pathlib import Path

import psutil

MARKER = "SANDBOX_SUPERVISED"  # "<home>|<service>"


def marker(home: Path, service: str) -> str:
    return f"{home.resolve()}|{service}"


def start_mark(pid: int) -> int | None:
    """When `pid` started, in a unit no clock step changes; None if no such process runs."""
    if sys.platform.startswith("linux"):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        fields = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces and parentheses
        return int(fields[19])  # field 22 of the whole line: starttime, in clock ticks since boot
    try:
        return round(psutil.Process(pid).create_time() * 100)
    except psutil.Error:
        return None


def is_running(pid: int, mark: int) -> bool:
    """True while the process `pid` that started at `mark` runs (not another one reusing the pid)."""
    if start_mark(pid) != mark:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def processes_of(home: Path) -> dict[str, list[psutil.Process]]:
    """Every process started for a service of `home` (or by one), by service; never this one or its parents."""
    prefix = f"{home.resolve()}|"
    mine = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    found: dict[str, list[psutil.Process]] = defaultdict(list)
    for process in psutil.process_iter():
        if process.pid in mine:
            continue
        try:
            value = process.environ().get(MARKER, "")
        except (psutil.Error, OSError):  # gone, or not ours to read
            continue
        if value.startswith(prefix):
            found[value.removeprefix(prefix)].append(process)
    return dict(found)
