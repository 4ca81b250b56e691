"""Starts, watches and stops the local profile's server processes.

Used by `sandbox up/down/status` and by the test session. A service is described by a
`ServiceSpec` (what to run, which ports it claims, how to tell it is ready); the
supervisor runs it detached, records its pid under `<home>/run/`, sends its output to
`<home>/logs/<name>.log`, and waits on a real readiness probe rather than a sleep.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil


class ServiceError(RuntimeError):
    """A service could not be started; the message says which and why."""


class PortInUseError(ServiceError):
    pass


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
    stop_signal: int = signal.SIGTERM
    start_timeout: float = 60.0


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    url: str
    pid: int | None
    healthy: bool

    @property
    def state(self) -> str:
        if self.pid is None:
            return "stopped"
        return "healthy" if self.healthy else "unhealthy"

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "url": self.url, "pid": self.pid, "healthy": self.healthy}


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


class Supervisor:
    """Keeps pid files and logs of one sandbox home folder."""

    def __init__(self, home: Path) -> None:
        self.run_dir = home / "run"
        self.log_dir = home / "logs"

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _pid_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.json"

    def pid(self, name: str) -> int | None:
        """The pid of a running service we started, or None (stale pid files are ignored)."""
        path = self._pid_path(name)
        if not path.exists():
            return None
        record = json.loads(path.read_text())
        try:
            process = psutil.Process(record["pid"])
            if abs(process.create_time() - record["created"]) > 1 or not process.is_running():
                return None
            if process.status() == psutil.STATUS_ZOMBIE:
                return None
        except psutil.NoSuchProcess:
            return None
        return record["pid"]

    def status(self, spec: ServiceSpec) -> ServiceStatus:
        pid = self.pid(spec.name)
        healthy = pid is not None and probe(spec.ready)
        return ServiceStatus(spec.name, spec.url, pid, healthy)

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
                raise PortInUseError(
                    f"{spec.name}: port {claim.port} on 127.0.0.1 is already in use; "
                    f"set {claim.setting} to a free port (in .env or the environment)"
                )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if spec.prepare:
            spec.prepare()
        log = self.log_path(spec.name).open("ab")
        identity = {}
        if spec.run_as_uid is not None:
            identity = {"user": spec.run_as_uid, "group": spec.run_as_uid, "extra_groups": []}
        process = subprocess.Popen(
            list(spec.argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=spec.cwd,
            env={**os.environ, **spec.env},
            start_new_session=True,  # survives the CLI that started it; stopped as a group
            **identity,
        )
        log.close()
        created = psutil.Process(process.pid).create_time()
        self._pid_path(spec.name).write_text(json.dumps({"pid": process.pid, "created": created}))

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

    def stop(self, spec: ServiceSpec, timeout: float = 20.0) -> bool:
        """Stop the service's whole process group; True if something was running."""
        pid = self.pid(spec.name)
        self._pid_path(spec.name).unlink(missing_ok=True)
        if pid is None:
            return False
        try:
            os.killpg(pid, spec.stop_signal)
        except ProcessLookupError:
            return True
        try:
            psutil.Process(pid).wait(timeout)
        except psutil.TimeoutExpired:
            os.killpg(pid, signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
        return True
