"""The native engine against real Postgres and S3: the raw zone, with its ops applied in
commit order, always equals the source exactly: after the snapshot, after ticks, after a
schema change, and after the replicator is killed at any step and run again."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import sql

from services.platform.clients import Role, postgres_connect
from services.platform.local.supervisor import wait_until
from services.replication.errors import ReplicationError
from services.replication.native import NativeEngine
from services.source.tables import TABLES
from services.source.tick import tick
from tests.exotic_types import ODD_NAMES, change_exotic_table, exotic_rows_as_text, publish_exotic_table
from tests.fixed_time import TICK_AT
from tests.replication.conftest import apply_ops, assert_raw_equals_source, raw_state


def test_the_snapshot_equals_the_source(engine, source) -> None:
    result = engine.run_once()
    assert [b.kind for b in result.batches] == ["snapshot"]
    assert result.batches[0].tables["orders"].rows == 300
    assert_raw_equals_source(engine, source, TABLES)


def test_a_ticks_changes_arrive_with_their_ops_in_commit_order(engine, source) -> None:
    engine.run_once()
    changes = tick(source, orders=40, seed=3, at=TICK_AT)
    source.commit()
    result = engine.run_once()
    assert [b.kind for b in result.batches] == ["changes"]
    ops = result.batches[0].tables["orders"].ops
    assert ops["insert"] == changes.inserted["orders"]
    assert ops["delete"] == changes.deleted["orders"]
    assert ops["update"] == changes.updated["orders"]
    assert result.batches[0].tables["order_items"].ops["delete"] == changes.deleted["order_items"]
    raw = engine.raw.read_table("orders")
    lsns = [(r["_lsn"], r["_seq"]) for r in raw.to_pylist() if r["_op"] != "snapshot"]
    assert lsns == sorted(lsns)
    assert_raw_equals_source(engine, source, TABLES)


def test_a_rerun_after_success_writes_nothing(engine, source) -> None:
    engine.run_once()
    tick(source, orders=10, seed=4, at=TICK_AT)
    source.commit()
    engine.run_once()
    before = [m.batch_id for m in engine.raw.manifests()]
    assert engine.run_once().batches == []
    assert [m.batch_id for m in engine.raw.manifests()] == before


def test_many_ticks_in_small_batches_stay_exact(engine_settings, source) -> None:
    small = engine_settings.model_copy(
        update={"replication": engine_settings.replication.model_copy(update={"batch_changes": 50})}
    )
    engine = NativeEngine(small, database=source.info.dbname)
    engine.run_once()
    for seed in range(3):
        tick(source, orders=30, seed=seed, at=TICK_AT)
        source.commit()
    assert len(engine.run_once().batches) == 3  # a batch never splits a transaction: one per tick
    assert_raw_equals_source(engine, source, TABLES)


def test_a_new_source_column_flows_into_later_files(engine, source) -> None:
    engine.run_once()
    tick(source, orders=20, seed=6, drift=True, at=TICK_AT)
    source.commit()
    engine.run_once()
    customers = engine.raw.read_table("customers")
    assert "loyalty_tier" in customers.column_names
    tiers = [r["loyalty_tier"] for r in customers.to_pylist() if r["_op"] != "snapshot"]
    assert any(tiers)
    assert_raw_equals_source(engine, source, ["customers"])


def test_every_column_type_survives_snapshot_and_change_capture(engine, source) -> None:
    source.execute(
        """CREATE TABLE shop.type_zoo (
            id int PRIMARY KEY, small smallint, big bigint, exact numeric(38, 10), loose numeric,
            ratio double precision, flag boolean, name text, code char(3), label varchar(20),
            at timestamptz, local_at timestamp, day date, clock time, doc jsonb, ident uuid,
            blob bytea, words text[], counts int[])"""
    )
    source.execute("ALTER PUBLICATION shop_cdc ADD TABLE shop.type_zoo")
    rows = [
        (
            1,
            32767,
            9223372036854775807,
            "1234567890123456789012345678.0123456789",
            "1e-40",
            1.5e308,
            True,
            'Zoë 東京 🚀, "quoted"\nnew line',
            "ab",
            "",
            datetime(2026, 1, 1, 23, 59, 59, 999999, tzinfo=UTC),
            datetime(1999, 12, 31, 0, 0),
            "2024-02-29",
            "13:45:00.5",
            '{"k": [1, "ü"], "n": null}',
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            b"\x00\xffbytes",
            ["a", None, "b c", "{}"],
            [1, None, -3],
        ),
        (
            2,
            -32768,
            -9223372036854775808,
            "-0.0000000001",
            "123456789012345678901234567890.5",
            -0.0,
            False,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            [],
            None,
        ),
    ]
    insert = "INSERT INTO shop.type_zoo VALUES (" + ", ".join(["%s"] * 19) + ")"
    for row in rows:
        source.execute(insert, row)
    source.commit()
    engine.run_once()  # rows 1 and 2 through the snapshot (ADBC, binary COPY)
    for row in rows:  # the same values again, as 11 and 12, through change capture (pgoutput text)
        source.execute(insert, (row[0] + 10, *row[1:]))
    source.execute("UPDATE shop.type_zoo SET name = 'changed ✓', words = '{x}' WHERE id = 1")
    source.execute("INSERT INTO shop.type_zoo (id, exact) VALUES (3, 99.5)")
    source.commit()
    engine.run_once()
    assert_raw_equals_source(engine, source, ["type_zoo"])
    raw = apply_ops(engine.raw.read_table("type_zoo"), "id")
    assert raw[1]["name"] == "changed ✓" and raw[1]["blob"] == b"\x00\xffbytes"
    assert str(raw[2]["loose"]) == str(raw[12]["loose"]) == "123456789012345678901234567890.5"
    assert raw[2]["code"] is None and raw[11]["code"] == raw[1]["code"] == "ab "  # char(3) keeps its padding


def large(seed: int) -> str:
    """Incompressible text far beyond the TOAST threshold (~2 kB): Postgres stores it out of line."""
    return random.Random(seed).randbytes(6000).hex()


def test_large_values_an_update_leaves_untouched_are_marked_unchanged_not_null(engine, source) -> None:
    source.execute("CREATE TABLE shop.toast_zoo (id int PRIMARY KEY, n int, t text, j jsonb, a text[], b bytea)")
    source.execute("ALTER PUBLICATION shop_cdc ADD TABLE shop.toast_zoo")
    insert = "INSERT INTO shop.toast_zoo VALUES (%s, 0, %s, %s, %s, %s)"

    def values(seed: int) -> tuple:
        blob = bytes.fromhex(large(seed + 3))
        return large(seed), json.dumps({"blob": large(seed + 1)}), [large(seed + 2), None], blob

    source.execute(insert, (1, *values(1)))
    source.commit()
    engine.run_once()  # row 1 through the snapshot
    source.execute(insert, (2, *values(5)))
    source.commit()
    source.execute("UPDATE shop.toast_zoo SET n = n + 1")  # every large value untouched
    source.execute("UPDATE shop.toast_zoo SET t = %s WHERE id = 2", (large(9),))
    source.commit()
    source.execute("UPDATE shop.toast_zoo SET n = n + 1 WHERE id = 2")  # t is untouched again, at its new value
    source.execute("UPDATE shop.toast_zoo SET id = 3 WHERE id = 1")  # a key change keeps the old key's values
    source.execute("UPDATE shop.toast_zoo SET j = NULL, a = '{}' WHERE id = 2")
    source.commit()
    batches = engine.run_once().batches
    assert_raw_equals_source(engine, source, ["toast_zoo"])
    assert set().union(*(b.tables["toast_zoo"].unchanged for b in batches)) == {"t", "j", "a", "b"}
    rows = engine.raw.read_table("toast_zoo").to_pylist()
    untouched = [r for r in rows if r["_unchanged"]]
    assert {r["_op"] for r in untouched} == {"update", "insert"}  # the insert is the key change's
    assert all(r[c] is None for r in untouched for c in r["_unchanged"])


def test_a_table_joining_the_publication_is_copied_then_followed(engine, source) -> None:
    engine.run_once()
    source.execute("CREATE TABLE shop.gift_cards (code text PRIMARY KEY, balance numeric(8, 2))")
    source.execute("INSERT INTO shop.gift_cards VALUES ('A', 10), ('B', 20)")  # rows from before it was published
    source.execute("ALTER PUBLICATION shop_cdc ADD TABLE shop.gift_cards")
    source.execute("INSERT INTO shop.gift_cards VALUES ('C', 30)")
    source.commit()
    tick(source, orders=5, seed=21, at=TICK_AT)
    source.commit()
    batches = engine.run_once().batches
    copied = [b for b in batches if b.kind == "snapshot"]
    assert [sorted(b.tables) for b in copied] == [["gift_cards"]]
    assert batches[-1].schemas["gift_cards"].key == ["code"]
    source.execute("UPDATE shop.gift_cards SET balance = 0 WHERE code = 'A'")
    source.commit()
    assert [b.kind for b in engine.run_once().batches] == ["changes"]
    assert_raw_equals_source(engine, source, [*TABLES, "gift_cards"])


def test_a_column_added_with_a_default_copies_its_table_anew(engine, source) -> None:
    """Existing rows take the default without a change event: only a new copy is exact."""
    engine.run_once()
    source.execute("ALTER TABLE shop.products ADD COLUMN origin text NOT NULL DEFAULT 'unknown'")
    source.execute("UPDATE shop.products SET origin = 'EU' WHERE product_id = 1")
    source.commit()
    batches = engine.run_once().batches
    assert [sorted(b.tables) for b in batches if b.kind == "snapshot"] == [["products"]]
    assert_raw_equals_source(engine, source, TABLES)
    source.execute("ALTER TABLE shop.products DROP COLUMN origin")
    source.execute("ALTER TABLE shop.products ADD COLUMN origin text DEFAULT 'moved'")  # the same name, a new column
    source.commit()
    assert any(b.kind == "snapshot" for b in engine.run_once().batches)
    assert_raw_equals_source(engine, source, TABLES)
    source.execute("ALTER TABLE shop.products ADD COLUMN note text")  # no default: existing rows are NULL, as in raw
    source.commit()
    assert [b.kind for b in engine.run_once().batches] == []
    assert_raw_equals_source(engine, source, TABLES)


BEYOND_RAW_TYPES = {  # a value the source accepts, its column type, the text the raw zone keeps
    "'infinity'": ("timestamptz", "infinity"),
    "'-infinity'": ("timestamp", "-infinity"),
    "'10000-01-01 00:00:00+00'": ("timestamptz", "10000-01-01 00:00:00+00"),
    "'0044-03-15 12:00:00 BC'": ("timestamp", "0044-03-15 12:00:00 BC"),
    "'infinity'::date": ("date", "infinity"),
    "'NaN'": ("numeric(10, 2)", "NaN"),
    "'{{1,2},{3,4}}'": ("int[]", "{{1,2},{3,4}}"),
    "'{1.50,NaN}'": ("numeric(6, 2)[]", "{1.50,NaN}"),
}


def test_values_beyond_the_raw_types_are_kept_as_text_never_approximated(engine, source) -> None:
    """Through the snapshot and change capture alike: NULL in the column, the text in _unrepresentable."""
    columns = ", ".join(f"c{i} {kind}" for i, (kind, _) in enumerate(BEYOND_RAW_TYPES.values()))
    source.execute(f"CREATE TABLE shop.limits (id int PRIMARY KEY, {columns})")
    source.execute("ALTER PUBLICATION shop_cdc ADD TABLE shop.limits")
    values = ", ".join(BEYOND_RAW_TYPES)
    source.execute(f"INSERT INTO shop.limits VALUES (1, {values})")
    source.commit()
    engine.run_once()
    source.execute(f"INSERT INTO shop.limits VALUES (2, {values})")
    source.execute(  # the edges the raw types do hold, exactly
        "INSERT INTO shop.limits (id, c0, c1, c4, c5) VALUES"
        " (3, '0001-01-01 00:00:00+00', '9999-12-31 23:59:59.999999', '9999-12-31', 99999999.99)"
    )
    source.commit()
    engine.run_once()
    rows = {r["id"]: r for r in engine.raw.read_table("limits").to_pylist()}
    expected = {f"c{i}": text for i, (_, text) in enumerate(BEYOND_RAW_TYPES.values())}
    for key in (1, 2):
        assert dict(rows[key]["_unrepresentable"]) == expected, key
        assert all(rows[key][column] is None for column in expected)
    assert rows[3]["_unrepresentable"] is None
    assert (rows[3]["c0"], rows[3]["c1"]) == (datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999))
    assert str(rows[3]["c5"]) == "99999999.99"


def test_a_table_without_a_key_is_carried_and_postgres_refuses_its_updates(engine, source) -> None:
    """Without a key or REPLICA IDENTITY FULL, Postgres refuses the table's updates and deletes
    while it is published, so its inserts are all it can change: raw holds them (silver then names
    the table as keyless), and no other table stops."""
    source.execute("CREATE TABLE shop.audit_log (happened_at timestamptz, note text)")
    source.execute("ALTER PUBLICATION shop_cdc ADD TABLE shop.audit_log")
    source.execute("INSERT INTO shop.audit_log VALUES ('2026-06-15 09:00Z', 'kept')")
    source.commit()
    snapshot = engine.run_once().batches[0]
    assert (snapshot.kind, snapshot.tables["audit_log"].rows, snapshot.schemas["audit_log"].key) == ("snapshot", 1, [])
    assert snapshot.tables["orders"].rows > 0
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="does not have a replica identity"):
        source.execute("UPDATE shop.audit_log SET note = 'changed'")
    source.rollback()


def test_the_replica_identity_index_is_the_key(engine, source) -> None:
    source.execute("CREATE TABLE shop.skus (sku text NOT NULL, label text, id serial PRIMARY KEY)")
    source.execute("CREATE UNIQUE INDEX skus_sku ON shop.skus (sku)")
    source.execute("ALTER TABLE shop.skus REPLICA IDENTITY USING INDEX skus_sku")
    source.execute("ALTER PUBLICATION shop_cdc ADD TABLE shop.skus")
    source.commit()
    assert engine.run_once().batches[0].schemas["skus"].key == ["sku"]


def test_tables_of_one_name_in_two_schemas_stay_two_tables(engine, source) -> None:
    """A table outside the home schema is named <schema>__<table> in every hop: audit.ledger beside
    shop.ledger is audit__ledger. Two tables that would still share a name (shop.audit__ledger
    too) stop alone, named with the fix; once one leaves the publication, the other is copied
    whole, rows written meanwhile included."""
    source.execute("CREATE SCHEMA audit")
    for schema in ("shop", "audit"):
        source.execute(f"CREATE TABLE {schema}.ledger (entry_id int PRIMARY KEY, note text)")
        source.execute(f"INSERT INTO {schema}.ledger VALUES (1, '{schema}')")
        source.execute(f"ALTER PUBLICATION shop_cdc ADD TABLE {schema}.ledger")
    source.commit()
    assert engine.run_once().stopped == {}
    assert raw_state(engine, "ledger", "entry_id") == {1: {"entry_id": 1, "note": "shop"}}
    assert raw_state(engine, "audit__ledger", "entry_id") == {1: {"entry_id": 1, "note": "audit"}}
    source.execute("CREATE TABLE shop.audit__ledger (entry_id int PRIMARY KEY, note text)")
    source.execute("INSERT INTO shop.audit__ledger VALUES (1, 'clash')")
    source.execute("ALTER PUBLICATION shop_cdc ADD TABLE shop.audit__ledger")
    source.commit()
    clash = engine.run_once()
    assert set(clash.stopped) == {"shop.audit__ledger", "audit.ledger"}
    assert "audit.ledger and shop.audit__ledger would both be named 'audit__ledger'" in clash.stopped["audit.ledger"]
    assert "ALTER PUBLICATION shop_cdc DROP TABLE shop.audit__ledger" in clash.stopped["shop.audit__ledger"]
    assert clash.summary().endswith("; 2 tables STOPPED")
    source.execute("UPDATE audit.ledger SET note = 'while stopped'")
    source.execute("ALTER PUBLICATION shop_cdc DROP TABLE shop.audit__ledger")
    source.commit()
    assert engine.run_once().stopped == {}
    assert raw_state(engine, "audit__ledger", "entry_id") == {1: {"entry_id": 1, "note": "while stopped"}}
    assert raw_state(engine, "ledger", "entry_id") == {1: {"entry_id": 1, "note": "shop"}}


def test_any_column_name_reaches_the_raw_zone_without_touching_its_own_columns(engine, source) -> None:
    """Names like the raw zone's own, with dots, quotes, case twins, unicode: each is a column of its
    own (escaped where it must be, raw_zone.raw_column), through the snapshot, changes and an
    untouched large value, and the raw zone's `_op`, `_lsn` still mean what they say."""
    columns = ", ".join(sql.Identifier(name).as_string(source) + " text" for name in ODD_NAMES)
    source.execute(f'CREATE TABLE shop.moves ("_id" int PRIMARY KEY, {columns}, "_big" text)')
    big = "".join(f"{i * 7919 % 10007:05d}" for i in range(4000))  # 20 kB that compresses badly: stored apart
    values = [f"{name}!" for name in ODD_NAMES]
    source.execute(f"INSERT INTO shop.moves VALUES (1, {', '.join(['%s'] * len(values))}, %s)", (*values, big))
    source.execute("ALTER PUBLICATION shop_cdc ADD TABLE shop.moves")
    source.commit()
    assert engine.run_once().stopped == {}
    source.execute('UPDATE shop.moves SET "_op" = \'pull\', "Name" = \'N\' WHERE "_id" = 1')  # _big untouched
    source.execute(f"INSERT INTO shop.moves VALUES (2, {', '.join(['NULL'] * len(values))}, 'small')")
    source.commit()
    changes = engine.run_once()
    assert changes.batches[-1].tables["moves"].unchanged == ["___big"]
    raw = engine.raw.read_table("moves")
    assert {"___op", "___lsn", "____raw", "__a%2Eb", "Name", "name", "___big"} <= set(raw.column_names)
    assert {op for op in raw.column("_op").to_pylist()} == {"snapshot", "update", "insert"}
    expected = dict(zip(["_id", *ODD_NAMES, "_big"], [1, *values, big], strict=True)) | {"_op": "pull", "Name": "N"}
    assert raw_state(engine, "moves", "_id") == {
        1: expected,
        2: {"_id": 2, **dict.fromkeys(ODD_NAMES), "_big": "small"},
    }


