"""The schema fuzzer: any table Postgres accepts flows exactly, or its rows sit in quarantine
with a named rule.

Hypothesis draws a table (columns from the whole `pg_catalog` type catalog, arrays of them,
identifiers of any characters, simple and composite keys, a publication column list and row
filter), rows, and DDL and change steps (tests/schema_fuzz.py); each example runs replicate,
lakehouse and the warehouse load on the real services, then checks it twice: `reconcile`
(raw, silver and the warehouse, cell by cell) and a comparison of its own, below, of every
published cell of the warehouse with the source's text of it. `make test` tries a few tables
(the same every run), `make fuzz-schemas` many new ones.
"""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass

import psycopg
import pytest
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from psycopg import sql

from services.lakehouse.quarantine import STILL_QUARANTINED
from services.platform.catalog import iceberg_catalog
from services.platform.clients import Role, postgres_connect
from services.replication.raw_zone import raw_column
from tests.schema_fuzz import (
    CatalogType,
    ColumnSpec,
    TableSpec,
    candidates,
    castable,
    catalog_types,
    column,
    column_names,
    fixed_candidates,
    steps,
    tables,
)

PUBLICATION = "shop_cdc"
_numbers = itertools.count()


@dataclass
class Fuzz:
    settings: object
    source: psycopg.Connection
    warehouse: psycopg.Connection
    spark: object
    types: list[CatalogType]


@pytest.fixture
def fuzz(scratch_source, spark, settings) -> Fuzz:
    """A scratch source, with silver, quarantine and lake namespaces of its own."""
    suffix = uuid.uuid4().hex[:8]
    postgres = settings.postgres.model_copy(update={"source_db": scratch_source.info.dbname})
    replication = settings.replication.model_copy(update={"slot": f"fuzz_{suffix}"})
    lakehouse = settings.lakehouse.model_copy(
        update={"silver_namespace": f"silver_{suffix}", "quarantine_namespace": f"quarantine_{suffix}"}
    )
    warehouse = settings.warehouse.model_copy(update={"lake_schema": f"lake_{suffix}"})
    fuzz_settings = settings.model_copy(
        update={"postgres": postgres, "replication": replication, "lakehouse": lakehouse, "warehouse": warehouse}
    )
    scratch_source.autocommit = True
    scratch_source.execute("SET TIME ZONE 'UTC'")
    scratch_source.execute("CREATE SCHEMA elsewhere")  # a table there is named elsewhere__<table> downstream
    with postgres_connect(settings, settings.postgres.warehouse_db, Role.DBT, autocommit=True) as lake:
        lake.execute("SET TIME ZONE 'UTC'")
        yield Fuzz(fuzz_settings, scratch_source, lake, spark, catalog_types(scratch_source))
        lake.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(warehouse.lake_schema)))


@given(data=st.data())
@hypothesis_settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_any_schema_reaches_the_warehouse_exactly_or_waits_in_quarantine(fuzz: Fuzz, data: st.DataObject) -> None:
    from services.replication.native import NativeEngine

    spec = data.draw(tables(fuzz.types), label="table")
    spec.name = f"{spec.name}_{next(_numbers)}"  # examples share the database
    source = Source(fuzz.source, spec, data, fuzz.types)
    source.create()
    source.insert(data.draw(st.integers(1, 4), label="rows"))
    engine = NativeEngine(fuzz.settings)
    assert engine.run_once().stopped == {}
    for step in data.draw(steps(), label="steps"):
        source.apply(step)
    assert engine.run_once().stopped == {}
    assert_every_hop_holds_the_source(fuzz, spec)


