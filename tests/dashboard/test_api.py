"""The dashboard's JSON, over HTTP from a running app: the charts hold exactly the marts' numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
import typer
from typer.testing import CliRunner

from services.dashboard import cli
from services.dashboard.app import plotly_js
from services.dashboard.panels import PANELS
from tests.dashboard import known
from tests.ports import free_ports

CHARTS = {panel.name for panel in PANELS}


@pytest.fixture
def client(dashboard_settings, serve):
    with serve(dashboard_settings) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield http


def test_charts_hold_the_marts_numbers(client) -> None:
    response = client.get("/api/charts")
    assert response.status_code == 200
    charts = response.json()["charts"]
    assert set(charts) == CHARTS

    daily = charts["daily-revenue"]["data"]
    assert daily[0]["type"] == "scatter"
    assert daily[0]["x"] == known.EXPECTED_DAILY_DATES
    assert daily[0]["y"] == known.EXPECTED_DAILY_REVENUE
    assert daily[1]["y"] == known.EXPECTED_CUMULATIVE_REVENUE

    (top,) = charts["top-products"]["data"]
    assert top["type"] == "bar"
    assert top["y"] == known.EXPECTED_TOP_NAMES  # rank 1 first, ranks 11 and 12 left out
    assert top["x"] == known.EXPECTED_TOP_REVENUE

    (cohorts,) = charts["cohort-retention"]["data"]
    assert cohorts["type"] == "heatmap"
    assert cohorts["y"] == known.EXPECTED_COHORT_LABELS
    assert cohorts["x"] == known.EXPECTED_COHORT_MONTHS
    assert cohorts["z"] == known.EXPECTED_RETENTION

    (ltv,) = charts["customer-ltv"]["data"]
    assert ltv["type"] == "histogram"
    assert ltv["x"] == known.EXPECTED_LTV

    failures = {trace["name"]: (trace["x"], trace["y"]) for trace in charts["payment-failures"]["data"]}
    assert failures == known.EXPECTED_FAILURES

    (funnel,) = charts["realtime-funnel"]["data"]
    assert funnel["type"] == "funnel"
    assert funnel["x"] == known.EXPECTED_FUNNEL

    for name in CHARTS:  # every figure has a title and, one chart apart, labelled axes
        layout = charts[name]["layout"]
        assert layout["title"]["text"], name
    assert charts["daily-revenue"]["layout"]["xaxis"]["title"]["text"] == "order date (UTC)"


def test_one_chart_endpoint_matches_and_unknown_is_404(client) -> None:
    daily = client.get("/api/charts/daily-revenue").json()
    assert daily["data"][0]["y"] == known.EXPECTED_DAILY_REVENUE
    assert client.get("/api/charts/nope").status_code == 404


def test_live_chart_is_empty_but_valid_without_the_table(client, dashboard_settings) -> None:
    figure = client.get("/api/charts/live-events").json()
    assert figure["data"] == []
    (note,) = figure["layout"]["annotations"]
    assert note["text"] == (
        f"no data yet: {dashboard_settings.streaming.realtime_namespace}.events_per_minute does not exist"
    )


def test_live_chart_sums_the_last_hour(live_settings, add_live_rows, serve) -> None:
    now = datetime.now(UTC)
    year_ago = now - timedelta(days=365)  # not replace(year=...): 29 February has no twin a year before
    add_live_rows([*known.live_rows(now), {**known.live_rows(now)[0], "minute": year_ago}])
    with serve(live_settings) as url:
        figure = httpx.get(f"{url}/api/charts/live-events", timeout=30).json()
    traces = {trace["name"]: trace for trace in figure["data"]}
    assert list(traces) == list(known.LIVE_COUNTS)  # funnel order, the year-old row left out
    for kind, counts in known.LIVE_COUNTS.items():
        assert [y for y in traces[kind]["y"]] == [n for n in counts if n], kind
    assert traces["purchase"]["customdata"] == [float(known.LIVE_PRICE * n) for n in known.LIVE_COUNTS["purchase"]]
    assert figure["layout"]["barmode"] == "stack"


def test_freshness_lists_lake_loads_and_stream_tables(client, dashboard_settings) -> None:
    rows = client.get("/api/freshness").json()["rows"]
    lake, namespace = dashboard_settings.warehouse.lake_schema, dashboard_settings.streaming.realtime_namespace
    loads = [(r["name"], r["updated_at"], r["detail"]) for r in rows if r["kind"] == "warehouse load"]
    assert loads == [(f"{lake}.{name}", at, detail) for name, at, detail in known.EXPECTED_LOADS]
    assert all(r["age_seconds"] > 0 for r in rows if r["kind"] == "warehouse load")
    stream = {r["name"]: r for r in rows if r["kind"] != "warehouse load"}
    assert set(stream) == {f"{namespace}.events", f"{namespace}.events_per_minute"}
    assert all(r["updated_at"] is None and r["detail"].startswith("no data yet") for r in stream.values())


def test_nothing_built_yet_shows_no_data_instead_of_errors(empty_settings, serve) -> None:
    with serve(empty_settings) as url, httpx.Client(base_url=url, timeout=30) as http:
        charts = http.get("/api/charts").json()["charts"]
        freshness = http.get("/api/freshness").json()["rows"]
    for name, figure in charts.items():
        assert figure["data"] == [], name
        assert figure["layout"]["annotations"][0]["text"].startswith("no data yet"), name
    assert freshness[0]["detail"] == "no data yet"
    assert all(r["updated_at"] is None for r in freshness)


def test_unreachable_services_are_notes_not_errors(dashboard_settings, serve) -> None:
    postgres_port, catalog_port = free_ports(2)  # nothing listens on them
    down = dashboard_settings.model_copy(
        update={
            "postgres": dashboard_settings.postgres.model_copy(update={"port": postgres_port}),
            "catalog": dashboard_settings.catalog.model_copy(update={"uri": f"http://127.0.0.1:{catalog_port}"}),
        }
    )
    with serve(down) as url, httpx.Client(base_url=url, timeout=60) as http:
        charts = http.get("/api/charts")
        freshness = http.get("/api/freshness")
    assert charts.status_code == freshness.status_code == 200
    notes = {name: figure["layout"]["annotations"][0]["text"] for name, figure in charts.json()["charts"].items()}
    assert notes.pop("live-events") == "Iceberg catalog unreachable"
    assert set(notes.values()) == {"warehouse unreachable"}
    assert [r["detail"] for r in freshness.json()["rows"]] == ["warehouse unreachable"] + [
        "Iceberg catalog unreachable"
    ] * 2


def test_page_assets_and_health(client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    page = client.get("/")
    assert page.status_code == 200
    for name in CHARTS:
        assert f'id="chart-{name}"' in page.text
    assert 'id="freshness-table"' in page.text
    assert "cdn" not in page.text.lower()
    bundle = client.get("/assets/plotly.min.js")
    assert bundle.status_code == 200
    assert bundle.content == plotly_js().read_bytes()
    assert "plotly.js v" in bundle.text[:200]
    assert "Plotly.react" in client.get("/assets/dashboard.js").text
    icon = client.get("/favicon.ico")  # browsers ask for it unprompted; a 404 is a console error
    assert (icon.status_code, icon.headers["content-type"]) == (200, "image/svg+xml")
    assert icon.text.startswith("<svg") and 'href="/favicon.ico"' in page.text


def test_cli_serves_on_the_settings_port(settings, monkeypatch) -> None:
    import uvicorn

    served: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **_: served.update(app=app, host=host, port=port))
    app = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = settings

    cli.register(app)
    result = CliRunner().invoke(app, ["dashboard"])
    assert result.exit_code == 0, result.output
    assert served["host"] == settings.dashboard.host and served["port"] == settings.dashboard.port
    assert f"http://{settings.dashboard.host}:{settings.dashboard.port}" in result.output
    CliRunner().invoke(app, ["dashboard", "--port", "18999"])
    assert served["port"] == 18999
