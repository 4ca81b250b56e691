"""What the dashboard reads: the dbt marts in the warehouse, the real-time Iceberg tables, and load times.

Every reader returns `Rows`: plain dicts (numbers as int/float, dates and times as
datetime objects), or no rows and a `note` saying why (a schema, table or namespace that
does not exist yet, or a service that does not answer). Nothing here raises for missing
data, so a fresh sandbox shows "no data yet" instead of an error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import requests
from psycopg import errors, sql
from pyiceberg.catalog import Catalog
from pyiceberg.conversions import from_bytes
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError, RESTError
from pyiceberg.expressions import GreaterThanOrEqual
from pyiceberg.table import Table
from pyiceberg.types import TimestampType, TimestamptzType

from services.platform.catalog import iceberg_catalog
from services.platform.clients import Role, postgres_connect
from services.platform.settings import Settings

log = logging.getLogger(__name__)

NO_DATA = "no data yet"
LIVE_WINDOW = timedelta(minutes=60)
STATEMENT_TIMEOUT_MS = 15_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Rows:
    rows: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None  # why there are no rows, when there are none

    def __bool__(self) -> bool:
        return bool(self.rows)


def _plain(value: Any) -> Any:
    """Decimals as floats (JSON and plotly take them); everything else as psycopg returns it."""
    return float(value) if isinstance(value, Decimal) else value


# -- the warehouse -------------------------------------------------------------------------------


def _select(settings: Settings, query: sql.Composable, params: Iterable[Any] = ()) -> Rows:
    """Run one read-only query in the warehouse as dbt's role; missing relations give no rows and a note."""
    try:
        with postgres_connect(
            settings,
            settings.postgres.warehouse_db,
            Role.DBT,
            autocommit=True,
            options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c default_transaction_read_only=on",
        ) as conn:
            cursor = conn.execute(query, tuple(params))
            names = [column.name for column in cursor.description or []]
            rows = [{n: _plain(v) for n, v in zip(names, row, strict=True)} for row in cursor.fetchall()]
    except (errors.UndefinedTable, errors.InvalidSchemaName):
        return Rows(note=NO_DATA)
    except psycopg.OperationalError as error:
        log.warning("warehouse unreachable: %s", error)
        return Rows(note="warehouse unreachable")
    return Rows(rows, None if rows else NO_DATA)


def _mart(settings: Settings, name: str) -> sql.Identifier:
    return sql.Identifier(settings.warehouse.marts_schema, name)


def daily_revenue(settings: Settings) -> Rows:
    return _select(
        settings,
        sql.SQL(
            "SELECT order_date, orders, revenue, average_order_value, cumulative_revenue FROM {} ORDER BY order_date"
        ).format(_mart(settings, "mart_daily_revenue")),
    )


def top_products(settings: Settings, limit: int = 10) -> Rows:
    return _select(
        settings,
        sql.SQL(
            "SELECT product_id, product_name, category, units_sold, revenue, revenue_rank FROM {}"
            " ORDER BY revenue_rank LIMIT %s"
        ).format(_mart(settings, "mart_product_performance")),
        (limit,),
    )


def cohort_retention(settings: Settings) -> Rows:
    return _select(
        settings,
        sql.SQL(
            "SELECT cohort_month, months_since_first_order, cohort_size, customers, retention_rate, revenue FROM {}"
            " ORDER BY cohort_month, months_since_first_order"
        ).format(_mart(settings, "mart_customer_cohorts")),
    )


def customer_lifetime_values(settings: Settings) -> Rows:
    """Customers with at least one revenue order (the others have no lifetime value to show)."""
    return _select(
        settings,
        sql.SQL(
            "SELECT customer_id, lifetime_revenue, lifetime_orders, cohort_month FROM {}"
            " WHERE lifetime_orders > 0 ORDER BY lifetime_revenue DESC, customer_id"
        ).format(_mart(settings, "mart_customer_lifetime_value")),
    )


