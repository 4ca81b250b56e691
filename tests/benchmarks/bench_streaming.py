"""Real-time path: what the consumer sustains, and arrival -> visible latency at 1k and 5k events/s,
beside the emulator's own PutRecords ceiling measured in the same run.

Targets (issue: real-time path): >= 5,000 events/s sustained (>= 70% of the emulator
ceiling); p99 < 10 s; consumer peak RSS < 2 GB.

- *Capacity*: a backlog is put first, then the consumer drains it; events over the time to
  the last commit is the most it sustains (a producer at that rate would see bounded lag).
- *Rate runs*: a `sandbox stream produce` process puts at 1k and 5k events/s for 30 s while
  the consumer runs here (its JVM's memory is this process tree's); end-to-end rate is events
  over first arrival -> last visible, with the latency of every record.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from itertools import islice

import numpy as np
import psutil

from services.platform.bootstrap import ensure_buckets, ensure_stream
from services.platform.catalog import iceberg_catalog
from services.platform.clients import kinesis_client, s3_client
from services.platform.settings import Settings
from services.platform.spark.session import spark_session
from services.source.clickstream import clickstream
from services.streaming.consumer import BatchResult, StreamConsumer
from services.streaming.producer import produce
from tests.benchmarks.isolated import isolated_sandbox, load_source, start
from tests.streaming.conftest import CATALOGUE

SECONDS = 30
RATES = (1000, 5000)
BACKLOG = 400_000  # long enough that the first batches (cold reader, empty buffer) weigh little


def _ceiling(settings: Settings, records: int = 100_000) -> float:
    """Raw PutRecords of 500 clickstream events per call, as fast as the emulator takes them."""
    kinesis, stream = kinesis_client(settings), "ceiling"
    kinesis.create_stream(StreamName=stream, ShardCount=settings.kinesis.shards)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    batches = [
        [{"Data": json.dumps(e).encode(), "PartitionKey": str(e["session_id"])} for e in chunk]
        for chunk in (list(islice(clickstream(CATALOGUE, 1), i, i + 500)) for i in range(0, records, 500))
    ]
    started = time.monotonic()
    for batch in batches:
        kinesis.put_records(StreamName=stream, Records=batch)
    return records / (time.monotonic() - started)


def consumer_rss_mb() -> float:
    """This process and its Spark JVM: not the producer, nor the services it started."""
    me = psutil.Process(os.getpid())
    jvms = [p for p in me.children(recursive=True) if p.name() == "java"]
    return sum(p.memory_info().rss for p in [me, *jvms]) / 1e6


class Batches:
    """Each committed batch's latencies and when it became visible (wall clock)."""

    def __init__(self) -> None:
        self.visible_at: list[float] = []
        self.lags: list[np.ndarray] = []

    def add(self, batch: BatchResult) -> None:
        self.visible_at.append(time.time())
        self.lags.append(batch.latencies)

    def span(self) -> float:
        """Seconds from the first record's arrival in Kinesis to the last batch's commit."""
        first_arrival = min(at - lags.max() for at, lags in zip(self.visible_at, self.lags, strict=True))
        return self.visible_at[-1] - first_arrival

    def latencies(self) -> np.ndarray:
        return np.concatenate(self.lags) if self.lags else np.zeros(1)


class PeakMemory(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self.done = 0.0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            self.peak = max(self.peak, consumer_rss_mb())


def _scoped(settings: Settings, name: str) -> Settings:
    """Settings of a run with its own stream and real-time namespace, the stream created."""
    scoped = settings.model_copy(
        update={
            "kinesis": settings.kinesis.model_copy(update={"stream": f"bench-{name}"}),
            "streaming": settings.streaming.model_copy(update={"realtime_namespace": f"bench_{name}"}),
        }
    )
    ensure_stream(scoped)
    return scoped


def _warm_consumer(scoped: Settings, spark) -> StreamConsumer:
    """A running consumer is warm: one small batch first, so the JVM's start-up is not measured."""
    consumer = StreamConsumer(spark, scoped, kinesis_client(scoped), s3_client(scoped), iceberg_catalog(scoped))
    produce(kinesis_client(scoped), scoped.kinesis.stream, islice(clickstream(CATALOGUE, 2), 500), scoped.streaming)
    consumer.run(until_idle=True)
    return consumer


def _producer(env: dict[str, str], scoped: Settings, *args: str) -> subprocess.Popen:
    """A `sandbox stream produce` process (its memory is not the consumer's)."""
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "stream", "produce", *args],
        env={**env, "SANDBOX_KINESIS__STREAM": scoped.kinesis.stream},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _finished(producer: subprocess.Popen) -> None:
    if producer.wait() != 0:
        raise RuntimeError(producer.stderr.read().decode()[-2000:])


def _capacity(settings: Settings, env: dict[str, str], spark) -> dict[str, float]:
    scoped = _scoped(settings, "capacity")
    consumer = _warm_consumer(scoped, spark)
    _finished(_producer(env, scoped, "--rate", "0", "--events", str(BACKLOG), "--seed", "3"))
    memory = PeakMemory()
    memory.start()
    batches, started = Batches(), time.time()
    result = consumer.run(until_idle=True, on_batch=batches.add)
    memory.done.set()
    seconds = batches.visible_at[-1] - started
    return {
        "backlog_events": result.events,
        "drain_seconds": round(seconds, 1),
        "events_per_second": round(result.events / seconds),
        "batches": result.batches,
        "consumer_peak_rss_mb": round(memory.peak),
    }


def _end_to_end(settings: Settings, env: dict[str, str], spark, rate: int) -> dict[str, float]:
    scoped = _scoped(settings, str(rate))
    consumer = _warm_consumer(scoped, spark)
    producer = _producer(env, scoped, "--rate", str(rate), "--seconds", str(SECONDS))
    memory = PeakMemory()
    memory.start()
    batches = Batches()
    result = consumer.run(until_idle=True, not_before_seconds=SECONDS, on_batch=batches.add)
    memory.done.set()
    _finished(producer)
    lags = batches.latencies()
    return {
        "target_rate": rate,
        "events": result.events,
        "events_per_second_end_to_end": round(result.events / batches.span()),
        "latency_p50_seconds": round(float(np.percentile(lags, 50)), 2),
        "latency_p99_seconds": round(float(np.percentile(lags, 99)), 2),
        "batches": result.batches,
        "consumer_peak_rss_mb": round(memory.peak),
    }


def run() -> dict[str, object]:
    with isolated_sandbox("streaming") as (settings, env):
        start(settings, "postgres", "seaweedfs", "kinesis")
        ensure_buckets(settings)
        load_source(settings, 2_000)  # the producer draws customers and products from the source
        ceiling = _ceiling(settings)
        spark = spark_session(settings, app_name="bench-streaming")
        capacity = _capacity(settings, env, spark)
        runs = [_end_to_end(settings, env, spark, rate) for rate in RATES]
        spark.stop()
    return {
        "emulator_put_records_ceiling_per_second": round(ceiling),
        "consumer_capacity": capacity,
        "capacity_share_of_ceiling": round(capacity["events_per_second"] / ceiling, 2),
        "runs": runs,
        "targets": {
            "consumer_capacity.events_per_second": ">= 5000 and >= 70% of ceiling",
            "latency_p99_seconds": "< 10",
            "consumer_peak_rss_mb": "< 2000",
        },
    }