def test_every_type_of_the_catalog_reaches_the_warehouse_exactly(fuzz: Fuzz) -> None:
    """One table with a column of every type `pg_type` lists (and an array of each that has one),
    two rows of values each type accepts and a row of NULLs, an update and a delete: every hop
    reconciles, every cell of the warehouse is the source's. Types whose input takes no text
    (the planner's internal ones) hold NULLs, and are the only ones that do. About 190 columns."""
    from services.replication.native import NativeEngine

    role = fuzz.source.execute("SELECT current_user").fetchone()[0]
    columns, values = [ColumnSpec("id", CatalogType("integer", "N", True), False)], {}
    for i, kind in enumerate(fuzz.types):
        fitting = [t for t in fixed_candidates(kind, role) if castable(fuzz.source, [t], kind.name) is not None][:2]
        for array in (False, True) if kind.has_array else (False,):
            column = ColumnSpec(f"c{i}{'[]' if array else ''} {kind.name}", kind, array)
            columns.append(column)
            values[column.name] = fitting
    spec = TableSpec(f"every_type_{next(_numbers)}", "shop", columns[:1], columns[1:], None, False)
    table = create_table(fuzz.source, spec)

    def literal(column: ColumnSpec, row: int) -> sql.Composable:
        texts = values[column.name]
        if not texts or row == 3:
            return sql.SQL("NULL")
        text = texts[row % len(texts)]
        if column.array:
            return sql.SQL("ARRAY[{}, NULL]::{}").format(sql.Literal(text), sql.SQL(column.ddl_type))
        return sql.SQL("{}::{}").format(sql.Literal(text), sql.SQL(column.ddl_type))

    for row in (1, 2, 3):
        cells = sql.SQL(", ").join([sql.Literal(row), *(literal(c, row) for c in spec.columns)])
        fuzz.source.execute(sql.SQL("INSERT INTO {} VALUES ({})").format(table, cells))
    engine = NativeEngine(fuzz.settings)
    assert engine.run_once().stopped == {}
    assignments = [sql.SQL("{} = {}").format(sql.Identifier(c.name), literal(c, 2)) for c in spec.columns]
    fuzz.source.execute(sql.SQL("UPDATE {} SET {} WHERE id = 1").format(table, sql.SQL(", ").join(assignments)))
    fuzz.source.execute(sql.SQL("DELETE FROM {} WHERE id = 3").format(table))
    assert engine.run_once().stopped == {}
    assert_every_hop_holds_the_source(fuzz, spec)
    null_only = sorted({c.type.name for c in spec.columns if not values[c.name]})
    # the planner's own types take no text; xml takes none on a server built without libxml (the embedded one)
    assert [n for n in null_only if not n.startswith("pg_") and n not in ("gtsvector", "xml")] == [], null_only


def create_table(conn: psycopg.Connection, spec: TableSpec) -> sql.Identifier:
    """Create the drawn table at the source and publish it as drawn."""
    table = sql.Identifier(spec.schema, spec.name)
    columns = [*spec.keys, *spec.columns]
    definitions = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.ddl_type)) for c in columns
    )
    key = sql.SQL(", ").join(sql.Identifier(k.name) for k in spec.keys)
    conn.execute(sql.SQL("CREATE TABLE {} ({}, PRIMARY KEY ({}))").format(table, definitions, key))
    listed = sql.SQL("")
    if spec.published is not None:
        names = sql.SQL(", ").join(map(sql.Identifier, spec.published))
        listed = sql.SQL(" ({})").format(names)
    where = sql.SQL("")
    if spec.row_filter:
        first = spec.keys[0]
        test = "{} % 2 = 0" if first.type.name == "integer" else "{} < 'm'"
        where = sql.SQL(" WHERE ({})").format(sql.SQL(test).format(sql.Identifier(first.name)))
    conn.execute(
        sql.SQL("ALTER PUBLICATION {} ADD TABLE {}{}{}").format(sql.Identifier(PUBLICATION), table, listed, where)
    )
    return table


