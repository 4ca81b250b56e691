"""A stop and start of every service keeps what each one stored.

It leaves the services running (new pids) for the tests that follow.
"""

from __future__ import annotations

import pyarrow as pa

from services.platform.catalog import iceberg_catalog
from services.platform.clients import Role, kinesis_client, postgres_connect, s3_client
from services.platform.local.servers import local_services
from services.platform.local.supervisor import Supervisor


def test_restart_keeps_rows_objects_tables_and_records(settings, services) -> None:
    with postgres_connect(settings, "source", Role.APP, autocommit=True) as conn:
        conn.execute("CREATE TABLE restart_check (id int PRIMARY KEY)")
        conn.execute("INSERT INTO restart_check SELECT generate_series(1, 100)")
    s3_client(settings).put_object(Bucket=settings.s3.final_bucket, Key="restart/check.txt", Body=b"kept")
    catalog = iceberg_catalog(settings)
    catalog.create_namespace_if_not_exists("restart")
    rows = pa.table({"id": pa.array(range(10), pa.int64())})
    catalog.create_table("restart.check", schema=rows.schema).append(rows)
    kinesis = kinesis_client(settings)
    kinesis.create_stream(StreamName="restart-check", ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName="restart-check", WaiterConfig={"Delay": 0.2})
    kinesis.put_record(StreamName="restart-check", Data=b"kept", PartitionKey="k")

    supervisor, specs = Supervisor(settings.home), local_services(settings)
    for spec in reversed(specs):
        assert supervisor.stop(spec)
    assert all(supervisor.pid(spec.name) is None for spec in specs)
    for spec in specs:
        assert supervisor.start(spec).healthy

    with postgres_connect(settings, "source", Role.APP) as conn:
        assert conn.execute("SELECT count(*), sum(id) FROM restart_check").fetchone() == (100, 5050)
    body = s3_client(settings).get_object(Bucket=settings.s3.final_bucket, Key="restart/check.txt")["Body"].read()
    assert body == b"kept"
    assert iceberg_catalog(settings).load_table("restart.check").scan().to_arrow().num_rows == 10
    kinesis = kinesis_client(settings)
    shard = kinesis.list_shards(StreamName="restart-check")["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName="restart-check", ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"]] == [b"kept"]
