"""The real-time consumer (the Databricks streaming role): Kinesis -> Spark -> Iceberg, exactly once.

Each micro-batch (one poll of every shard, at most every `trigger_seconds`):

1. records are checked one by one (`validate.py`); refused ones become dead letters, and so
   does a later copy of an event already taken in (`first_seen.py`);
2. Spark appends the events to `realtime.events`, merges their per-minute counts and
   purchase revenue into `realtime.events_per_minute`, and appends the dead letters to
   `realtime.dead_letter`;
3. every one of those three commits carries, in its own snapshot summary, the shard
   positions it has taken in (`sandbox.kinesis-checkpoint`). Data and position are one
   atomic Iceberg commit per table.

A restart reads each table's checkpoint, resumes every shard after the *oldest* of them,
and gives each table only the records beyond its own checkpoint. So a crash at any point,
even between two of the three commits, neither loses nor doubles a record anywhere.
Spark OSS has no Kinesis source on PyPI, so records are fetched with boto3 (`reader.py`).
"""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.catalog import Catalog
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyspark.sql import DataFrame, SparkSession

from services.platform.catalog import CATALOG_NAME
from services.platform.iceberg import commit_with_properties, newest_property
from services.platform.settings import Settings
from services.platform.type_maps import spark_schema
from services.streaming.first_seen import FirstSeen
from services.streaming.reader import BackgroundReader, Record, ShardReader
from services.streaming.tables import TABLES, DeadLetterRow, EventRow, ensure_realtime_table
from services.streaming.validate import Refused, parse_event

log = logging.getLogger(__name__)
CHECKPOINT = "sandbox.kinesis-checkpoint"
PAYLOAD_KEPT_BYTES = 65_536  # of an oversized record, the dead letter keeps this much


Positions = dict[str, str]  # shard id -> last sequence number taken in
CENT = Decimal("0.01")


@dataclass
class BatchResult:
    records: int = 0
    events: int = 0
    dead_letters: int = 0
    latency_p50: float = 0.0  # seconds from Kinesis arrival to visible in Iceberg
    latency_p99: float = 0.0
    seconds: float = 0.0
    latencies: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per record, for benchmarks


@dataclass
class ConsumeResult:
    batches: int = 0
    events: int = 0
    dead_letters: int = 0
    seconds: float = 0.0
    record_latencies: list[np.ndarray] = field(default_factory=list)  # per batch, arrival -> visible

    @property
    def p99_seconds(self) -> float:
        """Arrival -> visible in Iceberg, 99th percentile over every record of the run."""
        every = np.concatenate(self.record_latencies) if self.record_latencies else np.zeros(0)
        return float(np.percentile(every, 99)) if every.size else 0.0

    @property
    def worst_batch_p99_seconds(self) -> float:
        return max((float(np.percentile(lags, 99)) for lags in self.record_latencies if lags.size), default=0.0)

    def summary(self) -> str:
        worst = (
            f", arrival -> visible p99 {self.p99_seconds:.2f} s"
            f" (worst batch's p99 {self.worst_batch_p99_seconds:.2f} s)"
            if self.record_latencies
            else ""
        )
        return (
            f"{self.batches} batches, {self.events:,} events, {self.dead_letters:,} dead letters "
            f"in {self.seconds:.1f} s{worst}"
        )


def _after(record: Record, positions: Positions) -> bool:
    seen = positions.get(record.shard_id)
    return seen is None or int(record.sequence_number) > int(seen)


