"""What the publication says is what reaches the raw zone: its column lists, its row filters,
generated columns as it publishes them, and tables under any name Postgres allows."""

from __future__ import annotations

from datetime import date

from tests.replication.conftest import apply_ops, raw_state


def raw_columns(engine, table: str) -> set[str]:
    rows = engine.raw.read_table(table)
    return {name for name in rows.column_names if not name.startswith("_")}


def publish(source, ddl: str, table: str, published: str) -> None:
    source.execute(ddl)
    source.execute(f"ALTER PUBLICATION shop_cdc ADD TABLE {published}")
    source.commit()


def test_a_column_the_column_list_leaves_out_never_leaves_the_source(engine, source) -> None:
    publish(
        source,
        "CREATE TABLE shop.members (member_id int PRIMARY KEY, name text, ssn text)",
        "members",
        "shop.members (member_id, name)",
    )
    source.execute("INSERT INTO shop.members VALUES (1, 'Ada', '078-05-1120'), (2, 'Bo', '219-09-9999')")
    source.commit()
    engine.run_once()  # the snapshot
    source.execute("INSERT INTO shop.members VALUES (3, 'Cy', '457-55-5462')")
    source.execute("UPDATE shop.members SET name = 'Ada L.', ssn = '000-00-0000' WHERE member_id = 1")
    source.commit()
    engine.run_once()  # the changes
    assert raw_columns(engine, "members") == {"member_id", "name"}
    assert raw_state(engine, "members", "member_id") == {
        1: {"member_id": 1, "name": "Ada L."},
        2: {"member_id": 2, "name": "Bo"},
        3: {"member_id": 3, "name": "Cy"},
    }


def test_a_column_the_list_takes_in_later_arrives_with_the_values_it_already_held(engine, source) -> None:
    publish(
        source,
        "CREATE TABLE shop.members (member_id int PRIMARY KEY, name text, tier text)",
        "members",
        "shop.members (member_id, name)",
    )
    source.execute("INSERT INTO shop.members VALUES (1, 'Ada', 'gold'), (2, 'Bo', NULL)")
    source.commit()
    engine.run_once()
    source.execute("ALTER PUBLICATION shop_cdc SET TABLE shop.members, shop.customers, shop.addresses,"
                   " shop.products, shop.orders, shop.order_items, shop.payments")  # fmt: skip
    source.commit()
    engine.run_once()
    assert raw_state(engine, "members", "member_id") == {
        1: {"member_id": 1, "name": "Ada", "tier": "gold"},
        2: {"member_id": 2, "name": "Bo", "tier": None},
    }


def test_rows_the_row_filter_excludes_never_arrive_and_a_row_leaving_it_is_deleted(engine, source) -> None:
    publish(
        source,
        "CREATE TABLE shop.regions (region_id int PRIMARY KEY, country text NOT NULL, name text);"
        " ALTER TABLE shop.regions REPLICA IDENTITY FULL",  # Postgres: a filter's columns are in the identity
        "regions",
        "shop.regions WHERE (country = 'FR')",
    )
    source.execute("INSERT INTO shop.regions VALUES (1, 'FR', 'Alsace'), (2, 'DE', 'Bayern'), (3, 'FR', 'Corse')")
    source.commit()
    engine.run_once()
    assert set(raw_state(engine, "regions", "region_id")) == {1, 3}
    source.execute("INSERT INTO shop.regions VALUES (4, 'DE', 'Hessen'), (5, 'FR', 'Bretagne')")
    source.execute("UPDATE shop.regions SET country = 'BE' WHERE region_id = 3")  # leaves the filter
    source.execute("UPDATE shop.regions SET country = 'FR' WHERE region_id = 2")  # enters it
    source.commit()
    engine.run_once()
    state = raw_state(engine, "regions", "region_id")
    assert {k: v["name"] for k, v in state.items()} == {1: "Alsace", 2: "Bayern", 5: "Bretagne"}


