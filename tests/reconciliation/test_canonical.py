"""The canonical cell text is the same from Postgres SQL and from DuckDB over the raw zone's
Arrow, for every type and edge value the raw zone carries, and one changed cell is found by key
and column."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from services.reconciliation.diff import first_differences
from services.reconciliation.raw_state import raw_files, raw_state
from services.reconciliation.reconcile import published_tables
from services.reconciliation.sides import ArrowSide, PostgresSide
from tests.replication.test_native import large

ZOO = """CREATE TABLE shop.zoo (
    id bigint PRIMARY KEY, small smallint, big bigint, exact numeric(38, 10), money numeric(10, 2), loose numeric,
    ratio double precision, tiny real, flag boolean, name text, code char(3), label varchar(20),
    at timestamptz, local_at timestamp, day date, clock time, doc jsonb, plain json, ident uuid,
    blob bytea, words text[], counts int[], prices numeric(6, 2)[], huge text)"""

ROWS = [
    "(1, 32767, 9223372036854775807, 1234567890123456789012345678.0123456789, 99999999.99, '1e-40', 1.5e308,"
    " 3.4e38, true, 'Zoë 東京 🚀 \"q\" \\\\ \\N ' || chr(1) || chr(127) || E'\\n\\t', 'ab', '',"
    " '2026-01-01 23:59:59.999999+00',"
    " '1999-12-31 00:00', '2024-02-29', '13:45:00.5', '{\"k\": [1, \"ü\"], \"n\": null, \"a\": 1.50}',"
    " '{\"b\":  2, \"a\" : 1}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x00ff',"
    ' \'{a,NULL,"b c","{}","","\\\\\\\\"}\','
    " '{1,NULL,-3}', '{1.50,NULL}', NULL)",
    "(2, -32768, -9223372036854775808, -0.0000000001, 0, '123456789012345678901234567890.50', '-0', '-1e-45',"
    " false, '', 'x', NULL, '0001-01-01 00:00:00+00', '9999-12-31 23:59:59.999999', '1970-01-01', '00:00',"
    " '{}', '[]', NULL, '\\x', '{}', '{}', '{}', NULL)",
    "(3, NULL, NULL, NULL, NULL, 'NaN', 'NaN', 'Infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'null',"
    " 'null', NULL, NULL, NULL, NULL, NULL, NULL)",
]


def _zoo(source, replicator):
    source.execute(ZOO)
    source.execute("ALTER PUBLICATION shop_cdc ADD TABLE shop.zoo")
    source.execute(f"INSERT INTO shop.zoo VALUES {ROWS[0]}")
    source.commit()
    replicator.run_once()  # row 1 through the snapshot
    source.execute(f"INSERT INTO shop.zoo VALUES {', '.join(ROWS[1:])}")  # the others through change capture
    source.execute("UPDATE shop.zoo SET huge = %s WHERE id = 1", (large(1),))
    source.commit()
    source.execute("UPDATE shop.zoo SET small = 1 WHERE id = 1")  # huge untouched: unchanged in raw
    source.execute("INSERT INTO shop.zoo (id, name) VALUES (4, 'late'), (5, 'gone')")
    source.execute("DELETE FROM shop.zoo WHERE id = 5")
    source.commit()
    replicator.run_once()
    table = next(t for t in published_tables(source, "shop_cdc", "shop") if t.name == "zoo")
    state = raw_state(raw_files(replicator.raw, "zoo", replicator.raw.manifests()), table.keys, None)
    return table, state


def test_postgres_and_duckdb_render_every_cell_alike(source, replicator) -> None:
    table, state = _zoo(source, replicator)
    assert len(table.columns) == 24  # every column is comparable
    expected = PostgresSide(source, "shop", "zoo", table.columns, table.keys)
    actual = ArrowSide(state.rows, table.columns, table.keys)
    keys = [(1,), (2,), (3,), (4,)]
    assert actual.cells(keys) == expected.cells(keys)
    assert actual.fingerprint() == expected.fingerprint()
    assert expected.fingerprint().rows == 4
    assert first_differences(expected, actual) == []


def test_one_changed_cell_is_named_by_key_and_column(source, replicator) -> None:
    table, state = _zoo(source, replicator)
    rows = state.rows
    index = rows.column_names.index("label")
    labels = pc.if_else(pc.equal(rows.column("id"), 2), pa.scalar("changed"), rows.column("label"))
    wrong = ArrowSide(rows.set_column(index, "label", labels), table.columns, table.keys)
    expected = PostgresSide(source, "shop", "zoo", table.columns, table.keys)
    assert wrong.fingerprint() != expected.fingerprint()
    [difference] = first_differences(expected, wrong)
    assert difference.key == (2,) and [c[0] for c in difference.columns] == ["label"]
    assert difference.describe(["id"]) == "id=2: label is 'changed', expected NULL"
