"""The Airbyte engine against a stand-in for Airbyte's API, not a real Airbyte.

No Airbyte server can run here: Airbyte OSS installs only with abctl, a Kubernetes-in-Docker
cluster. So these tests serve, on 127.0.0.1 from a thread, a small HTTP stand-in of exactly the
endpoints the engine calls (the application token, workspaces, sources, destinations, streams,
connections and jobs of the public API under /api/public/v1, and the configuration API's
jobs/get under /api/v1, as abctl serves them), shaped as the `airbyte-api` SDK's models expect.
They check what the engine sends and how it reads the answers; they cannot show that a real
Airbyte accepts that configuration or that its files land in S3.

The engine also creates its replication slot in Postgres, which these tests do not start: they
replace that one method and check which slot it was asked for.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from services.platform.settings import Settings, load_settings
from services.replication.airbyte import AirbyteEngine, AirbyteSyncResult
from services.replication.errors import ReplicationError
from services.source.tables import TABLES

CLIENT_ID, CLIENT_SECRET, TOKEN = "sandbox-client", "sandbox-secret", "token-1"
WORKSPACE = "6f2d2d9a-0000-4000-8000-000000000001"
JOB_ID = 101
Answer = tuple[int, Any]


class StandIn:
    """Airbyte's API as far as the engine uses it, recording every request it receives.

    `job_statuses` scripts the sync job: the job starts in the first status and each poll moves
    to the next; the last one repeats forever. `failures` are what the configuration API reports
    for the job's attempts.
    """

    def __init__(self, public_prefix: str = "/api/public/v1") -> None:
        self.public = public_prefix
        self.requests: list[tuple[str, str, Any]] = []  # method, path, JSON body or query
        self.sources: list[dict] = []
        self.destinations: list[dict] = []
        self.connections: list[dict] = []
        self.job_statuses = ["pending", "running", "succeeded"]
        self.polls = 0
        self.job_started_at = 0.0
        self.counts = {"rowsSynced": 4_321, "bytesSynced": 1_234_567}
        self.failures: list[str] = []
        self.routes: list[tuple[str, re.Pattern[str], Callable[[Any], Answer]]] = [
            ("GET", self._path("/workspaces"), lambda _: self._page([self._workspace()])),
            ("GET", self._path("/sources"), lambda _: self._page(self.sources)),
            ("POST", self._path("/sources"), lambda body: self._create(self.sources, "source", body)),
            ("GET", self._path("/destinations"), lambda _: self._page(self.destinations)),
            ("POST", self._path("/destinations"), lambda body: self._create(self.destinations, "destination", body)),
            ("GET", self._path("/streams"), lambda _: (200, [self._stream(table) for table in TABLES])),
            ("GET", self._path("/connections"), lambda _: self._page(self.connections)),
            ("POST", self._path("/connections"), self._create_connection),
            ("POST", self._path("/jobs"), self._start_job),
            ("GET", self._path(f"/jobs/{JOB_ID}"), self._poll),
            ("POST", re.compile(r"/api/v1/jobs/get"), self._job_info),
        ]
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}{self.public}"

    def _path(self, suffix: str) -> re.Pattern[str]:
        return re.compile(re.escape(self.public + suffix))

    # -- what the test asks --------------------------------------------------------------------

    def received(self, method: str, suffix: str) -> list[Any]:
        """The bodies (or queries) of the requests to one endpoint, in order."""
        return [body for m, path, body in self.requests if m == method and path == self.public + suffix]

    # -- the answers ---------------------------------------------------------------------------

    def _answer(self, method: str, path: str, body: Any, authorization: str | None) -> Answer:
        if method == "POST" and path == f"{self.public}/applications/token":
            if body.get("client_id") != [CLIENT_ID] or body.get("client_secret") != [CLIENT_SECRET]:
                return 401, {"message": "invalid client credentials"}
            return 200, {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 180}
        if authorization != f"Bearer {TOKEN}":
            return 401, {"message": "missing or wrong bearer token"}
        for route_method, pattern, answer in self.routes:
            if method == route_method and pattern.fullmatch(path):
                return answer(body)
        return 404, {"message": f"the stand-in has no {method} {path}"}

    @staticmethod
    def _page(items: list[dict]) -> Answer:
        return 200, {"data": items}

    @staticmethod
    def _workspace() -> dict:
        return {"workspaceId": WORKSPACE, "name": "Default Workspace", "dataResidency": "auto", "notifications": {}}

    def _create(self, store: list[dict], kind: str, body: dict) -> Answer:
        created = {
            f"{kind}Id": f"{kind}-{len(store) + 1}",
            "name": body["name"],
            "workspaceId": body["workspaceId"],
            "definitionId": f"{kind}-definition",
            f"{kind}Type": body["configuration"][f"{kind}Type"],
            "createdAt": 1_700_000_000,
            "configuration": body["configuration"],
        }
        store.append(created)
        return 200, created

    @staticmethod
    def _stream(table: str) -> dict:
        return {
            "streamName": table,
            "streamnamespace": "shop",
            "syncModes": ["full_refresh_append", "full_refresh_overwrite", "incremental_append"],
            "sourceDefinedCursorField": True,
            "defaultCursorField": ["_ab_cdc_lsn"],
            "sourceDefinedPrimaryKey": [[f"{table.removesuffix('s')}_id"]],
        }

    def _create_connection(self, body: dict) -> Answer:
        created = {
            "connectionId": f"connection-{len(self.connections) + 1}",
            "name": body["name"],
            "sourceId": body["sourceId"],
            "destinationId": body["destinationId"],
            "workspaceId": WORKSPACE,
            "createdAt": 1_700_000_000,
            "status": body.get("status", "active"),
            "schedule": {"scheduleType": body["schedule"]["scheduleType"]},
            "configurations": body["configurations"],
            "tags": [],
        }
        self.connections.append(created)
        return 200, created

    def _start_job(self, body: dict) -> Answer:
        self.job_started_at = time.monotonic()
        return 200, self._job(body["connectionId"])

    def _job(self, connection_id: str) -> dict:
        status = self.job_statuses[min(self.polls, len(self.job_statuses) - 1)]
        job = {"jobId": JOB_ID, "status": status, "jobType": "sync", "startTime": "2025-01-01T00:00:00Z"}
        return job | {"connectionId": connection_id} | self.counts

    def _poll(self, _: Any) -> Answer:
        self.polls += 1
        return 200, self._job(self.connections[-1]["connectionId"])

    def _job_info(self, body: dict) -> Answer:
        failures = [{"failureOrigin": "source", "externalMessage": message} for message in self.failures]
        attempt = {"id": 0, "status": "failed", "failureSummary": {"failures": failures, "partialSuccess": False}}
        return 200, {"job": {"id": body["id"], "configType": "sync"}, "attempts": [{"attempt": attempt}]}

    # -- the server ----------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._serve(parse_qs(urlsplit(self.path).query))

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                is_form = self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded")
                self._serve(parse_qs(raw) if is_form else json.loads(raw or "null"))

            def _serve(self, body: Any) -> None:
                path = urlsplit(self.path).path
                stand_in.requests.append((self.command, path, body))
                status, payload = stand_in._answer(self.command, path, body, self.headers.get("Authorization"))
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures
                pass

        return Handler

    def __enter__(self) -> StandIn:
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    with StandIn() as server:
        yield server


@pytest.fixture
def slots(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The slots the engine asked Postgres for (Postgres is not started for these tests)."""
    asked: list[str] = []
    monkeypatch.setattr(AirbyteEngine, "_ensure_slot", lambda engine: asked.append(engine.slot))
    return asked


