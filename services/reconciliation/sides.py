"""One table as one hop holds it, asked for checksums by key range where its data is.

`PostgresSide` asks Postgres (the source, the lake, dbt's staging views); `ArrowSide` asks
DuckDB over an Arrow table (the raw zone applied, silver). Both render cells with `canonical`,
so their answers compare directly. Ranges are on the leading key column when it is an integer
(through the key's index in Postgres); other keys are compared as one range. Keys listed as
`excluded` (rows whose newest change sits in quarantine) are left out of every answer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import duckdb
import psycopg
import pyarrow as pa
from psycopg import sql

from services.platform.type_maps import POSTGRES_ARRAYS
from services.reconciliation.canonical import (
    Kind,
    arrow_ready,
    duckdb_cell,
    duckdb_row_hash,
    kind_of,
    postgres_cell,
    postgres_row_hash,
)

MODULUS = 1 << 64
UNKNOWN = "_unknown"  # see raw_state
Key = tuple[object, ...]
Range = tuple[int, int] | None  # [low, high) of the leading key; None: every row


@dataclass(frozen=True)
class Fingerprint:
    rows: int
    checksum: int  # sum of the rows' 64-bit hashes, modulo 2^64


@dataclass(frozen=True)
class Column:
    """A source column, as one hop names it (staging renames some)."""

    source: str
    name: str
    kind: Kind


class Side(Protocol):
    columns: list[Column]
    keys: list[str]
    integer_key: bool

    def span(self) -> tuple[int, int] | None: ...  # smallest and largest leading key

    def fingerprint(self, where: Range = None) -> Fingerprint: ...

    def buckets(self, where: tuple[int, int], count: int) -> dict[int, Fingerprint]: ...

    def row_hashes(self, where: Range) -> dict[Key, int]: ...

    def cells(self, keys: list[Key]) -> dict[Key, list[str]]: ...


def bucket_width(where: tuple[int, int], count: int) -> int:
    low, high = where
    return max(1, -(-(high - low) // count))


def _fingerprint(rows: int, total: object) -> Fingerprint:
    return Fingerprint(int(rows), int(total or 0) % MODULUS)


class PostgresSide:
    def __init__(
        self,
        conn: psycopg.Connection,
        schema: str,
        table: str,
        columns: list[Column],
        keys: list[str],
        excluded: list[Key] | None = None,
        row_filter: str | None = None,
    ) -> None:
        """`row_filter`: the source publication's WHERE for the table, so only the rows it publishes count."""
        self.conn, self.columns, self.keys = conn, columns, keys
        self.relation = sql.Identifier(schema, table)
        self._whole: Fingerprint | None = None
        types = dict(
            conn.execute(
                "SELECT a.attname, a.atttypid::int FROM pg_attribute a WHERE a.attrelid = %s::regclass"
                " AND a.attnum > 0 AND NOT a.attisdropped",
                (f"{_quoted(schema)}.{_quoted(table)}",),
            ).fetchall()
        )
        self.integer_key = types.get(keys[0]) in (20, 21, 23)
        cells = [
            postgres_cell(f"t.{_quoted(c.name)}", _as_stored(c.kind, types.get(c.name))) if c.name in types else "'n'"
            for c in columns
        ]
        # every query of these runs with parameters: a `%` in a name is written `%%`
        self._cells = sql.SQL(", ").join(sql.SQL(cell.replace("%", "%%")) for cell in cells)
        self._hash = sql.SQL(postgres_row_hash(cells).replace("%", "%%"))
        self._keys = sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(k)) for k in keys)
        self._lead = sql.SQL("t.{}").format(sql.Identifier(keys[0]))
        self._excluded, self._params = sql.SQL("true"), []
        if excluded:
            arrays = [list(values) for values in zip(*excluded, strict=True)]
            names = sql.SQL(", ").join(sql.Identifier(f"_q{i}") for i in range(len(keys)))
            matched = sql.SQL(" AND ").join(
                sql.SQL("q.{} = t.{}").format(sql.Identifier(f"_q{i}"), sql.Identifier(k)) for i, k in enumerate(keys)
            )
            unnested = sql.SQL(", ").join(
                sql.SQL("%s::{}[]").format(sql.SQL(_postgres_type(conn, schema, table, k))) for k in keys
            )
            self._excluded = sql.SQL("NOT EXISTS (SELECT FROM unnest({}) AS q({}) WHERE {})").format(
                unnested, names, matched
            )
            self._params = arrays
        if row_filter:
            self._excluded = sql.SQL("({}) AND {}").format(sql.SQL(row_filter.replace("%", "%%")), self._excluded)

    def _where(self, where: Range) -> tuple[sql.Composable, list[object]]:
        if where is None:
            return self._excluded, list(self._params)
        return sql.SQL("{} >= %s AND {} < %s AND {}").format(self._lead, self._lead, self._excluded), [
            *where,
            *self._params,
        ]

    def span(self) -> tuple[int, int] | None:
        query = sql.SQL("SELECT min({0}), max({0}) FROM {1} t").format(self._lead, self.relation)
        low, high = self.conn.execute(query).fetchone()
        return None if low is None else (int(low), int(high))

    def fingerprint(self, where: Range = None) -> Fingerprint:
        if where is None and self._whole is not None:
            return self._whole
        condition, params = self._where(where)
        query = sql.SQL("SELECT count(*), sum({}) FROM {} t WHERE {}").format(self._hash, self.relation, condition)
        found = _fingerprint(*self.conn.execute(query, params).fetchone())
        if where is None:
            self._whole = found  # asked again by every hop compared with this one
        return found

    def buckets(self, where: tuple[int, int], count: int) -> dict[int, Fingerprint]:
        condition, params = self._where(where)
        bucket = sql.SQL("(({} - %s) / %s)").format(self._lead)
        query = sql.SQL("SELECT {0}, count(*), sum({1}) FROM {2} t WHERE {3} GROUP BY 1").format(
            bucket, self._hash, self.relation, condition
        )
        rows = self.conn.execute(query, [where[0], bucket_width(where, count), *params]).fetchall()
        return {int(b): _fingerprint(n, total) for b, n, total in rows}

    def row_hashes(self, where: Range) -> dict[Key, int]:
        condition, params = self._where(where)
        query = sql.SQL("SELECT {}, {} FROM {} t WHERE {}").format(self._keys, self._hash, self.relation, condition)
        return {tuple(row[:-1]): int(row[-1]) % MODULUS for row in self.conn.execute(query, params)}

    def cells(self, keys: list[Key]) -> dict[Key, list[str]]:
        if not keys:
            return {}
        arrays = [list(values) for values in zip(*keys, strict=True)]
        matched = sql.SQL(" AND ").join(sql.SQL("t.{} = ANY(%s)").format(sql.Identifier(k)) for k in self.keys)
        query = sql.SQL("SELECT {}, {} FROM {} t WHERE {}").format(self._keys, self._cells, self.relation, matched)
        found = {tuple(row[: len(self.keys)]): list(row[len(self.keys) :]) for row in self.conn.execute(query, arrays)}
        return {k: v for k, v in found.items() if k in set(keys)}


