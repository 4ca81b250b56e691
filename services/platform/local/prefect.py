"""The Prefect server (on the sandbox Postgres) and a process worker that runs deployments."""

from __future__ import annotations

import httpx

from services.platform.clients import Role, postgres_credentials, prefect_environment
from services.platform.local import toolchain
from services.platform.local.supervisor import PortClaim, ServiceSpec
from services.platform.settings import PROJECT_ROOT, Settings, port_of

WORKER_NAME = "sandbox-local-worker"


def _database_url(settings: Settings) -> str:
    user, password = postgres_credentials(settings, Role.PREFECT)
    pg = settings.postgres
    return f"postgresql+asyncpg://{user}:{password}@{pg.host}:{pg.port}/{pg.prefect_db}"


def _server_ready(settings: Settings) -> bool:
    response = httpx.get(f"{settings.prefect.api_url}/health", timeout=2)
    return response.status_code == 200


def _worker_ready(settings: Settings) -> bool:
    response = httpx.post(
        f"{settings.prefect.api_url}/work_pools/{settings.prefect.work_pool}/workers/filter", json={}, timeout=2
    )
    return response.status_code == 200 and any(
        w["name"] == WORKER_NAME and w["status"] == "ONLINE" for w in response.json()
    )


def prefect_server_service(settings: Settings) -> ServiceSpec:
    port = port_of(settings.prefect.api_url)
    return ServiceSpec(
        name="prefect-server",
        url=settings.prefect.api_url.removesuffix("/api"),
        argv=[str(toolchain.script("prefect")), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        ports=[PortClaim(port, "SANDBOX_PREFECT__API_URL")],
        env={**prefect_environment(settings), "PREFECT_API_DATABASE_CONNECTION_URL": _database_url(settings)},
        ready=lambda: _server_ready(settings),
        start_timeout=180.0,  # the first start runs the database migrations
    )


def prefect_worker_service(settings: Settings) -> ServiceSpec:
    pool = settings.prefect.work_pool
    return ServiceSpec(
        name="prefect-worker",
        url=f"work pool {pool!r}",
        argv=[
            str(toolchain.script("prefect")),
            "worker",
            "start",
            "--pool",
            pool,
            "--type",
            "process",
            "--name",
            WORKER_NAME,
        ],
        env=prefect_environment(settings),
        cwd=PROJECT_ROOT,  # flow runs import `flows` and `services` from here
        ready=lambda: _worker_ready(settings),
    )
