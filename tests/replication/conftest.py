"""Fixtures for replication: an engine with a slot of its own (see tests/conftest.py), and the
"apply the ops" fold that turns raw batches back into table contents."""

from __future__ import annotations

import json
from datetime import time
from decimal import Decimal
from uuid import UUID

import pyarrow as pa
import pytest

from services.replication.native import NativeEngine
from services.replication.raw_zone import META_COLUMNS, source_column
from services.source.tables import PRIMARY_KEYS


@pytest.fixture
def engine(engine_settings, source) -> NativeEngine:
    return NativeEngine(engine_settings, database=source.info.dbname)


def apply_ops(rows: pa.Table | None, key: str | tuple[str, ...]) -> dict[object, dict[str, object]]:
    """Fold raw rows in commit order into the table they describe, keyed by primary key.

    A snapshot batch is the whole table as of its LSN, so a newer one (a resync) starts over.
    A column in `_unchanged` keeps the key's previous value; after a key change (a delete,
    then at the next `_seq` an insert) the old key's.
    """

    def key_of(values: dict[str, object]) -> object:
        return values[key] if isinstance(key, str) else tuple(values[k] for k in key)

    state: dict[object, dict[str, object]] = {}
    snapshot, deleted = None, None
    for row in sorted(rows.to_pylist() if rows else [], key=lambda r: (r["_lsn"], r["_seq"])):
        op = row["_op"]
        values = {source_column(k): v for k, v in row.items() if k not in META_COLUMNS}  # the source's names
        if op == "snapshot" and row["_batch_id"] != snapshot:
            state.clear()
            snapshot = row["_batch_id"]
        if op == "truncate":
            state.clear()
        elif op == "delete":
            deleted = (row["_lsn"], row["_seq"], state.pop(key_of(values), None))
        else:
            before = state.get(key_of(values))
            if op == "insert" and deleted and deleted[:2] == (row["_lsn"], row["_seq"] - 1):
                before = deleted[2]  # a key change: untouched values are the old key's
            for column in map(source_column, row.get("_unchanged") or ()):
                values[column] = before[column]
            state[key_of(values)] = values
    return state


def raw_state(engine: NativeEngine, table: str, key: str) -> dict[object, dict[str, object]]:
    """What the raw zone says the table holds now, keyed by `key`."""
    return apply_ops(engine.raw.read_table(table), key)


def primary_key(conn, table: str) -> str:
    """The (first) primary key column of a source table."""
    return conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
        " WHERE i.indrelid = %s::regclass AND i.indisprimary",
        (f"shop.{table}",),
    ).fetchone()[0]


def source_rows(conn, table: str) -> dict[object, dict[str, object]]:
    key = PRIMARY_KEYS.get(table) or primary_key(conn, table)
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM shop.{table}")
        names = [d.name for d in cur.description]
        return {row[names.index(key)]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}


JSON_COLUMNS = {"attributes", "doc", "j"}  # raw keeps JSON as its text; the source hands back parsed values


def comparable(row: dict[str, object], from_raw: bool) -> dict[str, object]:
    out = {}
    for name, value in row.items():
        if from_raw and name in JSON_COLUMNS and value is not None:
            value = json.loads(value)
        if isinstance(value, Decimal):
            value = format(value, "f")  # numeric text as Postgres prints it (no exponent)
        if isinstance(value, time) and value.tzinfo is None:  # time: raw keeps Postgres's text
            value = value.isoformat().rstrip("0").rstrip(".") if value.microsecond else value.isoformat()
        out[name] = str(value) if isinstance(value, UUID) else value
    return out


def assert_raw_equals_source(engine: NativeEngine, conn, tables) -> None:
    """Raw batches, with their ops applied in commit order, equal the source tables exactly."""
    manifests = engine.raw.manifests()
    for table in tables:
        key = PRIMARY_KEYS.get(table) or primary_key(conn, table)
        raw = apply_ops(engine.raw.read_table(table, manifests), key)
        expected = source_rows(conn, table)
        assert raw.keys() == expected.keys(), f"{table}: keys differ"
        for k in expected:
            got = {column: None for column in expected[k]} | raw[k]  # a column no raw file has yet is NULL
            assert comparable(got, True) == comparable(expected[k], False), f"{table} {key}={k}"
