"""`make test-compose`: the compose profile for real, from images to reconciled marts.

Where Docker with Compose v2 runs, it builds the images (stand-ins first where no registry
answers: `standins.sh`), starts the stack under a project name of its own with fresh volumes
(`docker compose -p pipeline-sandbox-test up --wait`, schedules paused), runs the `pipeline`
flow on the compose worker at a small size with Spark on the standalone cluster, runs
`sandbox reconcile` there, checks that the dashboard on the host draws the marts' numbers,
that every published port listens on 127.0.0.1 only and that the checkout is as it was, and
removes the stack and its volumes. It prints the seconds of each step and the idle and peak
memory of each container (`docker stats`). The user's own stack (`make up`) is never touched;
while it runs, its ports are taken and the test says so.

Standard library only, so it runs before `make install`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROJECT = "pipeline-sandbox-test"
USER_PROJECT = "pipeline-sandbox"  # docker-compose.yml's own name: `make up`'s stack
ENVIRONMENT = {"SANDBOX_PREFECT__SCHEDULES_ACTIVE": "false"}  # no scheduled run beside the test's
UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "kB": 1e3, "MB": 1e6, "GB": 1e9}


class StackTestFailed(RuntimeError):
    """A step of the compose test failed; the message names it and what was seen."""


@dataclass
class Report:
    seconds: dict[str, float] = field(default_factory=dict)
    idle_mb: dict[str, float] = field(default_factory=dict)
    peak_mb: dict[str, float] = field(default_factory=dict)
    peak_total_mb: float = 0.0
    stream_p99_seconds: float | None = None  # arrival -> visible, as the flow reports it
    checks: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "seconds": {k: round(v, 1) for k, v in self.seconds.items()},
            "container_idle_mb": {k: round(v) for k, v in sorted(self.idle_mb.items())},
            "container_peak_mb": {k: round(v) for k, v in sorted(self.peak_mb.items())},
            "stack_idle_mb": round(sum(self.idle_mb.values())),
            "stack_peak_mb": round(self.peak_total_mb),
            "stream_p99_seconds": self.stream_p99_seconds,
            "checks": self.checks,
        }


def missing_docker() -> str | None:
    """What this machine lacks for the test, in one line; None when Docker and Compose v2 answer."""
    hint = "as root on Debian, tests/compose/engine.sh start installs and starts one"
    if shutil.which("docker") is None:
        return f"make test-compose needs Docker with Compose v2: there is no docker command ({hint})"
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        return f"make test-compose needs a running Docker engine: `docker info` cannot reach one ({hint})"
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0:
        return f"make test-compose needs Compose v2: `docker compose` is not installed ({hint})"
    return None


def compose(*args: str, check: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """`docker compose -p pipeline-sandbox-test ...` in the project, its output captured."""
    done = subprocess.run(
        ["docker", "compose", "-p", PROJECT, *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **ENVIRONMENT},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and done.returncode != 0:
        raise StackTestFailed(f"docker compose {' '.join(args)} failed ({done.returncode}):\n{_tail(done)}")
    return done


def _tail(done: subprocess.CompletedProcess[str], lines: int = 40) -> str:
    return "\n".join((done.stdout + done.stderr).splitlines()[-lines:])


def published_ports() -> dict[str, list[int]]:
    """The host ports each service of the default stack publishes, from `docker compose config`."""
    config = json.loads(compose("config", "--format", "json").stdout)
    return {
        name: [int(port["published"]) for port in service.get("ports", []) if port.get("published")]
        for name, service in config["services"].items()
        if not service.get("profiles")
    }


def busy_ports(ports: list[int]) -> list[int]:
    """The ports something on this machine already listens on."""
    busy = []
    for port in ports:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                busy.append(port)
    return busy


def memory_mb(usage: str) -> float:
    """The used part of `docker stats`' MemUsage, e.g. '1.398GiB / 3GiB' -> 1431.6."""
    used = usage.split("/")[0].strip()
    unit = used.lstrip("0123456789.")
    return float(used.removesuffix(unit)) * UNITS[unit] / 2**20


