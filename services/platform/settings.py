"""The one place that reads configuration and knows which profile is active.

Every value comes from the environment or `.env` (prefix `SANDBOX_`, nested fields
joined by `__`, e.g. `SANDBOX_POSTGRES__PORT=5544`), validated by pydantic.
The profile (`local`, `compose`, `aws`) only chooses defaults: it fills in whatever
the user did not set. Stages receive a `Settings` object (or clients built from it by
the factories beside this module) and never ask where they run.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Profile(StrEnum):
    LOCAL = "local"
    COMPOSE = "compose"
    AWS = "aws"


class PostgresSettings(BaseModel):
    """One server plays two cloud roles: `source` (RDS) and `warehouse` (Redshift)."""

    host: str
    port: int = 5433
    admin_user: str = "sandbox_admin"
    admin_password: SecretStr = SecretStr("sandbox-admin")
    source_db: str = "source"
    warehouse_db: str = "warehouse"
    prefect_db: str = "prefect"
    app_user: str = "source_app"
    app_password: SecretStr = SecretStr("sandbox-app")
    replication_user: str = "replicator"
    replication_password: SecretStr = SecretStr("sandbox-replicator")
    dbt_user: str = "dbt"
    dbt_password: SecretStr = SecretStr("sandbox-dbt")
    prefect_user: str = "prefect"
    prefect_password: SecretStr = SecretStr("sandbox-prefect")


class AwsSettings(BaseModel):
    """Region and credentials shared by S3, Kinesis and catalog signing.

    None means the standard AWS credential chain (the aws profile); the local and
    compose profiles use fixed sandbox keys, which their servers are started with.
    """

    region: str = "us-east-1"
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None

    def keys(self) -> tuple[str, str] | None:
        """The fixed (access key id, secret key), or None for the standard AWS credential chain."""
        if self.access_key_id and self.secret_access_key:
            return self.access_key_id.get_secret_value(), self.secret_access_key.get_secret_value()
        return None


class S3Settings(BaseModel):
    """Object storage: the raw, final and real-time zones.

    `signed=False` sends every request to the object store and its Iceberg catalog unsigned,
    and starts the local store without credentials. Only `make test-dates` wants it: the local
    store (SeaweedFS, a static Go binary) keeps the real clock, so it would refuse a request
    signed at a moved time as skewed.
    """

    endpoint_url: str | None
    signed: bool = True
    raw_bucket: str = "raw"
    final_bucket: str = "final"
    realtime_bucket: str = "realtime"

    @property
    def buckets(self) -> tuple[str, ...]:
        return (self.raw_bucket, self.final_bucket, self.realtime_bucket)


class CatalogSettings(BaseModel):
    """The Iceberg REST catalog; requests are SigV4-signed as on AWS."""

    uri: str
    warehouse: str = "warehouse"
    signing_name: str = "s3"


class KinesisSettings(BaseModel):
    endpoint_url: str | None
    stream: str = "clickstream"
    shards: int = 2


class SourceSettings(BaseModel):
    """The shop database's data: where generated CSVs go (a relative path is under the project),
    and the day a seeded history ends (unset: today, UTC; tests and reproducible runs fix it)."""

    generated_dir: Path = PROJECT_ROOT / "seeds" / "generated"
    as_of: date | None = None

    def history_end(self) -> date:
        """The as-of day seeds end their history on: `as_of`, or today (UTC) when none is set."""
        return self.as_of or datetime.now(UTC).date()


class ReplicationSettings(BaseModel):
    """Change data capture from the source database to the raw zone."""

    engine: Literal["native", "airbyte"] = "native"  # airbyte: drive an Airbyte server (see AirbyteSettings)
    publication: str = "shop_cdc"  # created by the source's migrations
    # its tables keep their names downstream; a table of any other schema is named <schema>__<table>
    home_schema: str = "shop"
    slot: str = Field("sandbox_raw", pattern=r"^[a-z0-9_]{1,63}$")
    batch_changes: int = 50_000  # changes read from the slot per batch (batches end on a commit)
    follow_interval_seconds: float = 0.5  # how often `--follow` polls an idle slot
    retry_attempts: int = 5  # a run that meets an unreachable S3 or Postgres is retried this often
    retry_backoff_seconds: float = 1.0  # first wait between attempts; doubles each time
    slot_wait_seconds: float = Field(600.0, gt=0)  # a slot's creation waits this long for transactions open anywhere


class AirbyteSettings(BaseModel):
    """An Airbyte server (abctl or Airbyte Cloud) driven through its public API by `airbyte-api`."""

    api_url: str = "http://127.0.0.1:8000/api/public/v1"
    client_id: SecretStr | None = None
    client_secret: SecretStr | None = None
    workspace_id: str | None = None
    connection_name: str = "sandbox-source-to-raw"
    source_ssl_mode: Literal["prefer", "require"] = "prefer"  # Airbyte Cloud and RDS: require
    poll_interval_seconds: float = 5.0
    timeout_seconds: float = 3600.0


class LakehouseSettings(BaseModel):
    """Spark's raw -> silver job and the Iceberg tables' upkeep."""

    silver_namespace: str = "silver"
    quarantine_namespace: str = "quarantine"
    target_file_size_mb: int = 128  # compaction target
    expire_snapshots_older_than_hours: float = 168.0  # keep a week of time travel
    retain_last_snapshots: int = 5  # and at least this many snapshots, however old
    orphan_files_older_than_hours: float = 72.0  # never younger: a running write's files look orphaned


class WarehouseSettings(BaseModel):
    """The warehouse side: where lake tables land, where dbt builds marts, where marts are exported."""

    engine: Literal["postgres", "snowflake"]  # postgres copies Iceberg in; snowflake reads it in place
    lake_schema: str = "lake"  # silver and real-time tables, loaded from Iceberg
    marts_schema: str = "marts"  # dbt's marts, exported by `sandbox export`
    gold_namespace: str = "gold"  # Iceberg copies of the marts
    final_prefix: str = ""  # key prefix of the Parquet marts in the final bucket
    load_workers: int = Field(2, ge=1)  # lake tables loaded side by side, each on its own connection
    lock_wait_seconds: float = Field(3600.0, gt=0)  # a load or dbt build waits this long for the one before it


DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"  # the dbt project (and its profiles.yml) ships with the code


class DbtSettings(BaseModel):
    target: str  # the profiles.yml target; each profile has its own
    threads: int = 2
    # A dbt command still running after this long is stopped, with its threads' stacks and the
    # warehouse sessions it waits for in the error (0: no limit). A 1M-order full refresh: minutes.
    timeout_seconds: float = 3600.0


class SnowflakeSettings(BaseModel):
    """The aws profile's warehouse; handed to dbt as SNOWFLAKE_* variables, never logged."""

    account: str | None = None
    user: str | None = None
    password: SecretStr | None = None
    role: str | None = None
    warehouse: str | None = None
    database: str | None = None
    catalog_integration: str = "SANDBOX_LAKE"  # an Iceberg REST catalog integration, created once (infra/README.md)
    external_volume: str = "SANDBOX_LAKE_VOLUME"  # the S3 location Snowflake reads Iceberg data from


