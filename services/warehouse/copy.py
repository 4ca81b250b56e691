"""Arrow record batches into Postgres through COPY: the warehouse load's fast path.

Batches are encoded to CSV by Arrow's C++ writer (strings always quoted, so an empty
string stays distinct from NULL) and streamed into `COPY ... FROM STDIN`; list columns
become Postgres array literals first, since CSV has no lists, and binary columns bytea's hex
text, since CSV is text.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from psycopg import sql

_CSV = pa_csv.WriteOptions(include_header=False, quoting_style="needed")


def _array_literal(column: pa.ListArray | pa.LargeListArray) -> pa.Array:
    """list<string> -> '{"a","b"}': each element quoted and escaped, nulls as NULL."""
    column = column.cast(pa.list_(column.type.value_type))
    values = pc.cast(column.flatten(), pa.string())
    escaped = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')
    quoted = pc.fill_null(pc.binary_join_element_wise('"', escaped, '"', ""), "NULL")
    # A slice of a larger array (a record batch cut from a file) has offsets that start past 0,
    # which from_arrays refuses beside a null mask; flatten() already starts at the slice.
    offsets = pc.subtract(column.offsets, column.offsets[0]) if len(column) else column.offsets
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, quoted, mask=column.is_null()), ",")
    return pc.binary_join_element_wise("{", joined, "}", "")


def _bytea_literal(column: pa.Array) -> pa.Array:
    """binary -> Postgres' hex form of bytea ('\\x00ff'): CSV holds text, and bytes need not be UTF-8.
    Arrow has no hex kernel, so this one goes value by value (bytea columns are rare)."""
    return pa.array([None if v is None else "\\x" + v.hex() for v in column.to_pylist()], pa.string())


def _csv_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    def ready(column: pa.Array) -> pa.Array:
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            return _array_literal(column)
        if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
            return _bytea_literal(column)
        return column

    return pa.RecordBatch.from_arrays([ready(c) for c in batch.columns], names=batch.schema.names)


def copy_batches(
    cursor: psycopg.Cursor, schema: str, table: str, columns: list[str], batches: Iterable[pa.RecordBatch]
) -> int:
    """COPY the batches' `columns` into `schema.table`; returns the number of rows."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(schema, table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    rows = 0
    with cursor.copy(statement) as copy:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            buffer = io.BytesIO()
            pa_csv.write_csv(_csv_ready(batch.select(columns)), buffer, _CSV)
            copy.write(buffer.getbuffer())
            rows += batch.num_rows
    return rows
