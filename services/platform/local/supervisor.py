"""Starts, watches and stops the local profile's server processes.

Used by `sandbox up/down/status` and by the test session. A service is described by a
`ServiceSpec` (what to run, which ports it claims, how to tell it is ready); the
supervisor runs it detached under a keeper (`keeper.py`: restarts it when it dies, writes
its output to `<home>/logs/<name>.log`, rotated), records the keeper's pid and start
under `<home>/run/` (`processes.py`: a clock step cannot make it a stranger), and waits on
a real readiness probe rather than a sleep.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import psutil

from services.platform.local.processes import MARKER, is_running, marker, processes_of, start_mark

LOG_MAX_BYTES = 10 * 1024 * 1024  # each service's log is rotated at this size
LOG_KEEP = 3  # rotated logs kept beside it


class ServiceError(RuntimeError):
    """A service could not be started; the message says which and why."""


class PortInUseError(ServiceError):
    pass


class OrphansError(ServiceError):
    """Processes this home started, no longer recorded as running, hold a service's port."""

    def __init__(self, message: str, pids: list[int]) -> None:
        super().__init__(message)
        self.pids = pids


@dataclass(frozen=True)
class PortClaim:
    port: int
    setting: str  # the variable a user changes to move the port


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    url: str
    argv: Sequence[str]
    ready: Callable[[], bool]
    ports: Sequence[PortClaim] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    prepare: Callable[[], None] | None = None  # before the first start (initdb, dirs)
    bootstrap: Callable[[], None] | None = None  # after every start, idempotent
    run_as_uid: int | None = None  # run under this uid (Postgres refuses root)
    restart: bool = True  # started again when it dies (the keeper's back-off)
    stop_signal: int = signal.SIGTERM
    start_timeout: float = 60.0


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    url: str
    pid: int | None
    healthy: bool
    restarts: int = 0  # how often the keeper started it again since `sandbox up`

    @property
    def state(self) -> str:
        if self.pid is None:
            return "stopped"
        return "healthy" if self.healthy else "unhealthy"

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "url": self.url, "pid": self.pid, "healthy": self.healthy, "restarts": self.restarts}


