"""Creates what the pipeline expects to find on a fresh platform: the S3 buckets, the Kinesis
stream and the Iceberg namespaces. Idempotent: whatever exists already is left as it is.

`sandbox up` runs it once the local services answer; the compose profile's one-shot
`bootstrap` service runs the same code (`python -m services.platform.bootstrap`).
"""

from __future__ import annotations

import logging

from botocore.exceptions import ClientError

from services.platform.catalog import iceberg_catalog
from services.platform.clients import kinesis_client, s3_client
from services.platform.logs import configure_logging
from services.platform.settings import Settings, load_settings

log = logging.getLogger(__name__)


def ensure_buckets(settings: Settings) -> None:
    s3 = s3_client(settings)
    for bucket in settings.s3.buckets:
        try:
            s3.create_bucket(Bucket=bucket)
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise


def ensure_stream(settings: Settings) -> None:
    """Create the clickstream stream unless it exists, and wait until it is ACTIVE."""
    kinesis, stream = kinesis_client(settings), settings.kinesis.stream
    try:
        kinesis.create_stream(StreamName=stream, ShardCount=settings.kinesis.shards)
    except kinesis.exceptions.ResourceInUseException:
        log.info("stream %s exists", stream)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def ensure_namespaces(settings: Settings) -> None:
    catalog = iceberg_catalog(settings)
    for namespace in settings.iceberg_namespaces:
        catalog.create_namespace_if_not_exists(namespace)


def create_platform_resources(settings: Settings) -> None:
    ensure_buckets(settings)
    log.info("buckets: %s", ", ".join(settings.s3.buckets))
    ensure_stream(settings)
    log.info("stream: %s", settings.kinesis.stream)
    ensure_namespaces(settings)
    log.info("Iceberg namespaces in %s: %s", settings.catalog.warehouse, ", ".join(settings.iceberg_namespaces))


if __name__ == "__main__":
    configure_logging()
    create_platform_resources(load_settings())