def settings_for(api_url: str, **airbyte: Any) -> Settings:
    """The session's settings, pointed at a stand-in, with tiny poll and timeout values."""
    settings = load_settings()
    values = {
        "api_url": api_url,
        "client_id": SecretStr(CLIENT_ID),
        "client_secret": SecretStr(CLIENT_SECRET),
        "workspace_id": None,
        "connection_name": "sandbox-source-to-raw",
        "poll_interval_seconds": 0.01,
        "timeout_seconds": 5.0,
    }
    return settings.model_copy(update={"airbyte": settings.airbyte.model_copy(update=values | airbyte)})


def test_the_first_run_creates_source_destination_and_connection_for_cdc(stand_in, slots) -> None:
    settings = settings_for(stand_in.url)
    AirbyteEngine(settings).run_once()

    assert stand_in.received("POST", "/applications/token") == [
        {"grant_type": ["client_credentials"], "client_id": [CLIENT_ID], "client_secret": [CLIENT_SECRET]}
    ]  # one token serves the whole run
    slot = f"airbyte_{settings.replication.slot}"
    assert slots == [slot]
    [source] = stand_in.received("POST", "/sources")
    pg = settings.postgres
    assert source["name"] == f"sandbox-source-to-raw-postgres-{pg.source_db}"
    assert source["workspaceId"] == WORKSPACE  # the only workspace, as none is configured
    postgres = source["configuration"]
    assert {key: postgres[key] for key in ("sourceType", "host", "port", "database", "schemas", "ssl_mode")} == {
        "sourceType": "postgres",
        "host": "host.docker.internal",  # 127.0.0.1 as Airbyte's connectors in abctl's cluster reach it
        "port": pg.port,
        "database": pg.source_db,
        "schemas": ["shop"],
        "ssl_mode": {"mode": "prefer"},
    }
    assert (postgres["username"], postgres["password"]) == (
        pg.replication_user,
        pg.replication_password.get_secret_value(),
    )
    cdc = postgres["replication_method"]
    assert (cdc["method"], cdc["plugin"]) == ("CDC", "pgoutput")
    assert (cdc["replication_slot"], cdc["publication"]) == (slot, settings.replication.publication)

    [destination] = stand_in.received("POST", "/destinations")
    s3 = destination["configuration"]
    assert s3["destinationType"] == "s3"
    assert (s3["s3_bucket_name"], s3["s3_bucket_path"]) == (settings.s3.raw_bucket, f"airbyte/{pg.source_db}")
    assert s3["s3_endpoint"] == settings.s3.endpoint_url.replace("127.0.0.1", "host.docker.internal")
    assert s3["s3_bucket_region"] == settings.aws.region
    assert s3["access_key_id"] == settings.aws.access_key_id.get_secret_value()
    assert s3["secret_access_key"] == settings.aws.secret_access_key.get_secret_value()
    assert (s3["format"]["format_type"], s3["format"]["compression_codec"]) == ("Parquet", "ZSTD")

    [streams] = stand_in.received("GET", "/streams")
    assert (streams["sourceId"], streams["destinationId"]) == (["source-1"], ["destination-1"])
    [connection] = stand_in.received("POST", "/connections")
    assert connection["name"] == "sandbox-source-to-raw"
    assert (connection["sourceId"], connection["destinationId"]) == ("source-1", "destination-1")
    assert connection["namespaceDefinition"] == "source"
    assert connection["schedule"] == {"scheduleType": "manual"}
    assert connection["configurations"]["streams"] == [
        {"name": table, "namespace": "shop", "syncMode": "incremental_append"} for table in TABLES
    ]
    assert stand_in.received("POST", "/jobs") == [{"connectionId": "connection-1", "jobType": "sync"}]


