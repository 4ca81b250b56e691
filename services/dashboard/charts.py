"""Plotly figures from what `queries` read: one function per chart, each returning the figure's JSON dict.

Data go in as plain lists (never numpy arrays), so the JSON holds the numbers themselves
and the browser's `gd.data[i].y` gives them back as they are. An empty `Rows` gives a
figure with no traces and its note written across it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import plotly.graph_objects as go

from services.dashboard.queries import LIVE_WINDOW, Rows, isoformat
from services.source.clickstream import EVENT_TYPES

Figure = dict[str, Any]

FONT = "Inter, system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
COLORS = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#EECA3B", "#B279A2", "#FF9DA6"]
EVENT_COLORS = dict(zip(EVENT_TYPES, ["#4C78A8", "#F58518", "#EECA3B", "#54A24B"], strict=True))
PAYMENT_COLORS = {"card": "#4C78A8", "paypal": "#F58518", "bank_transfer": "#54A24B", "gift_card": "#B279A2"}


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 16}},
        "template": "plotly_white",
        "font": {"family": FONT, "size": 12, "color": "#1f2933"},
        "margin": {"l": 64, "r": 24, "t": 56, "b": 56},
        "hoverlabel": {"font": {"family": FONT}},
        **extra,
    }


def to_json(figure: go.Figure) -> Figure:
    """The figure as a JSON-ready dict, exactly what plotly.js is given."""
    return json.loads(figure.to_json())


def empty(title: str, note: str | None) -> Figure:
    """A valid figure without traces that says why: "no data yet", an unreachable service, ..."""
    figure = go.Figure(layout=_layout(title))
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.add_annotation(
        text=note or "no data yet",
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"size": 15, "color": "#7b8794"},
    )
    return to_json(figure)


_REQUIRED = object()


def _column(rows: Iterable[dict[str, Any]], name: str, missing: Any = _REQUIRED) -> list[Any]:
    """One column of the rows, JSON-ready; `missing` stands in for it in gap rows (see `with_gaps`)."""
    if missing is _REQUIRED:
        return [isoformat(row[name]) for row in rows]
    return [isoformat(row.get(name, missing)) for row in rows]


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def with_gaps(rows: list[dict[str, Any]], key: str, monthly: bool = False) -> list[dict[str, Any]]:
    """`rows` (ordered by `key`, a day or a month) with an empty row for every day or month
    between them that has none, so a line breaks there instead of joining across it."""
    if not rows:
        return rows
    by_period = {_as_date(row[key]): row for row in rows}
    period, last, filled = _as_date(rows[0][key]), _as_date(rows[-1][key]), []
    while period <= last:
        filled.append(by_period.get(period, {key: period}))
        if monthly:
            period = date(period.year + period.month // 12, period.month % 12 + 1, 1)
        else:
            period += timedelta(days=1)
    return filled


def daily_revenue(data: Rows) -> Figure:
    title = "Daily revenue"
    if not data:
        return empty(title, data.note)
    rows = with_gaps(data.rows, "order_date")
    figure = go.Figure(layout=_layout(title, hovermode="x unified"))
    figure.add_scatter(
        name="revenue",
        x=_column(rows, "order_date"),
        y=_column(rows, "revenue", missing=None),
        customdata=[[r.get("orders"), r.get("average_order_value")] for r in rows],
        mode="lines+markers" if len(rows) <= 60 else "lines",
        line={"color": COLORS[0], "width": 2},
        hovertemplate="revenue %{y:$,.2f}<br>%{customdata[0]} orders, AOV %{customdata[1]:$,.2f}<extra></extra>",
    )
    figure.add_scatter(
        name="cumulative revenue",
        x=_column(rows, "order_date"),
        y=_column(rows, "cumulative_revenue", missing=None),
        yaxis="y2",
        mode="lines",
        line={"color": COLORS[1], "width": 1.5, "dash": "dot"},
        hovertemplate="cumulative %{y:$,.2f}<extra></extra>",
    )
    figure.update_layout(
        xaxis={"title": {"text": "order date (UTC)"}, "type": "date", **_day_ticks(len(rows))},
        yaxis={"title": {"text": "revenue per day"}, "tickprefix": "$", "rangemode": "tozero"},
        yaxis2={
            "title": {"text": "cumulative revenue"},
            "tickprefix": "$",
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
            "rangemode": "tozero",
        },
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.12},
        margin={"l": 72, "r": 80, "t": 56, "b": 56},
    )
    return to_json(figure)


def _day_ticks(days: int) -> dict[str, Any]:
    """A few days' data: one tick per day (plotly would otherwise tick every few hours)."""
    return {"dtick": 86_400_000, "tickformat": "%b %-d\n%Y"} if days <= 14 else {}