class StreamingSettings(BaseModel):
    """The real-time path: the clickstream producer and the Spark consumer."""

    realtime_namespace: str = "realtime"
    put_batch_records: int = 500  # PutRecords' own limit
    put_retry_attempts: int = 8  # for the records a PutRecords call reports as failed
    get_records_limit: int = 10_000
    max_batch_records: int = 100_000  # a micro-batch's records at most (read ahead into memory)
    trigger_seconds: float = 2.0  # micro-batch interval of the consumer
    max_record_bytes: int = 10_000  # larger payloads are dead-lettered as oversized
    idle_batches_to_stop: int = 3  # `--until-idle`: stop after this many empty polls
    dedupe_window_seconds: float = 600.0  # a copy of an event arriving this soon after it is a dead letter


class DashboardSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8050
    refresh_seconds: int = 5  # how often the live charts reload


class PrefectSettings(BaseModel):
    api_url: str
    work_pool: str = "sandbox"
    schedules_active: bool = True  # false: `sandbox deploy` registers the deployments paused


class SparkSettings(BaseModel):
    master: str = "local[2]"
    # On a standalone cluster, the cores one application takes at most (None: all it can get).
    # The stream's consumer and the batch stages are two applications at once: compose's
    # default of 2 each on its worker's 4 task slots keeps the second from waiting for the first.
    cores_max: int | None = Field(None, ge=1)
    driver_memory: str = "1g"  # measured: 1M orders load in 70 s under 1.8 GB total; 2g only grew the heap
    shuffle_partitions: int = 4
    ui_enabled: bool = False
    class_archive: bool = True  # record and map the driver's class archive (see class_archive.py)
    # The batch stages' JVM runs at this CPU priority (0-19, higher is lower), the stream's consumer at 0:
    # on a busy machine its micro-batches go first, and the batch stages lose only what it uses.
    nice: int = Field(10, ge=0, le=19)


