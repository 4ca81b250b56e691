"""Arrow columns as the CSV text Postgres' COPY reads: arrays as array literals."""

from __future__ import annotations

import pyarrow as pa

from services.warehouse.copy import _array_literal


def test_an_array_column_cut_from_a_larger_batch_keeps_its_own_rows() -> None:
    """A record batch read from a file is often a slice: its list offsets start past 0."""
    whole = pa.array([[1, 2], None, [3], [], [4, None], None], pa.list_(pa.int32()))
    assert _array_literal(whole.slice(2, 4)).to_pylist() == ['{"3"}', "{}", '{"4",NULL}', None]
    assert _array_literal(whole).to_pylist() == ['{"1","2"}', None, '{"3"}', "{}", '{"4",NULL}', None]
