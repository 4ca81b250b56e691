"""Fixtures for the real-time path: a Kinesis stream and Iceberg namespace of this test's own."""

from __future__ import annotations

import uuid
from decimal import Decimal
from itertools import islice

import numpy as np
import pytest

from services.platform.bootstrap import ensure_stream
from services.platform.catalog import iceberg_catalog
from services.platform.clients import kinesis_client, s3_client
from services.source.clickstream import Catalogue, clickstream
from services.streaming.consumer import StreamConsumer

CATALOGUE = Catalogue(np.arange(1, 41), np.arange(1, 21), [Decimal(f"{p}.99") for p in range(1, 21)])


@pytest.fixture
def stream_settings(settings, services):
    suffix = uuid.uuid4().hex[:8]
    kinesis = settings.kinesis.model_copy(update={"stream": f"test-{suffix}", "shards": 2})
    streaming = settings.streaming.model_copy(
        update={"realtime_namespace": f"realtime_{suffix}", "trigger_seconds": 0.1, "idle_batches_to_stop": 2}
    )
    scoped = settings.model_copy(update={"kinesis": kinesis, "streaming": streaming})
    ensure_stream(scoped)
    yield scoped
    kinesis_client(scoped).delete_stream(StreamName=kinesis.stream)


@pytest.fixture
def consumer_factory(spark, stream_settings):
    def make(step=lambda point: None) -> StreamConsumer:
        return StreamConsumer(
            spark,
            stream_settings,
            kinesis_client(stream_settings),
            s3_client(stream_settings),
            iceberg_catalog(stream_settings),
            step,
        )

    return make


def events(count: int, seed: int = 0) -> list[dict[str, object]]:
    return list(islice(clickstream(CATALOGUE, seed), count))


def realtime_rows(settings, table: str) -> list[dict[str, object]]:
    name = f"{settings.streaming.realtime_namespace}.{table}"
    return iceberg_catalog(settings).load_table(name).scan().to_arrow().to_pylist()