class SeaweedFSPorts(BaseModel):
    """The local object store's internal ports (each also uses port + 10000 for gRPC)."""

    master: int = 9333
    volume: int = 8080
    filer: int = 8888
    admin: int = 23646


_LOCAL_CREDENTIALS = {"access_key_id": "sandbox", "secret_access_key": "sandbox-secret-key"}

# Each profile's defaults, filled in under whatever the user set.
_PROFILE_DEFAULTS: dict[Profile, dict[str, Any]] = {
    Profile.LOCAL: {
        "postgres": {"host": "127.0.0.1"},
        "aws": _LOCAL_CREDENTIALS,
        "s3": {"endpoint_url": "http://127.0.0.1:8333"},
        "catalog": {"uri": "http://127.0.0.1:8181"},
        "kinesis": {"endpoint_url": "http://127.0.0.1:4567"},
        "prefect": {"api_url": "http://127.0.0.1:4200/api"},
        "dbt": {"target": "local"},
        "warehouse": {"engine": "postgres"},
    },
    Profile.COMPOSE: {
        "postgres": {"host": "postgres", "port": 5432},
        "aws": _LOCAL_CREDENTIALS,
        "s3": {"endpoint_url": "http://s3:8333"},
        "catalog": {"uri": "http://s3:8181"},
        "kinesis": {"endpoint_url": "http://kinesis:4567"},
        "prefect": {"api_url": "http://prefect-server:4200/api"},
        "spark": {"master": "spark://spark-master:7077", "cores_max": 2},
        "dbt": {"target": "compose"},
        "warehouse": {"engine": "postgres"},
    },
    Profile.AWS: {
        "postgres": {"port": 5432},
        "catalog": {"signing_name": "s3tables"},
        "airbyte": {"source_ssl_mode": "require"},
        "s3": {"endpoint_url": None},
        "kinesis": {"endpoint_url": None},
        "dbt": {"target": "aws"},
        "warehouse": {"engine": "snowflake"},
    },
}