def probe(check: Callable[[], bool]) -> bool:
    """Run a readiness check; an exception (refused connection, timeout) means "not ready"."""
    try:
        return check()
    except Exception:  # noqa: BLE001 - any failure of a probe only means "not yet"
        return False


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll `check` until it holds or `timeout` seconds pass: waiting on a fact, not a sleep."""
    deadline = time.monotonic() + timeout
    while not probe(check):
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return "(no log written)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def follow_log(path: Path, poll: float = 0.5) -> Iterator[str]:
    """The lines added to a log from this call on, across its rotations (a new file under the same name)."""
    handle = path.open(errors="replace") if path.exists() else None
    if handle:
        handle.seek(0, os.SEEK_END)  # now, not at the first next(): lines written meanwhile are not lost
    return _new_lines(path, handle, poll)


def _new_lines(path: Path, handle: TextIO | None, poll: float) -> Iterator[str]:
    while True:
        line = handle.readline() if handle else ""
        if line:
            yield line
            continue
        time.sleep(poll)
        rotated = path.exists() and (handle is None or path.stat().st_ino != os.fstat(handle.fileno()).st_ino)
        if rotated:
            if handle:
                yield from handle  # the old file's last lines
                handle.close()
            handle = path.open(errors="replace")


class Supervisor:
    """Keeps pid files, restart counts and logs of one sandbox home folder."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.run_dir = home / "run"
        self.log_dir = home / "logs"

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _pid_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.json"

    def _state_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.keeper.json"

    def _ready_path(self, name: str) -> Path:
        """Exists once the service answered its probe: from then on its keeper restarts it when it dies."""
        return self.run_dir / f"{name}.ready"

    def pid(self, name: str) -> int | None:
        """The pid of the keeper of a running service we started, or None (stale pid files are ignored)."""
        try:
            record = json.loads(self._pid_path(name).read_text())
        except (OSError, ValueError):
            return None
        mark = record.get("start_mark")
        if mark is None or not is_running(record["pid"], mark):  # a record from before start marks: see orphans
            return None
        return record["pid"]

    def _pid_without_keeper(self, spec: ServiceSpec) -> int | None:
        """A service a sandbox before keepers started: its record has no start mark (and no marker in its
        environment), so it is recognised by its command line, which names this home's data and ports."""
        try:
            pid = json.loads(self._pid_path(spec.name).read_text())["pid"]
            return pid if psutil.Process(pid).cmdline() == list(spec.argv) else None
        except (OSError, ValueError, KeyError, psutil.Error):
            return None

    def restarts(self, name: str) -> int:
        try:
            return int(json.loads(self._state_path(name).read_text())["restarts"])
        except (OSError, ValueError, KeyError):
            return 0

    def status(self, spec: ServiceSpec) -> ServiceStatus:
        pid = self.pid(spec.name)
        healthy = pid is not None and probe(spec.ready)
        return ServiceStatus(spec.name, spec.url, pid, healthy, self.restarts(spec.name) if pid else 0)

    def orphans(self) -> dict[str, list[psutil.Process]]:
        """Processes started for this home's services that no running keeper we recorded owns:
        left by a deleted pid file, a record from before start marks, or a keeper killed alone."""
        recorded = {pid for name in self._recorded_names() if (pid := self.pid(name)) is not None}
        found = {}
        for service, processes in processes_of(self.home).items():
            stray = [p for p in processes if not _in_group_of(p, recorded)]
            if stray:
                found[service] = stray
        return found

    def _recorded_names(self) -> list[str]:
        return [p.stem for p in self.run_dir.glob("*.json") if not p.name.endswith(".keeper.json")]

    def start(self, spec: ServiceSpec) -> ServiceStatus:
        """Start `spec` unless it already runs; return once it answers its readiness probe."""
        if self.pid(spec.name) is None:
            self._spawn(spec)
        self._wait_ready(spec)
        if spec.bootstrap:
            spec.bootstrap()
        return self.status(spec)

    def _spawn(self, spec: ServiceSpec) -> None:
        for claim in spec.ports:
            if not port_is_free(claim.port):
                self._refuse_port(spec, claim)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if spec.prepare:
            spec.prepare()
        self._state_path(spec.name).unlink(missing_ok=True)
        self._ready_path(spec.name).unlink(missing_ok=True)
        keeper = [sys.executable, "-m", "services.platform.local.keeper", "--name", spec.name]
        keeper += ["--log", str(self.log_path(spec.name)), "--state", str(self._state_path(spec.name))]
        keeper += ["--log-max-bytes", str(LOG_MAX_BYTES), "--log-keep", str(LOG_KEEP)]
        if spec.run_as_uid is not None:
            keeper += ["--uid", str(spec.run_as_uid)]
        keeper += ["--ready-flag", str(self._ready_path(spec.name))]
        if not spec.restart:
            keeper += ["--no-restart"]
        with self.log_path(spec.name).open("ab") as log:
            process = subprocess.Popen(
                [*keeper, "--", *spec.argv],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,  # the keeper's own failure, if it has one
                cwd=spec.cwd,
                env={**os.environ, **spec.env, MARKER: marker(self.home, spec.name)},
                start_new_session=True,  # survives the CLI that started it; stopped as a group
            )
        record = {"pid": process.pid, "start_mark": start_mark(process.pid), "argv": list(spec.argv)}
        self._pid_path(spec.name).write_text(json.dumps(record))

    def _refuse_port(self, spec: ServiceSpec, claim: PortClaim) -> None:
        orphans = self.orphans()
        if orphans:
            pids = sorted(p.pid for processes in orphans.values() for p in processes)
            names = ", ".join(sorted(orphans))
            raise OrphansError(
                f"{spec.name}: port {claim.port} is in use, and processes this sandbox started but lost track of "
                f"are running ({names}: pids {', '.join(map(str, pids))}); `sandbox down` stops them",
                pids,
            )
        raise PortInUseError(
            f"{spec.name}: port {claim.port} on 127.0.0.1 is already in use by another program; "
            f"set {claim.setting} to a free port (in .env or the environment)"
        )

    def _wait_ready(self, spec: ServiceSpec) -> None:
        """Wait until the service answers, failing fast (with its log) if it exits meanwhile."""
        log = self.log_path(spec.name)
        ready = wait_until(lambda: self.pid(spec.name) is None or spec.ready(), spec.start_timeout)
        if self.pid(spec.name) is None:
            raise ServiceError(f"{spec.name} exited while starting; last lines of {log}:\n{tail(log)}")
        if not ready:
            raise ServiceError(
                f"{spec.name} did not become ready within {spec.start_timeout:.0f} s; last lines of {log}:\n{tail(log)}"
            )
        self._ready_path(spec.name).touch()

    def stop(self, spec: ServiceSpec, timeout: float = 20.0) -> bool:
        """Stop the service's whole process group (keeper and service); True if something was running."""
        pid = self.pid(spec.name) or self._pid_without_keeper(spec)
        self._pid_path(spec.name).unlink(missing_ok=True)
        if pid is None:
            return False
        _stop_group(pid, spec.stop_signal, timeout)
        return True

    def stop_orphans(self, timeout: float = 20.0) -> dict[str, list[int]]:
        """Stop every process of this home's services that no recorded keeper owns; return their pids."""
        stopped: dict[str, list[int]] = {}
        for service, processes in self.orphans().items():
            for group in sorted({_group(p) for p in processes} - {None}):
                _stop_group(group, signal.SIGTERM, timeout)
            stopped[service] = sorted(p.pid for p in processes)
        return stopped


def _group(process: psutil.Process) -> int | None:
    try:
        return os.getpgid(process.pid)
    except OSError:
        return None


def _in_group_of(process: psutil.Process, leaders: set[int]) -> bool:
    """True if `process` is one of `leaders`, in one of their groups, or a descendant of one."""
    if process.pid in leaders or _group(process) in leaders:
        return True
    try:
        return any(parent.pid in leaders for parent in process.parents())
    except psutil.Error:
        return False


def _stop_group(leader: int, stop_signal: int, timeout: float) -> None:
    """Signal a process group, wait for its leader, and kill the group if it outlasts `timeout`."""
    try:
        os.killpg(leader, stop_signal)
    except ProcessLookupError:
        return
    try:
        psutil.Process(leader).wait(timeout)
    except psutil.TimeoutExpired:
        os.killpg(leader, signal.SIGKILL)
    except psutil.NoSuchProcess:
        pass