def top_products(data: Rows) -> Figure:
    title = f"Top {len(data.rows) or 10} products by revenue"
    if not data:
        return empty(title, data.note)
    rows = data.rows
    figure = go.Figure(layout=_layout(title))
    figure.add_bar(
        orientation="h",
        x=_column(rows, "revenue"),
        y=_column(rows, "product_name"),
        customdata=[[r["category"], r["units_sold"], r["product_id"]] for r in rows],
        marker={"color": COLORS[0]},
        text=[f"${r['revenue']:,.0f}" for r in rows],
        textposition="auto",
        hovertemplate="<b>%{y}</b> (#%{customdata[2]}, %{customdata[0]})<br>"
        "revenue %{x:$,.2f}<br>%{customdata[1]:,} units sold<extra></extra>",
    )
    figure.update_layout(
        xaxis={"title": {"text": "revenue"}, "tickprefix": "$"},
        yaxis={"autorange": "reversed", "automargin": True},  # rank 1 at the top
        margin={"l": 16, "r": 24, "t": 56, "b": 56},
    )
    return to_json(figure)


def cohort_retention(data: Rows) -> Figure:
    title = "Cohort retention (share of each cohort ordering again)"
    if not data:
        return empty(title, data.note)
    cohorts = sorted({r["cohort_month"] for r in data.rows})
    months = list(range(max(r["months_since_first_order"] for r in data.rows) + 1))
    cells = {(r["cohort_month"], r["months_since_first_order"]): r for r in data.rows}
    sizes = {r["cohort_month"]: r["cohort_size"] for r in data.rows}
    z = [[_rate(cells.get((c, m))) for m in months] for c in cohorts]
    labelled = labels_fit(len(months), len(cohorts))
    text = [
        ["" if not labelled or cells.get((c, m)) is None else f"{cells[c, m]['retention_rate']:.0%}" for m in months]
        for c in cohorts
    ]
    customdata = [[[cells[c, m]["customers"] if (c, m) in cells else None, sizes[c]] for m in months] for c in cohorts]
    figure = go.Figure(layout=_layout(title))
    figure.add_heatmap(
        x=months,
        y=[f"{c:%Y-%m}" for c in cohorts],
        z=z,
        text=text,
        texttemplate="%{text}",
        textfont={"size": 10},
        customdata=customdata,
        colorscale="Blues",
        zmin=0,
        zmax=1,
        xgap=1,
        ygap=1,
        colorbar={"title": {"text": "retained"}, "tickformat": ".0%"},
        hovertemplate="cohort %{y}, month %{x}<br>%{z:.1%} retained"
        "<br>%{customdata[0]} of %{customdata[1]} customers<extra></extra>",
    )
    figure.update_layout(
        xaxis={"title": {"text": "months since first order"}, "dtick": 1},
        yaxis={"title": {"text": "cohort (first order month)"}, "autorange": "reversed", "type": "category"},
    )
    return to_json(figure)


# The heatmap's plot area in a half-width card of a 1280 px page (card ~600 x 380 px, less the
# axes' titles and ticks and the colour bar), and the room a "100%" label needs at font size 10.
HEATMAP_AREA_PX = (430, 260)
LABEL_PX = (30, 14)


def labels_fit(columns: int, rows: int) -> bool:
    """Whether every cell of the heatmap can carry its label without touching its neighbours;
    when not, the cells go unlabelled and the hover still tells each value."""
    return HEATMAP_AREA_PX[0] / max(columns, 1) >= LABEL_PX[0] and HEATMAP_AREA_PX[1] / max(rows, 1) >= LABEL_PX[1]


def _rate(cell: dict[str, Any] | None) -> float | None:
    return None if cell is None or cell["retention_rate"] is None else cell["retention_rate"]


def customer_lifetime_value(data: Rows) -> Figure:
    title = "Customer lifetime value"
    if not data:
        return empty(title, data.note)
    values = _column(data.rows, "lifetime_revenue")
    figure = go.Figure(layout=_layout(f"{title} ({len(values):,} customers with orders)", bargap=0.05))
    figure.add_histogram(
        name="customers",
        x=values,
        nbinsx=30,
        marker={"color": COLORS[2]},
        hovertemplate="lifetime revenue %{x}<br>%{y} customers<extra></extra>",
    )
    figure.update_layout(
        xaxis={"title": {"text": "lifetime revenue per customer"}, "tickprefix": "$"},
        yaxis={"title": {"text": "customers"}},
    )
    return to_json(figure)


