"""Fixtures for replication: an engine with a slot of its own (see tests/conftest.py), and the
"apply the ops" fold that turns raw batches back into table contents."""

from __future__ import annotations

import json
from decimal import Decimal
from uuid import UUID

import pyarrow as pa
import pytest

from services.replication.native import NativeEngine
from services.replication.raw_zone import META_COLUMNS
from services.source.tables import PRIMARY_KEYS


@pytest.fixture
def engine(engine_settings, source) -> NativeEngine:
    return NativeEngine(engine_settings, database=source.info.dbname)


def apply_ops(rows: pa.Table | None, key: str) -> dict[object, dict[str, object]]:
    """Fold raw rows in commit order into the table they describe, keyed by primary key.

    A snapshot batch is the whole table as of its LSN, so a newer one (a resync) starts over.
    """
    state: dict[object, dict[str, object]] = {}
    snapshot = None
    for row in sorted(rows.to_pylist() if rows else [], key=lambda r: (r["_lsn"], r["_seq"])):
        op = row["_op"]
        if op == "snapshot" and row["_batch_id"] != snapshot:
            state.clear()
            snapshot = row["_batch_id"]
        if op == "truncate":
            state.clear()
        elif op == "delete":
            state.pop(row[key], None)
        else:
            state[row[key]] = {k: v for k, v in row.items() if k not in META_COLUMNS}
    return state


def source_rows(conn, table: str) -> dict[object, dict[str, object]]:
    key = PRIMARY_KEYS.get(table, "id")
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM shop.{table}")
        names = [d.name for d in cur.description]
        return {row[names.index(key)]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}


JSON_COLUMNS = {"attributes", "doc"}  # raw keeps JSON as its text; the source hands back parsed values


def comparable(row: dict[str, object], from_raw: bool) -> dict[str, object]:
    out = {}
    for name, value in row.items():
        if from_raw and name in JSON_COLUMNS and value is not None:
            value = json.loads(value)
        if isinstance(value, Decimal):
            value = format(value, "f")  # numeric text as Postgres prints it (no exponent)
        out[name] = str(value) if isinstance(value, UUID) else value
    return out


def assert_raw_equals_source(engine: NativeEngine, conn, tables) -> None:
    """Raw batches, with their ops applied in commit order, equal the source tables exactly."""
    manifests = engine.raw.manifests()
    for table in tables:
        key = PRIMARY_KEYS.get(table, "id")
        raw = apply_ops(engine.raw.read_table(table, manifests), key)
        expected = source_rows(conn, table)
        assert raw.keys() == expected.keys(), f"{table}: keys differ"
        for k in expected:
            assert comparable(raw[k], True) == comparable(expected[k], False), f"{table} {key}={k}"
