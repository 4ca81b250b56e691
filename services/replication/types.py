"""How source column types land in the raw zone's Parquet files, and how values get there.

| Postgres | Arrow / Parquet | note |
|---|---|---|
| smallint, integer, bigint | int16, int32, int64 | |
| real, double precision | float32, float64 | |
| numeric(p, s) | decimal128(p, s) | exact, for p <= 38 and 0 <= s <= p; any other numeric keeps its text |
| boolean | bool | |
| text, varchar, char(n), name | string | char(n) keeps its padding, as Postgres returns it |
| timestamptz | timestamp(us, UTC) | |
| timestamp | timestamp(us) | no time zone, as in the source |
| date | date32 | |
| json, jsonb | string | the JSON text, unchanged |
| uuid | string | canonical text form |
| bytea | binary | |
| arrays of the above (not json) | list<element> | |
| any other type (time too) | string | its exact text, as the type's output function prints it |

Any other type (enums, domains, interval, money, inet, cidr, bit strings, ranges and
multiranges, geometric and composite types, tsvector, xml, arrays of any of these, an
extension's type) is carried as its text: the snapshot reads `column::text`, and logical
replication sends the same text; no value of any type stops replication. Snapshot
values come through ADBC (Postgres' binary COPY decoded into Arrow in C), with numeric,
json, uuid and arrays read as text; change-capture values come as pgoutput text. Text
is parsed by Arrow's casts (numeric) or psycopg's own loaders (arrays), as in the changes,
so both paths agree.

Some values the source accepts have no exact form in these types: timestamps and dates
outside years 1-9999 (BC, year 10000 and later, +/-infinity), NaN and infinity in a
numeric(p, s), arrays of more than one dimension. Such a value is never
approximated: the row carries NULL there and names the column, with the value's text, in
`_unrepresentable` (silver quarantines the row as `unrepresentable_value`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
import pyarrow as pa
from psycopg.adapt import Transformer
from psycopg.pq import Format

from services.platform.type_maps import (
    JSON_TYPES,
    NUMERIC,
    POSTGRES_ARRAYS,
    UUID,
    arrow_type,
    carried_as_text,
    numeric_precision,
)
from services.replication.raw_zone import raw_column

_KEPT_AS_TEXT = (*JSON_TYPES, UUID)  # stored as Postgres prints them
TEXT_ARRAY = 1009  # text[]: its loader gives the elements as Postgres prints them


class Unrepresentable(ValueError):
    """A source value with no exact form in its column's raw type; carries the value's text."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


TIMESTAMPS, DATE = (1184, 1114), 1082
NOT_FINITE = ("NaN", "Infinity", "-Infinity")
# Inclusive-exclusive bounds of what the raw zone holds exactly (Python's and Arrow's shared range).
_BOUNDS = {
    1184: ("'0001-01-01 00:00:00+00'::timestamptz", "'10000-01-01 00:00:00+00'::timestamptz"),
    1114: ("'0001-01-01 00:00:00'::timestamp", "'10000-01-01 00:00:00'::timestamp"),
    1082: ("'0001-01-01'::date", "'10000-01-01'::date"),
}


@dataclass(frozen=True)
class ColumnType:
    """A source column's Postgres type and its raw-zone Arrow type."""

    name: str
    type_oid: int
    type_modifier: int
    type_name: str = field(default="", compare=False)  # as Postgres names it, for error messages

    @property
    def arrow(self) -> pa.DataType:
        return arrow_type(self.type_oid, self.type_modifier)

    @property
    def raw_name(self) -> str:
        """The column's name in the raw zone (`raw_zone.raw_column`)."""
        return raw_column(self.name)

    @property
    def is_array(self) -> bool:
        return self.type_oid in POSTGRES_ARRAYS

    def snapshot_sql(self, quoted: str) -> tuple[str, str | None]:
        """The snapshot's select of this column, and of its text where the raw type cannot hold it."""
        if self.type_oid not in _BOUNDS:
            return (f"{quoted}::text" if self.read_as_text else quoted), None
        low, high = _BOUNDS[self.type_oid]
        fits = f"({quoted} >= {low} AND {quoted} < {high})"
        return f"CASE WHEN {fits} THEN {quoted} END", f"CASE WHEN NOT {fits} THEN {quoted}::text END"

    @property
    def read_as_text(self) -> bool:
        """Read as text in the snapshot: the Arrow reader gives these in a form of its own
        (numeric as an opaque extension, uuid as bytes, arrays' elements likewise)."""
        return self.type_oid in (*_KEPT_AS_TEXT, NUMERIC) or self.is_array or carried_as_text(self.type_oid)


class TextValues:
    """Converts pgoutput text values to Python values that Arrow stores exactly."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._transformer = Transformer(conn)

    def convert(self, column: ColumnType, text: str | None) -> object:
        """The value of `text`; raises Unrepresentable where the raw type has no exact form of it."""
        if text is None:
            return None
        if (
            column.type_oid in _KEPT_AS_TEXT
            or (column.type_oid == NUMERIC and numeric_precision(column.type_modifier) is None)
            or carried_as_text(column.type_oid)
        ):
            return text
        if column.type_oid == NUMERIC and text in NOT_FINITE:
            raise Unrepresentable(text)
        if column.is_array and pa.types.is_string(column.arrow.value_type):
            # elements kept as their text (text, uuid, a numeric without a decimal type): as Postgres prints them
            loader = self._transformer.get_loader(TEXT_ARRAY, Format.TEXT)
        else:
            loader = self._transformer.get_loader(column.type_oid, Format.TEXT)
        try:
            value = loader.load(text.encode())
        except (psycopg.DataError, OverflowError, ValueError):  # years outside 1-9999, infinity
            raise Unrepresentable(text) from None
        if column.is_array:
            if any(isinstance(v, list) for v in value):
                raise Unrepresentable(text)  # more than one dimension
            if pa.types.is_decimal(column.arrow.value_type) and any(v is not None and not v.is_finite() for v in value):
                raise Unrepresentable(text)  # NaN or infinity in a numeric(p, s) array
        return value
