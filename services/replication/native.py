"""The native replication engine: Postgres logical replication -> the S3 raw zone, exactly once.

1. **Snapshot.** The slot is created over a replication connection with an exported
   snapshot; every published table is copied inside that snapshot, so the snapshot holds
   exactly the changes before the slot's consistent point and the slot exactly those after.
   A table that joins the publication later, or gains a column with a default (its existing
   rows change with no change event), is copied the same way on its own: a temporary slot's
   exported snapshot at point P, after the slot's changes up to P are written.
2. **Changes.** Batches of whole transactions are peeked from the slot
   (`pg_logical_slot_peek_binary_changes`, pgoutput), written as Parquet, then committed by
   their manifest; only then is the slot advanced. The last manifest is the checkpoint: a
   rerun after a crash at any point skips what a manifest already holds and rewrites
   unmanifested files under the same keys, so nothing is lost or doubled.

A run that meets an unreachable S3 or a dropped Postgres connection is retried whole,
with exponential backoff (safe: the checkpoint is in S3), and fails with the last error
after `replication.retry_attempts`. `step` is called with the name of each point between
writes ("snapshot_files", "batch_files", "manifest"): tests use it to kill the process there.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import adbc_driver_manager
import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import HTTPClientError
from psycopg import sql
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from services.platform.clients import Role, postgres_arrow_connect, postgres_connect, s3_client
from services.platform.pg_keys import key_columns
from services.platform.settings import Settings
from services.replication.errors import ReplicationError
from services.replication.pgoutput import UNCHANGED, Begin, Change, Commit, Relation, Truncate, decode
from services.replication.raw_zone import (
    META_FIELDS,
    Manifest,
    RawZone,
    TableFiles,
    TableSchema,
    batch_id,
    format_lsn,
    now_utc,
    parse_lsn,
    raw_table,
)
from services.replication.refusals import qualified, refusals
from services.replication.slot_wait import create_logical_slot
from services.replication.types import NOT_FINITE, ColumnType, TextValues, Unrepresentable

log = logging.getLogger(__name__)
SNAPSHOT_WORKERS = 2  # tables copied at once, each on its own connection in the exported snapshot
# Failures a retry can cure: the network, a restarting server. Anything else stops at once.
TRANSIENT_ERRORS = (
    psycopg.OperationalError,
    adbc_driver_manager.OperationalError,
    BotoConnectionError,
    HTTPClientError,
)
SNAPSHOT_NAME = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")  # what pg_export_snapshot() returns
Progress = Callable[[Manifest], None]


@dataclass(frozen=True)
class SourceTable:
    schema: str
    name: str
    raw_name: str  # in the raw zone and every hop after it (`raw_zone.raw_table`)
    columns: tuple[ColumnType, ...]
    key: tuple[str, ...] = ()  # the primary key's columns (none: REPLICA IDENTITY FULL without one)
    column_ids: tuple[tuple[str, int], ...] = ()  # (name, attnum)
    defaulted: frozenset[str] = frozenset()  # columns whose existing rows got a default when added
    row_filter: str | None = None  # the publication's WHERE for this table, as Postgres prints it

    @property
    def described(self) -> TableSchema:
        return TableSchema(list(self.key), dict(self.column_ids), {c.name: c.type_name for c in self.columns})

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass
class ReplicationResult:
    batches: list[Manifest] = field(default_factory=list)
    seconds: float = 0.0
    stopped: dict[str, str] = field(default_factory=dict)  # "schema.table": why it was left out, and the fix
    retired: list[str] = field(default_factory=list)  # tables raw held that are published no more

    @property
    def rows(self) -> int:
        return sum(b.rows for b in self.batches)

    @property
    def megabytes(self) -> float:
        return sum(b.bytes for b in self.batches) / 1e6

    @property
    def lag_seconds(self) -> float | None:
        """The longest wait of a change in this run: its batch's commit to S3 minus its commit in Postgres."""
        return max((b.lag_seconds for b in self.batches if b.lag_seconds is not None), default=None)

    def summary(self) -> str:
        moved = f"{len(self.batches)} batches, {self.rows:,} rows, {self.megabytes:.1f} MB in {self.seconds:.1f} s"
        retired = f"; retired (no longer published): {', '.join(self.retired)}" if self.retired else ""
        return moved + (f"; {len(self.stopped)} tables STOPPED" if self.stopped else "") + retired


