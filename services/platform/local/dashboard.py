"""The dashboard (the Looker role) as a local service, so `sandbox up` serves it with the rest."""

from __future__ import annotations

import httpx

from services.platform.local import toolchain
from services.platform.local.supervisor import PortClaim, ServiceSpec
from services.platform.settings import PROJECT_ROOT, Settings


def dashboard_service(settings: Settings) -> ServiceSpec:
    url = f"http://{settings.dashboard.host}:{settings.dashboard.port}"
    return ServiceSpec(
        name="dashboard",
        url=url,
        argv=[str(toolchain.script("sandbox")), "dashboard"],
        ports=[PortClaim(settings.dashboard.port, "SANDBOX_DASHBOARD__PORT")],
        cwd=PROJECT_ROOT,
        ready=lambda: httpx.get(f"{url}/healthz", timeout=2).status_code == 200,
    )
