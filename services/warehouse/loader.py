"""Iceberg -> warehouse: load silver and real-time tables into the `lake` schema, incrementally.

The warehouse remembers, per table, the Iceberg snapshot it last loaded (`lake._loads`,
written in the same transaction as the data, so the two never disagree). A later load
compares that snapshot's data files with the current snapshot's:

* rows of data files that are new since then are upserted (Spark's merges write changed
  and new rows to new files; a compaction's rewritten files come back too, harmlessly);
* keys that were live then in files that lost rows since (new delete files, or files
  removed by a merge or compaction) and are neither live now nor upserted were deleted.

So only what changed is read. A first load, `--full-refresh`, or a remembered snapshot
that maintenance has expired reloads the whole table, inside the same single transaction:
a failed load leaves the previous contents untouched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import psycopg
import pyarrow as pa
from psycopg import sql
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan, schema_to_pyarrow
from pyiceberg.schema import Schema
from pyiceberg.table import FileScanTask, Table

from services.platform.settings import Settings
from services.warehouse.copy import copy_batches
from services.warehouse.postgres_schema import (
    WarehouseSchemaError,
    drop_lookup_indexes,
    ensure_lookup_indexes,
    ensure_table,
)
from services.warehouse.tables import LakeTable, lake_tables

log = logging.getLogger(__name__)
LOADS_TABLE = "_loads"


@dataclass
class LoadResult:
    table: str
    mode: str = "up to date"  # full, incremental, up to date, or waiting (no Iceberg table yet)
    upserts: int = 0
    deletes: int = 0
    snapshot_id: int | None = None
    schema_changes: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        if self.error:
            return f"{self.table}: STOPPED: {self.error}"
        text = f"{self.table}: {self.mode}, {self.upserts:,} rows upserted, {self.deletes:,} deleted"
        if self.schema_changes:
            text += " (" + "; ".join(self.schema_changes) + ")"
        return text + f" in {self.seconds:.1f} s"


class WarehouseLoader:
    def __init__(self, settings: Settings, catalog: Catalog, conn: psycopg.Connection) -> None:
        self.catalog, self.conn = catalog, conn
        self.schema = settings.warehouse.lake_schema
        self.tables = lake_tables(settings)

    def prepare(self, names: list[str] | None = None) -> None:
        """Check the names and create the bookkeeping table (once, before loads run side by side)."""
        known = {t.name for t in self.tables}
        if unknown := set(names or []) - known:
            raise ValueError(f"unknown table {', '.join(sorted(unknown))}; lake tables: {', '.join(sorted(known))}")
        self._ensure_loads_table()

    def run(self, names: list[str] | None = None, full_refresh: bool = False) -> list[LoadResult]:
        self.prepare(names)
        return [self.load_table(t.name, full_refresh) for t in self.tables if not names or t.name in names]

    def load_table(self, name: str, full_refresh: bool = False) -> LoadResult:
        """Load one lake table (after `prepare`); a schema change it cannot take is its result's error."""
        table = next(t for t in self.tables if t.name == name)
        started = time.monotonic()
        try:
            result = self._load(table, full_refresh)
        except WarehouseSchemaError as error:
            result = LoadResult(table.name, error=str(error))
        result.seconds = time.monotonic() - started
        log.info(result.summary())
        return result

    def loaded_snapshot(self, name: str) -> int | None:
        row = self.conn.execute(
            sql.SQL("SELECT snapshot_id FROM {} WHERE table_name = %s").format(self._loads), (name,)
        ).fetchone()
        return row[0] if row else None

    # -- one table -----------------------------------------------------------------------------

    def _load(self, table: LakeTable, full_refresh: bool) -> LoadResult:
        result = LoadResult(table.name)
        try:
            iceberg = self.catalog.load_table(table.identifier)
        except NoSuchTableError:
            if table.declared is None:
                result.mode = f"waiting: {table.identifier} does not exist yet"
                return result
            with self.conn.transaction():
                result.schema_changes = ensure_table(
                    self.conn, self.schema, table.name, schema_to_pyarrow(table.declared), table.key
                )
            result.mode = f"empty: {table.identifier} does not exist yet"
            return result
        current = iceberg.current_snapshot()
        loaded = None if full_refresh else self.loaded_snapshot(table.name)
        if current is None or loaded == current.snapshot_id:
            return result
        result.snapshot_id = current.snapshot_id
        now = _plan(iceberg, current.snapshot_id)
        then = _plan(iceberg, loaded) if loaded is not None else None
        with self.conn.transaction():
            result.schema_changes = ensure_table(
                self.conn, self.schema, table.name, schema_to_pyarrow(iceberg.schema()), table.key
            )
            if then is None:
                result.mode = "full"
                drop_lookup_indexes(self.conn, self.schema, table.name, table.lookups)
                self.conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(self.schema, table.name)))
                result.upserts = self._copy(table, iceberg, list(now.values()))
            else:
                result.mode = "incremental"
                result.upserts, result.deletes = self._apply_changes(table, iceberg, now, then, loaded)
            ensure_lookup_indexes(self.conn, self.schema, table.name, table.lookups)
            self.conn.execute(
                sql.SQL(
                    "INSERT INTO {} (table_name, snapshot_id, loaded_at) VALUES (%s, %s, now())"
                    " ON CONFLICT (table_name) DO UPDATE SET snapshot_id = excluded.snapshot_id, loaded_at = now()"
                ).format(self._loads),
                (table.name, current.snapshot_id),
            )
        self._tidy(table, result)
        return result

    def _tidy(self, table: LakeTable, result: LoadResult) -> None:
        """Statistics after a reload; after changes also VACUUM, which marks the pages they
        touched all-visible again, so dbt's index-only scans stay index-only (autovacuum waits
        until a fifth of the table changed). Outside the load's transaction, as VACUUM must be."""
        target = sql.Identifier(self.schema, table.name)
        if result.mode == "full":
            self.conn.execute(sql.SQL("ANALYZE {}").format(target))
        elif result.upserts or result.deletes:
            self.conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(target))

    def _apply_changes(
        self,
        table: LakeTable,
        iceberg: Table,
        now: dict[str, FileScanTask],
        then: dict[str, FileScanTask],
        then_id: int,
    ) -> tuple[int, int]:
        new = [task for path, task in now.items() if path not in then]
        shrunk = [path for path, task in now.items() if path in then and _deletes(task) != _deletes(then[path])]
        gone = [path for path in then if path not in now]
        upsert_keys = _keys(iceberg, iceberg.schema(), table.key, new)
        then_schema = iceberg.metadata.schema_by_id(iceberg.snapshot_by_id(then_id).schema_id) or iceberg.schema()
        keys_then = _keys(iceberg, then_schema, table.key, [then[p] for p in shrunk + gone])
        keys_now = _keys(iceberg, iceberg.schema(), table.key, [now[p] for p in shrunk])
        deleted = keys_then - keys_now - upsert_keys
        self._delete_keys(table, upsert_keys | deleted)
        return self._copy(table, iceberg, new), len(deleted)

    def _delete_keys(self, table: LakeTable, keys: set[object]) -> None:
        if not keys:
            return
        key = sql.Identifier(table.key)
        target = sql.Identifier(self.schema, table.name)
        with self.conn.cursor() as cursor:
            cursor.execute(
                sql.SQL("CREATE TEMP TABLE _changed_keys ON COMMIT DROP AS SELECT {} FROM {} LIMIT 0").format(
                    key, target
                )
            )
            with cursor.copy(sql.SQL("COPY _changed_keys FROM STDIN")) as copy:
                for value in keys:
                    copy.write_row((value,))
            cursor.execute(sql.SQL("DELETE FROM {} t USING _changed_keys k WHERE t.{} = k.{}").format(target, key, key))

    def _copy(self, table: LakeTable, iceberg: Table, tasks: list[FileScanTask]) -> int:
        columns = [f.name for f in iceberg.schema().fields]
        with self.conn.cursor() as cursor:
            return copy_batches(cursor, self.schema, table.name, columns, _read(iceberg, iceberg.schema(), tasks))

    # -- bookkeeping ---------------------------------------------------------------------------

    @property
    def _loads(self) -> sql.Identifier:
        return sql.Identifier(self.schema, LOADS_TABLE)

    def _ensure_loads_table(self) -> None:
        with self.conn.transaction():
            self.conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
            self.conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (table_name text PRIMARY KEY, snapshot_id bigint NOT NULL,"
                    " loaded_at timestamptz NOT NULL)"
                ).format(self._loads)
            )


def _plan(iceberg: Table, snapshot_id: int) -> dict[str, FileScanTask] | None:
    """The live data files of a snapshot with their delete files; None if it was expired."""
    if iceberg.snapshot_by_id(snapshot_id) is None:
        return None
    return {task.file.file_path: task for task in iceberg.scan(snapshot_id=snapshot_id).plan_files()}


def _deletes(task: FileScanTask) -> frozenset[str]:
    return frozenset(d.file_path for d in task.delete_files)


def _read(iceberg: Table, schema: Schema, tasks: Iterable[FileScanTask]) -> Iterator[pa.RecordBatch]:
    """Rows of the given files, with their delete files applied."""
    return ArrowScan(iceberg.metadata, iceberg.io, schema, AlwaysTrue()).to_record_batches(tasks)


def _keys(iceberg: Table, schema: Schema, key: str, tasks: list[FileScanTask]) -> set[object]:
    if not tasks:
        return set()
    keys: set[object] = set()
    for batch in _read(iceberg, schema.select(key), tasks):
        keys.update(batch.column(0).to_pylist())
    return keys