def _no_step(point: str) -> None:
    """Default for `step`: nothing happens between writes."""


class NativeEngine:
    def __init__(self, settings: Settings, database: str | None = None, step: Callable[[str], None] = _no_step) -> None:
        self.settings = settings
        self.database = database or settings.postgres.source_db
        self.slot = settings.replication.slot
        self.publication = settings.replication.publication
        self.home = settings.replication.home_schema  # its tables keep their names (`raw_zone.raw_table`)
        self.raw = RawZone(s3_client(settings), settings.s3.raw_bucket, source=self.database)
        self.step = step
        self.schemas: dict[str, TableSchema] = {}  # every published table, as this run found them
        self.left_out: set[tuple[str, str]] = set()  # (schema, table) of published tables this run stops

    def _connect(self, **kwargs: object) -> psycopg.Connection:
        conn = postgres_connect(self.settings, self.database, Role.REPLICATION, **kwargs)
        conn.execute("SET TIME ZONE 'UTC'")
        return conn

    # -- the run -----------------------------------------------------------------------------

    def run_once(self, progress: Progress | None = None, resync: bool = False) -> ReplicationResult:
        """Snapshot if never done (or `resync`), then replicate every pending change and return."""
        return self._with_retries(lambda: self._run(progress, resync, should_stop=None))

    def follow(self, should_stop: Callable[[], bool], progress: Progress | None = None) -> ReplicationResult:
        """Like `run_once`, then keep polling the slot on one connection until `should_stop()`."""
        return self._with_retries(lambda: self._run(progress, False, should_stop))

    def _with_retries(self, run: Callable[[], ReplicationResult]) -> ReplicationResult:
        policy = self.settings.replication
        retrying = Retrying(
            retry=retry_if_exception_type(TRANSIENT_ERRORS),
            stop=stop_after_attempt(policy.retry_attempts),
            wait=wait_exponential(multiplier=policy.retry_backoff_seconds),
            before_sleep=lambda state: log.warning(
                "replication attempt %d failed (%s); retrying", state.attempt_number, state.outcome.exception()
            ),
            reraise=True,
        )
        try:
            return retrying(run)
        except TRANSIENT_ERRORS as error:
            raise ReplicationError(
                f"gave up after {policy.retry_attempts} attempts; nothing was advanced past the last manifest: {error}"
            ) from error

    def _run(
        self, progress: Progress | None, resync: bool, should_stop: Callable[[], bool] | None
    ) -> ReplicationResult:
        started, result, report = time.monotonic(), ReplicationResult(), progress or (lambda manifest: None)
        latest, has_snapshot = self.raw.checkpoint()
        with self._connect(autocommit=True) as conn:
            published = self._published_tables(conn)
            result.stopped = refusals(published, self.publication)
            for table, error in result.stopped.items():
                log.error("%s: STOPPED: %s", table, error)
            tables = [t for t in published if qualified(t) not in result.stopped]
            self.left_out = {(t.schema, t.name) for t in published if qualified(t) in result.stopped}
            self.schemas = {t.raw_name: t.described for t in tables}
            if resync or not has_snapshot or latest is None:
                latest = self._snapshot(conn, tables)
                result.batches.append(latest)
                report(latest)
            result.retired = sorted(set(latest.schemas) - {t.raw_name for t in published})
            for name in result.retired:
                log.warning(
                    "%s left the publication (or the source): raw keeps what it holds, silver and the warehouse "
                    "keep its last state, and no change of it arrives any more",
                    name,
                )
            checkpoint = latest.end_lsn
            self._advance(conn, checkpoint)
            values = TextValues(conn)
            if stale := _stale(tables, latest, _holds_values(conn)):
                for batch in self._snapshot_tables(conn, stale, checkpoint, values):
                    result.batches.append(batch)
                    report(batch)
                    checkpoint = batch.end_lsn
                self._advance(conn, checkpoint)
            while True:
                if batch := self._next_batch(conn, checkpoint, values):
                    result.batches.append(batch)
                    report(batch)
                    checkpoint = batch.end_lsn
                    self._advance(conn, checkpoint)
                elif should_stop is None or should_stop():
                    break
                else:
                    time.sleep(self.settings.replication.follow_interval_seconds)
        result.seconds = time.monotonic() - started
        return result

    # -- the source ----------------------------------------------------------------------------

    def _published_tables(self, conn: psycopg.Connection) -> list[SourceTable]:
        """Every table the publication publishes, with only the columns and rows it publishes: its
        column list (a left-out column never leaves the source; generated columns only where the
        publication publishes them) and its row filter, as Postgres applies them to the changes."""
        rows = conn.execute(
            "SELECT schemaname, tablename, format('%%I.%%I', schemaname, tablename)::regclass::oid, attnames,"
            " rowfilter FROM pg_publication_tables WHERE pubname = %s ORDER BY 1, 2",
            (self.publication,),
        ).fetchall()
        if not rows:
            raise ReplicationError(
                f"publication {self.publication!r} is missing or empty in database {self.database!r}; "
                "the source's migrations create it (`sandbox load` or `sandbox tick` apply them)"
            )
        tables = []
        for schema, name, oid, published, row_filter in rows:
            described = conn.execute(
                "SELECT attname, atttypid::int, atttypmod, format_type(atttypid, atttypmod), attnum,"
                " atthasdef OR atthasmissing FROM pg_attribute"
                " WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped AND attname = ANY(%s) ORDER BY attnum",
                (oid, published),
            ).fetchall()
            columns = tuple(ColumnType(*row[:4]) for row in described)
            key = key_columns(conn, oid)
            ids = tuple((row[0], row[4]) for row in described)
            defaulted = frozenset(row[0] for row in described if row[5])
            named = raw_table(schema, name, self.settings.replication.home_schema)
            tables.append(SourceTable(schema, name, named, columns, key, ids, defaulted, row_filter))
        return tables

    def _slot_exists(self, conn: psycopg.Connection) -> bool:
        return (
            conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (self.slot,)).fetchone() is not None
        )

    def _advance(self, conn: psycopg.Connection, lsn: int) -> None:
        if not self._slot_exists(conn):
            raise ReplicationError(
                f"replication slot {self.slot!r} is gone, but the raw zone holds changes up to {format_lsn(lsn)}: "
                "changes made since are lost to the slot. Resync with `sandbox replicate --resync`, which takes "
                "a new snapshot (then rebuild downstream tables with `sandbox lakehouse --full-refresh`)"
            )
        conn.execute(
            "SELECT pg_replication_slot_advance(%s, %s::pg_lsn) FROM pg_replication_slots"
            " WHERE slot_name = %s AND confirmed_flush_lsn < %s::pg_lsn",
            (self.slot, format_lsn(lsn), self.slot, format_lsn(lsn)),
        )

    # -- the snapshot ---------------------------------------------------------------------------

    def _snapshot(self, conn: psycopg.Connection, tables: list[SourceTable]) -> Manifest:
        if self._slot_exists(conn):  # an unfinished or replaced snapshot: its slot's start is unusable
            log.warning("dropping slot %s to take a new snapshot", self.slot)
            conn.execute("SELECT pg_drop_replication_slot(%s)", (self.slot,))
        with self._connect(replication=True, autocommit=True) as walsender:
            lsn, snapshot_name = self._exported_snapshot(walsender, self.slot, temporary=False)
            return self._copy_tables(conn, tables, lsn, snapshot_name)

    def _snapshot_tables(
        self, conn: psycopg.Connection, tables: list[SourceTable], checkpoint: int, values: TextValues
    ) -> list[Manifest]:
        """Copy some tables anew, exactly where the slot's stream stands: a temporary slot's
        exported snapshot at P, then the slot's changes committed before P, then the copies."""
        for table in tables:
            log.info(
                "copying %s.%s anew: it joined the publication, gained a column its changes never carried,"
                " or a column changed type",
                table.schema,
                table.name,
            )
        written = []
        with self._connect(replication=True, autocommit=True) as walsender:
            point, snapshot_name = self._exported_snapshot(walsender, f"{self.slot}_tables", temporary=True)
            while batch := self._next_batch(conn, checkpoint, values, before=point):
                written.append(batch)
                checkpoint = batch.end_lsn
                self._advance(conn, checkpoint)
            written.append(self._copy_tables(conn, tables, point, snapshot_name))
        return written

    def _exported_snapshot(self, walsender: psycopg.Connection, slot: str, temporary: bool) -> tuple[int, str]:
        """Create a logical slot exporting its snapshot: (its consistent point, the snapshot's name).
        The snapshot lives while `walsender` stays open and idle."""
        point, snapshot_name = create_logical_slot(
            walsender,
            slot,
            temporary,
            self.settings.replication.slot_wait_seconds,
            lambda: self._connect(autocommit=True),
        )
        return parse_lsn(point), snapshot_name

    def _copy_tables(self, conn: psycopg.Connection, tables: list[SourceTable], lsn: int, snapshot: str) -> Manifest:
        taken_at = now_utc()
        manifest = Manifest(batch_id(lsn, "snapshot"), "snapshot", self.database, lsn, lsn, taken_at.isoformat())
        manifest.schemas = dict(self.schemas)
        with ThreadPoolExecutor(SNAPSHOT_WORKERS, thread_name_prefix="snapshot") as pool:
            copies = [
                (table, pool.submit(self._copy_in_snapshot, snapshot, table, manifest, taken_at))
                for table in _largest_first(conn, tables)
            ]
            for table, copy in copies:
                manifest.tables[table.raw_name] = copy.result()
                log.info("snapshot of %s.%s: %s rows", table.schema, table.name, manifest.tables[table.raw_name].rows)
        self.step("snapshot_files")
        manifest.created_at = now_utc().isoformat()  # the moment the batch becomes visible
        self.raw.commit(manifest)
        self.step("manifest")
        return manifest

    def _copy_in_snapshot(self, snapshot: str, table: SourceTable, manifest: Manifest, at: datetime) -> TableFiles:
        """Copy one table on a connection of its own that reads the slot's exported snapshot.

        The rows come through ADBC: Postgres sends them as binary COPY and the driver decodes
        them into Arrow in C (no CSV to print and parse). While Postgres produces one table,
        Arrow encodes the other's Parquet (see `_snapshot`), so both cores stay busy.
        """
        if not SNAPSHOT_NAME.fullmatch(snapshot):
            raise ReplicationError(f"unexpected exported snapshot name {snapshot!r}")
        selects = [c.snapshot_sql(sql.Identifier(c.name).as_string()) for c in table.columns]
        texts = [text for _, text in selects if text]  # after the values: a column's text where its type cannot hold it
        columns = sql.SQL(", ").join(sql.SQL(value) for value, _ in selects + [(t, None) for t in texts])
        query = sql.SQL("SELECT {} FROM {}").format(columns, sql.Identifier(table.schema, table.name))
        if table.row_filter:  # the publication's own expression, from the catalog: the rows its changes carry
            query += sql.SQL(" WHERE {}").format(sql.SQL(table.row_filter))
        with self._connect() as conn, postgres_arrow_connect(self.settings, self.database, Role.REPLICATION) as reader:
            values = TextValues(conn)
            with reader.cursor() as cursor:
                cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                cursor.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                cursor.execute("SET TIME ZONE 'UTC'")
                cursor.execute(query.as_string(conn))
                return self._write_snapshot_file(cursor.fetch_record_batch(), table, manifest, at, values)

    def _write_snapshot_file(
        self, batches: pa.RecordBatchReader, table: SourceTable, manifest: Manifest, at: datetime, values: TextValues
    ) -> TableFiles:
        """Stream the table's record batches into one Parquet file, with the raw zone's columns."""
        key = self.raw.file_key(table.raw_name, manifest.batch_id, 0)
        schema = pa.schema([pa.field(c.raw_name, c.arrow) for c in table.columns] + list(META_FIELDS))
        rows = 0
        with tempfile.TemporaryDirectory() as scratch:
            parquet_path = Path(scratch) / "table.parquet"
            with pq.ParquetWriter(parquet_path, schema, compression="zstd") as writer:
                guarded = [c.raw_name for c in table.columns if c.snapshot_sql("x")[1]]
                for batch in batches:
                    count = batch.num_rows
                    found: dict[int, list[tuple[str, str]]] = {}
                    arrays = [_as_raw(c, batch.column(i), values, found) for i, c in enumerate(table.columns)]
                    for j, name in enumerate(guarded):
                        texts = batch.column(len(table.columns) + j)
                        for row in np.flatnonzero(texts.is_valid().to_numpy(zero_copy_only=False)):
                            found.setdefault(int(row), []).append((name, texts[int(row)].as_py()))
                    arrays += [
                        pa.repeat(pa.scalar("snapshot"), count),
                        pa.repeat(pa.scalar(manifest.first_lsn, pa.int64()), count),
                        pa.array(np.arange(rows, rows + count, dtype=np.int64)),
                        pa.repeat(pa.scalar(at, META_FIELDS[3].type), count),
                        pa.repeat(pa.scalar(at, META_FIELDS[4].type), count),
                        pa.repeat(pa.scalar(manifest.batch_id), count),
                        pa.nulls(count, META_FIELDS[6].type),
                        _unrepresentable(found, count),
                    ]
                    writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
                    rows += count
            size = self.raw.put_file(key, parquet_path)
        return TableFiles(files=[key], rows=rows, ops={"snapshot": rows}, bytes=size)

    # -- the changes ----------------------------------------------------------------------------

    def _next_batch(
        self, conn: psycopg.Connection, checkpoint: int, values: TextValues, before: int | None = None
    ) -> Manifest | None:
        """The next batch of whole transactions after `checkpoint` (those committed before `before`)."""
        messages = conn.execute(
            "SELECT data FROM pg_logical_slot_peek_binary_changes(%s, %s::pg_lsn, %s,"
            " 'proto_version', '1', 'publication_names', %s)",
            (
                self.slot,
                None if before is None else format_lsn(before),
                self.settings.replication.batch_changes,
                self.publication,
            ),
        ).fetchall()
        relations: dict[int, Relation] = {}
        grouped: dict[tuple[str, tuple[ColumnType, ...]], list[tuple]] = {}
        pending: list[Change | Truncate] = []
        first = end = first_at = last_at = None
        seq = 0
        for (data,) in messages:
            message = decode(bytes(data))
            if isinstance(message, Relation):
                relations[message.oid] = message
            elif isinstance(message, Begin):
                pending = []
            elif isinstance(message, Change | Truncate):
                if kept := _without_left_out(message, relations, self.left_out):
                    pending.append(kept)
            elif isinstance(message, Commit) and message.end_lsn > checkpoint:
                first, end = first or message.commit_lsn, message.end_lsn
                first_at, last_at = first_at or message.commit_time, message.commit_time
                for change in pending:
                    for table, columns, row, unchanged, odd in _rows_of(change, relations, values, self.home):
                        grouped.setdefault((table, columns), []).append(
                            (*row, message.commit_lsn, seq, message.commit_time, unchanged, odd)
                        )
                        seq += 1
        if end is None:
            return None
        ingested = now_utc()
        manifest = Manifest(
            batch_id(first, "changes"),
            "changes",
            self.database,
            first,
            end,
            ingested.isoformat(),
            first_at.isoformat(),
            last_at.isoformat(),
        )
        manifest.schemas = dict(self.schemas)
        for part, ((table, columns), rows) in enumerate(sorted(grouped.items(), key=lambda item: item[0][0])):
            files = manifest.tables.setdefault(table, TableFiles())
            data = _arrow_rows(columns, rows, manifest.batch_id, ingested)
            key = self.raw.file_key(table, manifest.batch_id, part)
            files.bytes += self.raw.put_table(key, data)
            files.files.append(key)
            files.rows += len(rows)
            for op in data["_op"].to_pylist():
                files.ops[op] = files.ops.get(op, 0) + 1
            unchanged = {name for row in rows for name in row[-2] or ()}
            files.unchanged = sorted(unchanged.union(files.unchanged))
        self.step("batch_files")
        manifest.created_at = now_utc().isoformat()  # the moment the batch becomes visible
        self.raw.commit(manifest)
        self.step("manifest")
        return manifest


