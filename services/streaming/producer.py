"""The clickstream producer: events as JSON into Kinesis with PutRecords, at a target rate.

Records are sent in batches of up to 500 (PutRecords' limit), partitioned by session so a
session's events stay in order on one shard. A batch whose response reports failed records
(`FailedRecordCount`, e.g. throughput exceeded) has only those records sent again, with
exponential backoff; after the configured attempts the run stops with a clear error.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

from tenacity import RetryError, Retrying, retry_if_result, stop_after_attempt, wait_exponential

from services.platform.settings import StreamingSettings

log = logging.getLogger(__name__)


class ProduceError(RuntimeError):
    pass


@dataclass
class ProduceResult:
    events: int = 0
    retried: int = 0  # records sent again after PutRecords reported them failed
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _put_all(kinesis: object, stream: str, entries: list[dict], settings: StreamingSettings) -> int:
    """PutRecords until every entry is accepted; returns how many were sent again."""
    pending, retried = entries, 0

    def attempt() -> list[dict]:
        nonlocal pending, retried
        response = kinesis.put_records(StreamName=stream, Records=pending)
        if response.get("FailedRecordCount", 0):
            failed = [e for e, r in zip(pending, response["Records"], strict=True) if "ErrorCode" in r]
            retried += len(failed)
            pending = failed
        else:
            pending = []
        return pending

    try:
        Retrying(
            retry=retry_if_result(bool),
            stop=stop_after_attempt(settings.put_retry_attempts),
            wait=wait_exponential(multiplier=0.05, max=2),
        )(attempt)
    except RetryError:
        raise ProduceError(
            f"{len(pending)} records were still refused by stream {stream!r} after "
            f"{settings.put_retry_attempts} attempts"
        ) from None
    return retried


def produce(
    kinesis: object,
    stream: str,
    events: Iterable[dict[str, object]],
    settings: StreamingSettings,
    rate: float | None = None,
    seconds: float | None = None,
    on_progress: Callable[[ProduceResult], None] = lambda result: None,
) -> ProduceResult:
    """Send `events` (stop early after `seconds`) at up to `rate` events/s (None: as fast as possible)."""
    result, started = ProduceResult(), time.monotonic()
    source: Iterator[dict[str, object]] = iter(events)
    while batch := list(islice(source, settings.put_batch_records)):
        entries = [{"Data": json.dumps(e).encode(), "PartitionKey": str(e["session_id"])} for e in batch]
        result.retried += _put_all(kinesis, stream, entries, settings)
        result.events += len(entries)
        result.seconds = time.monotonic() - started
        on_progress(result)
        if seconds is not None and result.seconds >= seconds:
            break
        if rate:  # hold the pace: the next batch starts when the schedule says so
            ahead = result.events / rate - result.seconds
            if ahead > 0:
                time.sleep(ahead)
    result.seconds = time.monotonic() - started
    return result