class StreamConsumer:
    def __init__(
        self,
        spark: SparkSession,
        settings: Settings,
        kinesis: object,
        s3: object,
        catalog: Catalog,
        step: Callable[[str], None] = lambda point: None,
    ) -> None:
        """`kinesis` reads the stream, `s3` stages each micro-batch's Parquet for Spark, `catalog`
        holds the tables; `step` is called at each commit point (tests crash there)."""
        self.spark, self.settings, self.catalog, self.step = spark, settings, catalog, step
        self.s3 = s3
        self.config = settings.streaming
        self.namespace = settings.streaming.realtime_namespace
        for name in TABLES:
            ensure_realtime_table(catalog, self.namespace, name)
        self.checkpoints = {name: self.checkpoint(name) for name in TABLES}
        self.kinesis = kinesis
        self.position = self._oldest(self.checkpoints.values())  # after the last batch committed
        self.first_seen = FirstSeen.load(
            catalog.load_table(f"{self.namespace}.events"), self.config.dedupe_window_seconds, datetime.now(UTC)
        )

    def table(self, name: str) -> str:
        return f"{CATALOG_NAME}.{self.namespace}.{name}"

    def checkpoint(self, name: str) -> Positions:
        """The positions in the newest snapshot of `name` that has them (maintenance adds ones without)."""
        value = newest_property(self.catalog.load_table(f"{self.namespace}.{name}"), CHECKPOINT)
        return {} if value is None else json.loads(value)

    @staticmethod
    def _oldest(checkpoints: object) -> Positions:
        """Per shard, the earliest position any table has; a shard one table lacks starts at the beginning."""
        every = list(checkpoints)
        shards = set().union(*every) if every else set()
        return {shard: min((c[shard] for c in every), key=int) for shard in shards if all(shard in c for c in every)}

    def warm_up(self) -> None:
        """Run a micro-batch's Spark work once on a made-up row, writing nothing: a new JVM's first
        batch otherwise spends seconds loading and compiling Spark's code while events wait."""
        now = datetime.now(UTC)
        row = EventRow("warm-up", "purchase", "warm-up", 1, 1, 1, Decimal("1.00"), now, now, "warm-up", "0")
        staged: list[str] = []
        try:
            self._frame([row], "events", staged).write.format("noop").mode("overwrite").save()
        finally:
            for key in staged:
                self.s3.delete_object(Bucket=self.settings.s3.realtime_bucket, Key=key)
        self.spark.createDataFrame(
            _minute_counts([row]), spark_schema(TABLES["events_per_minute"][0])
        ).createOrReplaceTempView("batch_minutes")
        self.spark.sql(  # the merge's join, read only
            f"SELECT t.events FROM {self.table('events_per_minute')} t JOIN batch_minutes s"
            " ON t.minute = s.minute AND t.event_type = s.event_type"
        ).collect()

    # -- the loop ------------------------------------------------------------------------------

    def run(
        self,
        until_idle: bool = False,
        stop: Callable[[], bool] = lambda: False,
        on_batch: Callable[[BatchResult], None] = lambda result: None,
        not_before_seconds: float = 0.0,
    ) -> ConsumeResult:
        """Consume micro-batches until `stop()` says so or, with `until_idle`, the stream is drained
        (but not before `not_before_seconds`, so a producer started alongside has time to begin)."""
        total, started = ConsumeResult(), time.monotonic()
        trigger = self.config.trigger_seconds
        # A reader of this run's own, from what is committed: the previous run's reader had read
        # ahead, and what it held then was never committed.
        shards = ShardReader(self.kinesis, self.settings.kinesis.stream, self.position, self.config.get_records_limit)
        reader = BackgroundReader(shards, self.config.max_batch_records, idle_pause=trigger)
        try:
            while not stop():
                tick = time.monotonic()
                records = reader.take(wait=trigger)
                if records:
                    result = self.process(records)
                    total.batches += 1
                    total.events += result.events
                    total.dead_letters += result.dead_letters
                    total.record_latencies.append(result.latencies)
                    on_batch(result)
                else:
                    settled = time.monotonic() - started >= not_before_seconds
                    if until_idle and settled and reader.empty_polls >= self.config.idle_batches_to_stop:
                        break
                pause = trigger - (time.monotonic() - tick)
                if pause > 0 and not stop():
                    time.sleep(pause)  # the trigger interval: a micro-batch at most this often
        finally:
            reader.close()
        total.seconds = time.monotonic() - started
        return total

    def process(self, records: list[Record]) -> BatchResult:
        """Validate, then commit each table's share of `records` with its new checkpoint."""
        started = time.monotonic()
        result = BatchResult(records=len(records))
        events, dead = [], []
        for record in records:
            try:
                e = parse_event(record.data, self.config.max_record_bytes)
            except Refused as reason:
                dead.append((record, _dead_letter(record, str(reason))))
                continue
            position = (record.shard_id, record.sequence_number)
            if (first := self.first_seen.first_position(e.event_id, position, record.arrived_at)) != position:
                reason = f"duplicate event_id {e.event_id}: taken in at shard {first[0]}, sequence {first[1]}"
                dead.append((record, _dead_letter(record, reason)))
                continue
            row = EventRow(
                event_id=e.event_id, event_type=e.event_type, session_id=e.session_id, customer_id=e.customer_id,
                product_id=e.product_id, quantity=e.quantity, price=e.price, occurred_at=e.occurred_at,
                arrived_at=record.arrived_at, shard_id=record.shard_id, sequence_number=record.sequence_number,
            )  # fmt: skip
            events.append((record, row))
        reached = self._advance(self.position, records)

        fresh, staged = self._fresh("events", events), []
        try:
            fresh_frame = self._frame(fresh, "events", staged)
            self._commit("events", reached, lambda: fresh_frame.writeTo(self.table("events")).append())
            self.step("after_events")
            counts = _minute_counts(self._fresh("events_per_minute", events))
            self._commit("events_per_minute", reached, lambda: self._merge_minutes(counts))
            self.step("after_events_per_minute")
            letters = self._fresh("dead_letter", dead)
            letters_frame = self._frame(letters, "dead_letter", staged)
            self._commit("dead_letter", reached, lambda: letters_frame.writeTo(self.table("dead_letter")).append())
        finally:
            for key in staged:
                self.s3.delete_object(Bucket=self.settings.s3.realtime_bucket, Key=key)
        self.position = reached
        visible = datetime.now(UTC)
        lags = np.array([(visible - r.arrived_at).total_seconds() for r in records])
        result.events, result.dead_letters = len(fresh), len(letters)
        result.latency_p50, result.latency_p99 = float(np.percentile(lags, 50)), float(np.percentile(lags, 99))
        result.latencies = lags
        result.seconds = time.monotonic() - started
        log.info(
            "batch: %s records -> %s events, %s dead letters; arrival -> visible p50 %.2f s, p99 %.2f s",
            f"{result.records:,}", f"{result.events:,}", result.dead_letters, result.latency_p50, result.latency_p99,
        )  # fmt: skip
        return result

    @staticmethod
    def _advance(positions: Positions, records: list[Record]) -> Positions:
        reached = dict(positions)
        for record in records:
            if _after(record, reached):
                reached[record.shard_id] = record.sequence_number
        return reached

    def _commit(self, name: str, reached: Positions, write: Callable[[], object]) -> None:
        merged = {**self.checkpoints[name], **reached}
        commit_with_properties(self.spark, {CHECKPOINT: json.dumps(merged, sort_keys=True)}, write)
        self.checkpoints[name] = merged

    def _fresh(self, name: str, rows: list[tuple[Record, tuple]]) -> list[tuple]:
        """The rows whose records `name` has not taken in yet (all of them, unless after a crash)."""
        return [row for record, row in rows if _after(record, self.checkpoints[name])]

    def _frame(self, rows: list[tuple], name: str, staged: list[str]) -> DataFrame:
        """Rows for table `name` as a Spark DataFrame, handed over as Parquet staged on S3.

        Spark reads a Parquet file far faster than it pickles Python rows, and S3 (not a local
        file) keeps it working when executors run elsewhere (the compose profile's cluster).
        """
        schema = TABLES[name][0]
        if not rows:
            return self.spark.createDataFrame([], spark_schema(schema))
        arrow_schema = schema_to_pyarrow(schema, include_field_ids=False)
        columns = [
            pa.array(values, type=f.type) for values, f in zip(zip(*rows, strict=True), arrow_schema, strict=True)
        ]
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_arrays(columns, schema=arrow_schema), buffer, compression="zstd")
        key = f"_staging/{self.namespace}/{name}-{uuid.uuid4().hex}.parquet"
        self.s3.put_object(Bucket=self.settings.s3.realtime_bucket, Key=key, Body=buffer.getvalue())
        staged.append(key)
        return self.spark.read.parquet(f"s3a://{self.settings.s3.realtime_bucket}/{key}")

    def _merge_minutes(self, counts: list[tuple]) -> None:
        """Add this batch's counts to the per-minute table (an empty batch still commits its checkpoint)."""
        target = self.table("events_per_minute")
        batch = self.spark.createDataFrame(counts, spark_schema(TABLES["events_per_minute"][0]))
        if not counts:
            batch.writeTo(target).append()
            return
        batch.createOrReplaceTempView("batch_minutes")
        self.spark.sql(
            f"MERGE INTO {target} t USING batch_minutes s ON t.minute = s.minute AND t.event_type = s.event_type "
            "WHEN MATCHED THEN UPDATE SET t.events = t.events + s.events, t.revenue = t.revenue + s.revenue "
            "WHEN NOT MATCHED THEN INSERT *"
        )


def _dead_letter(record: Record, reason: str) -> DeadLetterRow:
    payload = record.data[:PAYLOAD_KEPT_BYTES].decode("utf-8", errors="replace")
    return DeadLetterRow(record.shard_id, record.sequence_number, reason, payload, record.arrived_at)


def _minute_counts(events: list[EventRow]) -> list[tuple]:
    """(minute, event type, events, revenue) of event rows: counted here, a few hundred rows at
    most, rather than by a Spark job over the staged file. Revenue is price x quantity of
    purchases, exactly (Decimal)."""
    cells: dict[tuple[datetime, str], list] = {}
    for event in events:
        minute = event.occurred_at.astimezone(UTC).replace(second=0, microsecond=0)
        cell = cells.setdefault((minute, event.event_type), [0, 0])
        cell[0] += 1
        if event.event_type == "purchase":
            cell[1] += event.price * event.quantity
    return [(minute, kind, n, Decimal(revenue).quantize(CENT)) for (minute, kind), (n, revenue) in cells.items()]
