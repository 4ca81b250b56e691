"""The table the raw zone describes, computed in DuckDB from its Parquet files: the raw hop.

The raw contract (`services/replication/raw_zone.py`), applied independently of the lakehouse:
the newest snapshot of the table, then every later change in (`_lsn`, `_seq`) order; a truncate
empties the table; a column in `_unchanged` keeps the key's earlier value (after a key change,
the old key's). A value the raw zone does not hold (an untouched column whose earlier version
is not in it) is listed in `_unknown`, so that cell differs from the source's.

Also which keys' newest change silver put in quarantine: every later hop leaves those out.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from services.replication.raw_zone import (
    META_COLUMNS,
    META_FIELDS,
    Manifest,
    RawZone,
    TableFiles,
    raw_column,
    source_column,
)

MAX_KEY_CHANGES = 32
UNKNOWN = "_unknown"


@dataclass
class RawState:
    rows: pa.Table  # the live rows, with `_unknown` (column names) where some value is not known
    quarantined: pa.Table  # the keys whose newest change sits in quarantine
    as_text: pa.Table  # the keys whose newest change holds a value only as text (`_unrepresentable`)


def raw_files(raw: RawZone, table: str, manifests: list[Manifest]) -> pa.Table | None:
    """Every raw row of `table` from its newest snapshot on, as one Arrow table."""
    snapshots = [i for i, m in enumerate(manifests) if m.kind == "snapshot" and table in m.tables]
    if not snapshots:
        return None
    parts = []
    for manifest in manifests[snapshots[-1] :]:
        for key in manifest.tables.get(table, TableFiles()).files:
            body = raw.s3.get_object(Bucket=raw.bucket, Key=key)["Body"].read()
            parts.append(pq.read_table(io.BytesIO(body)))
    return pa.concat_tables(parts, promote_options="permissive") if parts else None  # widened types too


def raw_state(rows: pa.Table | None, keys: list[str], quarantine: pa.Table | None) -> RawState:
    """Apply raw rows (see the module's docstring); `quarantine` holds (`_lsn`, `_seq`) of quarantined rows.

    `keys` and every answer use the source's column names. DuckDB matches names without case,
    so within it the source's columns go by their position (`d0`, `d1`, ...): `Name` and `name`
    stay two columns."""
    if rows is None:
        return RawState(pa.table({}), pa.table({}), pa.table({}))
    data = [c for c in rows.column_names if c not in META_COLUMNS]  # raw names (raw_zone.raw_column)
    alias = {raw: f"d{i}" for i, raw in enumerate(data)}
    by_key = ", ".join(alias[raw_column(k)] for k in keys)

    def in_source_names(table: pa.Table) -> pa.Table:
        named = {a: source_column(raw) for raw, a in alias.items()}
        return table.rename_columns([named.get(c, c) for c in table.column_names])

    empty_keys = rows.select([raw_column(k) for k in keys]).slice(0, 0).rename_columns(keys)
    if rows.num_rows == 0:
        return RawState(rows.rename_columns([source_column(c) for c in rows.column_names]), empty_keys, empty_keys)
    db = duckdb.connect()
    db.execute("SET enable_progress_bar = false")
    rows = rows.rename_columns([alias.get(c, c) for c in rows.column_names])
    for meta in META_FIELDS:  # files of older releases lack the newer ones
        if meta.name not in rows.column_names:
            rows = rows.append_column(meta.name, pa.nulls(rows.num_rows, meta.type))
    db.register("raw", rows)
    cut = db.execute(
        "SELECT _lsn, _seq FROM raw WHERE _op = 'truncate' ORDER BY _lsn DESC, _seq DESC LIMIT 1"
    ).fetchone()
    after = "true" if cut is None else f"(_lsn > {cut[0]} OR (_lsn = {cut[0]} AND _seq > {cut[1]}))"
    db.execute(f"CREATE VIEW changes AS SELECT * FROM raw WHERE {after} AND _op <> 'truncate'")  # not a copy
    unchanged = [r[0] for r in db.execute("SELECT DISTINCT unnest(_unchanged) FROM changes").fetchall()]
    newest = f"QUALIFY row_number() OVER (PARTITION BY {by_key} ORDER BY _lsn DESC, _seq DESC) = 1"
    if not unchanged:
        db.execute(f"CREATE TEMP TABLE latest AS SELECT *, CAST(NULL AS VARCHAR[]) AS {UNKNOWN} FROM changes {newest}")
    else:
        untouched = {raw: alias[raw] for raw in unchanged if raw in alias}
        _resolve_unchanged(db, by_key, untouched, list(alias.values()), newest)
    db.execute("DROP VIEW changes")
    db.unregister("raw")
    del rows  # `latest` holds what the answers need: the raw files' rows can go
    quarantined = empty_keys
    if quarantine is not None and quarantine.num_rows:
        db.register("quarantine", quarantine.select(["_lsn", "_seq"]))
        quarantined = db.sql(
            f"SELECT {by_key} FROM latest SEMI JOIN quarantine USING (_lsn, _seq) WHERE _op <> 'delete'"
        ).to_arrow_table()
    live = db.sql(f"SELECT {', '.join(alias.values())}, {UNKNOWN} FROM latest WHERE _op <> 'delete'")
    live = live.to_arrow_table()
    as_text = db.sql(
        f"SELECT {by_key} FROM latest WHERE _op <> 'delete' AND cardinality(_unrepresentable) > 0"
    ).to_arrow_table()
    db.close()
    return RawState(in_source_names(live), in_source_names(quarantined), in_source_names(as_text))


def _resolve_unchanged(
    db: duckdb.DuckDBPyConnection, by_key: str, unchanged: dict[str, str], data: list[str], newest: str
) -> None:
    """`latest`: each key's newest row, its untouched values taken from earlier rows (same rule as
    silver). `unchanged` maps the raw name of each column some row leaves untouched to its alias;
    `_unknown` lists the source's names."""
    segment = (
        f"coalesce(sum(CASE WHEN _op = 'delete' THEN 1 ELSE 0 END) OVER (PARTITION BY {by_key} ORDER BY _lsn, _seq"
        " ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)"
    )
    db.execute(f"CREATE TEMP TABLE segmented AS SELECT *, {segment} AS _segment FROM changes")
    window = (
        f"OVER (PARTITION BY {by_key}, _segment ORDER BY _lsn, _seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    )
    known = ", ".join(
        f"last_value(CASE WHEN _op <> 'delete' AND NOT coalesce(list_contains(_unchanged, {_literal(raw)}), false)"
        f" THEN {{'v': {c}}} END IGNORE NULLS) {window} AS _known_{c}"
        for raw, c in unchanged.items()
    )
    db.execute(
        f"CREATE TEMP TABLE resolved AS SELECT *, first_value({{'op': _op, 'lsn': _lsn, 'seq': _seq}}) {window}"
        f" AS _origin, {known} FROM segmented"
    )
    db.execute(f"CREATE TEMP TABLE latest_raw AS SELECT * FROM resolved {newest}")
    keys = by_key.split(", ")
    for c in unchanged.values():  # untouched since a key change: the old key's value, through chains of them
        db.execute(f"ALTER TABLE latest_raw ADD COLUMN _via_{c} STRUCT(v {_type_of(db, c)})")
        db.execute(
            f"CREATE TEMP TABLE pointers AS SELECT {by_key}, _origin.lsn AS at_lsn, _origin.seq - 1 AS at_seq"
            f" FROM latest_raw WHERE _known_{c} IS NULL AND _op <> 'delete' AND _origin.op = 'insert'"
        )
        for _ in range(MAX_KEY_CHANGES):
            if not db.execute("SELECT count(*) FROM pointers").fetchone()[0]:
                break
            db.execute(
                f"CREATE OR REPLACE TEMP TABLE step AS SELECT p.*, r._known_{c} AS value, r._origin AS origin"
                " FROM pointers p JOIN resolved r ON r._lsn = p.at_lsn AND r._seq = p.at_seq"
            )
            db.execute(
                f"UPDATE latest_raw SET _via_{c} = s.value FROM step s WHERE s.value IS NOT NULL AND "
                + " AND ".join(f"latest_raw.{k} = s.{k}" for k in keys)
            )
            db.execute(
                f"CREATE OR REPLACE TEMP TABLE pointers AS SELECT {by_key}, origin.lsn AS at_lsn,"
                " origin.seq - 1 AS at_seq FROM step WHERE value IS NULL AND origin.op = 'insert'"
            )
        db.execute("DROP TABLE pointers")
    named = {c: raw for raw, c in unchanged.items()}
    values = ", ".join(f"coalesce(_known_{c}.v, _via_{c}.v) AS {c}" if c in named else c for c in data)
    missing = ", ".join(
        f"CASE WHEN _op <> 'delete' AND _known_{c} IS NULL AND _via_{c} IS NULL THEN {_literal(source_column(raw))} END"
        for c, raw in named.items()
    )
    db.execute(
        f"CREATE TEMP TABLE latest AS SELECT {values}, _op, _lsn, _seq, _unrepresentable,"
        f" list_filter([{missing}], lambda n: n IS NOT NULL) AS {UNKNOWN} FROM latest_raw"
    )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _type_of(db: duckdb.DuckDBPyConnection, column: str) -> str:
    return db.execute(f"SELECT typeof({column}) FROM changes LIMIT 1").fetchone()[0]