class Source:
    """The drawn table at the source, and the steps that change it."""

    def __init__(
        self, conn: psycopg.Connection, spec: TableSpec, data: st.DataObject, types: list[CatalogType]
    ) -> None:
        self.conn, self.spec, self.data, self.types = conn, spec, data, types
        self.table = sql.Identifier(spec.schema, spec.name)
        self.rows = 0
        self.key_prefix = data.draw(st.text(max_size=3).filter(lambda t: "\x00" not in t), label="key prefix")

    def create(self) -> None:
        create_table(self.conn, self.spec)

    def key_values(self, n: int) -> list[object]:
        return [n if k.type.name == "integer" else f"{self.key_prefix}{n:03d}" for k in self.spec.keys]

    def value(self, column: ColumnSpec) -> sql.Composable:
        """A drawn value of the column's type (NULL when no candidate fits; arrays of such values)."""
        if column.array:
            elements = self.data.draw(st.lists(candidates(column.type), max_size=3), label=f"{column.name}[]")
            fitting = [castable(self.conn, texts, column.type.name) for texts in elements]
            literal = sql.SQL("ARRAY[{}]::{}").format(
                sql.SQL(", ").join(sql.Literal(text) for text in fitting), sql.SQL(column.ddl_type)
            )
            return literal if fitting else sql.SQL("'{{}}'::{}").format(sql.SQL(column.ddl_type))
        fits = castable(self.conn, self.data.draw(candidates(column.type), label=column.name), column.type.name)
        event(f"{column.type.name}: {'a value' if fits is not None else 'NULL, no candidate fits'}")
        return sql.SQL("{}::{}").format(sql.Literal(fits), sql.SQL(column.ddl_type))

    def insert(self, count: int) -> None:
        for _ in range(count):
            self.rows += 1
            values = [sql.Literal(v) for v in self.key_values(self.rows)] + [self.value(c) for c in self.spec.columns]
            self.conn.execute(sql.SQL("INSERT INTO {} VALUES ({})").format(self.table, sql.SQL(", ").join(values)))

    def apply(self, step: str) -> None:
        spec, data = self.spec, self.data
        if step == "insert":
            self.insert(1)
        elif step == "update" and spec.columns:
            changed = data.draw(st.sampled_from(spec.columns), label="updated column")
            row = data.draw(st.integers(1, self.rows), label="updated row")
            self.conn.execute(
                sql.SQL("UPDATE {} SET {} = {} WHERE {}").format(
                    self.table, sql.Identifier(changed.name), self.value(changed), self.where_key(row)
                )
            )
        elif step == "delete":
            row = data.draw(st.integers(1, self.rows), label="deleted row")
            self.conn.execute(sql.SQL("DELETE FROM {} WHERE {}").format(self.table, self.where_key(row)))
        elif step == "rename" and spec.columns:
            renamed = data.draw(st.sampled_from(spec.columns), label="renamed column")
            taken = {c.name for c in [*spec.keys, *spec.columns]}
            new = data.draw(column_names.filter(lambda n: n not in taken), label="new name")
            self.conn.execute(
                sql.SQL("ALTER TABLE {} RENAME COLUMN {} TO {}").format(
                    self.table, sql.Identifier(renamed.name), sql.Identifier(new)
                )
            )
            if spec.published is not None and renamed.name in spec.published:
                spec.published[spec.published.index(renamed.name)] = new
            renamed.name = new
        elif step == "add column":
            taken = {c.name for c in [*spec.keys, *spec.columns]}
            name = data.draw(column_names.filter(lambda n: n not in taken), label="added column")
            added = column(data.draw, name, self.types)
            self.conn.execute(
                sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                    self.table, sql.Identifier(added.name), sql.SQL(added.ddl_type)
                )
            )
            spec.columns.append(added)
        elif step == "drop column":
            droppable = [c for c in spec.columns if spec.published is None or c.name not in spec.published]
            if droppable:
                dropped = data.draw(st.sampled_from(droppable), label="dropped column")
                self.conn.execute(
                    sql.SQL("ALTER TABLE {} DROP COLUMN {}").format(self.table, sql.Identifier(dropped.name))
                )
                spec.columns.remove(dropped)

    def where_key(self, row: int) -> sql.Composable:
        return sql.SQL(" AND ").join(
            sql.SQL("{} = {}").format(sql.Identifier(k.name), sql.Literal(v))
            for k, v in zip(self.spec.keys, self.key_values(row), strict=True)
        )