def test_a_generated_column_is_published_as_the_publication_says(engine, source) -> None:
    """Postgres 18 publishes stored generated columns only with `publish_generated_columns`:
    without it the column is not in raw at all (never a column of NULLs); with it, its values."""
    source.execute(
        "CREATE TABLE shop.parcels (parcel_id int PRIMARY KEY, grams int,"
        " kilos numeric GENERATED ALWAYS AS (grams / 1000.0) STORED)"
    )
    source.execute("INSERT INTO shop.parcels (parcel_id, grams) VALUES (1, 1500)")
    source.execute("ALTER PUBLICATION shop_cdc ADD TABLE shop.parcels")
    source.commit()
    engine.run_once()
    source.execute("INSERT INTO shop.parcels (parcel_id, grams) VALUES (2, 250)")
    source.commit()
    engine.run_once()
    assert raw_columns(engine, "parcels") == {"parcel_id", "grams"}
    source.execute("ALTER PUBLICATION shop_cdc SET (publish_generated_columns = stored)")
    source.execute("UPDATE shop.parcels SET grams = 3000 WHERE parcel_id = 1")
    source.commit()
    engine.run_once()
    kilos = {k: v["kilos"] for k, v in raw_state(engine, "parcels", "parcel_id").items()}
    assert kilos == dict(source.execute("SELECT parcel_id, kilos::text FROM shop.parcels").fetchall())


def test_a_table_whose_name_needs_quotes_replicates(engine, source) -> None:
    publish(
        source,
        'CREATE TABLE shop."Gift Cards" ("Code" text PRIMARY KEY, balance int)',
        "Gift Cards",
        'shop."Gift Cards"',
    )
    source.execute("INSERT INTO shop.\"Gift Cards\" VALUES ('A', 10)")
    source.commit()
    engine.run_once()
    source.execute('UPDATE shop."Gift Cards" SET balance = 5 WHERE "Code" = \'A\'')
    source.commit()
    engine.run_once()
    assert raw_state(engine, "Gift Cards", "Code") == {"A": {"Code": "A", "balance": 5}}


def test_a_partitioned_table_published_via_its_root_arrives_as_one_table(engine, source) -> None:
    """With `publish_via_partition_root`, the partitions' rows and changes (a row moving between
    partitions included) reach raw as the root table's."""
    source.execute(
        "CREATE TABLE shop.readings (reading_id int, taken_on date, value numeric, PRIMARY KEY (reading_id, taken_on))"
        " PARTITION BY RANGE (taken_on)"
    )
    source.execute(
        "CREATE TABLE shop.readings_2025 PARTITION OF shop.readings FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')"
    )
    source.execute(
        "CREATE TABLE shop.readings_2026 PARTITION OF shop.readings FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')"
    )
    source.execute("ALTER PUBLICATION shop_cdc ADD TABLE shop.readings")
    source.execute("ALTER PUBLICATION shop_cdc SET (publish_via_partition_root = true)")
    source.execute("INSERT INTO shop.readings VALUES (1, '2025-06-01', 1.5), (2, '2026-06-01', 2.5)")
    source.commit()
    first = engine.run_once().batches[0]
    assert {"readings_2025", "readings_2026"}.isdisjoint(first.tables) and first.tables["readings"].rows == 2
    assert first.schemas["readings"].key == ["reading_id", "taken_on"]
    source.execute("UPDATE shop.readings SET taken_on = '2026-02-01' WHERE reading_id = 1")  # to the other partition
    source.execute("INSERT INTO shop.readings VALUES (3, '2025-12-31', 3.5)")
    source.commit()
    engine.run_once()
    rows = apply_ops(engine.raw.read_table("readings"), ("reading_id", "taken_on"))
    assert {k: str(r["value"]) for k, r in rows.items()} == {
        (1, date(2026, 2, 1)): "1.5",
        (2, date(2026, 6, 1)): "2.5",
        (3, date(2025, 12, 31)): "3.5",
    }


def test_a_table_that_leaves_the_publication_is_named_as_retired(engine, source) -> None:
    publish(source, "CREATE TABLE shop.coupons (code text PRIMARY KEY)", "coupons", "shop.coupons")
    source.execute("INSERT INTO shop.coupons VALUES ('SPRING')")
    source.commit()
    assert engine.run_once().retired == []
    source.execute("ALTER PUBLICATION shop_cdc DROP TABLE shop.coupons")
    source.commit()
    result = engine.run_once()
    assert result.retired == ["coupons"] and "retired (no longer published): coupons" in result.summary()
    assert raw_state(engine, "coupons", "code") == {"SPRING": {"code": "SPRING"}}  # what raw holds is kept
