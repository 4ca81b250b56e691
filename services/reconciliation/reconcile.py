"""Reconciliation: every table counted and checksummed at every hop, and any difference named.

Batch path, per source table: source (Postgres) -> raw (snapshot + changes applied) ->
silver (Iceberg) -> warehouse (`lake` schema) -> marts input (dbt's staging view).
Real-time path: every record still in the Kinesis stream must be in exactly one of
`realtime.events` or `realtime.dead_letter`, exactly once.

Run it after the pipeline has caught up (the `pipeline` flow does, and fails on a difference);
between stages, later hops legitimately lag.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from rich.table import Table as RichTable

from services.lakehouse.design import SILVER_TABLES
from services.platform.catalog import iceberg_catalog
from services.platform.clients import Role, kinesis_client, postgres_connect, s3_client
from services.platform.settings import Settings
from services.reconciliation.fingerprints import Fingerprint, fingerprint, of_iceberg, of_postgres, of_raw
from services.replication.raw_zone import RawZone
from services.streaming.reader import ShardReader

SOURCE_SCHEMA = "shop"
STAGING_SCHEMA = "staging"


@dataclass(frozen=True)
class Check:
    table: str
    hop: str
    got: Fingerprint
    expected: Fingerprint
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.got == self.expected


class ReconciliationError(RuntimeError):
    def __init__(self, checks: list[Check]) -> None:
        self.checks = checks
        bad = [c for c in checks if not c.ok]
        lines = [f"{len(bad)} of {len(checks)} reconciliation checks differ:"]
        lines += [
            f"- {c.table} at {c.hop}: {c.got.rows:,} rows (checksum {c.got.checksum:016x}), expected "
            f"{c.expected.rows:,} (checksum {c.expected.checksum:016x}){' - ' + c.note if c.note else ''}"
            for c in bad
        ]
        super().__init__("\n".join(lines))


def batch_checks(settings: Settings) -> list[Check]:
    catalog = iceberg_catalog(settings)
    raw = RawZone(s3_client(settings), settings.s3.raw_bucket, settings.postgres.source_db)
    manifests = raw.manifests()
    checks = []
    with (
        postgres_connect(settings, settings.postgres.source_db, Role.REPLICATION) as source,
        postgres_connect(settings, settings.postgres.warehouse_db, Role.DBT) as warehouse,
    ):
        for table in SILVER_TABLES:
            name, key = table.name, table.key
            expected = of_postgres(source, SOURCE_SCHEMA, name, key)
            silver = f"{settings.lakehouse.silver_namespace}.{name}"
            quarantine = f"rows breaking a rule sit in {settings.lakehouse.quarantine_namespace}.{name}"
            checks += [
                Check(name, "raw", of_raw(raw, name, key, manifests), expected),
                Check(name, "silver", of_iceberg(catalog, silver, key), expected, quarantine),
                Check(name, "warehouse", of_postgres(warehouse, settings.warehouse.lake_schema, name, key), expected),
                Check(name, "marts input", of_postgres(warehouse, STAGING_SCHEMA, f"stg_shop__{name}", key), expected),
            ]
    return checks


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
    """Kinesis records (shard, sequence number) as versions: duplicates count twice."""
    keys = np.array([hash(r) & 0x7FFF_FFFF_FFFF_FFFF for r in records], dtype=np.int64)
    return fingerprint(keys, np.zeros(len(keys), dtype=np.int64))


def reconcile(settings: Settings, stream: bool = True) -> list[Check]:
    """Every check; raises ReconciliationError listing the differing ones."""
    checks = batch_checks(settings) + (stream_checks(settings) if stream else [])
    if not all(c.ok for c in checks):
        raise ReconciliationError(checks)
    return checks


def as_table(checks: list[Check]) -> RichTable:
    table = RichTable("table", "hop", "rows", "checksum", "expected rows", "status", title="Reconciliation")
    for c in checks:
        status = "[green]ok" if c.ok else "[red]DIFFERS"
        table.add_row(c.table, c.hop, f"{c.got.rows:,}", f"{c.got.checksum:016x}", f"{c.expected.rows:,}", status)
    return table
