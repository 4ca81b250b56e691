"""COPY's CSV as Arrow reads it for the snapshot: quoted line breaks anywhere, any block size."""

from __future__ import annotations

import io

import pyarrow as pa

from services.replication.native import csv_batches


def test_values_with_line_breaks_survive_block_boundaries() -> None:
    rows = b"".join(b'%d,"line one\nline two %d",\n' % (i, i) for i in range(5000))
    stream = io.BufferedReader(io.BytesIO(rows))
    types = {"id": pa.int64(), "text": pa.string(), "note": pa.string()}
    table = pa.Table.from_batches(list(csv_batches(stream, ["id", "text", "note"], types, block_size=4096)))
    assert table.num_rows == 5000
    assert table["text"][4999].as_py() == "line one\nline two 4999"
    assert table["note"].null_count == 5000


def test_an_empty_table_gives_no_batches() -> None:
    assert list(csv_batches(io.BufferedReader(io.BytesIO(b"")), ["id"], {"id": pa.int64()})) == []
