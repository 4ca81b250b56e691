"""Small marts with known numbers (only the columns the dashboard reads), and what its charts must show.

`create_marts` writes them into a scratch schema named like dbt's marts; `create_loads`
writes a scratch lake schema's `_loads`. The EXPECTED_* values are worked out by hand
from the rows, not by the dashboard's own code.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.table import Table

D = Decimal

# order_date, orders, revenue (average_order_value and cumulative_revenue follow from them)
DAILY_REVENUE = [
    (date(2025, 3, 1), 3, D("120.50")),
    (date(2025, 3, 2), 2, D("80.25")),
    (date(2025, 3, 3), 4, D("200.00")),
]
EXPECTED_DAILY_DATES = ["2025-03-01", "2025-03-02", "2025-03-03"]
EXPECTED_DAILY_REVENUE = [120.5, 80.25, 200.0]
EXPECTED_CUMULATIVE_REVENUE = [120.5, 200.75, 400.75]

# product_id, product_name, category, units_sold, revenue; inserted in this (unranked) order
PRODUCTS = [
    (1, "Anvil", "tools", 3, D("90.00")),
    (2, "Bolt", "tools", 40, D("400.00")),
    (3, "Crate", "home", 2, D("15.50")),
    (4, "Drill", "tools", 9, D("1350.00")),
    (5, "Easel", "art", 5, D("250.00")),
    (6, "Flute", "music", 4, D("600.00")),
    (7, "Globe", "home", 6, D("180.00")),
    (8, "Harp", "music", 1, D("2100.00")),
    (9, "Ink", "art", 30, D("120.00")),
    (10, "Jug", "home", 12, D("96.00")),
    (11, "Kite", "toys", 7, D("210.00")),
    (12, "Lamp", "home", 8, D("480.00")),
]
EXPECTED_TOP_NAMES = ["Harp", "Drill", "Flute", "Lamp", "Bolt", "Easel", "Kite", "Globe", "Ink", "Jug"]
EXPECTED_TOP_REVENUE = [2100.0, 1350.0, 600.0, 480.0, 400.0, 250.0, 210.0, 180.0, 120.0, 96.0]

# cohort_month, months_since_first_order, cohort_size, customers, retention_rate, revenue
COHORTS = [
    (date(2025, 1, 1), 0, 10, 10, D("1.000000"), D("500.00")),
    (date(2025, 1, 1), 1, 10, 4, D("0.400000"), D("200.00")),
    (date(2025, 1, 1), 2, 10, 3, D("0.300000"), D("150.00")),
    (date(2025, 2, 1), 0, 5, 5, D("1.000000"), D("250.00")),
    (date(2025, 2, 1), 2, 5, 1, D("0.200000"), D("40.00")),  # nobody ordered in month 1: a gap
]
EXPECTED_COHORT_LABELS = ["2025-01", "2025-02"]
EXPECTED_COHORT_MONTHS = [0, 1, 2]
EXPECTED_RETENTION = [[1.0, 0.4, 0.3], [1.0, None, 0.2]]

# customer_id, lifetime_revenue, lifetime_orders, cohort_month
CUSTOMERS = [
    (1, D("500.00"), 3, date(2025, 1, 1)),
    (2, D("120.50"), 1, date(2025, 1, 1)),
    (3, D("0.00"), 0, None),  # no revenue order: not in the chart
    (4, D("75.25"), 2, date(2025, 2, 1)),
    (5, D("980.10"), 4, date(2025, 2, 1)),
]
EXPECTED_LTV = [980.1, 500.0, 120.5, 75.25]

# attempt_date, payment_method, attempts, failures (failure_rate = failures / attempts)
PAYMENTS = [
    (date(2025, 3, 1), "card", 10, 1),
    (date(2025, 3, 2), "card", 10, 3),
    (date(2025, 4, 5), "card", 5, 0),
    (date(2025, 3, 1), "paypal", 8, 2),
]
EXPECTED_FAILURES = {  # method -> (months, monthly failure rates)
    "card": (["2025-03-01", "2025-04-01"], [0.2, 0.0]),
    "paypal": (["2025-03-01"], [0.25]),
}

# event_hour, page_views, add_to_carts, checkouts, purchases
FUNNEL = [
    (datetime(2026, 1, 1, 10, tzinfo=UTC), 100, 30, 10, 5),
    (datetime(2026, 1, 1, 11, tzinfo=UTC), 50, 20, 8, 4),
    (datetime(2025, 12, 30, 9, tzinfo=UTC), 999, 99, 9, 9),  # older than the newest 24 hours
]
EXPECTED_FUNNEL = [150, 50, 18, 9]

# table_name, snapshot_id, loaded_at
LOADS = [
    ("customers", 222, datetime(2026, 1, 1, 11, tzinfo=UTC)),
    ("orders", 111, datetime(2026, 1, 1, 12, 30, tzinfo=UTC)),
]
EXPECTED_LOADS = [  # newest first
    ("orders", "2026-01-01T12:30:00+00:00", "Iceberg snapshot 111"),
    ("customers", "2026-01-01T11:00:00+00:00", "Iceberg snapshot 222"),
]


def _create(conn: psycopg.Connection, schema: str, table: str, columns: str, rows: list[tuple]) -> None:
    target = sql.Identifier(schema, table)
    conn.execute(sql.SQL("CREATE TABLE {} ({})").format(target, sql.SQL(columns)))
    placeholders = sql.SQL(", ").join(sql.Placeholder() * len(rows[0]))
    with conn.cursor() as cursor:
        cursor.executemany(sql.SQL("INSERT INTO {} VALUES ({})").format(target, placeholders), rows)


def create_marts(conn: psycopg.Connection, schema: str) -> None:
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    cumulative, daily = D(0), []
    for day, orders, revenue in DAILY_REVENUE:
        cumulative += revenue
        daily.append((day, orders, revenue, (revenue / orders).quantize(D("0.01")), cumulative))
    _create(
        conn,
        schema,
        "mart_daily_revenue",
        "order_date date PRIMARY KEY, orders bigint, revenue numeric(14,2), average_order_value numeric(14,2),"
        " cumulative_revenue numeric(14,2)",
        daily,
    )
    ranks = {p[0]: rank for rank, p in enumerate(sorted(PRODUCTS, key=lambda p: (-p[4], p[0])), start=1)}
    _create(
        conn,
        schema,
        "mart_product_performance",
        "product_id bigint PRIMARY KEY, product_name text, category text, units_sold bigint,"
        " revenue numeric(14,2), revenue_rank bigint",
        [(*p, ranks[p[0]]) for p in PRODUCTS],
    )
    _create(
        conn,
        schema,
        "mart_customer_cohorts",
        "cohort_month date, months_since_first_order integer, cohort_size bigint, customers bigint,"
        " retention_rate numeric(9,6), revenue numeric(14,2)",
        COHORTS,
    )
    _create(
        conn,
        schema,
        "mart_customer_lifetime_value",
        "customer_id bigint PRIMARY KEY, lifetime_revenue numeric(14,2), lifetime_orders bigint, cohort_month date",
        CUSTOMERS,
    )
    payments = [
        (day, method, n, failed, (D(failed) / n).quantize(D("0.000001"))) for day, method, n, failed in PAYMENTS
    ]
    _create(
        conn,
        schema,
        "mart_payment_failure_rates",
        "attempt_date date, payment_method text, attempts bigint, failures bigint, failure_rate numeric(9,6)",
        payments,
    )
    _create(
        conn,
        schema,
        "mart_realtime_funnel",
        "event_hour timestamptz PRIMARY KEY, page_views bigint, add_to_carts bigint, checkouts bigint,"
        " purchases bigint",
        FUNNEL,
    )


def create_loads(conn: psycopg.Connection, schema: str) -> None:
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    _create(
        conn,
        schema,
        "_loads",
        "table_name text PRIMARY KEY, snapshot_id bigint NOT NULL, loaded_at timestamptz NOT NULL",
        LOADS,
    )


def drop_schemas(conn: psycopg.Connection, *schemas: str) -> None:
    for schema in schemas:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


# -- the live table --------------------------------------------------------------------------------

LIVE_COUNTS = {"page_view": [40, 35, 50], "add_to_cart": [12, 9, 15], "checkout": [4, 0, 6], "purchase": [3, 2, 5]}
LIVE_PRICE = D("19.99")


def live_rows(now: datetime | None = None) -> list[dict[str, object]]:
    """events_per_minute rows for the three minutes before now (inside the dashboard's live window)."""
    minute = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    minutes = [minute - timedelta(minutes=m) for m in (3, 2, 1)]
    return [
        {"minute": at, "event_type": kind, "events": n, "revenue": LIVE_PRICE * n if kind == "purchase" else D(0)}
        for kind, counts in LIVE_COUNTS.items()
        for at, n in zip(minutes, counts, strict=True)
        if n
    ]


def add_rows(table: Table, rows: list[dict[str, object]]) -> None:
    """Append rows to a (day-partitioned) Iceberg table: one Parquet file per day, registered with add_files.

    pyiceberg's `append` needs pyiceberg-core to partition rows; `add_files` only reads each
    file's column bounds, so rows of one file must share their partition (hence per day).
    """
    schema = schema_to_pyarrow(table.schema(), include_field_ids=False)
    by_day: dict[date, list[dict[str, object]]] = {}
    for row in rows:
        by_day.setdefault(row["minute"].date(), []).append(row)
    paths = []
    for day_rows in by_day.values():
        path = f"{table.location()}/data/dashboard-test-{uuid.uuid4().hex}.parquet"
        with table.io.new_output(path).create() as out:
            pq.write_table(pa.Table.from_pylist(day_rows, schema=schema), out)
        paths.append(path)
    table.add_files(paths)