class MemorySampler:
    """`docker stats` of the test's containers every few seconds, in a thread: peak per container."""

    def __init__(self, report: Report) -> None:
        self.report, self.stopped = report, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> dict[str, float]:
        ids = compose("ps", "-q", check=False).stdout.split()
        if not ids:
            return {}
        stats = subprocess.run(
            ["docker", "stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}", *ids],
            capture_output=True,
            text=True,
        )
        now = {}
        for line in stats.stdout.splitlines():
            name, usage = line.split("\t")
            now[name.removeprefix(f"{PROJECT}-").removesuffix("-1")] = memory_mb(usage)
        for name, mb in now.items():
            self.report.peak_mb[name] = max(mb, self.report.peak_mb.get(name, 0.0))
        self.report.peak_total_mb = max(self.report.peak_total_mb, sum(now.values()))
        return now

    def _run(self) -> None:
        while not self.stopped.wait(2.0):
            self.sample()

    @contextmanager
    def running(self) -> Iterator[None]:
        self.thread.start()
        try:
            yield
        finally:
            self.stopped.set()
            self.thread.join()


def timed(report: Report, name: str, step: Callable[[], object]) -> object:
    print(f"==> {name} ...", flush=True)
    started = time.monotonic()
    outcome = step()
    report.seconds[name] = time.monotonic() - started
    print(f"    {name}: {report.seconds[name]:.1f} s", flush=True)
    return outcome


def warehouse_query(query: str) -> str:
    """One row of the warehouse database as psql prints it unaligned (`a|b`), through psql in the
    postgres container over TCP."""
    done = compose(
        "exec",
        "-T",
        "postgres",
        "sh",
        "-c",
        f'PGPASSWORD="$POSTGRES_PASSWORD" psql -X -h 127.0.0.1 -U "$POSTGRES_USER" -d warehouse -Atc "{query}"',
    )
    return done.stdout.strip()


