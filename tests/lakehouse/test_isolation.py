"""A table silver cannot process stops alone, named with why; every other table goes on exactly."""

from __future__ import annotations

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


def test_a_table_spark_cannot_process_stops_alone(replicator, job, source, lake_settings) -> None:
    """A column whose name Spark reads as a path stops its table, named in the result with the
    column and the fix; the shop's tables, before and after it in the run, are exact."""
    publish(source, 'CREATE TABLE shop.odd_names (id int PRIMARY KEY, "a.b" text)', "shop.odd_names")
    source.execute("INSERT INTO shop.odd_names VALUES (1, 'x')")
    source.commit()
    replicator.run_once()
    results = {r.table: r for r in job.run()}
    stopped = {name for name, r in results.items() if r.error}
    assert stopped == {"odd_names"}
    assert "column 'a.b' has a dot or a backtick in its name" in results["odd_names"].error
    assert "rename it at the source, or leave it out of the publication's column list" in results["odd_names"].error
    assert_silver_equals_source(lake_settings, source)


def test_columns_differing_only_in_case_stop_their_table_alone(replicator, job, source, lake_settings) -> None:
    """Spark reads column names without case: one column would overwrite the other in silence."""
    publish(source, 'CREATE TABLE shop.labels (label_id int PRIMARY KEY, "Name" text, name text)', "shop.labels")
    source.execute("INSERT INTO shop.labels VALUES (1, 'Upper', 'lower')")
    source.commit()
    replicator.run_once()
    results = {r.table: r for r in job.run()}
    assert {name for name, r in results.items() if r.error} == {"labels"}
    assert "columns 'Name' and 'name' differ only in case" in results["labels"].error
    assert_silver_equals_source(lake_settings, source)


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
