"""Row counts and order-independent checksums of one table as each hop of the pipeline holds it.

A row's version is (primary key, updated_at): the source stamps `updated_at` on every
update, so two hops with the same set of versions hold the same rows. The checksum is the
wrapping 64-bit sum of a mixed hash (splitmix64) of each version, computed with numpy, so
it does not depend on row order and costs a second per few million rows.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from psycopg import sql
from pyiceberg.catalog import Catalog

from services.replication.raw_zone import Manifest, RawZone, TableFiles

VERSION_COLUMNS = ("key", "version")
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


@dataclass(frozen=True)
class Fingerprint:
    rows: int
    checksum: int


def fingerprint(keys: np.ndarray, versions: np.ndarray) -> Fingerprint:
    with np.errstate(over="ignore"):
        x = keys.astype(np.uint64) * _MIX[0] ^ versions.astype(np.uint64)
        x = (x ^ (x >> np.uint64(30))) * _MIX[1]
        x = (x ^ (x >> np.uint64(27))) * _MIX[2]
        x ^= x >> np.uint64(31)
        return Fingerprint(len(keys), int(x.sum(dtype=np.uint64)))


def _micros(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return pc.cast(pc.cast(column, pa.timestamp("us", tz="UTC")), pa.int64()).to_numpy(zero_copy_only=False)


def of_arrow(table: pa.Table, key: str) -> Fingerprint:
    return fingerprint(table.column(key).to_numpy(), _micros(table.column("updated_at")))


def of_postgres(conn: psycopg.Connection, schema: str, table: str, key: str) -> Fingerprint:
    """Versions straight from a Postgres table (the source, or the warehouse's lake schema)."""
    query = sql.SQL(
        "COPY (SELECT {}, (extract(epoch FROM updated_at) * 1000000)::bigint FROM {}) TO STDOUT (FORMAT csv)"
    ).format(sql.Identifier(key), sql.Identifier(schema, table))
    buffer = io.BytesIO()
    with conn.cursor() as cursor, cursor.copy(query) as copy:
        for chunk in copy:
            buffer.write(chunk)
    if buffer.tell() == 0:
        return Fingerprint(0, 0)
    buffer.seek(0)
    options = pa_csv.ReadOptions(column_names=list(VERSION_COLUMNS))
    types = pa_csv.ConvertOptions(column_types=dict.fromkeys(VERSION_COLUMNS, pa.int64()))
    versions = pa_csv.read_csv(buffer, read_options=options, convert_options=types)
    return fingerprint(versions.column("key").to_numpy(), versions.column("version").to_numpy())


def of_iceberg(catalog: Catalog, identifier: str, key: str) -> Fingerprint:
    return of_arrow(catalog.load_table(identifier).scan(selected_fields=(key, "updated_at")).to_arrow(), key)


def of_raw(raw: RawZone, table: str, key: str, manifests: list[Manifest]) -> Fingerprint:
    """The table the raw zone describes: its newest snapshot batch with every later change applied."""
    snapshots = [i for i, m in enumerate(manifests) if m.kind == "snapshot" and table in m.tables]
    if not snapshots:
        return Fingerprint(0, 0)
    batches = [m for m in manifests[snapshots[-1] :] if m.tables.get(table, TableFiles()).files]
    rows = raw.read_table(table, batches, columns=[key, "updated_at", "_op", "_lsn", "_seq"])
    rows = rows.sort_by([("_lsn", "ascending"), ("_seq", "ascending")])
    ops = rows.column("_op").to_numpy(zero_copy_only=False)
    truncates = np.flatnonzero(ops == "truncate")
    if len(truncates):
        rows, ops = rows.slice(int(truncates[-1]) + 1), ops[int(truncates[-1]) + 1 :]
    keys = rows.column(key).to_numpy(zero_copy_only=False)
    _, last_from_end = np.unique(keys[::-1], return_index=True)
    latest = len(keys) - 1 - last_from_end  # each key's newest change
    latest = latest[ops[latest] != "delete"]
    return fingerprint(keys[latest].astype(np.int64), _micros(rows.column("updated_at").take(latest)))