def check_dashboard(port: int) -> str:
    """The daily-revenue chart the host's browser gets sums to the mart's revenue, day for day."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/charts/daily-revenue", timeout=30) as response:
        figure = json.load(response)
    revenue = next(trace for trace in figure["data"] if trace.get("name") == "revenue")
    days = [(x, y) for x, y in zip(revenue["x"], revenue["y"], strict=True) if y is not None]
    drawn = sum(Decimal(str(y)) for _, y in days).quantize(Decimal("0.01"))
    rows, total = warehouse_query("SELECT count(*), sum(revenue) FROM marts.mart_daily_revenue").split("|")
    if (len(days), drawn) != (int(rows), Decimal(total)):
        raise StackTestFailed(f"the dashboard draws {len(days)} days, {drawn}; the mart holds {rows} days, {total}")
    return f"dashboard: daily revenue drawn as the mart holds it ({rows} days, {total})"


def check_loopback_only() -> str:
    """Every port the running containers publish is bound to 127.0.0.1, as docker reports it."""
    published = []
    for line in compose("ps", "--format", "json").stdout.splitlines():
        for row in json.loads(line) if line.startswith("[") else [json.loads(line)]:
            published += [(row["Service"], p) for p in row.get("Publishers") or [] if p.get("PublishedPort")]
    wide = [f"{service} {p['URL']}:{p['PublishedPort']}" for service, p in published if p["URL"] != "127.0.0.1"]
    if wide or not published:
        raise StackTestFailed(f"ports published beyond 127.0.0.1: {', '.join(wide) or 'none published at all'}")
    return f"ports: all {len(published)} published ports listen on 127.0.0.1 only"


def checkout_state() -> str:
    """Every changed, new and ignored path of the checkout: the containers must add none."""
    return subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def run_stack_test(orders: int, stream_seconds: float) -> Report:
    """The whole test; raises StackTestFailed naming the step that failed."""
    report = Report()
    users = subprocess.run(["docker", "compose", "-p", USER_PROJECT, "ps", "-q"], capture_output=True, text=True)
    if users.stdout.strip():
        raise StackTestFailed("the sandbox's own compose stack is up and holds the ports: `make down` first")
    ports = published_ports()
    if busy := busy_ports([port for service in ports.values() for port in service]):
        raise StackTestFailed(f"ports {busy} are in use on 127.0.0.1 (local services? `sandbox down` first)")
    timed(report, "stand-in images where no registry answers", _standins)
    timed(report, "build", lambda: compose("build"))
    before = checkout_state()
    sampler = MemorySampler(report)
    try:
        timed(report, "up (all healthy)", lambda: compose("up", "--detach", "--wait", timeout=600))
        with sampler.running():
            report.idle_mb = sampler.sample()
            flow = [
                "exec", "-T", "prefect-worker", "sandbox", "run", "pipeline",
                "--param", f"orders={orders}", "--param", f"stream_seconds={stream_seconds}",
            ]  # fmt: skip
            done = timed(report, "pipeline flow on the compose worker", lambda: compose(*flow, timeout=3600))
            print(_tail(done, 45), flush=True)
            if p99 := re.search(r"arrival -> visible p99 ([\d.]+) s", done.stdout + done.stderr):
                report.stream_p99_seconds = float(p99[1])
            reconcile = ["exec", "-T", "prefect-worker", "sandbox", "reconcile", "--marts"]
            reconciled = timed(report, "sandbox reconcile --marts", lambda: compose(*reconcile))  # exit 1 on a diff
            passed = sum("│ ok" in line for line in (reconciled.stdout + reconciled.stderr).splitlines())
            if not passed:  # exit 0 with nothing compared proves nothing
                raise StackTestFailed(f"sandbox reconcile reported no check:\n{_tail(reconciled)}")
            report.checks.append(f"reconcile --marts: exit 0, {passed} checks ok")
            report.checks.append(check_dashboard(ports["dashboard"][0]))
            report.checks.append(check_loopback_only())
    except StackTestFailed:
        print(_tail(compose("logs", "--no-color", "--tail", "30", check=False), 120), file=sys.stderr)
        raise
    finally:
        timed(report, "down -v", lambda: compose("down", "--volumes", "--remove-orphans", check=False))
    if checkout_state() != before:
        raise StackTestFailed("the containers changed the checkout (git status --ignored differs)")
    report.checks.append("checkout: unchanged (git status --ignored as before)")
    return report


def _standins() -> None:
    done = subprocess.run(["bash", str(PROJECT_ROOT / "tests/compose/standins.sh")], text=True)
    if done.returncode != 0:
        raise StackTestFailed("tests/compose/standins.sh failed (its output is above)")


def main() -> None:
    parser = argparse.ArgumentParser(prog="make test-compose", description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=3000, help="orders the pipeline seeds (default 3000)")
    parser.add_argument("--stream-seconds", type=float, default=20.0, help="clickstream seconds (default 20)")
    parser.add_argument("--json", type=Path, help="also write the measurements to this file")
    args = parser.parse_args()
    if problem := missing_docker():
        print(problem, file=sys.stderr)
        sys.exit(2)
    try:
        report = run_stack_test(args.orders, args.stream_seconds)
    except StackTestFailed as failure:
        print(f"make test-compose FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
    measured = report.as_json()
    print("\nseconds per step:", json.dumps(measured["seconds"], indent=2))
    print("container memory MB, idle -> peak:")
    for name, peak in measured["container_peak_mb"].items():
        print(f"  {name:<16} {measured['container_idle_mb'].get(name, 0):>6} -> {peak:>6}")
    print(f"  {'stack':<16} {measured['stack_idle_mb']:>6} -> {measured['stack_peak_mb']:>6}")
    print("\n".join(["checks:", *(f"  {check}" for check in report.checks)]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(measured, indent=2) + "\n")
    print("make test-compose passed")


if __name__ == "__main__":
    main()
