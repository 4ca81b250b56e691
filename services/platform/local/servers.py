"""The local profile's servers, each a process started from a pip or npm package.

`local_services(settings)` lists them in start order (Prefect needs Postgres, the worker
needs the Prefect server); `sandbox up` starts them and the test session does the same.
"""

from __future__ import annotations

from services.platform.local.dashboard import dashboard_service
from services.platform.local.kinesis import kinesis_service
from services.platform.local.object_store import object_store_service
from services.platform.local.postgres import postgres_service
from services.platform.local.prefect import prefect_server_service, prefect_worker_service
from services.platform.local.supervisor import ServiceSpec
from services.platform.settings import Settings


def local_services(settings: Settings) -> list[ServiceSpec]:
    return [
        postgres_service(settings),
        object_store_service(settings),
        kinesis_service(settings),
        prefect_server_service(settings),
        prefect_worker_service(settings),
        dashboard_service(settings),
    ]