def _as_raw(column: ColumnType, values: pa.Array, text: TextValues, found: dict[int, list]) -> pa.Array:
    """A snapshot column as the raw zone stores it (see `types.py`); a value its raw type cannot
    hold (NaN in a numeric(p, s), an array of two dimensions) is NULL, and its text in `found`."""
    if column.is_array:
        converted = []
        for row, value in enumerate(values.to_pylist()):
            try:
                converted.append(text.convert(column, value))
            except Unrepresentable as odd:
                found.setdefault(row, []).append((column.raw_name, odd.text))
                converted.append(None)
        return pa.array(converted, column.arrow)
    if values.type == column.arrow:
        return values
    if pa.types.is_decimal(column.arrow):
        odd = pc.is_in(values, pa.array(NOT_FINITE))
        for row in np.flatnonzero(odd.to_numpy(zero_copy_only=False)):
            found.setdefault(int(row), []).append((column.raw_name, values[int(row)].as_py()))
        values = pc.if_else(odd, pa.scalar(None, values.type), values)
    return values.cast(column.arrow)


def _unrepresentable(found: dict[int, list[tuple[str, str]]], count: int) -> pa.Array:
    """The `_unrepresentable` column of a batch: NULL for every row but those with such values."""
    field_type = META_FIELDS[7].type
    if not found:
        return pa.nulls(count, field_type)
    return pa.array([found.get(row) for row in range(count)], field_type)


