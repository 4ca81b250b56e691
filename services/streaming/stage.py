"""The real-time stage as plain functions: clickstream into Kinesis, Kinesis into Iceberg, and
both at once (`stream`, what the flows run beside the batch stages).

`sandbox stream produce / consume / run` and the Prefect tasks call these and only render what
they return; each builds its clients from `Settings` through the platform's factories.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice

from services.platform.bootstrap import ensure_stream
from services.platform.catalog import iceberg_catalog
from services.platform.clients import Role, kinesis_client, postgres_connect, s3_client
from services.platform.settings import Settings
from services.platform.spark.session import spark_session
from services.source.clickstream import clickstream, read_catalogue
from services.streaming.consumer import BatchResult, ConsumeResult, StreamConsumer
from services.streaming.own_process import ConsumerProcess
from services.streaming.producer import ProduceResult
from services.streaming.producer import produce as send


def produce(
    settings: Settings,
    rate: float | None = 1000.0,
    seconds: float | None = 60.0,
    events: int | None = None,
    seed: int = 0,
    on_progress: Callable[[ProduceResult], None] = lambda result: None,
) -> ProduceResult:
    """Send clickstream events of the source's customers and products to the stream (created if
    missing): for `seconds`, or `events` of them; at up to `rate` a second (0 or None: as fast as
    the stream takes them). The same seed sends the same events."""
    with postgres_connect(settings, settings.postgres.source_db, Role.APP) as conn:
        catalogue = read_catalogue(conn)
    ensure_stream(settings)
    stream = clickstream(catalogue, seed)
    if events is not None:
        stream, seconds = islice(stream, events), None
    return send(
        kinesis_client(settings), settings.kinesis.stream, stream, settings.streaming,
        rate=rate or None, seconds=seconds, on_progress=on_progress,
    )  # fmt: skip


def consume(
    settings: Settings,
    until_idle: bool = False,
    not_before_seconds: float = 0.0,
    stop: Callable[[], bool] = lambda: False,
    on_batch: Callable[[BatchResult], None] = lambda batch: None,
) -> ConsumeResult:
    """Read every shard into `realtime.events`, its per-minute counts and the dead letters, until
    `stop()` or, with `until_idle`, until the stream is drained (not before `not_before_seconds`)."""
    return stream_consumer(settings).run(
        until_idle, stop=stop, on_batch=on_batch, not_before_seconds=not_before_seconds
    )


def stream_consumer(settings: Settings, quick_start: bool = False) -> StreamConsumer:
    """The consumer on this process's Spark session (started here if it is the first, at full priority)."""
    return StreamConsumer(
        spark_session(settings, app_name="stream-consumer", quick_start=quick_start, nice=0),
        settings, kinesis_client(settings), s3_client(settings), iceberg_catalog(settings),
    )  # fmt: skip


@dataclass
class StreamResult:
    produced: ProduceResult
    consumed: ConsumeResult


def stream(
    settings: Settings,
    rate: float | None = 1000.0,
    seconds: float = 60.0,
    seed: int = 0,
    on_batch: Callable[[BatchResult], None] = lambda batch: None,
) -> StreamResult:
    """Produce for `seconds` while a consumer takes the events into Iceberg until the stream is
    drained. The consumer runs in a process of its own (`own_process.py`), so batch stages running
    beside this call do not hold up its micro-batches, and it is up before the first event is sent."""
    consumer = ConsumerProcess(settings, not_before_seconds=seconds).start()
    with ThreadPoolExecutor(1, thread_name_prefix="producer") as pool:
        producing = pool.submit(produce, settings, rate=rate, seconds=seconds, seed=seed)
        consumed = consumer.wait(on_batch)  # a failed producer leaves it idle: it stops by itself
        return StreamResult(producing.result(), consumed)
