"""The Airbyte replication engine: the native engine's job, done by an Airbyte server.

Selected with `SANDBOX_REPLICATION__ENGINE=airbyte` by users who run a real Airbyte (abctl or
Airbyte Cloud). Everything goes through Airbyte's public API with the `airbyte-api` SDK:

1. **Set up, once.** A Postgres source reading the publication through a logical replication
   slot of its own (CDC), an S3 destination writing Parquet to `s3://<raw bucket>/airbyte/<database>/`,
   and a connection between them with every stream incremental (append). Each is found by name
   and reused, so the setup is created on the first run only.
2. **Sync.** A sync job is started and polled until it succeeds, fails, is cancelled or the
   timeout passes; only success returns.

Airbyte writes its own layout (one folder per stream, `_airbyte_*` and `_ab_cdc_*` columns), not
the native raw zone's batches and manifests, so the lakehouse keeps reading the native engine's
files; this engine exists to compare the two and to run the pipeline the way teams with Airbyte do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NoReturn, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
from airbyte_api import AirbyteAPI, api, errors, models
from airbyte_api.utils import BackoffStrategy, RetryConfig

from services.platform.clients import Role, postgres_connect
from services.platform.settings import Settings
from services.replication.errors import ReplicationError
from services.source.tables import SCHEMA

log = logging.getLogger(__name__)

SLOT_PREFIX = "airbyte_"  # the native engine's slot and Airbyte's must never be the same slot
RAW_PREFIX = "airbyte"  # Airbyte's files stay apart from the native raw zone: s3://raw/airbyte/<database>/
PAGE_SIZE = 100
HTTP_TIMEOUT_SECONDS = 60.0
TOKEN_RENEWAL_MARGIN_SECONDS = 60.0
FINAL_STATUSES = {models.JobStatusEnum.SUCCEEDED, models.JobStatusEnum.FAILED, models.JobStatusEnum.CANCELLED}
CDC_SYNC_MODE = models.ConnectionSyncModeEnum.INCREMENTAL_APPEND  # S3 appends; it cannot dedupe
# abctl runs Airbyte in a kind cluster: there 127.0.0.1 is the connector's own pod, and this machine is
# host.docker.internal.
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
HOST_SEEN_FROM_KIND = "host.docker.internal"
# A restarting server or ingress answers 429/5xx or drops the connection for a moment; an hour of polling
# should not fail for that. Anything else fails at once.
RETRIES = RetryConfig("backoff", BackoffStrategy(500, 5_000, 2.0, 30_000), retry_connection_errors=True)

T = TypeVar("T")


class Named(Protocol):
    name: str


N = TypeVar("N", bound=Named)


class Page(Protocol[N]):
    data: list[N]
    next: str | None


@dataclass
class AirbyteSyncResult:
    job_id: int
    status: str
    rows_synced: int
    bytes_synced: int
    seconds: float

    @property
    def rows(self) -> int:
        return self.rows_synced

    @property
    def stopped(self) -> dict[str, str]:
        """Tables left out of the run: Airbyte reports failures per job, never per table."""
        return {}

    @property
    def retired(self) -> list[str]:
        """Tables no longer published: Airbyte's connection settings say, not the sync's result."""
        return []

    @property
    def lag_seconds(self) -> None:
        """Airbyte reports no commit times, so no lag (the native engine's result has one)."""
        return None

    def summary(self) -> str:
        return (
            f"1 sync job {self.job_id}: {self.rows_synced:,} rows, {self.bytes_synced / 1e6:.1f} MB "
            f"in {self.seconds:.1f} s"
        )


class AccessTokens:
    """Bearer tokens for the public API, from an Airbyte application's client id and secret.

    Airbyte's tokens live a few minutes while a sync may be polled for an hour, so a token is renewed
    a minute before it expires (as the SDK's own client-credentials hook does). Fetching it here
    rather than in the SDK lets a rejected id or secret fail with an error that names the settings,
    and lets the configuration API call (`_failure_text`) use the same token.
    """

    def __init__(self, http: httpx.Client, url: str, client_id: str, client_secret: str) -> None:
        self.http, self.url = http, url
        self.form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
        self.token: str | None = None
        self.renew_at: float | None = None

    def get(self) -> str:
        if self.token is None or (self.renew_at is not None and time.monotonic() >= self.renew_at):
            self.token, self.renew_at = self._fetch()
        return self.token

    def _fetch(self) -> tuple[str, float | None]:
        """A new token, sent as a form like the SDK's hook does (the endpoint takes JSON or a form)."""
        response = self.http.post(self.url, data=self.form)
        if response.status_code in (400, 401, 403):
            raise ReplicationError(
                f"Airbyte ({self.url}) rejected the application credentials with HTTP {response.status_code}: "
                "check SANDBOX_AIRBYTE__CLIENT_ID and SANDBOX_AIRBYTE__CLIENT_SECRET"
            )
        response.raise_for_status()
        body = response.json()
        expires_in = body.get("expires_in")
        renew_at = time.monotonic() + expires_in - TOKEN_RENEWAL_MARGIN_SECONDS if expires_in else None
        return body["access_token"], renew_at


class AirbyteEngine:
    def __init__(self, settings: Settings, database: str | None = None) -> None:
        self.settings = settings
        self.airbyte = settings.airbyte
        self.database = database or settings.postgres.source_db
        self.api_url = self.airbyte.api_url.rstrip("/")
        self.slot = f"{SLOT_PREFIX}{settings.replication.slot}"[:63]  # Postgres names hold 63 bytes
        base = self.airbyte.connection_name
        self.source_name = f"{base}-postgres-{self.database}"
        self.destination_name = f"{base}-s3-{self.database}"
        # The configured name is the source database's connection; another database gets its own.
        self.connection_name = base if self.database == settings.postgres.source_db else f"{base}-{self.database}"

    # -- the run -----------------------------------------------------------------------------

    def run_once(self, progress: object = None, resync: bool = False) -> AirbyteSyncResult:
        """Set up source, destination and connection if missing, then run one sync job to its end.
        (`progress` is the native engine's per-batch report: a sync job reports as a whole.)"""
        if resync:
            raise ReplicationError("--resync belongs to the native engine; reset the Airbyte connection instead")
        client_id, client_secret = self._credentials()
        started = time.monotonic()
        with httpx.Client(timeout=HTTP_TIMEOUT_SECONDS) as http:
            tokens = AccessTokens(http, f"{self.api_url}/applications/token", client_id, client_secret)
            airbyte = AirbyteAPI(
                server_url=self.api_url,
                client=http,
                security=lambda: models.Security(bearer_auth=tokens.get()),
                retry_config=RETRIES,
            )
            try:
                connection_id = self._set_up(airbyte)
                job = self._wait_for(airbyte, self._start_sync(airbyte, connection_id))
                if job.status is not models.JobStatusEnum.SUCCEEDED:
                    raise self._failure(job, self._failure_text(http, tokens, job.job_id))
            except errors.AirbyteAPIError as error:
                request = error.raw_response.request
                raise ReplicationError(
                    f"Airbyte API {request.method} {request.url.path} failed: {str(error)[:1000]}"
                ) from error
            except (httpx.HTTPError, errors.NoResponseError) as error:
                raise ReplicationError(
                    f"cannot reach Airbyte at {self.api_url} ({error}); is it running (`abctl local status`) "
                    "and is SANDBOX_AIRBYTE__API_URL right?"
                ) from error
        result = AirbyteSyncResult(
            job.job_id, job.status.value, job.rows_synced or 0, job.bytes_synced or 0, time.monotonic() - started
        )
        log.info("airbyte: %s", result.summary())
        return result

    def follow(self, should_stop: object, progress: object = None) -> NoReturn:
        raise ReplicationError("--follow belongs to the native engine; Airbyte schedules its own syncs")

    def _credentials(self) -> tuple[str, str]:
        """The application's client id and secret: without them Airbyte answers nothing, so name what to set."""
        values = {"CLIENT_ID": self.airbyte.client_id, "CLIENT_SECRET": self.airbyte.client_secret}
        missing = [
            f"SANDBOX_AIRBYTE__{name}" for name, value in values.items() if not (value and value.get_secret_value())
        ]
        if missing:
            raise ReplicationError(
                f"the airbyte engine needs an Airbyte application's credentials: set {' and '.join(missing)} "
                "(Airbyte UI: Settings > Applications; for abctl, `abctl local credentials` prints them)"
            )
        return values["CLIENT_ID"].get_secret_value(), values["CLIENT_SECRET"].get_secret_value()

    # -- the setup ---------------------------------------------------------------------------

    def _set_up(self, airbyte: AirbyteAPI) -> str:
        """The connection's id, creating the slot, source, destination and connection that are missing."""
        workspace = self._workspace(airbyte)
        self._ensure_slot()
        source_id = self._ensure_source(airbyte, workspace)
        destination_id = self._ensure_destination(airbyte, workspace)
        return self._ensure_connection(airbyte, workspace, source_id, destination_id)

    def _workspace(self, airbyte: AirbyteAPI) -> str:
        """The configured workspace, or the only one there is (abctl has exactly one)."""
        if self.airbyte.workspace_id:
            return self.airbyte.workspace_id

        def listed(offset: int) -> models.WorkspacesResponse | None:
            request = api.ListWorkspacesRequest(limit=PAGE_SIZE, offset=offset)
            return airbyte.workspaces.list_workspaces(request=request).workspaces_response

        found = list(_pages(listed))
        if len(found) != 1:
            names = ", ".join(f"{w.name} ({w.workspace_id})" for w in found) or "none"
            raise ReplicationError(f"set SANDBOX_AIRBYTE__WORKSPACE_ID: Airbyte has {len(found)} workspaces: {names}")
        return found[0].workspace_id

    def _ensure_slot(self) -> None:
        """Airbyte's Postgres connector reads a slot but never creates one (its setup guide has the user
        create it, with pgoutput). The replication role may, so the engine creates it when missing."""
        try:
            with postgres_connect(self.settings, self.database, Role.REPLICATION, autocommit=True) as conn:
                conn.execute(
                    "SELECT pg_create_logical_replication_slot(%s, 'pgoutput')"
                    " WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = %s)",
                    (self.slot, self.slot),
                )
        except psycopg.Error as error:
            raise ReplicationError(f"cannot create Airbyte's replication slot {self.slot!r}: {error}") from error

    def _ensure_source(self, airbyte: AirbyteAPI, workspace: str) -> str:
        def listed(offset: int) -> models.SourcesResponse | None:
            request = api.ListSourcesRequest(workspace_ids=[workspace], limit=PAGE_SIZE, offset=offset)
            return airbyte.sources.list_sources(request=request).sources_response

        def create() -> models.SourceResponse | None:
            configuration = self._source_configuration()
            request = models.SourceCreateRequest(
                name=self.source_name, workspace_id=workspace, configuration=configuration
            )
            return airbyte.sources.create_source(request=request).source_response

        return _reuse_or_create("source", self.source_name, listed, create).source_id

    def _ensure_destination(self, airbyte: AirbyteAPI, workspace: str) -> str:
        def listed(offset: int) -> models.DestinationsResponse | None:
            request = api.ListDestinationsRequest(workspace_ids=[workspace], limit=PAGE_SIZE, offset=offset)
            return airbyte.destinations.list_destinations(request=request).destinations_response

        def create() -> models.DestinationResponse | None:
            configuration = self._destination_configuration()
            request = models.DestinationCreateRequest(
                name=self.destination_name, workspace_id=workspace, configuration=configuration
            )
            return airbyte.destinations.create_destination(request=request).destination_response

        return _reuse_or_create("destination", self.destination_name, listed, create).destination_id

    def _ensure_connection(self, airbyte: AirbyteAPI, workspace: str, source_id: str, destination_id: str) -> str:
        def listed(offset: int) -> models.ConnectionsResponse | None:
            request = api.ListConnectionsRequest(workspace_ids=[workspace], limit=PAGE_SIZE, offset=offset)
            return airbyte.connections.list_connections(request=request).connections_response

        def create() -> models.ConnectionResponse | None:
            request = models.ConnectionCreateRequest(
                name=self.connection_name,
                source_id=source_id,
                destination_id=destination_id,
                configurations=models.StreamConfigurations(streams=self._streams(airbyte, source_id, destination_id)),
                namespace_definition=models.NamespaceDefinitionEnum.SOURCE,  # files under .../<schema>/<table>/
                # A new source column shows up in later files, as with the native engine; nothing stops.
                non_breaking_schema_updates_behavior=models.NonBreakingSchemaUpdatesBehaviorEnum.PROPAGATE_COLUMNS,
                # Manual: the pipeline's own schedule starts each sync through this engine.
                schedule=models.AirbyteAPIConnectionSchedule(schedule_type=models.ScheduleTypeEnum.MANUAL),
                status=models.ConnectionStatusEnum.ACTIVE,
            )
            return airbyte.connections.create_connection(request=request).connection_response

        return _reuse_or_create("connection", self.connection_name, listed, create).connection_id

    def _streams(self, airbyte: AirbyteAPI, source_id: str, destination_id: str) -> list[models.StreamConfiguration]:
        """Every stream of the schema, synced incrementally from the slot.

        Airbyte offers incremental sync only for tables in the publication that have a primary key;
        the native engine refuses a published table without one, and so does this engine.
        """
        found = airbyte.streams.get_stream_properties(
            request=api.GetStreamPropertiesRequest(source_id=source_id, destination_id=destination_id)
        ).stream_properties_response
        streams = [s for s in found or [] if s.stream_name and s.streamnamespace in (SCHEMA, None)]
        without_cdc = [s.stream_name for s in streams if CDC_SYNC_MODE not in (s.sync_modes or [])]
        if without_cdc or not streams:
            raise ReplicationError(
                f"Airbyte offers no incremental (CDC) sync for {', '.join(without_cdc) or 'any table'} in schema "
                f"{SCHEMA!r} of {self.database!r}: each table must be in publication "
                f"{self.settings.replication.publication!r} and have a primary key"
            )
        return [
            models.StreamConfiguration(name=s.stream_name, namespace=s.streamnamespace, sync_mode=CDC_SYNC_MODE)
            for s in streams
        ]

    # -- the configurations --------------------------------------------------------------------

    def _source_configuration(self) -> models.SourcePostgres:
        """The source database read as the replication role, changes from its own slot of the publication."""
        pg = self.settings.postgres
        return models.SourcePostgres(
            host=self._as_seen_by_airbyte(pg.host),
            port=pg.port,
            database=self.database,
            username=pg.replication_user,
            password=pg.replication_password.get_secret_value(),
            schemas=[SCHEMA],
            ssl_mode=self._ssl_mode(),
            replication_method=models.ReadChangesUsingWriteAheadLogCDC(
                replication_slot=self.slot, publication=self.settings.replication.publication
            ),
        )

    def _ssl_mode(self) -> models.SourcePostgresSSLModes:
        """Airbyte Cloud refuses unencrypted modes and RDS encrypts; the local servers have no TLS."""
        if self.settings.airbyte.source_ssl_mode == "require":
            return models.SourcePostgresRequire()
        return models.SourcePostgresPrefer()

    def _destination_configuration(self) -> models.DestinationS3:
        """Parquet into the raw bucket under airbyte/<database>/, with the pipeline's own S3 endpoint and keys."""
        aws, s3 = self.settings.aws, self.settings.s3
        return models.DestinationS3(
            s3_bucket_name=s3.raw_bucket,
            s3_bucket_path=f"{RAW_PREFIX}/{self.database}",
            s3_bucket_region=self._region(),
            s3_endpoint=self._url_as_seen_by_airbyte(s3.endpoint_url) if s3.endpoint_url else None,
            access_key_id=aws.access_key_id.get_secret_value() if aws.access_key_id else None,
            secret_access_key=aws.secret_access_key.get_secret_value() if aws.secret_access_key else None,
            format_=models.DestinationS3ParquetColumnarStorage(
                compression_codec=models.DestinationS3CompressionCodecEnum.ZSTD  # as the native raw zone
            ),
        )

    def _region(self) -> models.DestinationS3S3BucketRegion:
        """The S3 destination takes a region from a fixed list only: say so instead of a validation dump."""
        try:
            return models.DestinationS3S3BucketRegion(self.settings.aws.region)
        except ValueError as error:
            raise ReplicationError(
                f"Airbyte's S3 destination does not accept region {self.settings.aws.region!r} (SANDBOX_AWS__REGION)"
            ) from error

    def _airbyte_is_local(self) -> bool:
        return urlsplit(self.api_url).hostname in LOOPBACK_HOSTS

    def _as_seen_by_airbyte(self, host: str) -> str:
        """A loopback host as Airbyte's connectors reach it: from abctl's kind cluster, not this process."""
        return HOST_SEEN_FROM_KIND if host in LOOPBACK_HOSTS and self._airbyte_is_local() else host

    def _url_as_seen_by_airbyte(self, url: str) -> str:
        parts = urlsplit(url)
        host = parts.hostname or ""
        seen = self._as_seen_by_airbyte(host)
        if seen == host:
            return url
        return urlunsplit(parts._replace(netloc=f"{seen}:{parts.port}" if parts.port else seen))

    # -- the sync ------------------------------------------------------------------------------

    def _start_sync(self, airbyte: AirbyteAPI, connection_id: str) -> models.JobResponse:
        job = airbyte.jobs.create_job(
            request=models.JobCreateRequest(connection_id=connection_id, job_type=models.JobTypeEnum.SYNC)
        ).job_response
        job = _present(job, "the started sync job")
        log.info("airbyte: sync job %s started on connection %s", job.job_id, self.connection_name)
        return job

    def _wait_for(self, airbyte: AirbyteAPI, job: models.JobResponse) -> models.JobResponse:
        """Poll until the job ends. On timeout the job is left running, not cancelled: cancelling would
        throw away what it has read so far. The error names it, to be followed in the Airbyte UI."""
        deadline = time.monotonic() + self.airbyte.timeout_seconds
        while job.status not in FINAL_STATUSES:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ReplicationError(
                    f"Airbyte sync job {job.job_id} is still {job.status.value} after "
                    f"{self.airbyte.timeout_seconds:g} s (SANDBOX_AIRBYTE__TIMEOUT_SECONDS); it was left running: "
                    "follow it in the Airbyte UI"
                )
            time.sleep(min(self.airbyte.poll_interval_seconds, remaining))
            job = _present(
                airbyte.jobs.get_job(request=api.GetJobRequest(job_id=job.job_id)).job_response,
                f"sync job {job.job_id}",
            )
        return job

    def _failure(self, job: models.JobResponse, reason: str | None) -> ReplicationError:
        detail = f": {reason}" if reason else " (no reason given; the job's logs are in the Airbyte UI)"
        return ReplicationError(f"Airbyte sync job {job.job_id} {job.status.value}{detail}")

    def _failure_text(self, http: httpx.Client, tokens: AccessTokens, job_id: int) -> str | None:
        """Airbyte's own words for why a job failed, when they can be had.

        The public API reports a job's status only. A self-managed server (abctl) also serves the
        configuration API next to it (`/api/v1` beside `/api/public/v1`), whose `jobs/get` lists each
        attempt's failures; Airbyte Cloud does not, so this is best effort and None otherwise.
        """
        if not self.api_url.endswith("/api/public/v1"):
            return None
        url = self.api_url.removesuffix("/public/v1") + "/v1/jobs/get"
        try:
            response = http.post(url, json={"id": job_id}, headers={"Authorization": f"Bearer {tokens.get()}"})
            response.raise_for_status()
            info = response.json()
        except (httpx.HTTPError, ValueError) as error:
            log.debug("no failure details for job %s from %s: %s", job_id, url, error)
            return None
        return "; ".join(_failure_messages(info)) or None


def _failure_messages(info: object) -> list[str]:
    """The distinct failure messages of a configuration-API JobInfoRead, oldest attempt first."""
    messages: list[str] = []
    for attempt in _list(_field(info, "attempts")):
        for failure in _list(_field(_field(_field(attempt, "attempt"), "failureSummary"), "failures")):
            message = _field(failure, "externalMessage") or _field(failure, "internalMessage")
            if isinstance(message, str) and message not in messages:
                messages.append(message)
    return messages


def _field(value: object, key: str) -> object:
    """`value[key]` of a JSON object, None for anything else: the configuration API is not typed here."""
    return value.get(key) if isinstance(value, dict) else None


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _pages(fetch: Callable[[int], Page[N] | None]) -> Iterator[N]:
    """Every item of a paginated list call, `fetch(offset)` returning one page."""
    offset = 0
    while True:
        page = fetch(offset)
        items = page.data if page else []
        yield from items
        if not page or not page.next or len(items) < PAGE_SIZE:
            return
        offset += len(items)


def _find_named(fetch: Callable[[int], Page[N] | None], name: str) -> N | None:
    return next((item for item in _pages(fetch) if item.name == name), None)


def _reuse_or_create(
    kind: str, name: str, listed: Callable[[int], Page[N] | None], create: Callable[[], N | None]
) -> N:
    """The item called `name` if an earlier run created it, else a new one: names are how reruns find the setup."""
    existing = _find_named(listed, name)
    if existing is not None:
        log.info("airbyte: reusing %s %s", kind, name)
        return existing
    created = _present(create(), f"the created {kind}")
    log.info("airbyte: created %s %s", kind, name)
    return created


def _present(value: T | None, what: str) -> T:
    """The body of a successful response; the SDK types every body as optional."""
    if value is None:
        raise ReplicationError(f"Airbyte returned no body for {what}")
    return value