def _stale(
    tables: list[SourceTable], latest: Manifest, holds_values: Callable[[SourceTable, set[str]], bool]
) -> list[SourceTable]:
    """Tables the raw zone must copy anew: those not published at the last run, those with a
    column their changes never carried but whose existing rows hold values (one added with a
    default, or one the publication's column list took in later: `holds_values` asks the source),
    and those with a column whose type changed (old rows would otherwise keep the old type's
    values beside the new one's). A manifest without schemas, from an older release, says nothing."""
    if not latest.schemas:
        return []
    stale = []
    for table in tables:
        known = latest.schemas.get(table.raw_name)
        added = {name for name, attnum in table.column_ids if known is None or known.columns.get(name) != attnum}
        retyped = known is not None and any(
            known.types.get(c.name, c.type_name) != c.type_name for c in table.columns if c.name not in added
        )
        if known is None or retyped or added & table.defaulted or (added and holds_values(table, added)):
            stale.append(table)
    return stale


def _holds_values(conn: psycopg.Connection) -> Callable[[SourceTable, set[str]], bool]:
    def check(table: SourceTable, columns: set[str]) -> bool:
        any_value = sql.SQL(" OR ").join(sql.SQL("{} IS NOT NULL").format(sql.Identifier(c)) for c in sorted(columns))
        query = sql.SQL("SELECT EXISTS (SELECT FROM {} WHERE {})").format(
            sql.Identifier(table.schema, table.name), any_value
        )
        return bool(conn.execute(query).fetchone()[0])

    return check


