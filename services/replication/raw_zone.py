r"""The raw zone on S3: immutable Parquet files per table and batch, and one manifest per batch.

Layout, in the raw bucket:

    <source>/<table>/batch=<batch_id>/part-00000.parquet   the rows, with the columns below
    <source>/_manifests/<batch_id>.json                    written last: the batch's commit point

A batch exists for readers only once its manifest does; files without a manifest are
leftovers of an interrupted run, rewritten under the same keys by the rerun. Batch ids are
the batch's first LSN in hex (then `-snapshot` or `-changes`), so they sort in commit order,
and the last manifest's `end_lsn` is how far replication got: progress lives with the data.

Every row carries `_op` (snapshot, insert, update, delete), `_lsn` (the commit LSN of its
transaction; the consistent point for snapshot rows), `_seq` (its order within the batch),
`_commit_ts`, `_ingested_at`, `_batch_id` and `_unchanged`. A delete carries the key columns
only; a truncate row has no column values. A snapshot batch is the whole content of the tables it
holds as of its LSN (every published table at the first run and after `sandbox replicate
--resync`; only some when a table joins the publication or gains a column with a default,
whose existing rows change without change events): a reader of a table applies the newest
snapshot that holds it, then the change batches after it, in (`_lsn`, `_seq`) order.
Each manifest also records every published table's primary key and column ids (`schemas`).

`_unchanged` names the columns whose value the row does not carry (null otherwise): Postgres
does not resend a large (TOASTed) value an update left untouched, so such a column is null in
the row but its value is the key's previous one, never NULL. A key change is a delete of the
old key followed, at the next `_seq`, by an insert of the new key; that insert's `_unchanged`
columns hold the old key's values.

`_unrepresentable` maps a column to the text of a value the source holds but the column's raw
type cannot hold exactly (a timestamp of year 10000, NaN in a numeric(p, s): see `types.py`);
the column is NULL in the row. Silver quarantines such rows.

Table names (`raw_table`): a table of the source's home schema (`shop`, the setting
`SANDBOX_REPLICATION__HOME_SCHEMA`) keeps its name in the raw zone and every hop after it; a
table of any other schema is named `<schema>__<table>`, so tables of one name in two schemas
stay two tables. (Two published tables that would still share a name, `shop.a__b` and `a.b`,
stop: `refusals.py`.)

Column names (`raw_column`): a source column keeps its name in the raw zone unless the name
could be taken for one of the pipeline's columns or read as something else by an engine: one
that starts with `_`, or holds any of `` . ` ' " \ % ``. Such a name is stored as `__` and the
name with those characters percent-encoded (`_op` -> `___op`, `a.b` -> `__a%2Eb`). The
pipeline's own columns start with one `_` and never two, so no source name, whatever Postgres
accepts, can collide with them or with another source name. `_unchanged`, `_unrepresentable`
and the manifests' `unchanged` lists name columns as the raw zone does; the manifests'
`schemas` describe the source table and use its names. Names are compared with their case, as
Postgres does: `Name` and `name` are two columns.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

META_FIELDS = (
    pa.field("_op", pa.string(), nullable=False),
    pa.field("_lsn", pa.int64(), nullable=False),
    pa.field("_seq", pa.int64(), nullable=False),
    pa.field("_commit_ts", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("_ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("_batch_id", pa.string(), nullable=False),
    pa.field("_unchanged", pa.list_(pa.string())),
    pa.field("_unrepresentable", pa.map_(pa.string(), pa.string())),
)
META_COLUMNS = tuple(f.name for f in META_FIELDS)
ESCAPED = "__"  # how an escaped source name starts in the raw zone; no pipeline column does
_ENCODED = frozenset(".`'\"\\%")


def raw_table(schema: str, table: str, home: str) -> str:
    """A source table's name in the raw zone and every hop after it (see the module's docstring)."""
    return table if schema == home else f"{schema}__{table}"


def raw_column(name: str) -> str:
    """A source column's name in the raw zone (see the module's docstring): itself, or escaped."""
    if not name.startswith("_") and not _ENCODED.intersection(name):
        return name
    return ESCAPED + "".join(f"%{ord(char):02X}" if char in _ENCODED else char for char in name)


def source_column(raw: str) -> str:
    """The source's name of a raw-zone column: `raw_column`'s inverse."""
    if not raw.startswith(ESCAPED):
        return raw
    return re.sub(r"%([0-9A-F]{2})", lambda code: chr(int(code.group(1), 16)), raw[len(ESCAPED) :])


def format_lsn(lsn: int) -> str:
    """Postgres's own notation, e.g. 0/16B3748."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    high, low = text.split("/")
    return int(high, 16) << 32 | int(low, 16)


