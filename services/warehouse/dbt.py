"""dbt, run as a child process against the profile's target.

A child process rather than dbt's in-process API, for two reasons. A run that stalls can be
stopped: after `dbt.timeout_seconds` the child prints every thread's stack (faulthandler) and
is ended, and the error names the nodes still running and the warehouse sessions they wait for.
And nothing a run leaves in a process (adapters, connection pools, logging handlers, threads,
finalizers) meets the caller's own threads (Spark's, Prefect's, a stream's).

The connection comes from `Settings` (as DBT_* / SNOWFLAKE_* variables that `dbt/profiles.yml`
reads); dbt's target and log folders live under the sandbox home, so runs of the tests and of
the user never write into each other's. dbt's lines are echoed as they come (the progress of a
long build); the results are read back from `run_results.json`. A failed test is reported with
a few of the rows that broke it, fetched with `dbt show`, so the reason is in the error, not in
a log file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.platform.clients import Role, dbt_environment, postgres_connect
from services.platform.pg_sessions import describe_sessions
from services.platform.settings import DBT_PROJECT_DIR, Settings

log = logging.getLogger(__name__)

SAMPLE_ROWS = 5
TAIL_LINES = 40
# dbt's own entry point, named "dbt" in its usage lines; SIGUSR1 prints every thread's stack
# (faulthandler, on for crashes too with -X)
DBT_MAIN = (
    "import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True); "
    "sys.argv[0] = 'dbt'; from dbt.cli.main import cli; sys.exit(cli())"
)
STACK_GRACE_SECONDS = 10  # at most, for the child to print its threads' stacks before it is killed
# "  12 of 182 START sql view model staging.stg_x ...... [RUN]", "  12 of 182 OK created ..."
PROGRESS = re.compile(r"\s(\d+) of \d+ (START|OK|PASS|WARN|ERROR|FAIL|SKIP)\b(.*?)(?:\s\.+\s|\s\[|$)")


@dataclass(frozen=True)
class NodeResult:
    """One node of a run, as `run_results.json` holds it."""

    unique_id: str
    status: str
    message: str
    compiled_code: str
    rows_affected: int | None

    @property
    def resource_type(self) -> str:
        return self.unique_id.split(".")[0]

    @property
    def name(self) -> str:
        return self.unique_id.split(".")[2]


@dataclass(frozen=True)
class DbtRun:
    args: tuple[str, ...]
    returncode: int
    results: list[NodeResult]
    tail: str  # the last lines dbt printed: the reason when a command fails before any node runs

    @property
    def success(self) -> bool:
        return self.returncode == 0

    def error(self) -> str:
        return f"dbt {self.args[0]} exited with code {self.returncode}:\n{self.tail}"


@dataclass(frozen=True)
class Failure:
    node: str
    status: str
    message: str
    sample: str  # a few failing rows as a text table ("" for models)


class DbtBuildError(RuntimeError):
    def __init__(self, failures: list[Failure]) -> None:
        self.failures = failures
        lines = [f"dbt build failed: {len(failures)} node(s)"]
        for failure in failures:
            lines.append(f"- {failure.node} [{failure.status}]: {failure.message}")
            lines.extend("    " + line for line in failure.sample.splitlines())
        super().__init__("\n".join(lines))


class DbtTimeoutError(RuntimeError):
    """A dbt command that ran past `dbt.timeout_seconds`; its child was stopped."""


def target_dir(settings: Settings) -> Path:
    return settings.home / "dbt" / "target"


def dbt(settings: Settings, *args: str, timeout: float | None = None) -> DbtRun:
    """Run one dbt command (e.g. "build", "--select", "marts") against the profile's target.
    `timeout` (seconds; default `dbt.timeout_seconds`, 0 for none) bounds the whole command."""
    project = str(DBT_PROJECT_DIR)
    common = ["--project-dir", project, "--profiles-dir", project, "--target", settings.dbt.target]
    if args[0] not in ("parse", "deps", "clean"):
        common += ["--threads", str(settings.dbt.threads)]
    paths = ["--target-path", str(target_dir(settings)), "--log-path", str(settings.home / "dbt" / "logs")]
    argv = [sys.executable, "-X", "faulthandler", "-c", DBT_MAIN, args[0], *args[1:], *common, *paths]
    results_file = target_dir(settings) / "run_results.json"
    results_file.unlink(missing_ok=True)  # a command that writes none must not read an earlier one's
    limit = settings.dbt.timeout_seconds if timeout is None else timeout
    # unbuffered: progress arrives as it happens, and nothing is lost when the child is stopped
    env = {**os.environ, **dbt_environment(settings), "PYTHONUNBUFFERED": "1", "DBT_USE_COLORS": "false"}
    # its own process group: a stop reaches the processes dbt starts too (multiprocessing's
    # resource tracker), which share its output pipe
    child = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1, start_new_session=True
    )
    output = _Output(child)
    started = time.monotonic()
    log.info(
        "dbt %s started (pid %d, stopped after %s)",
        " ".join(args),
        child.pid,
        f"{limit:.0f} s" if limit else "no limit",
    )
    try:
        returncode = child.wait(limit or None)
    except subprocess.TimeoutExpired:
        output.stopping = True
        child.send_signal(signal.SIGUSR1)  # its faulthandler prints every thread's stack
        output.quiet_for(STACK_GRACE_SECONDS)
        lines = [*output.tail, *output.stacks]
        raise _timed_out(settings, args[0], limit, list(output.running.values()), lines) from None
    finally:
        if child.returncode is None:  # timed out, or the caller was interrupted (a test's timeout, Ctrl-C)
            _end_group(child)
        output.finish(child)
    log.info("dbt %s exited with code %d in %.1f s", args[0], returncode, time.monotonic() - started)
    return DbtRun(tuple(args), returncode, _results(results_file), "\n".join(output.tail))


class _Output:
    """Reads the child's lines on a thread as they come: echoes them (the progress of a long
    build), keeps the last few (the reason when a command fails before any node runs), the nodes
    running, and, once the child is being stopped, the stacks it prints."""

    def __init__(self, child: subprocess.Popen) -> None:
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.running: dict[str, str] = {}
        self.stacks: list[str] = []
        self.stopping = False
        self._last_line = time.monotonic()
        self._reader = threading.Thread(target=self._read, args=(child.stdout,), name="dbt-output", daemon=True)
        self._reader.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self._last_line = time.monotonic()
            sys.stdout.write(line)
            (self.stacks if self.stopping else self.tail).append(line.rstrip("\n"))
            if match := PROGRESS.search(line):
                index, status, what = match.groups()
                if status == "START":
                    self.running[index] = what.strip()
                else:
                    self.running.pop(index, None)

    def quiet_for(self, limit: float) -> None:
        """Wait until the child has printed nothing for a second (its stacks are out), at most `limit` s."""
        now = time.monotonic()
        self._last_line, deadline = now, now + limit
        while time.monotonic() < deadline and time.monotonic() - self._last_line < 1:
            time.sleep(0.1)

    def finish(self, child: subprocess.Popen) -> None:
        """Read the rest: the pipe closes once dbt and its helpers have exited; a helper that
        outlives dbt by more than a few seconds is ended with it."""
        self._reader.join(STACK_GRACE_SECONDS)
        if self._reader.is_alive():
            _end_group(child)
            self._reader.join(STACK_GRACE_SECONDS)


def _end_group(child: subprocess.Popen) -> None:
    """Kill the child's process group (dbt and the helpers it started) and reap the child."""
    with contextlib.suppress(ProcessLookupError):  # the group has ended already
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def _timed_out(settings: Settings, command: str, limit: float, running: list[str], lines: list[str]) -> DbtTimeoutError:
    log.error("dbt %s stopped after %.0f s; its last lines:\n%s", command, limit, "\n".join(lines))
    return DbtTimeoutError(
        f"dbt {command} did not finish within {limit:.0f} s (dbt.timeout_seconds) and was stopped. "
        f"Still running: {', '.join(running) or 'no node'}. "
        f"dbt's warehouse sessions: {waiting_sessions(settings) or 'none busy'}. "
        f"Where its threads were: {innermost_frames(lines) or 'not printed'}"
    )


