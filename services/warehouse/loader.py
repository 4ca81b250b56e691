"""Iceberg -> warehouse: load silver and real-time tables into the `lake` schema, incrementally.

The warehouse remembers, per table, the Iceberg snapshot it last loaded (`lake._loads`,
written in the same transaction as the data, so the two never disagree). A later load
compares that snapshot's data files with the current snapshot's:

* rows of data files that are new since then are the incoming rows (Spark's merges write
  changed and new rows to new files; a compaction's rewritten files come back too);
* keys that were live then in files that lost rows since (new delete files, or files
  removed by a merge or compaction) and are not live now have vanished.

Each load has an id (`lake._load_ids`). Incoming rows that are new or differ from the
lake's row are written with it; identical ones (a compaction's) are left alone. Vanished
rows are deleted. Where the table keeps previous versions, the rows a load changed or
deleted go there as they were, stamped with it (see `postgres_schema`). So only what
changed is read, and what changed is told to dbt exactly.

A first load copies straight into the empty table. `--full-refresh`, or a remembered snapshot
that maintenance has expired, reads the whole table as incoming rows (every lake row not
among them has vanished). Each load is one transaction: a failed load leaves the previous
contents, previous versions and bookmark untouched.
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
    LOAD_ID,
    LOAD_ID_SETTING,
    WarehouseSchemaError,
    drop_lookup_indexes,
    ensure_lake_table,
    ensure_lookup_indexes,
    previous_versions,
    reload_reason,
)
from services.warehouse.tables import LakeTable

log = logging.getLogger(__name__)
# A load that writes at least this many rows refreshes the table's statistics before it deletes.
ANALYZE_AFTER_ROWS = 10_000
LOADS_TABLE = "_loads"
LOAD_IDS = "_load_ids"  # the sequence of load ids


@dataclass
class LoadResult:
    table: str
    mode: str = "up to date"  # full, incremental, up to date, or waiting (no Iceberg table yet)
    upserts: int = 0  # rows written: new, or different from the lake's
    deletes: int = 0
    snapshot_id: int | None = None
    load_id: int | None = None
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
    """Loads lake tables on one connection (`services/warehouse/stage.py` runs several)."""

    def __init__(self, settings: Settings, catalog: Catalog, conn: psycopg.Connection, tables: list[LakeTable]) -> None:
        self.catalog, self.conn, self.tables = catalog, conn, tables
        self.schema = settings.warehouse.lake_schema

    def prepare(self, names: list[str] | None = None) -> None:
        """Check the names and create the bookkeeping table (once, before loads run side by side)."""
        known = {t.name for t in self.tables}
        if unknown := set(names or []) - known:
            raise ValueError(f"unknown table {', '.join(sorted(unknown))}; lake tables: {', '.join(sorted(known))}")
        self._ensure_loads_table()

    def load_table(self, name: str, full_refresh: bool = False) -> LoadResult:
        """Load one lake table (after `prepare`); whatever stops it (a schema change it cannot take,
        a value the warehouse refuses) is its result's error, and the other tables go on."""
        table = next(t for t in self.tables if t.name == name)
        started = time.monotonic()
        try:
            result = self._load(table, full_refresh)
        except WarehouseSchemaError as error:
            result = LoadResult(table.name, error=str(error))
        except (psycopg.OperationalError, OSError):
            raise  # the warehouse or the store is unreachable: no table would load, and the task retries
        except Exception as error:  # anything else stops this table alone; its transaction rolled back
            log.exception("lake table %s stopped", table.name)
            result = LoadResult(
                table.name,
                error=f"{type(error).__name__}: {error} (the log has the whole error; the table keeps its last load, "
                "and the next `sandbox transform` loads it from there once the cause is fixed)",
            )
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
                result.schema_changes = ensure_lake_table(
                    self.conn,
                    self.schema,
                    table.name,
                    schema_to_pyarrow(table.declared),
                    table.keys,
                    table.keeps_previous,
                )
            result.mode = f"empty: {table.identifier} does not exist yet"
            return result
        current = iceberg.current_snapshot()
        arrow = schema_to_pyarrow(iceberg.schema())
        if LOAD_ID in arrow.names:
            raise WarehouseSchemaError(
                f"column {LOAD_ID!r} of {table.identifier} has the name the warehouse keeps for the load that "
                f"last wrote each row: rename it at the source, or leave it out of the publication's column list"
            )
        reload = reload_reason(self.conn, self.schema, table.name, arrow, table.keys)
        loaded = None if full_refresh or reload else self.loaded_snapshot(table.name)
        if current is None or loaded == current.snapshot_id:
            return result
        result.snapshot_id = current.snapshot_id
        now = _plan(iceberg, current.snapshot_id)
        then = _plan(iceberg, loaded) if loaded is not None else None
        with self.conn.transaction():
            if reload:  # emptied here, loaded whole below: one transaction, so never half-loaded
                self.conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(self.schema, table.name)))
            result.schema_changes = ensure_lake_table(
                self.conn, self.schema, table.name, arrow, table.keys, table.keeps_previous, retype=bool(reload)
            )
            if reload:
                result.schema_changes.append(f"reloaded whole: {reload}")
            result.load_id = self.conn.execute(
                sql.SQL("SELECT nextval({})").format(sql.Literal(f"{self.schema}.{LOAD_IDS}"))
            ).fetchone()[0]
            self.conn.execute("SELECT set_config(%s, %s, true)", (LOAD_ID_SETTING, str(result.load_id)))
            if then is None and self._is_empty(table):
                result.mode = "full"
                drop_lookup_indexes(self.conn, self.schema, table.name, table.lookups)
                result.upserts = self._copy(table, iceberg, list(now.values()), self.schema, table.name)
            elif then is None:
                result.mode = "full"
                result.upserts, result.deletes = self._apply(table, iceberg, list(now.values()), vanished=None)
            else:
                result.mode = "incremental"
                new = [task for path, task in now.items() if path not in then]
                result.upserts, result.deletes = self._apply(
                    table, iceberg, new, self._vanished(table, iceberg, now, then, loaded)
                )
            ensure_lookup_indexes(self.conn, self.schema, table.name, table.lookups)
            self.conn.execute(
                sql.SQL(
                    "INSERT INTO {} (table_name, snapshot_id, load_id, loaded_at) VALUES (%s, %s, %s, now())"
                    " ON CONFLICT (table_name) DO UPDATE SET snapshot_id = excluded.snapshot_id,"
                    " load_id = excluded.load_id, loaded_at = now()"
                ).format(self._loads),
                (table.name, current.snapshot_id, result.load_id),
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

    def _is_empty(self, table: LakeTable) -> bool:
        target = sql.Identifier(self.schema, table.name)
        return self.conn.execute(sql.SQL("SELECT NOT EXISTS (SELECT FROM {})").format(target)).fetchone()[0]

    def _vanished(
        self,
        table: LakeTable,
        iceberg: Table,
        now: dict[str, FileScanTask],
        then: dict[str, FileScanTask],
        then_id: int,
    ) -> set[tuple]:
        """Keys live in the loaded snapshot's files that lost rows since, and not live in them now."""
        shrunk = [path for path, task in now.items() if path in then and _deletes(task) != _deletes(then[path])]
        gone = [path for path in then if path not in now]
        then_schema = iceberg.metadata.schema_by_id(iceberg.snapshot_by_id(then_id).schema_id) or iceberg.schema()
        keys_then = _keys(iceberg, then_schema, table.keys, [then[p] for p in shrunk + gone])
        return keys_then - _keys(iceberg, iceberg.schema(), table.keys, [now[p] for p in shrunk])

    def _apply(
        self, table: LakeTable, iceberg: Table, incoming: list[FileScanTask], vanished: set[tuple] | None
    ) -> tuple[int, int]:
        """Write the incoming rows that are new or differ and delete the vanished ones (`vanished`
        None: every row not incoming), keeping what they replace as previous versions where the
        table does. Returns (rows written, rows deleted)."""
        target = sql.Identifier(self.schema, table.name)
        columns = [f.name for f in iceberg.schema().fields]
        names = sql.SQL(", ").join(map(sql.Identifier, columns))

        def matching(other: str) -> sql.Composable:
            return sql.SQL(" AND ").join(
                sql.SQL("t.{0} = {1}.{0}").format(sql.Identifier(k), sql.SQL(other)) for k in table.keys
            )

        def removing(condition: sql.Composable, using: str = "") -> sql.Composable:
            """Delete the lake rows matching `condition`, keeping them as previous versions if kept."""
            delete = sql.SQL("DELETE FROM {} t {} WHERE {}").format(target, sql.SQL(using), condition)
            if not table.keeps_previous:
                return delete
            previous = sql.Identifier(self.schema, previous_versions(table.name))
            return sql.SQL("WITH gone AS ({} RETURNING t.*) INSERT INTO {} ({}) SELECT {} FROM gone").format(
                delete, previous, names, names
            )

        differs = sql.SQL("ROW({}) IS DISTINCT FROM ROW({})").format(
            sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in columns),
            sql.SQL(", ").join(sql.SQL("i.{}").format(sql.Identifier(c)) for c in columns),
        )
        not_incoming = sql.SQL("NOT EXISTS (SELECT FROM _incoming i WHERE {})").format(matching("i"))
        with self.conn.cursor() as cursor:
            cursor.execute(
                sql.SQL("CREATE TEMP TABLE _incoming ON COMMIT DROP AS SELECT {} FROM {} LIMIT 0").format(names, target)
            )
            self._copy(table, iceberg, incoming, "pg_temp", "_incoming")
            cursor.execute("ANALYZE _incoming")
            cursor.execute(removing(sql.SQL("{} AND {}").format(matching("i"), differs), using="USING _incoming i"))
            # The rows left with an incoming key are equal to it: skip them by the key's index. (An
            # anti-join on the table itself was quadratic when its statistics said empty: each row
            # scanned the pages this very INSERT was adding; 200k rows took 150 s.)
            cursor.execute(
                sql.SQL("INSERT INTO {} ({}) SELECT {} FROM _incoming ON CONFLICT ({}) DO NOTHING").format(
                    target, names, names, sql.SQL(", ").join(map(sql.Identifier, table.keys))
                )
            )
            written = cursor.rowcount
            if written >= ANALYZE_AFTER_ROWS:  # the deletes below join the table: statistics that say
                cursor.execute(sql.SQL("ANALYZE {}").format(target))  # it is empty would mislead them too
            if vanished is None:
                cursor.execute(removing(not_incoming))
            else:
                keys = sql.SQL(", ").join(map(sql.Identifier, table.keys))
                cursor.execute(
                    sql.SQL("CREATE TEMP TABLE _vanished ON COMMIT DROP AS SELECT {} FROM {} LIMIT 0").format(
                        keys, target
                    )
                )
                with cursor.copy(sql.SQL("COPY _vanished FROM STDIN")) as copy:
                    for key in vanished:
                        copy.write_row(key)
                cursor.execute("ANALYZE _vanished")
                cursor.execute(
                    removing(sql.SQL("{} AND {}").format(matching("v"), not_incoming), using="USING _vanished v")
                )
            return written, cursor.rowcount

    def _copy(self, table: LakeTable, iceberg: Table, tasks: list[FileScanTask], schema: str, name: str) -> int:
        columns = [f.name for f in iceberg.schema().fields]
        with self.conn.cursor() as cursor:
            return copy_batches(cursor, schema, name, columns, _read(iceberg, iceberg.schema(), tasks))

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
            self.conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS load_id bigint").format(self._loads))
            self.conn.execute(sql.SQL("CREATE SEQUENCE IF NOT EXISTS {}").format(sql.Identifier(self.schema, LOAD_IDS)))


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


def _keys(iceberg: Table, schema: Schema, keys: tuple[str, ...], tasks: list[FileScanTask]) -> set[tuple]:
    if not tasks:
        return set()
    found: set[tuple] = set()
    for batch in _read(iceberg, schema.select(*keys), tasks):
        found.update(zip(*(batch.column(k).to_pylist() for k in keys), strict=True))
    return found