def monthly_payment_failures(settings: Settings) -> Rows:
    """Failure rate per payment method and month: the daily mart rolled up (daily rates are too noisy)."""
    return _select(
        settings,
        sql.SQL(
            "SELECT date_trunc('month', attempt_date)::date AS month, payment_method,"
            " sum(attempts)::bigint AS attempts, sum(failures)::bigint AS failures,"
            " round(sum(failures)::numeric / nullif(sum(attempts), 0), 6) AS failure_rate"
            " FROM {} GROUP BY 1, 2 ORDER BY payment_method, month"
        ).format(_mart(settings, "mart_payment_failure_rates")),
    )


def realtime_funnel(settings: Settings, hours: int = 24) -> Rows:
    """Funnel totals over the newest `hours` event hours of the real-time funnel mart."""
    query = sql.SQL(
        "SELECT min(event_hour) AS first_hour, max(event_hour) AS last_hour,"
        " sum(page_views)::bigint AS page_views, sum(add_to_carts)::bigint AS add_to_carts,"
        " sum(checkouts)::bigint AS checkouts, sum(purchases)::bigint AS purchases"
        " FROM {mart} WHERE event_hour > (SELECT max(event_hour) FROM {mart}) - make_interval(hours => %s)"
    ).format(mart=_mart(settings, "mart_realtime_funnel"))
    result = _select(settings, query, (hours,))
    if result.rows and result.rows[0]["last_hour"] is None:  # an empty mart still gives one row of nulls
        return Rows(note=NO_DATA)
    return result


def lake_loads(settings: Settings) -> Rows:
    """When the warehouse last loaded each lake table (`<lake schema>._loads`), newest first."""
    return _select(
        settings,
        sql.SQL("SELECT table_name, snapshot_id, loaded_at FROM {} ORDER BY loaded_at DESC, table_name").format(
            sql.Identifier(settings.warehouse.lake_schema, "_loads")
        ),
    )


# -- the real-time Iceberg tables ----------------------------------------------------------------


def open_catalog(settings: Settings) -> Catalog | None:
    """The Iceberg catalog, or None when it does not answer."""
    try:
        return iceberg_catalog(settings)
    except (RESTError, requests.RequestException) as error:
        log.warning("Iceberg catalog unreachable: %s", error)
        return None


def _realtime_table(settings: Settings, catalog: Catalog | None, name: str) -> Table | str:
    """The table, or a note saying why it cannot be read."""
    identifier = f"{settings.streaming.realtime_namespace}.{name}"
    catalog = catalog or open_catalog(settings)
    if catalog is None:
        return "Iceberg catalog unreachable"
    try:
        return catalog.load_table(identifier)
    except (NoSuchTableError, NoSuchNamespaceError):
        return f"{NO_DATA}: {identifier} does not exist"
    except (RESTError, requests.RequestException) as error:
        log.warning("could not load %s: %s", identifier, error)
        return "Iceberg catalog unreachable"


def events_per_minute(
    settings: Settings, catalog: Catalog | None = None, now: datetime | None = None, window: timedelta = LIVE_WINDOW
) -> Rows:
    """Rows of `<realtime namespace>.events_per_minute` in the last `window`, by minute and event type."""
    table = _realtime_table(settings, catalog, "events_per_minute")
    if isinstance(table, str):
        return Rows(note=table)
    since = (now or datetime.now(UTC)) - window
    try:
        arrow = table.scan(
            row_filter=GreaterThanOrEqual("minute", since.isoformat()),
            selected_fields=("minute", "event_type", "events", "revenue"),
        ).to_arrow()
    except (RESTError, requests.RequestException, OSError) as error:
        log.warning("could not read %s: %s", table.name(), error)
        return Rows(note="real-time table unreadable")
    totals: dict[tuple[datetime, str], list[float]] = {}
    for row in arrow.to_pylist():
        if row["minute"] is None or row["event_type"] is None:
            continue
        # Spark's MERGE keeps one row per key; summing guards against duplicates all the same.
        total = totals.setdefault((row["minute"], row["event_type"]), [0, 0.0])
        total[0] += row["events"] or 0
        total[1] += float(row["revenue"] or 0)
    rows = [
        {"minute": minute, "event_type": kind, "events": events, "revenue": round(revenue, 2)}
        for (minute, kind), (events, revenue) in sorted(totals.items())
    ]
    return Rows(rows, None if rows else f"no events since {since:%H:%M} UTC")


