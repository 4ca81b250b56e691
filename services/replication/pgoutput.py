"""Decoder of PostgreSQL's built-in `pgoutput` logical decoding messages (protocol version 1).

The replication engine reads the slot with `pg_logical_slot_peek_binary_changes`, which
returns these messages as bytes; this module turns them into typed records. Column values
stay in Postgres's text form here (`types.py` converts them). Message layouts follow
"Logical Replication Message Formats" in the PostgreSQL documentation; no kept Python
package decodes pgoutput over an ordinary connection.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

POSTGRES_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Column:
    name: str
    type_oid: int
    type_modifier: int
    is_key: bool


@dataclass(frozen=True)
class Relation:
    oid: int
    schema: str
    table: str
    replica_identity: str
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class Begin:
    final_lsn: int
    commit_time: datetime
    xid: int


@dataclass(frozen=True)
class Commit:
    commit_lsn: int
    end_lsn: int
    commit_time: datetime


# A row as pgoutput sends it: text values, None for NULL, UNCHANGED for an unchanged TOAST value.
UNCHANGED = object()
Tuple = tuple[object, ...]


@dataclass(frozen=True)
class Change:
    op: str  # insert, update, delete
    relation_oid: int
    new: Tuple | None  # the row after an insert or update
    old: Tuple | None  # the key (or whole row) before an update or delete, when sent
    old_is_whole_row: bool = False  # `old` is the whole row (REPLICA IDENTITY FULL), not just the key


@dataclass(frozen=True)
class Truncate:
    relation_oids: tuple[int, ...]


Message = Begin | Commit | Relation | Change | Truncate | None


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return values

    def string(self) -> str:
        end = self.data.index(b"\0", self.pos)
        value = self.data[self.pos : end].decode()
        self.pos = end + 1
        return value

    def timestamp(self) -> datetime:
        (micros,) = self.take("!q")
        return POSTGRES_EPOCH + timedelta(microseconds=micros)

    def tuple_data(self) -> Tuple:
        (count,) = self.take("!H")
        values: list[object] = []
        for _ in range(count):
            kind = self.data[self.pos : self.pos + 1]
            self.pos += 1
            if kind == b"n":
                values.append(None)
            elif kind == b"u":
                values.append(UNCHANGED)
            else:  # b"t": text, b"b": binary (not requested)
                (length,) = self.take("!I")
                values.append(self.data[self.pos : self.pos + length].decode())
                self.pos += length
        return tuple(values)


def decode(data: bytes) -> Message:
    """One message; None for kinds the engine does not need (origin, type, message)."""
    reader, kind = Reader(data), data[:1]
    reader.pos = 1
    if kind == b"B":
        (final_lsn,) = reader.take("!Q")
        commit_time = reader.timestamp()
        (xid,) = reader.take("!I")
        return Begin(final_lsn, commit_time, xid)
    if kind == b"C":
        _flags, commit_lsn, end_lsn = reader.take("!BQQ")
        return Commit(commit_lsn, end_lsn, reader.timestamp())
    if kind == b"R":
        (oid,) = reader.take("!I")
        schema, table = reader.string(), reader.string()
        identity = chr(reader.take("!B")[0])
        (count,) = reader.take("!H")
        columns = []
        for _ in range(count):
            (flags,) = reader.take("!B")
            name = reader.string()
            type_oid, modifier = reader.take("!Ii")
            columns.append(Column(name, type_oid, modifier, bool(flags & 1)))
        return Relation(oid, schema, table, identity, tuple(columns))
    if kind == b"I":
        (oid,) = reader.take("!I")
        reader.pos += 1  # 'N'
        return Change("insert", oid, reader.tuple_data(), None)
    if kind == b"U":
        (oid,) = reader.take("!I")
        old, whole = None, False
        if (old_kind := data[reader.pos : reader.pos + 1]) in (b"K", b"O"):
            reader.pos += 1
            old, whole = reader.tuple_data(), old_kind == b"O"
        reader.pos += 1  # 'N'
        return Change("update", oid, reader.tuple_data(), old, whole)
    if kind == b"D":
        (oid,) = reader.take("!I")
        whole = data[reader.pos : reader.pos + 1] == b"O"
        reader.pos += 1  # 'K' or 'O'
        return Change("delete", oid, None, reader.tuple_data(), whole)
    if kind == b"T":
        count, _options = reader.take("!IB")
        return Truncate(tuple(reader.take(f"!{count}I")))
    return None
