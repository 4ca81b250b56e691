"""One canonical text of every cell, written twice: as Postgres SQL and as DuckDB SQL over Arrow.

Reconciliation compares hops held by different engines (Postgres for the source, the lake and
dbt's staging; Parquet and Iceberg read as Arrow for raw and silver). Each engine renders each
cell to the same text, so equal values give equal text and any other value differs:

| source type | canonical text |
|---|---|
| smallint, integer, bigint | decimal digits |
| numeric | its exact decimal, trailing fractional zeros dropped (`12.50` -> `12.5`), `NaN`, `Infinity` |
| real, double precision | the IEEE 754 bits as a signed integer (`NaN` for any NaN) |
| boolean | `true` / `false` |
| text, varchar, char(n), name, json, jsonb, uuid | byte length, `:`, the text (char(n) padded; JSON as printed) |
| timestamptz, timestamp | microseconds since the epoch |
| date | days since 1970-01-01 |
| bytea | lower-case hex |
| arrays | `[` elements `,` `]`, each element as a cell |
| any other type (enum, interval, inet, range, ...) and arrays of it | as text: its output function's text |

A cell is `n` for NULL and `v` + its text otherwise, so NULL, '' and '{}' all differ. A row is its
cells joined by `|` in the source's column order; its hash is the first 64 bits of the row's
MD5, and a table's checksum is the sum of its rows' hashes modulo 2^64: independent of row
order, computed where the data is, never row by row in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from services.platform.type_maps import POSTGRES_ARRAYS


@dataclass(frozen=True)
class Kind:
    """How a source type is rendered; `element` for arrays."""

    name: str  # integer, numeric(_text), float, boolean, text, padded, timestamp, date, binary, array
    bits: int = 0  # of a float
    width: int = 0  # of char(n)
    element: Kind | None = None


_SCALAR_KINDS: dict[int, Kind] = {
    21: Kind("integer"), 23: Kind("integer"), 20: Kind("integer"),
    1700: Kind("numeric"),
    700: Kind("float", bits=32), 701: Kind("float", bits=64),
    16: Kind("boolean"),
    25: Kind("text"), 1043: Kind("text"), 19: Kind("text"), 114: Kind("text"), 3802: Kind("text"), 2950: Kind("text"),
    1184: Kind("timestamp"), 1114: Kind("timestamp"),
    1082: Kind("date"),
    17: Kind("binary"),
}  # fmt: skip
BPCHAR = 1042


def kind_of(type_oid: int, type_modifier: int, element_oid: int = 0) -> Kind:
    """The kind of a source column (`element_oid` for arrays, from pg_type.typelem): a type the
    hops carry as its text (`type_maps.carried_as_text`), arrays of such types included, is text."""
    if type_oid == BPCHAR:
        return Kind("padded", width=max(type_modifier - 4, 0))
    if element_oid and type_oid in POSTGRES_ARRAYS:
        return Kind("array", element=kind_of(element_oid, type_modifier))
    return _SCALAR_KINDS.get(type_oid, Kind("text"))


# -- Postgres ---------------------------------------------------------------------------------


def postgres_cell(expression: str, kind: Kind) -> str:
    """SQL rendering one cell: `n`, or `v` and its canonical text."""
    return f"CASE WHEN ({expression}) IS NULL THEN 'n' ELSE 'v' || {_postgres_text(expression, kind)} END"


def _postgres_text(x: str, kind: Kind) -> str:
    if kind.name == "integer":
        return f"({x})::text"
    if kind.name == "numeric":
        return f"trim_scale({x})::text"
    if kind.name == "numeric_text":  # a numeric that this hop keeps as its text
        return f"trim_scale(({x})::numeric)::text"
    if kind.name == "float":
        send, bits = ("float8send", 64) if kind.bits == 64 else ("float4send", 32)
        as_int = "bigint" if bits == 64 else "integer"
        return (
            f"CASE WHEN ({x}) = 'NaN' THEN 'NaN' "
            f"ELSE (('x' || encode({send}({x}), 'hex'))::bit({bits})::{as_int})::text END"
        )
    if kind.name == "boolean":
        return f"({x})::text"
    if kind.name in ("text", "padded"):
        text = f"rpad(({x})::text, {kind.width})" if kind.name == "padded" and kind.width else f"({x})::text"
        return f"octet_length({text})::text || ':' || {text}"
    if kind.name == "timestamp":
        micros = f"trim_scale(extract(epoch FROM {x}) * 1000000)::text"
        return f"CASE WHEN isfinite({x}) THEN {micros} ELSE ({x})::text END"
    if kind.name == "date":
        return f"CASE WHEN isfinite({x}) THEN (({x}) - date '1970-01-01')::text ELSE ({x})::text END"
    if kind.name == "binary":
        return f"encode({x}, 'hex')"
    element = postgres_cell("_e", kind.element)
    return (
        f"'[' || coalesce((SELECT string_agg({element}, ',' ORDER BY _i) "
        f"FROM unnest({x}) WITH ORDINALITY AS _u(_e, _i)), '') || ']'"
    )


def postgres_row_hash(cells: list[str]) -> str:
    """SQL of a row's 64-bit hash (a signed bigint) from its rendered cells."""
    return f"('x' || left(md5({_joined(cells)}), 16))::bit(64)::bigint"


