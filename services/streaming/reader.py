"""Reads every shard of a Kinesis stream from given positions: the consumer's source.

Shards come from ListShards on every poll, so shards created by a reshard are picked up;
a child shard is read only once its parents are drained (so a session's events keep their
order across the reshard), and a shard whose iterator ends is closed and finished.
Positions are sequence numbers: reading resumes *after* them; a shard without one starts at
TRIM_HORIZON, the oldest record the stream keeps.

`BackgroundReader` polls in a thread into a bounded buffer, so Kinesis is read while the
consumer commits the previous micro-batch (reading is a third of the work at full speed).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Record:
    shard_id: str
    sequence_number: str
    data: bytes
    arrived_at: datetime  # Kinesis' ApproximateArrivalTimestamp: when the put was accepted


class ShardReader:
    def __init__(self, kinesis: object, stream: str, positions: dict[str, str], limit: int = 10_000) -> None:
        self.kinesis, self.stream, self.limit = kinesis, stream, limit
        self.positions = dict(positions)
        self._iterators: dict[str, str] = {}
        self.finished: set[str] = set()
        self.caught_up = False  # the last poll found nothing new on any shard

    def shards(self) -> list[dict]:
        shards, token = [], None
        while True:
            page = self.kinesis.list_shards(**({"NextToken": token} if token else {"StreamName": self.stream}))
            shards.extend(page["Shards"])
            token = page.get("NextToken")
            if not token:
                return shards

    def poll(self, max_records: int) -> list[Record]:
        """Up to about `max_records` new records, shared fairly among the readable shards."""
        shards = self.shards()
        known = {s["ShardId"] for s in shards}
        readable = [
            s["ShardId"]
            for s in shards
            if s["ShardId"] not in self.finished
            and {s.get("ParentShardId"), s.get("AdjacentParentShardId")} & known <= self.finished
        ]
        share = max(1, max_records // max(1, len(readable)))
        self.caught_up = True  # until a shard says it has records or is behind
        return [record for shard_id in readable for record in self._read_shard(shard_id, share)]

    def _iterator(self, shard_id: str) -> str:
        if shard_id not in self._iterators:
            position = self.positions.get(shard_id)
            where = (
                {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": position}
                if position
                else {"ShardIteratorType": "TRIM_HORIZON"}
            )
            response = self.kinesis.get_shard_iterator(StreamName=self.stream, ShardId=shard_id, **where)
            self._iterators[shard_id] = response["ShardIterator"]
        return self._iterators[shard_id]

    def _read_shard(self, shard_id: str, budget: int) -> list[Record]:
        records: list[Record] = []
        while budget > 0:
            response = self.kinesis.get_records(ShardIterator=self._iterator(shard_id), Limit=min(self.limit, budget))
            got = [
                Record(shard_id, r["SequenceNumber"], r["Data"], r["ApproximateArrivalTimestamp"])
                for r in response["Records"]
            ]
            records.extend(got)
            budget -= len(got)
            if got or response.get("MillisBehindLatest", 0) > 0:
                self.caught_up = False
            if got:
                self.positions[shard_id] = got[-1].sequence_number
            next_iterator = response.get("NextShardIterator")
            if next_iterator is None:  # closed and drained
                self.finished.add(shard_id)
                self._iterators.pop(shard_id, None)
                break
            self._iterators[shard_id] = next_iterator
            if not got or response.get("MillisBehindLatest", 0) == 0:
                break
        return records


class BackgroundReader:
    """A `ShardReader` polled in a thread into a buffer of at most `max_records` records.

    `take()` hands over, in order, everything read so far. Nothing here is a checkpoint: what is
    buffered when a consumer run stops is read again by the next run, which starts a reader
    from the committed position. `empty_polls` counts the polls in a row that found every
    shard caught up: only those say the stream is drained (an empty `take()` may just mean
    the first poll has not returned yet).
    """

    def __init__(self, reader: ShardReader, max_records: int, idle_pause: float) -> None:
        self.reader, self.max_records, self.idle_pause = reader, max_records, idle_pause
        self._buffer: list[Record] = []
        self._error: BaseException | None = None
        self._stopped = False
        self.empty_polls = 0
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._poll_until_stopped, name="kinesis-reader", daemon=True)
        self._thread.start()

    def _poll_until_stopped(self) -> None:
        try:
            while True:
                with self._changed:
                    self._changed.wait_for(lambda: self._stopped or len(self._buffer) < self.max_records)
                    if self._stopped:
                        return
                    # a poll of at most one GetRecords page per shard, so the buffer fills as
                    # records come rather than all at once
                    room = min(self.max_records - len(self._buffer), self.reader.limit)
                records = self.reader.poll(room)
                with self._changed:
                    self._buffer.extend(records)
                    self.empty_polls = self.empty_polls + 1 if self.reader.caught_up else 0
                    self._changed.notify_all()
                    if not records:  # caught up: ask again after a pause (or stop)
                        self._changed.wait_for(lambda: self._stopped, timeout=self.idle_pause)
        except Exception as error:  # noqa: BLE001 - handed to the consumer's thread by take()
            with self._changed:
                self._error = error
                self._changed.notify_all()

    def take(self, wait: float) -> list[Record]:
        """Everything read so far, waiting up to `wait` seconds for at least one record."""
        with self._changed:
            self._changed.wait_for(lambda: self._buffer or self._error is not None, timeout=wait)
            if self._error is not None:
                raise self._error
            records, self._buffer = self._buffer, []
            self._changed.notify_all()
            return records

    def close(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()
        self._thread.join()
