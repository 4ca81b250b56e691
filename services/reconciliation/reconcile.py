"""Reconciliation: every cell of every table compared at every hop, and any difference named.

Batch path, per published source table with a primary key: source (Postgres) -> raw (its
snapshot and changes applied, `raw_state.py`) -> silver (Iceberg) -> warehouse (`lake`
schema) -> marts input (dbt's staging view, on the columns it carries unchanged). Each hop's
checksum over a canonical rendering of every cell (`canonical.py`) is computed where the data
is; where it differs, `diff.py` narrows down by key range and names the first differing keys
and columns. A key whose newest change silver quarantined is left out after the raw hop (its
count is reported). `marts.py` compares the incremental models with a build from scratch.
Real-time path: every record still in the Kinesis stream must be in exactly one of
`realtime.events` or `realtime.dead_letter`, exactly once.

Run it after the pipeline has caught up (the `pipeline` flow does, and fails on a difference);
between stages, later hops legitimately lag.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import yaml
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError

from services.lakehouse.quarantine import STILL_QUARANTINED
from services.platform.catalog import iceberg_catalog
from services.platform.clients import Role, kinesis_client, postgres_connect, s3_client
from services.platform.pg_keys import key_columns
from services.platform.settings import DBT_PROJECT_DIR, Settings
from services.reconciliation.checks import Check, ReconciliationError
from services.reconciliation.diff import first_differences
from services.reconciliation.raw_state import raw_files, raw_state
from services.reconciliation.sides import ArrowSide, Column, Fingerprint, PostgresSide, Side, columns_of
from services.replication.raw_zone import RawZone, raw_table
from services.streaming.reader import ShardReader

log = logging.getLogger(__name__)

STAGING_SCHEMA = "staging"
STAGING_MODELS = DBT_PROJECT_DIR / "models" / "staging" / "shop" / "_shop__models.yml"
TABLES_AT_ONCE = 1  # within one table, Postgres and DuckDB already work side by side (see table_checks)


@dataclass(frozen=True)
class SourceTable:
    schema: str  # where the table lives at the source
    name: str
    raw_name: str  # in the raw zone and every hop after it (`raw_zone.raw_table`)
    keys: list[str]
    columns: list[Column]
    row_filter: str | None = None  # the publication's WHERE: rows outside it are not the pipeline's


def published_tables(conn: psycopg.Connection, publication: str, home: str) -> list[SourceTable]:
    """The publication's tables in every schema, named as the hops name them (`home`: the schema
    whose tables keep their names), with their key (empty where there is none), every column it
    publishes (its column list) that the canonical form renders, and its row filter."""
    tables = []
    for schema, name, oid, published, row_filter in conn.execute(
        # largest first: two run at once, and the largest last would run alone at the end
        "SELECT schemaname, tablename, format('%%I.%%I', schemaname, tablename)::regclass::oid, attnames,"
        " rowfilter FROM pg_publication_tables WHERE pubname = %s"
        " ORDER BY pg_total_relation_size(format('%%I.%%I', schemaname, tablename)::regclass) DESC, 1, 2",
        (publication,),
    ):
        keys = list(key_columns(conn, oid))
        columns = [c for c in columns_of(conn, schema, name) if c.source in published]
        tables.append(SourceTable(schema, name, raw_table(schema, name, home), keys, columns, row_filter))
    return tables


def staging_columns(table: SourceTable, staged: set[str]) -> list[Column]:
    """The source columns dbt's staging view carries unchanged, under the names it gives them
    (declared in the staging models' YAML: `meta.reconcile.renamed` and `.derived`)."""
    models = yaml.safe_load(STAGING_MODELS.read_text())["models"]
    model = next((m for m in models if m["name"] == f"stg_shop__{table.raw_name}"), None)
    if model is None:
        return []
    rules = model.get("config", {}).get("meta", {}).get("reconcile", {})
    renamed = {source: staging for staging, source in rules.get("renamed", {}).items()}
    derived = set(rules.get("derived", []))
    columns = []
    for c in table.columns:
        name = renamed.get(c.source, c.source)
        if name in staged and name not in derived:
            columns.append(Column(c.source, name, c.kind))
    return columns


def _compare(table: SourceTable, hop: str, expected: Side, actual: Side, note: str = "") -> Check:
    got, want = actual.fingerprint(), expected.fingerprint()
    differences = [] if got == want else [d.describe(table.keys) for d in first_differences(expected, actual)]
    return Check(table.raw_name, hop, got, want, note, differences)


def _iceberg_arrow(catalog: Catalog, identifier: tuple[str, str], columns: list[str] | None = None) -> pa.Table | None:
    """The table's current rows (only `columns` of them, those it has, when named)."""
    try:
        table = catalog.load_table(identifier)
    except NoSuchTableError:
        return None
    if columns is None:
        return table.scan().to_arrow()
    held = {f.name for f in table.schema().fields}
    return table.scan(selected_fields=tuple(c for c in columns if c in held)).to_arrow()


def _held(catalog: Catalog, namespace: str, table: str) -> pa.Table | None:
    """The quarantine records whose row is still there: not those that entered silver since or
    that a newer change superseded (see `services/lakehouse/quarantine.py`)."""
    records = _iceberg_arrow(catalog, (namespace, table))
    if records is None or "state" not in records.column_names:
        return records
    state = records["state"]
    return records.filter(pc.or_(pc.is_null(state), pc.is_in(state, pa.array(STILL_QUARANTINED))))


def _staged(conn: psycopg.Connection, schema: str, relation: str) -> set[str]:
    return {
        row[0]
        for row in conn.execute(
            "SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0",
            (schema, relation),
        )
    }


def table_checks(settings: Settings, table: SourceTable, raw: RawZone, manifests: list) -> list[Check]:
    """The four hops of one table against the source.

    Postgres computes its sides' checksums (the source's on one connection, the warehouse's on
    another) while DuckDB, in this process, computes the raw and silver hops': the two engines
    overlap on the two cores, so one table at a time is as fast as two and holds half the memory.
    """
    catalog = iceberg_catalog(settings)
    silver_ns, quarantine_ns = settings.lakehouse.silver_namespace, settings.lakehouse.quarantine_namespace
    quarantine = _held(catalog, quarantine_ns, table.raw_name)
    state = raw_state(raw_files(raw, table.raw_name, manifests), table.keys, quarantine)
    excluded = [tuple(row.values()) for row in state.quarantined.to_pylist()]
    quarantined = f"{len(excluded):,} keys whose newest change sits in {quarantine_ns}.{table.raw_name} left out"
    note = quarantined if excluded else ""
    as_text = [tuple(row.values()) for row in state.as_text.to_pylist()]
    raw_note = f"{len(as_text):,} keys hold a value the raw zone keeps as text only (_unrepresentable)"
    checks = []
    with (
        postgres_connect(settings, settings.postgres.source_db, Role.REPLICATION) as source,
        postgres_connect(settings, settings.postgres.warehouse_db, Role.DBT) as warehouse,
        ThreadPoolExecutor(1, thread_name_prefix="reconcile-source") as source_queries,
        ThreadPoolExecutor(1, thread_name_prefix="reconcile-warehouse") as warehouse_queries,
    ):

        def source_side(columns: list[Column], left_out: list) -> PostgresSide:
            return PostgresSide(source, table.schema, table.name, columns, table.keys, left_out, table.row_filter)

        held = source_side(table.columns, as_text)
        kept = source_side(table.columns, excluded) if excluded else held
        lake = _postgres_or_empty(warehouse, settings.warehouse.lake_schema, table, table.columns, excluded)
        view = f"stg_shop__{table.raw_name}"
        carried = staging_columns(table, _staged(warehouse, STAGING_SCHEMA, view))
        staged: tuple[Side, Side] | None = None
        if carried:
            as_in_source = [Column(c.source, c.source, c.kind) for c in carried]
            same_columns = as_in_source == [Column(c.source, c.source, c.kind) for c in table.columns]
            # the source's fingerprint of these columns is known already when they are all
            expected = kept if same_columns else source_side(as_in_source, excluded)
            staged = (expected, PostgresSide(warehouse, STAGING_SCHEMA, view, carried, table.keys, excluded))
        ahead = {  # each side's whole-table checksum, computed once (PostgresSide keeps it) meanwhile
            id(side): (source_queries if side.conn is source else warehouse_queries).submit(side.fingerprint)
            for side in (held, kept, lake, *(staged or ()))
            if isinstance(side, PostgresSide)
        }

        def compare(hop: str, expected: Side, actual: Side, hop_note: str) -> Check:
            for side in (expected, actual):
                if id(side) in ahead:
                    ahead[id(side)].result()
            return _compare(table, hop, expected, actual, hop_note)

        raw_side = ArrowSide(state.rows, table.columns, table.keys, state.as_text) if state.rows.num_rows else None
        checks.append(compare("raw", held, raw_side or _Empty(table), raw_note if as_text else ""))
        if raw_side is not None:  # done with the raw rows before silver's are read: half the memory
            raw_side.close()
        state.rows = None
        wanted = list(dict.fromkeys([*table.keys, *(c.name for c in table.columns)]))
        silver = _iceberg_arrow(catalog, (silver_ns, table.raw_name), wanted)
        silver_side = ArrowSide(silver, table.columns, table.keys, state.quarantined) if silver else _Empty(table)
        del silver
        checks.append(compare("silver", kept, silver_side, note))
        if isinstance(silver_side, ArrowSide):
            silver_side.close()
        checks.append(compare("warehouse", kept, lake, note))
        if staged:
            checks.append(compare("marts input", *staged, note))
    return checks


def _postgres_or_empty(
    conn: psycopg.Connection, schema: str, table: SourceTable, columns: list[Column], excluded: list
) -> Side:
    if not _staged(conn, schema, table.raw_name):
        return _Empty(table)
    return PostgresSide(conn, schema, table.raw_name, columns, table.keys, excluded)


class _Empty:
    """A hop that does not hold the table at all."""

    integer_key = True

    def __init__(self, table: SourceTable) -> None:
        self.columns, self.keys = table.columns, table.keys

    def span(self) -> None:
        return None

    def fingerprint(self, where: object = None) -> Fingerprint:
        return Fingerprint(0, 0)

    def buckets(self, where: object, count: int) -> dict:
        return {}

    def row_hashes(self, where: object) -> dict:
        return {}

    def cells(self, keys: list) -> dict:
        return {}


def batch_checks(settings: Settings, tables: list[str] | None = None) -> list[Check]:
    raw = RawZone(s3_client(settings), settings.s3.raw_bucket, settings.postgres.source_db)
    manifests = raw.manifests()
    with postgres_connect(settings, settings.postgres.source_db, Role.REPLICATION) as conn:
        published = [
            t
            for t in published_tables(conn, settings.replication.publication, settings.replication.home_schema)
            if not tables or t.raw_name in tables
        ]
    with ThreadPoolExecutor(TABLES_AT_ONCE, thread_name_prefix="reconcile") as pool:
        done = pool.map(lambda t: _checks_or_failure(settings, t, raw, manifests), published)
        return [check for checks in done for check in checks]


def _checks_or_failure(settings: Settings, table: SourceTable, raw: RawZone, manifests: list) -> list[Check]:
    """A table's checks; a table that cannot be compared is one failed check naming why, so the
    other tables are still reported (a crash would hide them all)."""
    empty = Fingerprint(0, 0)
    if not table.keys:
        reason = "no primary key at the source, so rows cannot be matched across hops (silver stops it too)"
        return [Check(table.raw_name, "all hops", empty, empty, error=reason)]
    try:
        return table_checks(settings, table, raw, manifests)
    except Exception as error:  # any failure of one table is that table's result
        log.exception("reconciling %s failed", table.raw_name)
        return [Check(table.raw_name, "all hops", empty, empty, error=f"{type(error).__name__}: {error}")]


def stream_checks(settings: Settings) -> list[Check]:
    """Kinesis records (all the stream still holds) against the two tables they land in."""
    reader = ShardReader(kinesis_client(settings), settings.kinesis.stream, {}, settings.streaming.get_records_limit)
    in_stream: set[tuple[str, str]] = set()
    while records := reader.poll(settings.streaming.max_batch_records):
        in_stream.update((r.shard_id, r.sequence_number) for r in records)
    catalog, namespace = iceberg_catalog(settings), settings.streaming.realtime_namespace
    landed: Counter[tuple[str, str]] = Counter()
    for table in ("events", "dead_letter"):
        rows = catalog.load_table(f"{namespace}.{table}").scan(selected_fields=("shard_id", "sequence_number"))
        landed.update(zip(*rows.to_arrow().to_pydict().values(), strict=True))
    landed_of_stream = [k for k, n in landed.items() if k in in_stream for _ in range(n)]
    note = "every record still in the stream, landed exactly once"
    return [Check("clickstream", "events + dead_letter", _records(landed_of_stream), _records(in_stream), note)]


def _records(records: Iterable[tuple[str, str]]) -> Fingerprint:
    """Kinesis records (shard, sequence number) as a fingerprint: a stable hash each (the same in
    every process, unlike Python's `hash`), summed; a duplicate counts twice."""
    hashes = np.array(
        [int.from_bytes(hashlib.blake2b(f"{s}/{n}".encode(), digest_size=8).digest()) for s, n in records],
        dtype=np.uint64,
    )
    return Fingerprint(len(hashes), int(hashes.sum(dtype=np.uint64)) if len(hashes) else 0)


def reconcile(
    settings: Settings, stream: bool = True, tables: list[str] | None = None, marts: bool = False
) -> list[Check]:
    """Every check (with `marts`, the incremental models against a build from scratch too);
    raises ReconciliationError listing the differing ones."""
    from services.reconciliation.marts import marts_checks  # imports dbt: only when asked

    checks = batch_checks(settings, tables) + (stream_checks(settings) if stream else [])
    checks += marts_checks(settings) if marts else []
    if not all(c.ok for c in checks):
        raise ReconciliationError(checks)
    return checks
