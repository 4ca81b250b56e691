"""Each event once, however often it reached the stream.

Kinesis delivers at least once, and so do producers: a PutRecords call retried after a timeout,
or a producer run again with the same seed (a retried stream task), puts an event into the stream
a second time, at another position. The consumer's checkpoints make every *record* count once;
this makes every *event* count once. The first position an `event_id` was taken in at is the
event; a later copy becomes a dead letter naming that position, so every record read is still
accounted for (the reconciliation counts events + dead letters).

Copies are recognised within `dedupe_window_seconds` of the first copy's arrival (memory grows
with the window times the event rate). At start the consumer loads the window from
`realtime.events`, so a restarted consumer, or a crash replaying a batch, judges alike: a record
at the position already recorded for its event is that event, not a copy.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from pyiceberg.expressions import GreaterThanOrEqual
from pyiceberg.table import Table

Position = tuple[str, str]  # (shard id, sequence number)


class FirstSeen:
    def __init__(self, window_seconds: float) -> None:
        self.window = timedelta(seconds=window_seconds)
        self._first: dict[str, Position] = {}
        self._arrivals: deque[tuple[datetime, str]] = deque()  # in arrival order, for forgetting

    @classmethod
    def load(cls, events: Table, window_seconds: float, now: datetime) -> FirstSeen:
        """The events that arrived within the window before `now`, from the events table."""
        seen = cls(window_seconds)
        since = (now - seen.window).isoformat()
        rows = (
            events.scan(
                row_filter=GreaterThanOrEqual("arrived_at", since),
                selected_fields=("event_id", "shard_id", "sequence_number", "arrived_at"),
            )
            .to_arrow()
            .sort_by("arrived_at")
            .to_pylist()
        )
        for row in rows:
            seen.first_position(row["event_id"], (row["shard_id"], row["sequence_number"]), row["arrived_at"])
        return seen

    def first_position(self, event_id: str, position: Position, arrived_at: datetime) -> Position:
        """Where `event_id` was first taken in: `position` itself unless an earlier copy was."""
        if (first := self._first.get(event_id)) is not None:
            return first
        self._first[event_id] = position
        self._arrivals.append((arrived_at, event_id))
        self._forget_before(arrived_at - self.window)
        return position

    def _forget_before(self, moment: datetime) -> None:
        while self._arrivals and self._arrivals[0][0] < moment:
            _, event_id = self._arrivals.popleft()
            self._first.pop(event_id, None)

    def __len__(self) -> int:
        return len(self._first)