def test_any_type_without_an_arrow_type_arrives_as_its_exact_text(engine, source) -> None:
    """Such a column never stops replication: the snapshot and the changes both carry the text
    Postgres prints for the value, NULL stays NULL, and the shop's tables flow beside it."""
    publish_exotic_table(source)
    engine.run_once()
    change_exotic_table(source)
    tick(source, orders=5, seed=22, at=TICK_AT)
    source.commit()
    engine.run_once()
    expected = exotic_rows_as_text(source)
    assert apply_ops(engine.raw.read_table("exotic"), "id") == expected
    assert expected[1]["term"] == "-00:05:00" and expected[2]["mood"] is None
    assert_raw_equals_source(engine, source, TABLES)


def test_a_transaction_left_open_anywhere_is_named_instead_of_waited_on_forever(
    engine_settings, source, settings
) -> None:
    """Postgres creates a slot only after every transaction holding an id has ended, in every
    database: one session left idle in transaction after a write (here in another database)
    would make the snapshot wait without end. The run gives up after `slot_wait_seconds`,
    names the session, and writes nothing; once it ends, the same run snapshots."""
    patient = engine_settings.model_copy(
        update={"replication": engine_settings.replication.model_copy(update={"slot_wait_seconds": 2.0})}
    )
    engine = NativeEngine(patient, database=source.info.dbname)
    with postgres_connect(settings, "postgres", Role.ADMIN, application_name="forgotten-session") as forgotten:
        forgotten.execute("CREATE TEMP TABLE scratch (id int)")  # a write: the transaction holds an id
        with pytest.raises(
            ReplicationError, match=r"waited 2 s .*application forgotten-session, user \w+, idle in transaction"
        ):
            engine.run_once()
        assert engine.raw.manifests() == []
        forgotten.rollback()
    assert engine.run_once().batches[0].kind == "snapshot"


