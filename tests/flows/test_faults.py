"""Services killed with SIGKILL in the middle of a `pipeline` run, as a laptop's life kills them.

Each service dies the moment a stage that needs it starts: Postgres as replication begins,
SeaweedFS (S3 and the catalog) as silver begins, the Kinesis emulator as the stream begins,
the Prefect server as the warehouse load begins. Its keeper starts it again. The run either
completes, exact, or fails with an error that names a service that died; the next run completes
and every hop reconciles. Never a row lost or doubled in between.
"""

from __future__ import annotations

import importlib
import signal
from collections.abc import Callable
from typing import Any

import psutil
import pytest

from services.platform.local.servers import local_services
from services.platform.local.supervisor import Supervisor, wait_until

ORDERS, SEED = 300, 7
# (service, the stage module and function at whose start it dies)
KILLS = [
    ("postgres", "services.replication.stage", "replicate"),
    ("seaweedfs", "services.lakehouse.stage", "apply_silver"),
    ("kinesis", "services.streaming.stage", "stream"),
    ("prefect-server", "services.warehouse.stage", "load_lake"),
]


def kill_service(supervisor: Supervisor, name: str) -> int:
    """SIGKILL the service's own process (its keeper's child), as the kernel's OOM killer would."""
    (service,) = psutil.Process(supervisor.pid(name)).children()
    service.send_signal(signal.SIGKILL)
    return service.pid


def killing_first(stage: Callable[..., Any], supervisor: Supervisor, name: str, killed: list[str]) -> Callable:
    def run(*args: Any, **kwargs: Any) -> Any:
        if name not in killed:  # once: a retry of the stage meets the restarted service
            kill_service(supervisor, name)
            killed.append(name)
        return stage(*args, **kwargs)

    return run


def run_pipeline() -> Any:
    from flows.pipeline import pipeline

    return pipeline(orders=ORDERS, seed=SEED, tick_orders=20, stream_seconds=5, stream_rate=200, return_state=True)


def test_services_killed_mid_run_come_back_and_the_next_run_is_exact(
    settings, services, spark, monkeypatch: pytest.MonkeyPatch
) -> None:
    supervisor = Supervisor(settings.home)
    specs = {spec.name: spec for spec in local_services(settings)}
    restarts_before = {name: supervisor.restarts(name) for name, *_ in KILLS}
    killed: list[str] = []
    for name, module, function in KILLS:
        stage = importlib.import_module(module)
        monkeypatch.setattr(stage, function, killing_first(getattr(stage, function), supervisor, name, killed))

    faulty = run_pipeline()
    monkeypatch.undo()

    assert sorted(killed) == sorted(name for name, *_ in KILLS)  # the stream starts beside replication
    if faulty.is_completed():  # the keepers and the stages' retries carried it through: exact
        assert faulty.result()["checks"] == 27
    else:  # a failure must say which service was gone
        assert any(specs[name].url.split(" ")[0] in (faulty.message or "") or name in (faulty.message or "")
                   for name in killed), faulty.message  # fmt: skip

    def back(name: str) -> bool:
        return supervisor.restarts(name) > restarts_before[name] and supervisor.status(specs[name]).healthy

    for name in killed:
        assert wait_until(lambda name=name: back(name), 120), f"{name} is not back: {supervisor.status(specs[name])}"

    after = run_pipeline()
    assert after.is_completed(), after.message
    assert after.result()["checks"] == 27  # every table at every hop, the stream and the incremental models