def assert_every_hop_holds_the_source(fuzz: Fuzz, spec: TableSpec) -> None:
    """Silver and the warehouse load take the replicated table without stopping it; `reconcile`
    finds raw, silver and the warehouse equal to the source; and so does the fuzzer's own check."""
    from services.lakehouse.silver import SilverJob
    from services.reconciliation.reconcile import reconcile
    from services.warehouse.stage import load_lake

    stopped = [r.summary() for r in SilverJob(fuzz.spark, fuzz.settings).run() if r.error]
    assert not stopped, stopped
    assert not [r.summary() for r in load_lake(fuzz.settings, [spec.raw_name]) if r.error]
    reconcile(fuzz.settings, stream=False, tables=[spec.raw_name])  # raises naming the hop and cells that differ
    assert_warehouse_holds_the_source(fuzz, spec)


def assert_warehouse_holds_the_source(fuzz: Fuzz, spec: TableSpec) -> None:
    """The fuzzer's own check: every published cell, as the text Postgres prints for it, is the
    same in the warehouse as at the source, for every published row; a row the warehouse lacks
    sits in quarantine with a named rule; the warehouse has no column the publication left out."""
    published, row_filter = fuzz.source.execute(
        "SELECT attnames, rowfilter FROM pg_publication_tables WHERE pubname = %s AND schemaname = %s"
        " AND tablename = %s",
        (PUBLICATION, spec.schema, spec.name),
    ).fetchone()
    keys = [k.name for k in spec.keys]
    where = sql.SQL(row_filter) if row_filter else sql.SQL("true")
    expected = _cells(fuzz.source, spec.schema, spec.name, keys, published, where)
    lake = fuzz.settings.warehouse.lake_schema
    got = _cells(fuzz.warehouse, lake, spec.raw_name, keys, published, sql.SQL("true"))
    missing = set(expected) - set(got)
    assert not set(got) - set(expected), "rows the source does not publish"
    assert missing <= _quarantined(fuzz, spec), "rows neither in the warehouse nor in quarantine"
    for key, cells in got.items():
        assert cells == expected[key], f"{spec.name} {key}: {cells} != {expected[key]}"
    lake_columns = {
        name
        for (name,) in fuzz.warehouse.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            (sql.Identifier(lake, spec.raw_name).as_string(fuzz.warehouse),),
        )
    }
    unpublished = {c.name for c in spec.columns} - set(published)
    assert not lake_columns & unpublished, "a column the publication leaves out reached the warehouse"


def _cells(
    conn: psycopg.Connection, schema: str, table: str, keys: list[str], columns: list[str], where: sql.Composable
) -> dict[tuple, list[str | None]]:
    """{key as text: every column's value as text} (char(n) keeps its padding: `format('%s')`). A
    column the table lacks reads as NULL: a column added at the source reaches the lake with the
    first change that carries it (until then, its every value is NULL at the source too)."""
    present = {
        name
        for (name,) in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            (sql.Identifier(schema, table).as_string(conn),),
        )
    }
    texts = sql.SQL(", ").join(
        sql.SQL("CASE WHEN {0} IS NOT NULL THEN format('%s', {0}) END").format(sql.Identifier(c))
        if c in present
        else sql.SQL("NULL")
        for c in columns
    )
    query = sql.SQL("SELECT {} FROM {} WHERE {}").format(texts, sql.Identifier(schema, table), where)
    rows = conn.execute(query).fetchall()  # no parameters: a `%` in a name is no placeholder
    at = [columns.index(k) for k in keys]
    return {tuple(row[i] for i in at): list(row) for row in rows}


def _quarantined(fuzz: Fuzz, spec: TableSpec) -> set[tuple]:
    """Keys (as text) whose newest change sits in quarantine, with a rule named."""
    namespace = fuzz.settings.lakehouse.quarantine_namespace
    catalog = iceberg_catalog(fuzz.settings)
    if not catalog.table_exists((namespace, spec.raw_name)):
        return set()
    records = catalog.load_table((namespace, spec.raw_name)).scan().to_arrow().to_pylist()
    held = [r for r in records if r["state"] in STILL_QUARANTINED and r["rule"]]
    return {tuple(str(json.loads(r["raw_row"])[raw_column(k.name)]) for k in spec.keys) for r in held}