def _largest_first(conn: psycopg.Connection, tables: list[SourceTable]) -> list[SourceTable]:
    """Big tables first, so the parallel copies finish together."""
    sizes = dict(
        conn.execute(
            "SELECT n.nspname || '.' || c.relname, pg_relation_size(c.oid) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r'"
        ).fetchall()
    )
    return sorted(tables, key=lambda t: -sizes.get(f"{t.schema}.{t.name}", 0))


def _without_left_out(
    change: Change | Truncate, relations: dict[int, Relation], left_out: set[tuple[str, str]]
) -> Change | Truncate | None:
    """The change without the tables this run leaves out (None if nothing of it remains)."""

    def kept(oid: int) -> bool:
        return (relations[oid].schema, relations[oid].table) not in left_out

    if isinstance(change, Truncate):
        oids = tuple(oid for oid in change.relation_oids if kept(oid))
        return replace(change, relation_oids=oids) if oids else None
    return change if kept(change.relation_oid) else None


def _rows_of(change: Change | Truncate, relations: dict[int, Relation], values: TextValues, home: str):
    """(raw table name, columns, (op, *values), unchanged column names or None, unrepresentable
    values as (column, text) pairs or None) for each raw row a change becomes."""
    if isinstance(change, Truncate):
        for oid in change.relation_oids:
            relation = relations[oid]
            columns = _column_types(relation)
            table = raw_table(relation.schema, relation.table, home)
            yield table, columns, ("truncate", *([None] * len(columns))), None, None
        return
    relation = relations[change.relation_oid]
    table = raw_table(relation.schema, relation.table, home)
    columns = _column_types(relation)

    def typed(op: str, row: tuple) -> tuple[tuple, list[tuple[str, str]] | None]:
        converted, odd = [op], []
        for column, value in zip(columns, row, strict=True):
            try:
                converted.append(values.convert(column, None if value is UNCHANGED else value))
            except Unrepresentable as text:
                odd.append((column.raw_name, text.text))
                converted.append(None)
        return tuple(converted), odd or None

    if change.op == "delete":
        yield table, columns, *typed("delete", change.old), None
        return
    new = change.new
    if change.old_is_whole_row:  # REPLICA IDENTITY FULL: the old row holds the values an update left untouched
        new = tuple(old if value is UNCHANGED else value for old, value in zip(change.old, new, strict=True))
    unchanged = [c.raw_name for c, value in zip(columns, new, strict=True) if value is UNCHANGED] or None
    if change.op == "update" and change.old is not None and _key(relation, change.old) != _key(relation, new):
        # the key changed: the old row is gone, and the new one keeps the old one's untouched values
        row, _ = typed("delete", change.old)
        yield table, columns, row, None, None
        row, odd = typed("insert", new)
        yield table, columns, row, unchanged, odd
    else:
        row, odd = typed(change.op, new)
        yield table, columns, row, unchanged, odd


def _key(relation: Relation, row: tuple) -> tuple:
    """The replica identity's columns of a row (every column under REPLICA IDENTITY FULL)."""
    keyed = [value for column, value in zip(relation.columns, row, strict=True) if column.is_key]
    return tuple(keyed) if keyed else row


def _column_types(relation: Relation) -> tuple[ColumnType, ...]:
    return tuple(ColumnType(c.name, c.type_oid, c.type_modifier) for c in relation.columns)


def _arrow_rows(columns: tuple[ColumnType, ...], rows: list[tuple], batch: str, ingested: datetime) -> pa.Table:
    width = len(columns)
    data = {c.raw_name: pa.array([r[1 + i] for r in rows], c.arrow) for i, c in enumerate(columns)}
    meta = [
        [r[0] for r in rows],
        [r[width + 1] for r in rows],
        [r[width + 2] for r in rows],
        [r[width + 3] for r in rows],
        [ingested] * len(rows),
        [batch] * len(rows),
        [r[width + 4] for r in rows],
        [r[width + 5] for r in rows],
    ]
    for field_, values in zip(META_FIELDS, meta, strict=True):
        data[field_.name] = pa.array(values, field_.type)
    return pa.table(data)
