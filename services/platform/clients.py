"""Client factories for Postgres, S3 and Kinesis: the only place stages get these clients from.

Each factory reads the endpoint and credentials from `Settings`; an endpoint of None means
"the real AWS endpoint" and credentials of None mean "the standard AWS credential chain",
which is how the same stage code runs on every profile.
"""

from __future__ import annotations

import os
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import boto3
import psycopg
from botocore import UNSIGNED
from botocore.config import Config

from services.platform.settings import DBT_PROJECT_DIR, Settings

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_s3 import S3Client


class Role(StrEnum):
    """Postgres login roles, each allowed only what its stage needs."""

    ADMIN = "admin"  # platform bootstrap only
    APP = "app"  # the source application: writes the `source` database
    REPLICATION = "replication"  # reads `source` and its replication slot
    DBT = "dbt"  # owns the `warehouse` database
    PREFECT = "prefect"  # the orchestrator's metadata database


def postgres_credentials(settings: Settings, role: Role) -> tuple[str, str]:
    pg = settings.postgres
    user, password = {
        Role.ADMIN: (pg.admin_user, pg.admin_password),
        Role.APP: (pg.app_user, pg.app_password),
        Role.REPLICATION: (pg.replication_user, pg.replication_password),
        Role.DBT: (pg.dbt_user, pg.dbt_password),
        Role.PREFECT: (pg.prefect_user, pg.prefect_password),
    }[role]
    return user, password.get_secret_value()


def postgres_conninfo(settings: Settings, database: str, role: Role, replication: bool = False) -> str:
    """`replication=True` opens a walsender connection (for CREATE_REPLICATION_SLOT)."""
    user, password = postgres_credentials(settings, role)
    extra = {"replication": "database"} if replication else {}
    return psycopg.conninfo.make_conninfo(
        host=settings.postgres.host,
        port=settings.postgres.port,
        dbname=database,
        user=user,
        password=password,
        application_name=f"pipeline-sandbox pid {os.getpid()}",  # which process holds a session
        connect_timeout=10,
        **extra,
    )


def postgres_connect(
    settings: Settings, database: str, role: Role, replication: bool = False, **kwargs: Any
) -> psycopg.Connection:
    """A psycopg 3 connection to one of the sandbox databases as one of its roles."""
    return psycopg.connect(postgres_conninfo(settings, database, role, replication), **kwargs)


def postgres_arrow_connect(settings: Settings, database: str, role: Role) -> Any:
    """An ADBC connection (autocommit; BEGIN yourself): a query's rows arrive as Arrow record
    batches, decoded in C from Postgres' binary COPY. The replication snapshot's fast path."""
    import adbc_driver_postgresql.dbapi  # imported here: only the snapshot needs it

    return adbc_driver_postgresql.dbapi.connect(postgres_conninfo(settings, database, role), autocommit=True)


def aws_credentials(settings: Settings) -> dict[str, str]:
    """Explicit keys for boto3, or {} to let boto3 use the standard credential chain."""
    keys = settings.aws.keys()
    return {"aws_access_key_id": keys[0], "aws_secret_access_key": keys[1]} if keys else {}


def _aws_client(service: str, endpoint_url: str | None, settings: Settings, signed: bool = True) -> Any:
    config = Config(
        retries={"max_attempts": 5, "mode": "standard"},
        s3={"addressing_style": "path"} if endpoint_url else {},
        # SeaweedFS and kinesalite answer quickly; a dead endpoint should fail fast, not hang.
        connect_timeout=5,
        read_timeout=60,
        **({} if signed else {"signature_version": UNSIGNED}),
    )
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint_url,
        region_name=settings.aws.region,
        config=config,
        **(aws_credentials(settings) if signed else {}),
    )


def s3_client(settings: Settings) -> S3Client:
    return _aws_client("s3", settings.s3.endpoint_url, settings, signed=settings.s3.signed)


def kinesis_client(settings: Settings) -> KinesisClient:
    return _aws_client("kinesis", settings.kinesis.endpoint_url, settings)


def prefect_environment(settings: Settings) -> dict[str, str]:
    """The variables Prefect's own client and server read, derived from our settings."""
    return {
        "PREFECT_API_URL": settings.prefect.api_url,
        "PREFECT_HOME": str(settings.home / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_API_URL": settings.prefect.api_url,
    }


def snowflake_connect(settings: Settings) -> Any:
    """A Snowflake connection (the aws profile's warehouse), credentials from settings only."""
    import snowflake.connector

    sf = settings.snowflake
    missing = [f"SANDBOX_SNOWFLAKE__{n.upper()}" for n in ("account", "user", "password") if not getattr(sf, n)]
    if missing:
        raise ValueError(f"the Snowflake warehouse needs {', '.join(missing)}")
    return snowflake.connector.connect(
        account=sf.account,
        user=sf.user,
        password=sf.password.get_secret_value(),
        role=sf.role,
        warehouse=sf.warehouse,
        database=sf.database,
        application="pipeline-sandbox",
    )


def dbt_environment(settings: Settings) -> dict[str, str]:
    """The variables dbt's profiles.yml reads: the warehouse connection of the active profile."""
    user, password = postgres_credentials(settings, Role.DBT)
    env = {
        "DBT_HOST": settings.postgres.host,
        "DBT_PORT": str(settings.postgres.port),
        "DBT_USER": user,
        "DBT_PASSWORD": password,
        "DBT_DBNAME": settings.postgres.warehouse_db,
        "DBT_LAKE_SCHEMA": settings.warehouse.lake_schema,
        "DBT_MARTS_SCHEMA": settings.warehouse.marts_schema,
        "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    snowflake = settings.snowflake
    for name in ("account", "user", "role", "warehouse", "database"):
        if value := getattr(snowflake, name):
            env[f"SNOWFLAKE_{name.upper()}"] = value
    if snowflake.password:
        env["SNOWFLAKE_PASSWORD"] = snowflake.password.get_secret_value()
    return env