def newest_value(table: Table, column: str) -> datetime | None:
    """The largest value of a timestamp column, from the data files' column bounds (no data is read).

    Bounds can overstate a column's maximum after deletes, which is fine for "how fresh".
    If some data file was written without bounds, the column itself is read (that column only).
    """
    field_ = table.schema().find_field(column)
    if not isinstance(field_.field_type, TimestamptzType | TimestampType):
        raise TypeError(f"{column} is not a timestamp column")
    newest: int | None = None
    unbounded = []
    for task in table.scan(selected_fields=(column,)).plan_files():
        raw = (task.file.upper_bounds or {}).get(field_.field_id)
        if raw is None:
            unbounded.append(task)
            continue
        value = from_bytes(field_.field_type, raw)
        newest = value if newest is None else max(newest, value)
    newest_at = None if newest is None else EPOCH + timedelta(microseconds=newest)
    if unbounded:
        values = [v for v in table.scan(selected_fields=(column,)).to_arrow().column(column).to_pylist() if v]
        if values:
            read = max(values)
            read = read if read.tzinfo else read.replace(tzinfo=UTC)
            newest_at = read if newest_at is None else max(newest_at, read)
    return newest_at


def _age(at: datetime | None, now: datetime) -> float | None:
    return None if at is None else max(0.0, (now - at).total_seconds())


def _stream_freshness(
    settings: Settings, catalog: Catalog, name: str, column: str, kind: str, now: datetime
) -> dict[str, Any]:
    identifier = f"{settings.streaming.realtime_namespace}.{name}"
    row = {"name": identifier, "kind": kind, "updated_at": None, "age_seconds": None, "detail": NO_DATA}
    table = _realtime_table(settings, catalog, name)
    if isinstance(table, str):
        return row | {"detail": table}
    try:
        at = newest_value(table, column)
    except (RESTError, requests.RequestException, OSError) as error:
        log.warning("could not read %s: %s", identifier, error)
        return row | {"detail": "unreadable"}
    if at is None:
        return row
    return row | {"updated_at": at, "age_seconds": _age(at, now), "detail": f"newest {column}"}


def freshness(settings: Settings, catalog: Catalog | None = None, now: datetime | None = None) -> Rows:
    """One row per thing that can go stale: each lake table's last warehouse load, the newest stream data."""
    now = now or datetime.now(UTC)
    lake = settings.warehouse.lake_schema
    loads = lake_loads(settings)
    rows = [
        {
            "name": f"{lake}.{load['table_name']}",
            "kind": "warehouse load",
            "updated_at": load["loaded_at"],
            "age_seconds": _age(load["loaded_at"], now),
            "detail": f"Iceberg snapshot {load['snapshot_id']}",
        }
        for load in loads.rows
    ]
    if not loads:
        rows.append(
            {
                "name": f"{lake} tables",
                "kind": "warehouse load",
                "updated_at": None,
                "age_seconds": None,
                "detail": loads.note,
            }
        )
    catalog = catalog or open_catalog(settings)
    for name, column, kind in (
        ("events", "arrived_at", "stream arrivals"),
        ("events_per_minute", "minute", "live aggregate"),
    ):
        if catalog is None:
            identifier = f"{settings.streaming.realtime_namespace}.{name}"
            rows.append(
                {
                    "name": identifier,
                    "kind": kind,
                    "updated_at": None,
                    "age_seconds": None,
                    "detail": "Iceberg catalog unreachable",
                }
            )
        else:
            rows.append(_stream_freshness(settings, catalog, name, column, kind, now))
    return Rows(rows)


def isoformat(value: Any) -> Any:
    """Dates and times as ISO strings (for JSON), other values unchanged."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value