def test_a_second_run_reuses_what_the_first_created(stand_in, slots) -> None:
    engine = AirbyteEngine(settings_for(stand_in.url))
    engine.run_once()
    stand_in.polls = 0
    engine.run_once()

    for endpoint in ("/sources", "/destinations", "/connections"):
        assert len(stand_in.received("POST", endpoint)) == 1, endpoint
        assert len(stand_in.received("GET", endpoint)) == 2, endpoint
    assert len(stand_in.received("GET", "/streams")) == 1
    assert stand_in.received("POST", "/jobs") == [{"connectionId": "connection-1", "jobType": "sync"}] * 2


def test_a_successful_job_returns_its_rows_and_bytes(stand_in, slots) -> None:
    result = AirbyteEngine(settings_for(stand_in.url)).run_once()

    assert (result.job_id, result.status, result.rows_synced, result.bytes_synced) == (
        JOB_ID,
        "succeeded",
        4_321,
        1_234_567,
    )
    assert stand_in.polls == 2  # pending when started, then running, then succeeded
    assert re.fullmatch(r"1 sync job 101: 4,321 rows, 1\.2 MB in \d+\.\d s", result.summary())
    assert AirbyteSyncResult(123, "succeeded", 4_321, 1_200_000, 34.0).summary() == (
        "1 sync job 123: 4,321 rows, 1.2 MB in 34.0 s"
    )


