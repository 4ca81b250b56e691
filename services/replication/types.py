"""How source column types land in the raw zone's Parquet files, and how values get there.

| Postgres | Arrow / Parquet | note |
|---|---|---|
| smallint, integer, bigint | int16, int32, int64 | |
| real, double precision | float32, float64 | |
| numeric(p, s) | decimal128(p, s) | exact; numeric without (p, s) is kept as its text |
| boolean | bool | |
| text, varchar, char(n), name | string | char(n) keeps its padding, as Postgres returns it |
| timestamptz | timestamp(us, UTC) | |
| timestamp | timestamp(us) | no time zone, as in the source |
| date, time | date32, time64(us) | |
| json, jsonb | string | the JSON text, unchanged |
| uuid | string | canonical text form |
| bytea | binary | |
| arrays of the above (not json) | list<element> | |

Any other type stops replication with an error naming the table and column. Snapshot
values come through ADBC (Postgres' binary COPY decoded into Arrow in C), with numeric,
json, uuid and arrays read as text; change-capture values come as pgoutput text. Text
is parsed by Arrow's casts (numeric) or psycopg's own loaders (arrays), as in the changes,
so both paths agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
import pyarrow as pa
from psycopg.adapt import Transformer
from psycopg.pq import Format

_SCALARS: dict[int, pa.DataType] = {
    21: pa.int16(), 23: pa.int32(), 20: pa.int64(),
    700: pa.float32(), 701: pa.float64(),
    16: pa.bool_(),
    25: pa.string(), 1043: pa.string(), 1042: pa.string(), 19: pa.string(),
    1184: pa.timestamp("us", tz="UTC"), 1114: pa.timestamp("us"),
    1082: pa.date32(), 1083: pa.time64("us"),
    114: pa.string(), 3802: pa.string(), 2950: pa.string(),
    17: pa.binary(),
}  # fmt: skip
NUMERIC, JSON_TYPES, UUID = 1700, (114, 3802), 2950
# array type oid -> element type oid
_ARRAYS: dict[int, int] = {
    1005: 21,
    1007: 23,
    1016: 20,
    1021: 700,
    1022: 701,
    1231: 1700,
    1000: 16,
    1009: 25,
    1015: 1043,
    1014: 1042,
    1185: 1184,
    1115: 1114,
    1182: 1082,
    2951: 2950,
}
_KEPT_AS_TEXT = (*JSON_TYPES, UUID)  # stored as Postgres prints them


class UnsupportedTypeError(TypeError):
    pass


@dataclass(frozen=True)
class ColumnType:
    """A source column's Postgres type and its raw-zone Arrow type."""

    name: str
    type_oid: int
    type_modifier: int
    type_name: str = field(default="", compare=False)  # as Postgres names it, for error messages

    @property
    def arrow(self) -> pa.DataType:
        if self.type_oid in _ARRAYS:
            return pa.list_(_scalar(_ARRAYS[self.type_oid], self.type_modifier))
        return _scalar(self.type_oid, self.type_modifier)

    @property
    def is_array(self) -> bool:
        return self.type_oid in _ARRAYS

    @property
    def read_as_text(self) -> bool:
        """Read as text in the snapshot: the Arrow reader gives these in a form of its own
        (numeric as an opaque extension, uuid as bytes, arrays' elements likewise)."""
        return self.type_oid in (*_KEPT_AS_TEXT, NUMERIC) or self.is_array


def _scalar(oid: int, modifier: int) -> pa.DataType:
    if oid == NUMERIC:
        if modifier < 4:  # numeric without precision: any size, so keep the exact text
            return pa.string()
        precision, scale = ((modifier - 4) >> 16) & 0xFFFF, (modifier - 4) & 0xFFFF
        return pa.decimal128(precision, scale)
    if oid not in _SCALARS:
        raise UnsupportedTypeError(oid)
    return _SCALARS[oid]


def check_supported(table: str, columns: list[ColumnType]) -> None:
    """Raise a clear error for the first column the raw zone cannot represent."""
    for column in columns:
        try:
            column.arrow  # noqa: B018 - computing it is the check
        except UnsupportedTypeError:
            raise UnsupportedTypeError(
                f"table {table}, column {column.name}: Postgres type {column.type_name or column.type_oid} "
                "is not supported by the raw zone; cast it in a view or drop the column from the publication"
            ) from None


class TextValues:
    """Converts pgoutput text values to Python values that Arrow stores exactly."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._transformer = Transformer(conn)

    def convert(self, column: ColumnType, text: str | None) -> object:
        if text is None:
            return None
        if column.type_oid in _KEPT_AS_TEXT or (column.type_oid == NUMERIC and column.type_modifier < 4):
            return text
        loader = self._transformer.get_loader(column.type_oid, Format.TEXT)
        value = loader.load(text.encode())
        if column.type_oid == 2951:  # uuid[]: canonical text, like uuid
            return [None if v is None else str(v) for v in value]
        return value