def _postgres_type(conn: psycopg.Connection, schema: str, table: str, column: str) -> str:
    return conn.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s",
        (f"{_quoted(schema)}.{_quoted(table)}", column),
    ).fetchone()[0]


def _as_stored(kind: Kind, stored_oid: int | None) -> Kind:
    """The kind to render a column with, given the type this hop stores it as: char(n) padding is
    the source's to add (elsewhere the stored text must carry it), and a numeric kept as text is
    read back as a number."""
    if kind.name == "padded" and stored_oid != 1042:
        return Kind("text")
    if kind.name == "numeric" and stored_oid == 25:
        return Kind("numeric_text")
    if kind.name == "array" and kind.element and stored_oid in POSTGRES_ARRAYS:  # text[] holds numeric[]'s text
        return replace(kind, element=_as_stored(kind.element, POSTGRES_ARRAYS[stored_oid]))
    return kind


class ArrowSide:
    """A table held as Arrow, asked through DuckDB (in this process, on every core)."""

    def __init__(
        self,
        data: pa.Table,
        columns: list[Column],
        keys: list[str],
        excluded: pa.Table | None = None,
    ) -> None:
        self.columns, self.keys = columns, keys
        self.db = duckdb.connect()
        self.db.execute("SET enable_progress_bar = false")
        # DuckDB matches names without case: columns go by position (`k0`.. keys, `c0`.. cells)
        self._key_aliases = [f"k{i}" for i in range(len(keys))]
        present = set(data.column_names)
        prepared = {alias: data.column(k) for alias, k in zip(self._key_aliases, keys, strict=True)}
        cells = []
        for i, c in enumerate(columns):
            if c.name in present:
                prepared[f"c{i}"] = arrow_ready(data.column(c.name), c.kind)
            cells.append(duckdb_cell(f"c{i}", c.kind) if c.name in present else "'n'")
        self.integer_key = pa.types.is_integer(data.schema.field(keys[0]).type)
        if UNKNOWN in present:  # a value the hop does not know (see raw_state) differs from every value
            prepared[UNKNOWN] = data.column(UNKNOWN)
            cells = [
                f"CASE WHEN list_contains({UNKNOWN}, {_literal(c.name)}) THEN 'u' ELSE {cell} END"
                for c, cell in zip(columns, cells, strict=True)
            ]
        self.db.register("hop", pa.table(prepared))
        self._cells, self._hash = ", ".join(cells), duckdb_row_hash(cells)
        self._keys = ", ".join(self._key_aliases)
        self._from = "hop"
        if excluded is not None and excluded.num_rows:
            self.db.register("excluded", excluded.select(keys).rename_columns(self._key_aliases))
            self._from = f"hop ANTI JOIN excluded USING ({self._keys})"

    def _query(self, select: str, where: Range, group: str = "") -> list[tuple]:
        condition = "" if where is None else f"WHERE k0 >= {int(where[0])} AND k0 < {int(where[1])}"
        return self.db.execute(f"SELECT {select} FROM {self._from} {condition} {group}").fetchall()

    def span(self) -> tuple[int, int] | None:
        low, high = self._query("min(k0), max(k0)", None)[0]
        return None if low is None else (int(low), int(high))

    def fingerprint(self, where: Range = None) -> Fingerprint:
        rows, total = self._query(f"count(*), sum(CAST({self._hash} AS HUGEINT))", where)[0]
        return _fingerprint(rows, total)

    def buckets(self, where: tuple[int, int], count: int) -> dict[int, Fingerprint]:
        bucket = f"((k0 - {where[0]}) // {bucket_width(where, count)})"
        rows = self._query(f"{bucket}, count(*), sum(CAST({self._hash} AS HUGEINT))", where, "GROUP BY 1")
        return {int(b): _fingerprint(n, total) for b, n, total in rows}

    def row_hashes(self, where: Range) -> dict[Key, int]:
        return {tuple(row[:-1]): int(row[-1]) for row in self._query(f"{self._keys}, {self._hash}", where)}

    def cells(self, keys: list[Key]) -> dict[Key, list[str]]:
        if not keys:
            return {}
        wanted = pa.table({k: [key[i] for key in keys] for i, k in enumerate(self._key_aliases)})
        self.db.register("wanted", wanted)
        rows = self.db.execute(
            f"SELECT {self._keys}, {self._cells} FROM {self._from} SEMI JOIN wanted USING ({self._keys})"
        ).fetchall()
        return {tuple(row[: len(self.keys)]): list(row[len(self.keys) :]) for row in rows}

    def close(self) -> None:
        self.db.close()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def columns_of(conn: psycopg.Connection, schema: str, table: str) -> list[Column]:
    """A Postgres table's columns that the canonical form renders, in their order."""
    rows = conn.execute(
        "SELECT a.attname, a.atttypid::int, a.atttypmod, CASE WHEN t.typcategory = 'A' THEN t.typelem::int END"
        " FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid WHERE a.attrelid = %s::regclass"
        " AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (f"{_quoted(schema)}.{_quoted(table)}",),
    ).fetchall()
    return [Column(name, name, kind_of(oid, mod, elem or 0)) for name, oid, mod, elem in rows]