def innermost_frames(lines: list[str], per_thread: int = 2) -> str:
    """faulthandler's dump ("Thread 0x... (most recent call first):" then "  File ..., line N in
    f" lines), shortened to each thread's innermost frames."""
    threads: list[list[str]] = []
    for line in lines:
        if line.startswith(("Thread 0x", "Current thread 0x")):
            threads.append([])
        elif threads and line.startswith("  File ") and len(threads[-1]) < per_thread:
            path, _, where = line.strip().removeprefix("File ").partition(", line ")
            threads[-1].append(f"{where} ({Path(path.strip(chr(34))).name})")
    return " | ".join(" < ".join(frames) for frames in threads if frames)


def waiting_sessions(settings: Settings) -> str:
    """dbt's sessions in the warehouse that are not idle, with what they wait for and on whom
    (Postgres only; the lock manager tells any role who blocks whom)."""
    if settings.warehouse.engine != "postgres":
        return ""
    query = """
        SELECT pid, state, coalesce(wait_event_type || ':' || wait_event, 'not waiting'),
               round(extract(epoch FROM now() - query_start)), pg_blocking_pids(pid),
               left(regexp_replace(query, '^\\s*/\\*.*?\\*/\\s*', ''), 160)  -- without dbt's query comment
        FROM pg_stat_activity
        WHERE datname = current_database() AND usename = current_user AND state <> 'idle'
          AND pid <> pg_backend_pid()
    """
    try:
        with postgres_connect(settings, settings.postgres.warehouse_db, Role.DBT, autocommit=True) as conn:
            rows = conn.execute(query).fetchall()
            described = describe_sessions(conn, [pid for row in rows for pid in row[4]])
    except Exception as error:  # noqa: BLE001 - a report on the way to an error must not replace it
        return f"not read ({error})"
    return "; ".join(
        f"pid {pid} {state}, {wait} for {age} s, blocked by "
        f"{', '.join(described.get(b, f'pid {b}') for b in blocked_by) or 'nobody'}: {text!r}"
        for pid, state, wait, age, blocked_by, text in rows
    )