@dataclass
class TableFiles:
    files: list[str] = field(default_factory=list)
    rows: int = 0
    ops: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    unchanged: list[str] = field(default_factory=list)  # columns some row of the batch leaves unchanged


@dataclass
class TableSchema:
    """A source table's primary key, its columns' ids (attnum: a column dropped and added again
    under the same name has a new id) and types (a changed type makes the table copied anew)."""

    key: list[str] = field(default_factory=list)
    columns: dict[str, int] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)  # as Postgres names them (format_type); older: none


@dataclass
class Manifest:
    batch_id: str
    kind: str  # snapshot or changes
    source: str
    first_lsn: int
    end_lsn: int  # replication has consumed everything up to here
    created_at: str
    first_commit_at: str | None = None  # commit times of the batch's oldest and newest change
    last_commit_at: str | None = None
    tables: dict[str, TableFiles] = field(default_factory=dict)
    # every published table as the run that wrote the batch found it: primary key and column ids
    schemas: dict[str, TableSchema] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables.values())

    @property
    def bytes(self) -> int:
        return sum(t.bytes for t in self.tables.values())

    @property
    def lag_seconds(self) -> float | None:
        """How long the batch's oldest change waited: committed in Postgres -> visible in S3."""
        if not self.first_commit_at:
            return None
        return (datetime.fromisoformat(self.created_at) - datetime.fromisoformat(self.first_commit_at)).total_seconds()

    def to_json(self) -> str:
        record = asdict(self)
        record["first_lsn_text"], record["end_lsn_text"] = format_lsn(self.first_lsn), format_lsn(self.end_lsn)
        return json.dumps(record, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        record = json.loads(text)
        record.pop("first_lsn_text"), record.pop("end_lsn_text")
        record["tables"] = {name: TableFiles(**files) for name, files in record["tables"].items()}
        record["schemas"] = {name: TableSchema(**schema) for name, schema in record.get("schemas", {}).items()}
        return cls(**record)


def batch_id(first_lsn: int, kind: str) -> str:
    return f"{first_lsn:016X}-{kind}"


def now_utc() -> datetime:
    return datetime.now(UTC)


class RawZone:
    """Reads and writes one source's part of the raw bucket."""

    def __init__(self, s3: S3Client, bucket: str, source: str) -> None:
        self.s3, self.bucket, self.source = s3, bucket, source

    def _manifest_key(self, batch: str) -> str:
        return f"{self.source}/_manifests/{batch}.json"

    def file_key(self, table: str, batch: str, part: int) -> str:
        return f"{self.source}/{table}/batch={batch}/part-{part:05d}.parquet"

    def put_table(self, key: str, rows: pa.Table) -> int:
        """Write rows as one Parquet object; return its size in bytes."""
        buffer = io.BytesIO()
        pq.write_table(rows, buffer, compression="zstd")
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=buffer.getvalue())
        return buffer.tell()

    def put_file(self, key: str, path: Path) -> int:
        """Upload a local Parquet file (multipart when large); return its size in bytes."""
        self.s3.upload_file(str(path), self.bucket, key)
        return path.stat().st_size

    def commit(self, manifest: Manifest) -> None:
        """Write the manifest: from now on the batch exists, whatever happens next."""
        self.s3.put_object(
            Bucket=self.bucket,
            Key=self._manifest_key(manifest.batch_id),
            Body=manifest.to_json().encode(),
            ContentType="application/json",
        )

    def _manifest_keys(self) -> list[str]:
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{self.source}/_manifests/"
        ):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return sorted(keys, key=lambda k: Path(k).stem)

    def _read_manifest(self, key: str) -> Manifest:
        return Manifest.from_json(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode())

    def manifests(self) -> list[Manifest]:
        """Every committed batch, in commit order."""
        return [self._read_manifest(key) for key in self._manifest_keys()]

    def checkpoint(self) -> tuple[Manifest | None, bool]:
        """The newest committed batch (how far replication got) and whether any snapshot exists."""
        keys = self._manifest_keys()
        has_snapshot = any(Path(key).stem.endswith("-snapshot") for key in keys)
        return (self._read_manifest(keys[-1]) if keys else None), has_snapshot

    def read_table(
        self, table: str, manifests: list[Manifest] | None = None, columns: list[str] | None = None
    ) -> pa.Table | None:
        """All committed rows of a table (or some columns), in batch order (for tests, reconciliation, tools)."""
        parts = []
        for manifest in manifests if manifests is not None else self.manifests():
            for key in manifest.tables.get(table, TableFiles()).files:
                body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                parts.append(pq.read_table(io.BytesIO(body), columns=columns))
        return pa.concat_tables(parts, promote_options="permissive") if parts else None  # widened types too
