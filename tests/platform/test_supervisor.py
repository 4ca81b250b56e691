"""The supervisor under a laptop's life: clock steps, lost pid files, strangers, deaths, big logs.

A small HTTP server stands for a service here (the mechanism is the same for every one);
`test_services.py` and `test_restart.py` drive the real ones.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from services.platform.local import keeper
from services.platform.local.supervisor import (
    OrphansError,
    PortClaim,
    PortInUseError,
    ServiceSpec,
    Supervisor,
    follow_log,
    port_is_free,
    wait_until,
)
from tests.cli import sandbox
from tests.ports import free_ports


def http_service(port: int, name: str = "toy") -> ServiceSpec:
    return ServiceSpec(
        name=name,
        url=f"http://127.0.0.1:{port}",
        argv=[sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        ready=lambda: httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200,
        ports=[PortClaim(port, "TOY_PORT")],
        start_timeout=20,
    )


@pytest.fixture
def toy(tmp_path: Path) -> Iterator[tuple[Supervisor, ServiceSpec]]:
    supervisor, spec = Supervisor(tmp_path / "home"), http_service(free_ports(1)[0])
    yield supervisor, spec
    supervisor.stop(spec)
    supervisor.stop_orphans()


def service_process(supervisor: Supervisor, spec: ServiceSpec) -> psutil.Process:
    """The service's own process (the keeper's child)."""
    (child,) = psutil.Process(supervisor.pid(spec.name)).children()
    return child


def test_a_clock_step_does_not_hide_a_running_service(toy, monkeypatch: pytest.MonkeyPatch) -> None:
    supervisor, spec = toy
    pid = supervisor.start(spec).pid
    # What a step of the wall clock does to psutil: the boot time, and so every create_time, moves.
    real = psutil.Process.create_time
    monkeypatch.setattr(psutil, "boot_time", lambda: time.time() - 18)
    monkeypatch.setattr(psutil.Process, "create_time", lambda self: real(self) + 18)
    assert supervisor.status(spec).pid == pid and supervisor.status(spec).healthy
    assert supervisor.start(spec).pid == pid  # `up` again: the same process, nothing new started
    assert supervisor.stop(spec)
    assert wait_until(lambda: port_is_free(spec.ports[0].port), 10)


def test_down_stops_what_up_started_when_the_pid_file_is_gone(toy) -> None:
    supervisor, spec = toy
    keeper_pid = supervisor.start(spec).pid
    child = service_process(supervisor, spec)
    for record in supervisor.run_dir.glob("*.json"):
        record.unlink()
    assert supervisor.status(spec).pid is None
    found = supervisor.orphans()
    assert {p.pid for p in found[spec.name]} == {keeper_pid, child.pid}
    assert supervisor.stop_orphans() == {spec.name: sorted([keeper_pid, child.pid])}
    assert not psutil.pid_exists(child.pid) or child.status() == psutil.STATUS_ZOMBIE
    assert supervisor.orphans() == {}
    assert supervisor.start(spec).healthy  # the port is free again


def test_up_on_a_port_an_orphan_holds_names_its_pids(toy) -> None:
    supervisor, spec = toy
    keeper_pid = supervisor.start(spec).pid
    child = service_process(supervisor, spec)
    (supervisor.run_dir / f"{spec.name}.json").unlink()
    with pytest.raises(OrphansError) as error:
        supervisor.start(spec)
    assert error.value.pids == sorted([keeper_pid, child.pid])
    assert f"port {spec.ports[0].port} is in use" in str(error.value)
    assert "`sandbox down` stops them" in str(error.value)


def test_a_stranger_on_the_port_is_refused_and_never_stopped(toy) -> None:
    supervisor, spec = toy
    port = spec.ports[0].port
    stranger = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"])
    try:
        assert wait_until(lambda: not port_is_free(port), 10)
        with pytest.raises(PortInUseError, match=f"port {port} on 127.0.0.1 is already in use by another program"):
            supervisor.start(spec)
        assert supervisor.stop_orphans() == {}
        assert stranger.poll() is None
    finally:
        stranger.terminate()
        stranger.wait()


def test_a_service_that_dies_comes_back_and_status_counts_it(toy) -> None:
    supervisor, spec = toy
    keeper_pid = supervisor.start(spec).pid
    first = service_process(supervisor, spec)
    first.kill()
    assert wait_until(lambda: supervisor.restarts(spec.name) == 1 and supervisor.status(spec).healthy, 20)
    assert supervisor.status(spec).pid == keeper_pid
    assert service_process(supervisor, spec).pid != first.pid
    assert f"{spec.name}: exited with code -9" in supervisor.log_path(spec.name).read_text()
    assert supervisor.status(spec).restarts == 1


def test_a_service_killed_with_its_keeper_is_stopped_and_up_brings_it_back(toy) -> None:
    supervisor, spec = toy
    pid = supervisor.start(spec).pid
    os.killpg(pid, signal.SIGKILL)
    assert wait_until(lambda: supervisor.status(spec).pid is None, 10)
    assert supervisor.status(spec).state == "stopped"
    assert wait_until(lambda: port_is_free(spec.ports[0].port), 10)  # the kill is asynchronous: the group's exit
    assert supervisor.start(spec).healthy


def test_the_log_is_rotated_and_only_the_last_few_are_kept(tmp_path: Path) -> None:
    log = tmp_path / "chatty.log"
    command = [sys.executable, "-c", "for i in range(3000): print(f'line {i:05d} ' + 'x' * 60)"]
    ran = subprocess.run(
        [sys.executable, "-m", keeper.__name__, "--name", "chatty", "--log", str(log),
         "--state", str(tmp_path / "state.json"), "--ready-flag", str(tmp_path / "ready"), "--no-restart",
         "--log-max-bytes", "20000", "--log-keep", "2", "--", *command],
        timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 0
    assert sorted(p.name for p in tmp_path.glob("chatty.log*")) == ["chatty.log", "chatty.log.1", "chatty.log.2"]
    assert all(p.stat().st_size <= 20000 for p in tmp_path.glob("chatty.log*"))
    kept = "".join((tmp_path / name).read_text() for name in ("chatty.log.2", "chatty.log.1", "chatty.log"))
    numbers = [int(line.split()[1]) for line in kept.splitlines() if line.startswith("line ")]
    assert numbers == list(range(numbers[0], 3000))  # the newest lines, in order, none lost within


def test_following_a_log_goes_on_across_its_rotation(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    log.write_text("old\n")
    lines = follow_log(log, poll=0.01)
    with log.open("a") as f:
        f.write("one\n")
    assert next(lines) == "one\n"
    with log.open("a") as f:
        f.write("two\n")
    log.rename(tmp_path / "svc.log.1")
    log.write_text("three\n")
    assert [next(lines), next(lines)] == ["two\n", "three\n"]


def test_down_stops_a_service_an_older_sandbox_started_without_a_keeper(toy) -> None:
    supervisor, spec = toy
    old = subprocess.Popen(list(spec.argv), start_new_session=True)  # as sandboxes before keepers did
    supervisor.run_dir.mkdir(parents=True)
    (supervisor.run_dir / f"{spec.name}.json").write_text(json.dumps({"pid": old.pid, "created": 0.0}))
    assert wait_until(spec.ready, 20)
    assert supervisor.status(spec).pid is None
    assert supervisor.stop(spec)
    assert old.wait(timeout=20) is not None


@pytest.mark.parametrize(
    ("args", "service", "setting"),
    [
        (("tick", "--orders", "1"), "postgres", "SANDBOX_POSTGRES__PORT"),
        (("stream", "produce", "--events", "1"), "postgres", "SANDBOX_POSTGRES__PORT"),
    ],
)
def test_a_stage_whose_service_is_down_says_which_in_one_line(args, service, setting) -> None:
    port = free_ports(1)[0]
    ran = sandbox(*args, env={setting: str(port)})
    assert ran.returncode == 1
    assert ran.stderr.strip().splitlines()[-1] == (
        f"error: {service} (postgresql://127.0.0.1:{port}) is not answering: start the local services with "
        "`sandbox up` (`sandbox status` shows which are down)"
    )
    assert "Traceback" not in ran.stderr