def _merge_defaults(defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    merged = dict(defaults)
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge_defaults(merged[key], value)
        else:
            merged[key] = value
    return merged


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SANDBOX_",
        env_nested_delimiter="__",
        env_file=PROJECT_ROOT / ".env",
        extra="ignore",
    )

    profile: Profile = Profile.LOCAL
    home: Path = PROJECT_ROOT / ".sandbox"
    postgres: PostgresSettings
    aws: AwsSettings = AwsSettings()
    s3: S3Settings
    catalog: CatalogSettings
    kinesis: KinesisSettings
    source: SourceSettings = SourceSettings()
    replication: ReplicationSettings = ReplicationSettings()
    airbyte: AirbyteSettings = AirbyteSettings()
    lakehouse: LakehouseSettings = LakehouseSettings()
    warehouse: WarehouseSettings
    dbt: DbtSettings
    snowflake: SnowflakeSettings = SnowflakeSettings()
    streaming: StreamingSettings = StreamingSettings()
    dashboard: DashboardSettings = DashboardSettings()
    prefect: PrefectSettings
    spark: SparkSettings = SparkSettings()
    seaweedfs: SeaweedFSPorts = SeaweedFSPorts()

    @model_validator(mode="before")
    @classmethod
    def _apply_profile_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        profile = Profile(data.get("profile", Profile.LOCAL))
        return _merge_defaults(_PROFILE_DEFAULTS[profile], data)

    @model_validator(mode="after")
    def _resolve_paths(self) -> Settings:
        if not self.home.is_absolute():
            self.home = PROJECT_ROOT / self.home
        if not self.source.generated_dir.is_absolute():
            self.source.generated_dir = PROJECT_ROOT / self.source.generated_dir
        return self

    @model_validator(mode="after")
    def _refuse_sandbox_secrets_on_aws(self) -> Settings:
        """Real clouds get real secrets: a sandbox default password or key on aws is an error."""
        if self.profile is not Profile.AWS:
            return self
        defaults = {
            "SANDBOX_POSTGRES__ADMIN_PASSWORD": (self.postgres.admin_password, "sandbox-admin"),
            "SANDBOX_POSTGRES__APP_PASSWORD": (self.postgres.app_password, "sandbox-app"),
            "SANDBOX_POSTGRES__REPLICATION_PASSWORD": (self.postgres.replication_password, "sandbox-replicator"),
            "SANDBOX_POSTGRES__DBT_PASSWORD": (self.postgres.dbt_password, "sandbox-dbt"),
            "SANDBOX_POSTGRES__PREFECT_PASSWORD": (self.postgres.prefect_password, "sandbox-prefect"),
            "SANDBOX_AWS__ACCESS_KEY_ID": (self.aws.access_key_id, _LOCAL_CREDENTIALS["access_key_id"]),
            "SANDBOX_AWS__SECRET_ACCESS_KEY": (self.aws.secret_access_key, _LOCAL_CREDENTIALS["secret_access_key"]),
        }
        same = [name for name, (value, default) in defaults.items() if value and value.get_secret_value() == default]
        if same:
            raise ValueError(
                f"the aws profile refuses sandbox default credentials: set real values for {', '.join(same)} "
                "(or unset the AWS keys to use the standard AWS credential chain)"
            )
        return self

    def secrets(self) -> list[str]:
        """Every secret value set, for the log filter that redacts them.

        The local profile's published defaults (written in .env.example) are no secrets and stay:
        redacting the local access key `sandbox` mangled every path and name holding the word.
        """
        published = set(_LOCAL_CREDENTIALS.values())
        found = []
        for section in (self.postgres, self.aws, self.airbyte, self.snowflake):
            for name, value in section.__dict__.items():
                default = type(section).model_fields[name].default
                if isinstance(default, SecretStr):
                    published.add(default.get_secret_value())
                if isinstance(value, SecretStr) and value.get_secret_value():
                    found.append(value.get_secret_value())
        return [secret for secret in found if secret not in published]

    @property
    def runs_local_services(self) -> bool:
        """True when `sandbox up` starts the services as processes on this machine."""
        return self.profile is Profile.LOCAL

    @property
    def iceberg_namespaces(self) -> tuple[str, ...]:
        """Every Iceberg namespace the pipeline writes: silver, its quarantine, the marts, the stream."""
        return (
            self.lakehouse.silver_namespace,
            self.lakehouse.quarantine_namespace,
            self.warehouse.gold_namespace,
            self.streaming.realtime_namespace,
        )


def port_of(url: str) -> int:
    """The port a service URL names, for starting the local server that answers it."""
    parts = urlsplit(url)
    if parts.port is None:
        raise ValueError(f"{url!r} names no port")
    return parts.port


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment and `.env`; keyword overrides win (tests use them)."""
    return Settings(**overrides)
