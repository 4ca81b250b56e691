"""Kinesis from kinesalite (npm), bound to 127.0.0.1, its streams kept in LevelDB."""

from __future__ import annotations

from services.platform.local import toolchain
from services.platform.local.supervisor import PortClaim, ServiceSpec
from services.platform.settings import Settings, port_of


def _ready(settings: Settings) -> bool:
    from services.platform.clients import kinesis_client  # boto3: slow to import, needed only here

    kinesis_client(settings).list_streams(Limit=1)
    return True


def kinesis_service(settings: Settings) -> ServiceSpec:
    url = settings.kinesis.endpoint_url or ""
    port, data_dir = port_of(url), settings.home / "kinesis"
    return ServiceSpec(
        name="kinesis",
        url=url,
        argv=[str(toolchain.node_bin()), str(toolchain.KINESALITE_DIR / "server.js")],
        ports=[PortClaim(port, "SANDBOX_KINESIS__ENDPOINT_URL")],
        env={"KINESIS_HOST": "127.0.0.1", "KINESIS_PORT": str(port), "KINESIS_DATA_DIR": str(data_dir)},
        ready=lambda: _ready(settings),
        prepare=lambda: data_dir.mkdir(parents=True, exist_ok=True),
    )