def payment_failures(data: Rows) -> Figure:
    title = "Payment failure rate by method (monthly)"
    if not data:
        return empty(title, data.note)
    figure = go.Figure(layout=_layout(title, hovermode="x unified"))
    methods = sorted({r["payment_method"] for r in data.rows})
    for i, method in enumerate(methods):
        rows = with_gaps([r for r in data.rows if r["payment_method"] == method], "month", monthly=True)
        figure.add_scatter(
            name=method,
            x=_column(rows, "month"),
            y=_column(rows, "failure_rate", missing=None),
            customdata=[[r.get("failures"), r.get("attempts")] for r in rows],
            mode="lines+markers",
            line={"color": PAYMENT_COLORS.get(method, COLORS[i % len(COLORS)]), "width": 2},
            hovertemplate=f"{method}: " + "%{y:.1%} (%{customdata[0]} of %{customdata[1]})<extra></extra>",
        )
    figure.update_layout(
        xaxis={"title": {"text": "month of attempt (UTC)"}, "type": "date", "dtick": "M1", "tickformat": "%b %Y"},
        yaxis={"title": {"text": "failed attempts / attempts"}, "tickformat": ".0%", "rangemode": "tozero"},
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.12},
    )
    return to_json(figure)


FUNNEL_STEPS = (
    ("page views", "page_views"),
    ("add to cart", "add_to_carts"),
    ("checkout", "checkouts"),
    ("purchase", "purchases"),
)


def realtime_funnel(data: Rows) -> Figure:
    title = "Shopping funnel (clickstream, newest 24 hours)"
    if not data:
        return empty(title, data.note)
    row = data.rows[0]
    figure = go.Figure(layout=_layout(title))
    figure.add_funnel(
        y=[label for label, _ in FUNNEL_STEPS],
        x=[row[column] or 0 for _, column in FUNNEL_STEPS],
        textinfo="value+percent initial",
        marker={"color": [EVENT_COLORS[kind] for kind in EVENT_TYPES]},
        hovertemplate="%{y}: %{x:,} events<extra></extra>",
    )
    hours = f"{row['first_hour']:%Y-%m-%d %H:00} to {row['last_hour']:%Y-%m-%d %H:00} UTC"
    figure.update_layout(
        yaxis={"automargin": True},
        margin={"l": 16, "r": 24, "t": 56, "b": 48},
    )
    figure.add_annotation(
        text=f"event hours {hours}",
        x=0,
        y=-0.12,
        xref="paper",
        yref="paper",
        showarrow=False,
        xanchor="left",
        font={"size": 11, "color": "#7b8794"},
    )
    return to_json(figure)


def live_events(data: Rows, now: datetime | None = None, window: timedelta = LIVE_WINDOW) -> Figure:
    """Events per minute by type, stacked, over a window ending now (so the chart slides as time passes)."""
    now = now or datetime.now(UTC)
    minutes = int(window.total_seconds() // 60)
    total = sum(r["events"] for r in data.rows)
    title = f"Live events per minute (last {minutes} min)" + (f": {total:,} events" if data else "")
    window_range = [isoformat(now - window), isoformat(now + timedelta(minutes=1))]
    if not data:
        figure = empty(title, data.note)
        figure["layout"]["uirevision"] = "live"
        return figure
    kinds = [k for k in EVENT_TYPES if any(r["event_type"] == k for r in data.rows)]
    kinds += sorted({r["event_type"] for r in data.rows} - set(kinds))
    figure = go.Figure(layout=_layout(title, barmode="stack", hovermode="x unified", uirevision="live"))
    for i, kind in enumerate(kinds):
        rows = [r for r in data.rows if r["event_type"] == kind]
        figure.add_bar(
            name=kind,
            x=_column(rows, "minute"),
            y=_column(rows, "events"),
            customdata=_column(rows, "revenue"),
            marker={"color": EVENT_COLORS.get(kind, COLORS[(i + 4) % len(COLORS)])},
            hovertemplate=f"{kind}: "
            + "%{y:,}"
            + (" (revenue %{customdata:$,.2f})" if kind == "purchase" else "")
            + "<extra></extra>",
        )
    figure.update_layout(
        xaxis={"title": {"text": "minute (UTC)"}, "type": "date", "range": window_range},
        yaxis={"title": {"text": "events"}, "rangemode": "tozero"},
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.12, "traceorder": "normal"},
    )
    return to_json(figure)
