"""Reads every shard of a Kinesis stream from given positions: the consumer's source.

Shards come from ListShards on every poll, so shards created by a reshard are picked up;
a child shard is read only once its parents are drained (so a session's events keep their
order across the reshard), and a shard whose iterator ends is closed and finished.
Positions are sequence numbers: reading resumes *after* them; a shard without one starts at
TRIM_HORIZON, the oldest record the stream keeps.
"""

from __future__ import annotations

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

    def shards(self) -> list[dict]:
        shards, token = [], None
        while True:
            page = self.kinesis.list_shards(**({"NextToken": token} if token else {"StreamName": self.stream}))
            shards.extend(page["Shards"])
            token = page.get("NextToken")
            if not token:
                return shards

    def poll(self, max_records: int) -> list[Record]:
        """Up to about `max_records` new records across the readable shards."""
        shards = self.shards()
        known = {s["ShardId"] for s in shards}
        records: list[Record] = []
        for shard in shards:
            shard_id = shard["ShardId"]
            parents = {shard.get("ParentShardId"), shard.get("AdjacentParentShardId")} & known
            if shard_id in self.finished or not parents <= self.finished:
                continue
            records.extend(self._read_shard(shard_id, max_records - len(records)))
            if len(records) >= max_records:
                break
        return records

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
