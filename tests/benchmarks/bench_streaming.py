"""Real-time path: end-to-end events/s and arrival -> visible latency at 1k and 5k events/s,
beside the emulator's own PutRecords ceiling measured in the same run.

Targets (issue: real-time path): >= 5,000 events/s sustained (>= 70% of the emulator
ceiling); p99 < 10 s; consumer peak RSS < 2 GB. The producer is a `sandbox stream produce`
process; the consumer runs here, so its JVM's memory is this process tree's.
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
from services.platform.clients import kinesis_client
from services.platform.settings import Settings
from services.platform.spark import spark_session
from services.source.clickstream import clickstream
from services.streaming.consumer import StreamConsumer
from services.streaming.producer import produce
from tests.benchmarks.isolated import isolated_sandbox, load_source, start
from tests.streaming.conftest import CATALOGUE

SECONDS = 30
RATES = (1000, 5000)


def _ceiling(settings: Settings, records: int = 30_000) -> float:
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


class PeakMemory(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self.done = 0.0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            self.peak = max(self.peak, consumer_rss_mb())


def _end_to_end(settings: Settings, env: dict[str, str], spark, rate: int) -> dict[str, float]:
    stream = f"bench-{rate}"
    scoped = settings.model_copy(
        update={
            "kinesis": settings.kinesis.model_copy(update={"stream": stream}),
            "streaming": settings.streaming.model_copy(update={"realtime_namespace": f"bench_{rate}"}),
        }
    )
    ensure_stream(scoped)
    consumer = StreamConsumer(spark, scoped, kinesis_client(scoped), iceberg_catalog(scoped))
    # A running consumer is warm: one small batch first, so the JVM's start-up is not measured.
    produce(kinesis_client(scoped), stream, islice(clickstream(CATALOGUE, 2), 500), scoped.streaming)
    consumer.run(until_idle=True)
    producer = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "stream", "produce", "--rate", str(rate), "--seconds", str(SECONDS)],
        env={**env, "SANDBOX_KINESIS__STREAM": stream},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    memory = PeakMemory()
    memory.start()
    latencies, started = [], time.monotonic()
    result = consumer.run(until_idle=True, not_before_seconds=SECONDS, on_batch=lambda b: latencies.append(b.latencies))
    memory.done.set()
    if producer.wait() != 0:
        raise RuntimeError(producer.stderr.read().decode()[-2000:])
    idle_tail = settings.streaming.idle_batches_to_stop * settings.streaming.trigger_seconds
    elapsed = time.monotonic() - started - idle_tail
    lags = np.concatenate(latencies) if latencies else np.zeros(1)
    return {
        "target_rate": rate,
        "events": result.events,
        "events_per_second_end_to_end": round(result.events / elapsed),
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
        runs = [_end_to_end(settings, env, spark, rate) for rate in RATES]
        spark.stop()
    return {
        "emulator_put_records_ceiling_per_second": round(ceiling),
        "runs": runs,
        "targets": {
            "events_per_second_end_to_end": ">= 5000 (>= 70% of ceiling)",
            "latency_p99_seconds": "< 10",
            "consumer_peak_rss_mb": "< 2000",
        },
    }