def _results(path: Path) -> list[NodeResult]:
    if not path.exists():
        return []
    return [
        NodeResult(
            r["unique_id"],
            r["status"],
            (r.get("message") or "").strip(),
            r.get("compiled_code") or "",
            (r.get("adapter_response") or {}).get("rows_affected"),
        )
        for r in json.loads(path.read_text())["results"]
    ]


def manifest_nodes(settings: Settings) -> dict[str, dict[str, Any]]:
    """The nodes of the manifest the last command wrote (configs, schemas, aliases)."""
    return json.loads((target_dir(settings) / "manifest.json").read_text())["nodes"]


def build(settings: Settings, select: list[str] | None = None, full_refresh: bool = False) -> DbtRun:
    """`dbt build`: models, snapshots, seeds and tests in dependency order; raises on any failure."""
    args = ["build", *(["--select", *select] if select else []), *(["--full-refresh"] if full_refresh else [])]
    outcome = dbt(settings, *args)
    if outcome.success:
        return outcome
    failed = [r for r in outcome.results if r.status in ("fail", "error")]
    if not failed:
        raise RuntimeError(f"dbt build could not run: {outcome.error()}")
    raise DbtBuildError([_failure(settings, r) for r in failed])


def _failure(settings: Settings, result: NodeResult) -> Failure:
    sample = ""
    if result.resource_type == "test" and result.status == "fail" and result.compiled_code:
        shown = dbt(settings, "show", "--inline", result.compiled_code, "--limit", str(SAMPLE_ROWS), "--quiet")
        if shown.success:
            sample = shown.tail.strip()
    return Failure(result.unique_id, result.status, result.message, sample)