def test_a_lost_slot_is_a_clear_error_and_resync_recovers(engine, source, settings) -> None:
    engine.run_once()
    with postgres_connect(settings, "postgres", Role.ADMIN, autocommit=True) as admin:
        admin.execute("SELECT pg_drop_replication_slot(%s)", (engine.slot,))
    tick(source, orders=10, seed=8, at=TICK_AT)
    source.commit()
    with pytest.raises(ReplicationError, match=r"replication slot .* is gone.*sandbox replicate --resync"):
        engine.run_once()
    result = engine.run_once(resync=True)
    assert result.batches[0].kind == "snapshot"
    assert_raw_equals_source(engine, source, TABLES)


CRASH_RUN = textwrap.dedent("""
    import os, signal, sys
    from services.platform.settings import load_settings
    from services.replication.native import NativeEngine
    database, slot, point = sys.argv[1:4]
    settings = load_settings()
    settings = settings.model_copy(update={"replication": settings.replication.model_copy(update={"slot": slot})})
    def step(name):
        if name == point:
            os.kill(os.getpid(), signal.SIGKILL)
    NativeEngine(settings, database=database, step=step).run_once()
""")


@pytest.mark.parametrize("point", ["snapshot_files", "batch_files", "manifest"])
def test_a_kill_at_any_step_then_a_rerun_loses_and_doubles_nothing(engine, source, point) -> None:
    def run_and_kill() -> None:
        killed = subprocess.run(
            [sys.executable, "-c", CRASH_RUN, source.info.dbname, engine.slot, point],
            env=os.environ,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr

    if point != "snapshot_files":
        engine.run_once()
        tick(source, orders=30, seed=11, at=TICK_AT)
        source.commit()
    run_and_kill()
    tick(source, orders=10, seed=12, at=TICK_AT)  # more changes arrive while the replicator is down
    source.commit()
    engine.run_once()
    assert engine.run_once().batches == []
    assert_raw_equals_source(engine, source, TABLES)
    seen = set()
    for manifest in engine.raw.manifests():
        for table in TABLES:
            rows = engine.raw.read_table(table, [manifest])
            if rows is not None and manifest.kind == "changes":
                ids = {(r["_lsn"], r["_seq"]) for r in rows.to_pylist()}
                assert not ids & seen, "a change was written twice"
                seen |= ids


def with_retries(settings, attempts: int):
    replication = settings.replication.model_copy(update={"retry_attempts": attempts, "retry_backoff_seconds": 0.1})
    return settings.model_copy(update={"replication": replication})


def confirmed_lsn(settings, slot: str) -> str:
    with postgres_connect(settings, "postgres", Role.ADMIN) as admin:
        return admin.execute(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s", (slot,)
        ).fetchone()[0]


def test_an_unreachable_s3_is_retried_then_named_and_nothing_advances(engine_settings, source) -> None:
    NativeEngine(engine_settings, database=source.info.dbname).run_once()
    tick(source, orders=10, seed=13, at=TICK_AT)
    source.commit()
    before = confirmed_lsn(engine_settings, engine_settings.replication.slot)
    dead_s3 = with_retries(engine_settings, 2).model_copy(
        update={"s3": engine_settings.s3.model_copy(update={"endpoint_url": "http://127.0.0.1:9"})}
    )
    with pytest.raises(ReplicationError, match=r"gave up after 2 attempts.*http://127\.0\.0\.1:9"):
        NativeEngine(dead_s3, database=source.info.dbname).run_once()
    assert confirmed_lsn(engine_settings, engine_settings.replication.slot) == before
    engine = NativeEngine(engine_settings, database=source.info.dbname)
    assert engine.run_once().batches
    assert_raw_equals_source(engine, source, TABLES)


def test_s3_failing_mid_batch_is_retried_without_loss_or_doubles(engine_settings, source) -> None:
    from botocore.exceptions import EndpointConnectionError

    failures = []

    def flaky_s3(point: str) -> None:
        if point == "batch_files" and len(failures) < 2:
            failures.append(point)
            raise EndpointConnectionError(endpoint_url=engine_settings.s3.endpoint_url)

    engine = NativeEngine(with_retries(engine_settings, 3), database=source.info.dbname, step=flaky_s3)
    engine.run_once()
    tick(source, orders=20, seed=14, at=TICK_AT)
    source.commit()
    assert len(engine.run_once().batches) == 1 and len(failures) == 2
    assert_raw_equals_source(engine, source, TABLES)


def test_a_dropped_postgres_connection_mid_run_is_retried(engine_settings, source, settings) -> None:
    cut = []

    def drop_connection(point: str) -> None:
        if point == "batch_files" and not cut:
            cut.append(point)
            with postgres_connect(settings, "postgres", Role.ADMIN, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND usename = %s",
                    (source.info.dbname, settings.postgres.replication_user),
                )

    engine = NativeEngine(with_retries(engine_settings, 3), database=source.info.dbname, step=drop_connection)
    engine.run_once()
    tick(source, orders=20, seed=15, at=TICK_AT)
    source.commit()
    engine.run_once()
    assert cut and engine.run_once().batches == []
    assert_raw_equals_source(engine, source, TABLES)


def test_a_truncate_empties_the_table_downstream(engine, source) -> None:
    engine.run_once()
    source.execute("TRUNCATE shop.payments")
    source.commit()
    batch = engine.run_once().batches[0]
    assert batch.tables["payments"].ops == {"truncate": 1}
    assert apply_ops(engine.raw.read_table("payments"), "payment_id") == {}
    assert_raw_equals_source(engine, source, TABLES)


def test_follow_mode_replicates_changes_as_they_commit(engine, source) -> None:
    stop = threading.Event()
    follower = threading.Thread(target=engine.follow, args=(stop.is_set,))
    follower.start()
    try:
        assert wait_until(lambda: len(engine.raw.manifests()) == 1, timeout=60)  # the snapshot
        tick(source, orders=15, seed=21, at=TICK_AT)
        committed = time.monotonic()
        source.commit()
        assert wait_until(lambda: len(engine.raw.manifests()) == 2, timeout=60)
        # The lag is measured from the commit to the batch: never negative, never more than has passed.
        assert 0 <= engine.raw.manifests()[-1].lag_seconds <= time.monotonic() - committed + 1
    finally:
        stop.set()
        follower.join(60)
    assert not follower.is_alive()
    assert_raw_equals_source(engine, source, TABLES)
