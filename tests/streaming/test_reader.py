"""Reading Kinesis: shards share a poll fairly, and the background reader hands records over in order."""

from __future__ import annotations

import time
from collections import Counter

from services.platform.clients import kinesis_client
from services.platform.local.supervisor import wait_until
from services.streaming.producer import produce
from services.streaming.reader import BackgroundReader, ShardReader
from tests.streaming.conftest import events


def test_a_poll_shares_its_records_among_the_shards(stream_settings) -> None:
    kinesis, stream = kinesis_client(stream_settings), stream_settings.kinesis.stream
    produce(kinesis, stream, events(4000), stream_settings.streaming)  # a backlog on both shards

    records = ShardReader(kinesis, stream, {}).poll(1000)

    # a backlogged first shard no longer starves the second one
    assert Counter(r.shard_id for r in records) == {s: 500 for s in {r.shard_id for r in records}}
    assert len({r.shard_id for r in records}) == 2


def test_the_background_reader_hands_over_every_record_once_in_shard_order(stream_settings) -> None:
    kinesis, stream = kinesis_client(stream_settings), stream_settings.kinesis.stream
    produce(kinesis, stream, events(3000, seed=1), stream_settings.streaming)
    reader = BackgroundReader(ShardReader(kinesis, stream, {}, limit=400), max_records=1000, idle_pause=0.1)
    taken = []
    try:
        while len(taken) < 3000:
            batch = reader.take(wait=10)
            assert 0 < len(batch) <= 1000, f"after {len(taken)} records: {len(batch)}"  # the buffer's bound
            taken.extend(batch)
    finally:
        reader.close()

    assert len({(r.shard_id, r.sequence_number) for r in taken}) == len(taken) == 3000
    for shard in {r.shard_id for r in taken}:
        sequence = [int(r.sequence_number) for r in taken if r.shard_id == shard]
        assert sequence == sorted(sequence)


class SlowFirstRead:
    """A Kinesis client whose first GetRecords takes a second, as a cold endpoint can."""

    def __init__(self, kinesis: object) -> None:
        self.kinesis, self.first = kinesis, True

    def __getattr__(self, name: str) -> object:
        return getattr(self.kinesis, name)

    def get_records(self, **kwargs: object) -> dict:
        if self.first:
            self.first = False
            time.sleep(1)
        return self.kinesis.get_records(**kwargs)


def test_only_polls_that_found_every_shard_caught_up_count_as_empty(stream_settings) -> None:
    """An empty take() while the first poll is still out is no sign of a drained stream
    (a consumer run `--until-idle` once stopped there and left a backlog unread)."""
    kinesis, stream = kinesis_client(stream_settings), stream_settings.kinesis.stream
    produce(kinesis, stream, events(500, seed=2), stream_settings.streaming)
    reader = BackgroundReader(ShardReader(SlowFirstRead(kinesis), stream, {}), max_records=1000, idle_pause=0.05)
    try:
        assert reader.take(wait=0.1) == [] and reader.empty_polls == 0
        taken = []
        while len(taken) < 500:
            taken += reader.take(wait=10)
        assert reader.take(wait=0.5) == []
        assert wait_until(lambda: reader.empty_polls >= 2, timeout=10)
    finally:
        reader.close()
    assert len(taken) == 500
