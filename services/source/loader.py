"""Loads a folder of generated CSVs into the source database with COPY (the "psql \\copy" step).

All six files go in one transaction, parents before children: a bad file rolls the whole
load back, so the database is exactly as before, and the error names the file, the line
and (where Postgres knows it) the column. A folder already loaded is recognised by the
SHA-256 of its files and skipped, so rerunning a load is harmless.

As Postgres's "Populating a Database" advises, foreign keys and plain indexes are dropped
for the COPY and re-created before commit, in the same transaction: each reference is
then checked by one join instead of one lookup per row. The tables are locked meanwhile.
"""

from __future__ import annotations

import csv
import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from services.source.tables import CSV_COLUMNS, PRIMARY_KEYS, SCHEMA, TABLES, csv_name

CHUNK_BYTES = 1 << 20
_COPY_CONTEXT = re.compile(r"COPY (?P<table>\w+), line (?P<line>\d+)(?:, column (?P<column>\w+))?")
_KEY_DETAIL = re.compile(r"Key \((?P<column>\w+)\)=\((?P<value>[^)]*)\)")


class LoadError(ValueError):
    """A CSV could not be loaded; nothing was changed."""

    def __init__(self, path: Path, message: str, line: int | None = None, column: str | None = None) -> None:
        where = ", ".join(
            part for part in (f"line {line}" if line else "", f"column {column}" if column else "") if part
        )
        super().__init__(f"{path}: {where + ': ' if where else ''}{message}")
        self.path, self.line, self.column = path, line, column


@dataclass
class LoadResult:
    folder: Path
    dataset_sha256: str
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    skipped: bool = False  # the same files were loaded before


def dataset_digest(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        with path.open("rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                digest.update(chunk)
    return digest.hexdigest()


def read_header(path: Path, table: str) -> list[str]:
    """The CSV's column names, checked against the table's: wrong or missing names are errors."""
    with path.open("rb") as f:
        first_line = f.readline()
    try:
        header = next(csv.reader([first_line.decode("utf-8")]), [])
    except UnicodeDecodeError as error:
        raise LoadError(path, f"header is not valid UTF-8 ({error.reason})", line=1) from error
    expected = CSV_COLUMNS[table]
    unknown = [name for name in header if name not in expected]
    if unknown:
        raise LoadError(path, f"unexpected column {unknown[0]!r}; expected {', '.join(expected)}", line=1)
    missing = [name for name in expected if name not in header]
    if missing:
        raise LoadError(path, f"missing column {missing[0]!r}; expected {', '.join(expected)}", line=1)
    return header


def _line_holding(path: Path, column: str, value: str) -> int | None:
    """Find the file line whose `column` equals `value` (for errors Postgres reports without a line)."""
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        for row in reader:
            if row.get(column) == value:
                return reader.line_num
    return None


def _explain(error: psycopg.Error, path: Path) -> LoadError:
    diag, message = error.diag, error.diag.message_primary or str(error)
    detail = f" ({diag.message_detail})" if diag.message_detail else ""
    if match := _COPY_CONTEXT.search(diag.context or ""):
        return LoadError(path, message + detail, line=int(match["line"]), column=match["column"] or diag.column_name)
    if key := _KEY_DETAIL.search(diag.message_detail or ""):
        line = _line_holding(path, key["column"], key["value"])
        return LoadError(path, message + detail, line=line, column=key["column"])
    return LoadError(path, message + detail)


def copy_csv(conn: psycopg.Connection, table: str, path: Path, columns: list[str]) -> int:
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, HEADER true, ENCODING 'UTF8')").format(
        sql.Identifier(SCHEMA, table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with conn.cursor() as cur:
        with cur.copy(statement) as copy, path.open("rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                copy.write(chunk)
        return cur.rowcount


def _advance_identity(conn: psycopg.Connection, table: str) -> None:
    """Move the id sequence past the loaded ids, so later inserts do not collide."""
    key = PRIMARY_KEYS[table]
    conn.execute(
        sql.SQL(
            "SELECT setval(pg_get_serial_sequence({qualified}, {key}), max({column})) FROM {table} HAVING count(*) > 0"
        ).format(
            qualified=sql.Literal(f"{SCHEMA}.{table}"),
            key=sql.Literal(key),
            column=sql.Identifier(key),
            table=sql.Identifier(SCHEMA, table),
        )
    )


def _deferred_checks(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """(drop, re-create) statements for the schema's foreign keys and non-unique indexes."""
    foreign_keys = conn.execute(
        "SELECT format('ALTER TABLE %%s DROP CONSTRAINT %%I', conrelid::regclass, conname),"
        " format('ALTER TABLE %%s ADD CONSTRAINT %%I %%s', conrelid::regclass, conname, pg_get_constraintdef(oid))"
        " FROM pg_constraint WHERE contype = 'f' AND connamespace = %s::regnamespace ORDER BY conname",
        (SCHEMA,),
    ).fetchall()
    indexes = conn.execute(
        "SELECT format('DROP INDEX %%s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid)"
        " FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid"
        " WHERE t.relnamespace = %s::regnamespace AND NOT i.indisunique ORDER BY 1",
        (SCHEMA,),
    ).fetchall()
    return [*foreign_keys, *indexes]


def load_folder(
    conn: psycopg.Connection, folder: Path, progress: Callable[[str, int], None] | None = None
) -> LoadResult:
    """Load `folder`'s six CSVs in one transaction (see the module docstring)."""
    report = progress or (lambda table, rows: None)
    files = [folder / csv_name(table) for table in TABLES]
    for path in files:
        if not path.is_file():
            raise LoadError(path, "file not found (generate it with `sandbox generate`)")
    started, result = time.monotonic(), LoadResult(folder, dataset_digest(files))
    headers = {table: read_header(path, table) for table, path in zip(TABLES, files, strict=True)}
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('shop-csv-load'))")
        previous = conn.execute(
            "SELECT row_counts FROM ops.csv_loads WHERE dataset_sha256 = %s", (result.dataset_sha256,)
        ).fetchone()
        if previous:
            result.rows, result.skipped = previous[0], True
            return result
        checks = _deferred_checks(conn)
        for drop, _ in checks:
            conn.execute(drop)
        for table, path in zip(TABLES, files, strict=True):
            try:
                result.rows[table] = copy_csv(conn, table, path, headers[table])
            except psycopg.Error as error:
                raise _explain(error, path) from error
            report(table, result.rows[table])
        for _, create in reversed(checks):  # indexes first, then the foreign keys that use them
            try:
                conn.execute(create)
            except psycopg.Error as error:
                raise _explain(error, folder / csv_name(error.diag.table_name or "")) from error
        for table in TABLES:
            _advance_identity(conn, table)
        conn.execute(
            "INSERT INTO ops.csv_loads (dataset_sha256, folder, row_counts) VALUES (%s, %s, %s)",
            (result.dataset_sha256, str(folder), psycopg.types.json.Jsonb(result.rows)),
        )
    result.seconds = time.monotonic() - started
    return result
