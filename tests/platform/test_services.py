"""Every local service answers its real client, keeps its data across a restart, and
stays on loopback. These tests share the session's services (see conftest.py)."""

from __future__ import annotations

import json
import socket
import struct
import uuid

import psutil
import psycopg
import pyarrow as pa
import pytest

from services.platform.catalog import iceberg_catalog
from services.platform.clients import Role, kinesis_client, postgres_connect, s3_client
from services.platform.local.servers import local_services
from services.platform.local.supervisor import PortClaim, PortInUseError, ServiceSpec, Supervisor
from tests.cli import sandbox


def test_roles_reach_their_databases(settings, services) -> None:
    with postgres_connect(settings, settings.postgres.source_db, Role.APP, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS smoke (id int PRIMARY KEY, name text)")
        conn.execute("INSERT INTO smoke VALUES (1, 'Zoë 東京 🚀') ON CONFLICT DO NOTHING")
    with postgres_connect(settings, settings.postgres.source_db, Role.REPLICATION) as conn:
        assert conn.execute("SELECT name FROM smoke WHERE id = 1").fetchone() == ("Zoë 東京 🚀",)
        assert conn.execute("SELECT rolreplication FROM pg_roles WHERE rolname = current_user").fetchone() == (True,)
    with postgres_connect(settings, settings.postgres.warehouse_db, Role.DBT, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS smoke")
        assert conn.execute("SELECT current_database()").fetchone() == ("warehouse",)
        assert conn.execute("SHOW max_parallel_workers_per_gather").fetchone() == ("0",)  # dbt's own threads
    with postgres_connect(settings, "source", Role.ADMIN) as conn:
        level = conn.execute("SHOW wal_level").fetchone()
    assert level == ("logical",)


@pytest.mark.parametrize(
    ("database", "role"),
    [("warehouse", Role.APP), ("source", Role.DBT), ("prefect", Role.REPLICATION)],
)
def test_a_role_cannot_connect_where_it_has_no_business(settings, services, database, role) -> None:
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        postgres_connect(settings, database, role)


def test_the_replication_role_cannot_write_the_source(settings, services) -> None:
    with postgres_connect(settings, "source", Role.APP, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS smoke (id int PRIMARY KEY, name text)")
    with (
        postgres_connect(settings, "source", Role.REPLICATION) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("INSERT INTO smoke VALUES (99, 'nope')")


def test_s3_put_get_list(settings, services) -> None:
    s3 = s3_client(settings)
    key = f"smoke/{uuid.uuid4()}.txt"
    s3.put_object(Bucket=settings.s3.raw_bucket, Key=key, Body=b"hello raw zone")
    assert s3.get_object(Bucket=settings.s3.raw_bucket, Key=key)["Body"].read() == b"hello raw zone"
    listed = s3.list_objects_v2(Bucket=settings.s3.raw_bucket, Prefix="smoke/")["Contents"]
    assert key in [item["Key"] for item in listed]
    for bucket in settings.s3.buckets:  # (a listing of buckets shows only the caller's: none when unsigned)
        s3.head_bucket(Bucket=bucket)


def test_pyiceberg_and_spark_share_one_table(settings, services, spark) -> None:
    """Spark writes first: under `make test-dates` its JVM keeps the real clock while Python's is
    moved ahead, and Iceberg wants one table's snapshots in time order (within a minute)."""
    catalog = iceberg_catalog(settings)
    catalog.create_namespace_if_not_exists("smoke")
    rows = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "city": ["Zürich", "東京", "Lagos"]})
    table = catalog.create_table_if_not_exists("smoke.cities", schema=rows.schema)
    spark.sql("INSERT INTO smoke.cities VALUES (1, 'Zürich'), (2, '東京'), (3, 'Lagos')")
    assert catalog.load_table("smoke.cities").scan().to_arrow().sort_by("id").equals(rows)

    table.refresh().append(pa.table({"id": pa.array([4], pa.int64()), "city": ["Lima"]}))
    spark.sql("REFRESH TABLE smoke.cities")  # Spark's catalog caches the table it last wrote
    from_spark = spark.sql("SELECT id, city FROM smoke.cities ORDER BY id").collect()
    assert [(r.id, r.city) for r in from_spark] == [(1, "Zürich"), (2, "東京"), (3, "Lagos"), (4, "Lima")]


def test_kinesis_outlives_a_client_killed_mid_request(settings, services) -> None:
    """A client that dies while sending a request body (a consumer killed with SIGKILL) resets
    its connection; kinesalite rethrows that request's error, which must not end the emulator."""
    host, port = settings.kinesis.endpoint_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as client:
        client.sendall(
            b"POST / HTTP/1.1\r\nHost: kinesis\r\nContent-Type: application/x-amz-json-1.1\r\n"
            b"X-Amz-Target: Kinesis_20131202.ListStreams\r\nContent-Length: 1000\r\n\r\n{"
        )
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = reset
    assert "StreamNames" in kinesis_client(settings).list_streams(Limit=1)  # still serving


def test_kinesis_create_put_get(settings, services) -> None:
    kinesis, stream = kinesis_client(settings), f"smoke-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    kinesis.put_record(StreamName=stream, Data=b'{"event": "page_view"}', PartitionKey="s1")
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert [r["Data"] for r in records] == [b'{"event": "page_view"}']


def test_prefect_records_a_flow_run(settings, services) -> None:
    from prefect import flow
    from prefect.client.orchestration import get_client

    @flow(name="smoke")
    def smoke(x: int) -> int:
        return x * 2

    state = smoke(21, return_state=True)
    assert state.result() == 42
    with get_client(sync_client=True) as client:
        assert client.api_healthcheck() is None
        run = client.read_flow_run(state.state_details.flow_run_id)
        recorded = client.read_flow(run.flow_id)
    assert recorded.name == "smoke"
    assert run.state is not None and run.state.is_completed()
    assert run.parameters == {"x": 21}


def running_pids(settings) -> dict[str, int | None]:
    supervisor = Supervisor(settings.home)
    return {spec.name: supervisor.pid(spec.name) for spec in local_services(settings)}


def test_every_listener_is_on_loopback(settings, services) -> None:
    addresses = set()
    for pid in running_pids(settings).values():
        parent = psutil.Process(pid)
        for process in [parent, *parent.children(recursive=True)]:
            addresses |= {c.laddr.ip for c in process.net_connections("inet") if c.status == psutil.CONN_LISTEN}
    assert addresses and addresses <= {"127.0.0.1"}


def test_up_twice_is_a_no_op(settings, services) -> None:
    supervisor = Supervisor(settings.home)
    before = running_pids(settings)
    again = {spec.name: supervisor.start(spec).pid for spec in local_services(settings)}
    assert again == before and None not in again.values()


def test_a_taken_port_names_the_service_and_the_setting(settings, services, tmp_path) -> None:
    taken = settings.postgres.port
    spec = ServiceSpec(
        name="postgres", url="", argv=["true"], ready=lambda: True, ports=[PortClaim(taken, "SANDBOX_POSTGRES__PORT")]
    )
    with pytest.raises(PortInUseError) as error:
        Supervisor(tmp_path).start(spec)
    assert str(error.value) == (
        f"postgres: port {taken} on 127.0.0.1 is already in use by another program; "
        "set SANDBOX_POSTGRES__PORT to a free port (in .env or the environment)"
    )


def test_a_service_that_dies_while_starting_shows_its_log(tmp_path) -> None:
    spec = ServiceSpec(
        name="broken", url="", argv=["sh", "-c", "echo 'FATAL: bad config value'; exit 3"], ready=lambda: False
    )
    with pytest.raises(RuntimeError, match=r"(?s)broken exited while starting.*FATAL: bad config value"):
        Supervisor(tmp_path).start(spec)


def test_status_json_lists_every_service(settings, services) -> None:
    result = sandbox("status", "--json")
    assert result.returncode == 0, result.stderr
    statuses = json.loads(result.stdout)
    assert [s["name"] for s in statuses] == [
        "postgres",
        "seaweedfs",
        "kinesis",
        "prefect-server",
        "prefect-worker",
        "dashboard",
    ]
    assert all(set(s) == {"name", "url", "pid", "healthy", "restarts"} and s["healthy"] for s in statuses)
    assert {s["name"]: s["pid"] for s in statuses} == running_pids(settings)
