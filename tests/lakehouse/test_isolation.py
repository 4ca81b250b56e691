"""A table silver cannot process stops alone, named with why; every other table goes on exactly."""

from __future__ import annotations

from psycopg import sql

from services.lakehouse.silver import SilverJob
from services.source.tables import TABLES
from tests.exotic_types import ODD_NAMES
from tests.lakehouse.conftest import silver_rows
from tests.lakehouse.test_silver import assert_silver_equals_source


def publish(source, ddl: str, table: str) -> None:
    source.execute(ddl)
    source.execute(f"ALTER PUBLICATION shop_cdc ADD TABLE {table}")
    source.commit()


def test_a_table_without_a_primary_key_is_named_and_the_others_go_on(replicator, job, source, lake_settings) -> None:
    publish(source, "CREATE TABLE shop.audit_log (at timestamptz, note text); "
                    "ALTER TABLE shop.audit_log REPLICA IDENTITY FULL", "shop.audit_log")  # fmt: skip
    source.execute("INSERT INTO shop.audit_log VALUES (now(), 'kept in raw')")
    source.commit()
    replicator.run_once()
    results = {r.table: r for r in job.run()}
    assert "no primary key at the source" in results["audit_log"].error
    assert results["audit_log"].summary().startswith("audit_log: STOPPED: no primary key")
    assert all(r.error is None for name, r in results.items() if name != "audit_log")
    assert_silver_equals_source(lake_settings, source)


def test_a_table_that_fails_stops_alone(replicator, job, source, lake_settings, monkeypatch) -> None:
    """Whatever stops one table (here a failure injected into its run) is its result, named with
    the innermost cause and the command that carries on; the tables before and after it are exact."""
    apply = SilverJob._apply

    def failing(self, design, manifests, full_refresh):
        if design.name == "addresses":
            raise RuntimeError("disk full")
        return apply(self, design, manifests, full_refresh)

    monkeypatch.setattr(SilverJob, "_apply", failing)
    replicator.run_once()
    results = {r.table: r for r in job.run()}
    assert {name for name, r in results.items() if r.error} == {"addresses"}
    assert results["addresses"].error.startswith("RuntimeError: disk full (the log has the whole error")
    assert "`sandbox lakehouse --table addresses` carries on" in results["addresses"].error
    assert_silver_equals_source(lake_settings, source, [t for t in TABLES if t != "addresses"])


def test_a_table_whose_name_the_catalog_refuses_stops_alone(replicator, job, source, lake_settings) -> None:
    """S3 Tables takes lowercase letters, digits and underscores; every profile keeps its rule."""
    publish(source, 'CREATE TABLE shop."Gift Cards" (code text PRIMARY KEY)', 'shop."Gift Cards"')
    replicator.run_once()
    results = {r.table: r for r in job.run()}
    assert {name for name, r in results.items() if r.error} == {"Gift Cards"}
    assert "the table's name 'Gift Cards' is not one the Iceberg catalog takes" in results["Gift Cards"].error
    assert_silver_equals_source(lake_settings, source)


def test_any_column_name_reaches_silver_as_the_source_names_it(replicator, job, source, lake_settings) -> None:
    """Names like the pipeline's own, with dots, quotes and backticks, case twins, unicode, keyed by
    `_id`: silver holds each as the source does, through a snapshot, an update leaving a large
    value untouched, and a delete."""
    columns = ", ".join(sql.Identifier(name).as_string(source) + " text" for name in ODD_NAMES)
    publish(source, f'CREATE TABLE shop.odd_moves ("_id" int PRIMARY KEY, {columns}, "_big" text)',
            'shop.odd_moves')  # fmt: skip
    big = "".join(f"{i * 7919 % 10007:05d}" for i in range(4000))  # stored apart: updates leave it unsent
    values = [f"{name}!" for name in ODD_NAMES]
    for key in (1, 2, 3):
        source.execute(f'INSERT INTO shop.odd_moves VALUES ({key}, {", ".join(["%s"] * len(values))}, %s)',
                       (*values, big))  # fmt: skip
    source.commit()
    replicator.run_once()
    assert not [r.error for r in job.run() if r.error]
    source.execute('UPDATE shop.odd_moves SET "_op" = \'pull\', "Name" = \'N\', "a.b" = NULL WHERE "_id" = 1')
    source.execute('DELETE FROM shop.odd_moves WHERE "_id" = 2')
    source.commit()
    replicator.run_once()
    results = {r.table: r for r in job.run()}
    assert results["odd_moves"].error is None and results["odd_moves"].mode == "merge"
    with source.cursor() as cursor:
        cursor.execute("SELECT * FROM shop.odd_moves")
        names = [d.name for d in cursor.description]
        expected = {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}
    assert expected[1]["_op"] == "pull" and expected[1]["_big"] == big
    assert silver_rows(lake_settings, "odd_moves", "_id") == expected


def test_dates_and_times_before_1582_reach_silver_as_they_are(replicator, job, source, lake_settings) -> None:
    """Postgres, the raw zone and Iceberg count days in the proleptic Gregorian calendar; so does silver."""
    publish(source, "CREATE TABLE shop.annals (annal_id int PRIMARY KEY, day date, at timestamp, at_utc timestamptz)",
            "shop.annals")  # fmt: skip
    source.execute("INSERT INTO shop.annals VALUES (1, '1500-03-01', '1200-01-01 12:00', '0800-06-01 00:00Z'),"
                   " (2, '0001-01-01', '1582-10-10 00:00', '1582-10-04 23:59:59.999999Z')")  # fmt: skip
    source.commit()
    replicator.run_once()
    results = {r.table: r for r in job.run()}
    assert results["annals"].error is None
    expected = {row[0]: row for row in source.execute("SELECT annal_id, day, at, at_utc FROM shop.annals")}
    silver = silver_rows(lake_settings, "annals", "annal_id")
    assert {k: (k, r["day"], r["at"], r["at_utc"]) for k, r in silver.items()} == expected


def test_renamed_and_re_added_columns_hold_the_source_values(replicator, job, source, lake_settings) -> None:
    """A rename keeps the column's values under its new name; a column dropped and added again
    under the same name is a new column, empty for old rows, never its dropped values again.
    (The name the source renamed away stays in silver for the models that read it, empty.)"""
    publish(source, "CREATE TABLE shop.notes (note_id int PRIMARY KEY, body text, tag text)", "shop.notes")
    source.execute("INSERT INTO shop.notes VALUES (1, 'one', 'a'), (2, 'two', 'b')")
    source.commit()
    replicator.run_once()
    job.run()
    source.execute("ALTER TABLE shop.notes RENAME COLUMN body TO text_body")
    source.execute("ALTER TABLE shop.notes DROP COLUMN tag")
    source.execute("ALTER TABLE shop.notes ADD COLUMN tag text")
    source.execute("INSERT INTO shop.notes VALUES (3, 'three', 'c')")
    source.commit()
    replicator.run_once()
    results = {r.table: r for r in job.run()}
    assert results["notes"].error is None
    silver = silver_rows(lake_settings, "notes", "note_id")
    assert {k: (row["text_body"], row["tag"]) for k, row in silver.items()} == {
        1: ("one", None),
        2: ("two", None),
        3: ("three", "c"),
    }
    assert {row["body"] for row in silver.values()} == {None}
