"""Clickstream -> Kinesis (kinesalite) -> Spark -> Iceberg, checked event by event."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal

import pytest

from services.platform.clients import kinesis_client, s3_client
from services.streaming.producer import produce
from tests.lakehouse.conftest import data_files_per_partition
from tests.streaming.conftest import events, realtime_rows

POISON = {
    b"{broken": "invalid json",
    json.dumps({"event_type": "page_view"}).encode(): "missing field",
    json.dumps({"event_id": "p", "event_type": "warp", "session_id": "s"}).encode(): "unknown event type",
    b'{"pad": "' + b"x" * 12_000 + b'"}': "oversized",
}


def send(settings, batch) -> None:
    produce(kinesis_client(settings), settings.kinesis.stream, batch, settings.streaming)


def send_poison(settings) -> None:
    kinesis = kinesis_client(settings)
    for data in POISON:
        kinesis.put_record(StreamName=settings.kinesis.stream, Data=data, PartitionKey="poison")


def assert_exactly(settings, produced: list[dict]) -> None:
    rows = realtime_rows(settings, "events")
    ids = Counter(r["event_id"] for r in rows)
    assert ids == Counter(e["event_id"] for e in produced), "events lost or doubled"
    by_id = {r["event_id"]: r for r in rows}
    for event in produced:
        row = by_id[event["event_id"]]
        assert (row["event_type"], row["customer_id"], row["product_id"], row["quantity"]) == (
            event["event_type"], event["customer_id"], event["product_id"], event["quantity"]
        )  # fmt: skip
        assert row["price"] == (Decimal(event["price"]) if event["price"] else None)
        assert row["occurred_at"].isoformat(timespec="milliseconds") == event["occurred_at"]
    per_minute = {(r["minute"], r["event_type"]): r for r in realtime_rows(settings, "events_per_minute")}
    expected: dict[tuple, list] = {}
    for r in rows:
        cell = expected.setdefault((r["occurred_at"].replace(second=0, microsecond=0), r["event_type"]), [0, 0])
        cell[0] += 1
        cell[1] += r["price"] * r["quantity"] if r["event_type"] == "purchase" else 0
    assert {k: [v["events"], v["revenue"]] for k, v in per_minute.items()} == expected


def test_every_event_lands_once_and_poison_is_dead_lettered(stream_settings, consumer_factory) -> None:
    produced = events(700, seed=1)
    send(stream_settings, produced[:400])
    send_poison(stream_settings)
    send(stream_settings, produced[400:])
    result = consumer_factory().run(until_idle=True)
    assert result.events == 700 and result.dead_letters == len(POISON)
    assert_exactly(stream_settings, produced)
    letters = realtime_rows(stream_settings, "dead_letter")
    assert sorted(reason for reason in POISON.values()) == sorted(
        next(expected for expected in POISON.values() if r["reason"].startswith(expected)) for r in letters
    )
    assert all(r["shard_id"] and r["sequence_number"] and r["payload"] for r in letters)
    again = consumer_factory().run(until_idle=True)  # a restart with nothing new adds nothing
    assert (again.events, again.dead_letters) == (0, 0)
    assert_exactly(stream_settings, produced)


class Crash(RuntimeError):
    pass


@pytest.mark.parametrize("point", ["after_events", "after_events_per_minute"])
def test_a_crash_between_commits_neither_loses_nor_doubles(stream_settings, consumer_factory, point) -> None:
    produced = events(500, seed=2)
    send(stream_settings, produced[:250])
    consumer_factory().run(until_idle=True)
    send(stream_settings, produced[250:])
    send_poison(stream_settings)

    def crash(where: str) -> None:
        if where == point:
            raise Crash(where)

    with pytest.raises(Crash):
        consumer_factory(crash).run(until_idle=True)
    consumer_factory().run(until_idle=True)
    assert_exactly(stream_settings, produced)
    assert len(realtime_rows(stream_settings, "dead_letter")) == len(POISON)


def test_an_event_sent_again_counts_once_and_its_copies_say_where_it_is(stream_settings, consumer_factory) -> None:
    """A producer run again with the same seed (a retried stream task) sends its events again, at
    new positions: each event counts once, also after a crash; every copy is a dead letter that
    names the position the event was taken in at."""
    produced = events(300, seed=3)
    send(stream_settings, produced)
    consumer_factory().run(until_idle=True)
    send(stream_settings, produced[:200] + produced[:50])  # sent again, the first 50 twice more

    def crash(where: str) -> None:
        if where == "after_events":
            raise Crash(where)

    with pytest.raises(Crash):
        consumer_factory(crash).run(until_idle=True)
    again = consumer_factory().run(until_idle=True)
    assert again.events == 0
    assert_exactly(stream_settings, produced)
    taken_at = {r["event_id"]: (r["shard_id"], r["sequence_number"]) for r in realtime_rows(stream_settings, "events")}
    letters = realtime_rows(stream_settings, "dead_letter")
    assert len(letters) == 250
    for letter in letters:
        event_id = json.loads(letter["payload"])["event_id"]
        shard, sequence = taken_at[event_id]
        assert letter["reason"] == f"duplicate event_id {event_id}: taken in at shard {shard}, sequence {sequence}"
        assert (letter["shard_id"], letter["sequence_number"]) != (shard, sequence)


def test_a_reshard_mid_stream_loses_nothing(stream_settings, consumer_factory) -> None:
    produced = events(600, seed=3)
    send(stream_settings, produced[:300])
    kinesis, stream = kinesis_client(stream_settings), stream_settings.kinesis.stream
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]
    low, high = int(shard["HashKeyRange"]["StartingHashKey"]), int(shard["HashKeyRange"]["EndingHashKey"])
    kinesis.split_shard(StreamName=stream, ShardToSplit=shard["ShardId"], NewStartingHashKey=str((low + high) // 2))
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    send(stream_settings, produced[300:])
    assert len(kinesis.list_shards(StreamName=stream)["Shards"]) == 4  # two open children, one closed parent
    consumer_factory().run(until_idle=True)
    assert_exactly(stream_settings, produced)


def test_kill_9_mid_stream_then_restart(stream_settings, consumer_factory, tmp_path) -> None:
    """A real consumer process killed with SIGKILL while it commits, then a restart: still exactly once."""
    produced = events(3000, seed=4)
    send(stream_settings, produced)
    env = {**os.environ, **_environment(stream_settings)}
    log = tmp_path / "consumer.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "stream", "consume"], env=env, stdout=out, stderr=out
        )
        try:
            deadline = time.monotonic() + 180
            while "batch:" not in log.read_text() and time.monotonic() < deadline:
                assert process.poll() is None, log.read_text()
                time.sleep(0.2)
            assert "batch:" in log.read_text(), "the consumer committed no batch in time"
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
    consumer_factory().run(until_idle=True)
    assert_exactly(stream_settings, produced)


def _environment(settings) -> dict[str, str]:
    return {
        "SANDBOX_KINESIS__STREAM": settings.kinesis.stream,
        "SANDBOX_STREAMING__REALTIME_NAMESPACE": settings.streaming.realtime_namespace,
        "SANDBOX_STREAMING__GET_RECORDS_LIMIT": "200",  # small batches: the kill lands mid-stream
        "SANDBOX_STREAMING__TRIGGER_SECONDS": "0.1",
    }


def test_maintenance_keeps_the_checkpoints(stream_settings, consumer_factory, spark) -> None:
    """Compaction and snapshot expiry add snapshots without checkpoints: a restart still resumes exactly."""
    from services.lakehouse.maintenance import maintain_tables

    produced = events(400, seed=5)
    send(stream_settings, produced[:200])
    consumer_factory().run(until_idle=True)
    send(stream_settings, produced[200:300])
    consumer_factory().run(until_idle=True)
    done = maintain_tables(spark, stream_settings, ["events", "events_per_minute", "dead_letter"])
    assert set(done) == {"events", "events_per_minute", "dead_letter"}
    # Compaction leaves one file per partition, however the events fell across hours.
    events_table = f"{stream_settings.streaming.realtime_namespace}.events"
    assert set(data_files_per_partition(stream_settings, events_table).values()) == {1}
    send(stream_settings, produced[300:])
    consumer_factory().run(until_idle=True)
    assert_exactly(stream_settings, produced)


def test_a_consumer_run_again_takes_what_its_reader_had_read_ahead(stream_settings, spark) -> None:
    """The background reader runs ahead of the commits; what it held when a run stopped is read
    again by the next run of the same consumer, not skipped."""
    from services.platform.catalog import iceberg_catalog
    from services.streaming.consumer import StreamConsumer

    streaming = stream_settings.streaming.model_copy(update={"get_records_limit": 50, "max_batch_records": 100})
    scoped = stream_settings.model_copy(update={"streaming": streaming})
    produced = events(600, seed=6)
    send(scoped, produced)
    consumer = StreamConsumer(spark, scoped, kinesis_client(scoped), s3_client(scoped), iceberg_catalog(scoped))
    batches = []
    first = consumer.run(stop=lambda: bool(batches), on_batch=batches.append)  # stops with records read ahead
    assert first.events < len(produced)
    consumer.run(until_idle=True)
    assert_exactly(scoped, produced)


def test_a_consumer_in_its_own_process_takes_every_event_once(stream_settings) -> None:
    """What the flows run beside the batch stages: the child is up (its own Spark driver) before
    anything is sent, relays each batch, and returns once the stream is drained."""
    from services.streaming.own_process import ConsumerProcess

    produced = events(500, seed=3)
    # not before 10 s: an idle stream must not end the run before the send below has begun
    consumer = ConsumerProcess(stream_settings, not_before_seconds=10.0).start()
    send(stream_settings, produced)
    batches = []
    result = consumer.wait(on_batch=batches.append)
    assert result.events == 500 == sum(b.events for b in batches)
    assert 0 < result.p99_seconds <= result.worst_batch_p99_seconds  # over every event, never above the worst batch's
    assert_exactly(stream_settings, produced)


def test_a_consumer_process_that_fails_says_why(stream_settings) -> None:
    from services.streaming.own_process import ConsumerProcess, ConsumerProcessError

    gone = stream_settings.model_copy(
        update={"kinesis": stream_settings.kinesis.model_copy(update={"stream": "no-such-stream"})}
    )
    consumer = ConsumerProcess(gone, not_before_seconds=0.0).start()
    with pytest.raises(ConsumerProcessError, match=r"the stream consumer failed: .*no-such-stream"):
        consumer.wait()