def _joined(cells: list[str]) -> str:
    return " || '|' || ".join(cells) if cells else "''"


# -- DuckDB over Arrow ------------------------------------------------------------------------


def duckdb_cell(expression: str, kind: Kind) -> str:
    """DuckDB SQL rendering one cell of an Arrow column prepared by `arrow_ready`."""
    return f"CASE WHEN ({expression}) IS NULL THEN 'n' ELSE 'v' || {_duckdb_text(expression, kind)} END"


def _duckdb_text(x: str, kind: Kind) -> str:
    if kind.name in ("integer", "boolean", "timestamp", "float"):
        # floats arrive as their bits' text (`arrow_ready`)
        return f"CAST({x} AS VARCHAR)" if kind.name != "timestamp" else f"CAST(epoch_us({x}) AS VARCHAR)"
    if kind.name == "numeric":  # a decimal column, or a numeric's text (numeric without precision)
        text = f"CAST({x} AS VARCHAR)"
        return f"CASE WHEN contains({text}, '.') THEN rtrim(rtrim({text}, '0'), '.') ELSE {text} END"
    if kind.name in ("text", "padded"):
        return f"CAST(strlen({x}) AS VARCHAR) || ':' || {x}"
    if kind.name == "date":
        return f"CAST({x} - DATE '1970-01-01' AS VARCHAR)"
    if kind.name == "binary":
        return f"lower(hex({x}))"
    element = duckdb_cell("_e", kind.element)
    return f"'[' || array_to_string(list_transform({x}, lambda _e: {element}), ',') || ']'"


def duckdb_row_hash(cells: list[str]) -> str:
    """DuckDB SQL of a row's 64-bit hash (unsigned) from its rendered cells."""
    return f"CAST('0x' || left(md5({_joined(cells)}), 16) AS UBIGINT)"


def arrow_ready(column: pa.ChunkedArray | pa.Array, kind: Kind) -> pa.ChunkedArray | pa.Array:
    """An Arrow column in the form `duckdb_cell` reads: floats as the text of their bits (one
    NaN); lists of those likewise. Arrow's own kernels, no Python per row."""
    if isinstance(column, pa.ChunkedArray):
        return pa.chunked_array([arrow_ready(chunk, kind) for chunk in column.chunks], _ready_type(column.type, kind))
    if kind.name == "array" and kind.element and kind.element.name == "float":
        values = arrow_ready(column.flatten(), kind.element)
        return pa.ListArray.from_arrays(column.offsets, values, mask=column.is_null())
    if kind.name == "float" and pa.types.is_floating(column.type):
        floats, ints = (pa.float64(), pa.int64()) if kind.bits == 64 else (pa.float32(), pa.int32())
        bits = column.cast(floats).view(ints)
        return pc.if_else(pc.is_nan(column), pa.scalar("NaN"), pc.cast(bits, pa.string()))
    return column


def _ready_type(arrow_type: pa.DataType, kind: Kind) -> pa.DataType:
    if kind.name == "array" and kind.element and kind.element.name == "float":
        return pa.list_(_ready_type(arrow_type.value_type, kind.element))
    if kind.name == "float" and pa.types.is_floating(arrow_type):
        return pa.string()
    return arrow_type