def test_a_failed_job_raises_with_airbytes_failure_text(stand_in, slots) -> None:
    stand_in.job_statuses = ["running", "failed"]
    stand_in.failures = ["Saved offset is before replication slot's confirmed lsn. Please reset the connection."]

    with pytest.raises(ReplicationError, match=r"job 101 failed: Saved offset is before replication slot's"):
        AirbyteEngine(settings_for(stand_in.url)).run_once()
    assert [body for _, path, body in stand_in.requests if path == "/api/v1/jobs/get"] == [{"id": JOB_ID}]


def test_without_the_configuration_api_a_failure_names_the_status(slots) -> None:
    with StandIn(public_prefix="/v1") as cloud_like:  # Airbyte Cloud's layout: the public API only
        cloud_like.job_statuses = ["running", "cancelled"]
        with pytest.raises(ReplicationError, match=r"job 101 cancelled \(no reason given"):
            AirbyteEngine(settings_for(cloud_like.url)).run_once()


def test_a_job_that_never_finishes_raises_after_the_timeout(stand_in, slots) -> None:
    stand_in.job_statuses = ["running"]
    settings = settings_for(stand_in.url, poll_interval_seconds=0.02, timeout_seconds=0.2)

    with pytest.raises(ReplicationError, match=r"job 101 is still running after 0\.2 s"):
        AirbyteEngine(settings).run_once()
    assert time.monotonic() - stand_in.job_started_at < 2  # given up soon after the timeout
    assert stand_in.polls >= 1


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ({"client_id": None, "client_secret": None}, "SANDBOX_AIRBYTE__CLIENT_ID and SANDBOX_AIRBYTE__CLIENT_SECRET"),
        ({"client_secret": SecretStr("")}, "set SANDBOX_AIRBYTE__CLIENT_SECRET ("),
    ],
)
def test_missing_credentials_name_the_variables(stand_in, slots, missing, named) -> None:
    with pytest.raises(ReplicationError, match=re.escape(named)):
        AirbyteEngine(settings_for(stand_in.url, **missing)).run_once()
    assert stand_in.requests == []


def test_an_unreachable_airbyte_names_the_url(slots) -> None:
    with socket.socket() as probe:  # a port nothing listens on once the probe closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api/public/v1"

    with pytest.raises(ReplicationError, match=f"cannot reach Airbyte at {re.escape(url)}"):
        AirbyteEngine(settings_for(url)).run_once()


def test_rejected_credentials_name_the_variables(stand_in, slots) -> None:
    with pytest.raises(ReplicationError, match=r"HTTP 401: check SANDBOX_AIRBYTE__CLIENT_ID and .*CLIENT_SECRET"):
        AirbyteEngine(settings_for(stand_in.url, client_secret=SecretStr("wrong"))).run_once()


def test_the_replicate_flow_runs_the_engine_the_settings_name(stand_in, slots, services, monkeypatch) -> None:
    """The scheduled flow, not only `sandbox replicate`, honours SANDBOX_REPLICATION__ENGINE:
    a Prefect run of `replicate` on the session's server drives the (stand-in) Airbyte API."""
    from flows import stages, tasks

    environment = {
        "SANDBOX_REPLICATION__ENGINE": "airbyte",
        "SANDBOX_AIRBYTE__API_URL": stand_in.url,
        "SANDBOX_AIRBYTE__CLIENT_ID": CLIENT_ID,
        "SANDBOX_AIRBYTE__CLIENT_SECRET": CLIENT_SECRET,
        "SANDBOX_AIRBYTE__POLL_INTERVAL_SECONDS": "0.01",
        "SANDBOX_AIRBYTE__TIMEOUT_SECONDS": "5",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    tasks.settings.cache_clear()  # the tasks read settings once per process
    try:
        state = stages.replicate(return_state=True)
    finally:
        tasks.settings.cache_clear()

    assert state.is_completed(), state.message
    assert state.result() == {"rows": 4_321, "lag_seconds": 0.0}
    assert stand_in.received("POST", "/jobs") == [{"connectionId": "connection-1", "jobType": "sync"}]
    assert slots == [f"airbyte_{load_settings().replication.slot}"]
