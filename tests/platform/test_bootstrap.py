"""The platform bootstrap (the compose profile's one-shot `bootstrap` service) against the
session's real local services: it creates the buckets, the stream and the namespaces, and
a second run changes nothing."""

from __future__ import annotations

import uuid

from services.platform.bootstrap import create_platform_resources
from services.platform.catalog import iceberg_catalog
from services.platform.clients import kinesis_client, s3_client


def test_bootstrap_creates_the_platform_resources_and_can_run_again(settings, services) -> None:
    # A stream of its own, so that other tests' streams are left alone.
    stream = settings.kinesis.model_copy(update={"stream": f"bootstrap-{uuid.uuid4().hex[:8]}", "shards": 1})
    isolated = settings.model_copy(update={"kinesis": stream})

    create_platform_resources(isolated)
    create_platform_resources(isolated)

    s3 = s3_client(isolated)
    for bucket in isolated.s3.buckets:  # (a listing of buckets shows only the caller's: none when unsigned)
        s3.head_bucket(Bucket=bucket)
    description = kinesis_client(isolated).describe_stream(StreamName=stream.stream)["StreamDescription"]
    assert (description["StreamStatus"], len(description["Shards"])) == ("ACTIVE", 1)
    assert {".".join(ns) for ns in iceberg_catalog(isolated).list_namespaces()} >= set(isolated.iceberg_namespaces)
