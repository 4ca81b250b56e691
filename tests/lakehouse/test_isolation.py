"""A table silver cannot process stops alone, named with why; every other table goes on exactly."""

from __future__ import annotations

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
    error's first line; the shop's tables, before and after it in the run, are exact."""
    publish(source, 'CREATE TABLE shop.odd_names (id int PRIMARY KEY, "a.b" text)', "shop.odd_names")
    source.execute("INSERT INTO shop.odd_names VALUES (1, 'x')")
    source.commit()
    replicator.run_once()
    results = {r.table: r for r in job.run()}
    stopped = {name for name, r in results.items() if r.error}
    assert stopped == {"odd_names"}
    assert "sandbox lakehouse --table odd_names" in results["odd_names"].error
    assert_silver_equals_source(lake_settings, source)
