"""The deployments the worker runs, with the seeds' schedules; `sandbox deploy` registers them.

Each points at its flow's file in the checkout that registers it (a process work pool runs it
in place), so the Prefect UI shows every flow, its schedule and its runs. The worker must see
the checkout at the same path: locally that is this project; in the compose profile the
`deployments` service registers them from inside the containers, whose checkout is /app.
"""

from __future__ import annotations

import io
from contextlib import redirect_stdout, suppress
from dataclasses import dataclass

from prefect import Flow

from services.platform.settings import PROJECT_ROOT, Settings

DEPLOYMENT_NAME = "sandbox"


@dataclass(frozen=True)
class Deployment:
    flow: str
    entrypoint: str
    cron: str | None  # None: run on demand (`sandbox run FLOW`)
    description: str


DEPLOYMENTS: tuple[Deployment, ...] = (
    Deployment("generate", "flows/stages.py:generate", "0 */2 * * *", "A tick of shop changes every 2 hours"),
    Deployment("replicate", "flows/stages.py:replicate", "0 1 * * *", "Daily CDC to raw, 01:00"),
    Deployment("lakehouse", "flows/stages.py:lakehouse", "30 1 * * *", "Daily raw -> silver, 01:30"),
    Deployment("transform", "flows/stages.py:transform", "0 2 * * *", "Daily warehouse + dbt + export, 02:00"),
    Deployment("maintain", "flows/stages.py:maintain", "0 3 * * 0", "Weekly table maintenance, Sunday 03:00"),
    Deployment("stream", "flows/stages.py:stream", None, "Produce and consume clickstream for a while"),
    Deployment("pipeline", "flows/pipeline.py:pipeline", None, "Everything end to end, then reconcile"),
)


def deploy_all(settings: Settings) -> list[str]:
    """Create or update every deployment on the settings' work pool; returns their names."""
    _ensure_work_pool(settings.prefect.work_pool)
    names = []
    for spec in DEPLOYMENTS:
        flow = Flow.from_source(source=str(PROJECT_ROOT), entrypoint=spec.entrypoint)
        with redirect_stdout(io.StringIO()):  # Prefect prints a table per deployment; the caller reports
            flow.deploy(
                name=DEPLOYMENT_NAME,
                work_pool_name=settings.prefect.work_pool,
                cron=spec.cron,
                paused=not settings.prefect.schedules_active,
                description=spec.description,
                build=False,
                push=False,
                print_next_steps=False,
                ignore_warnings=True,
            )
        names.append(f"{spec.flow}/{DEPLOYMENT_NAME}")
    return names


def _ensure_work_pool(name: str) -> None:
    """Create the process work pool if the server has none of that name. A worker creates its
    pool when it starts, but deployments may be registered first (the compose profile does)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
        except ObjectNotFound:
            with suppress(ObjectAlreadyExists):  # a worker starting just now made it
                client.create_work_pool(WorkPoolCreate(name=name, type="process"))
