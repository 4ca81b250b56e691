"""The dashboard in headless Chromium: the drawn charts hold the marts' numbers, and the live chart refreshes."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

from tests.dashboard import known

RENDER_TIMEOUT_MS = 30_000
ALL_DRAWN = "[...document.querySelectorAll('.chart')].every(el => el.querySelector('.main-svg'))"


def plotted(page, name: str, expression: str = "data"):
    """A property of a drawn chart (what plotly.js holds on the element: data, layout)."""
    return page.evaluate(f"document.getElementById('chart-{name}').{expression}")


def png_size(path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", header[16:24])


def page_problems(page) -> tuple[list[str], list[str]]:
    """The page's script errors and console errors, and every request of the page that failed,
    by URL. A browser's own requests (a favicon, say) are not the page's: Playwright reports them
    only as a console line "Failed to load resource", which names no URL, so those lines are left
    to the request list, where the page's own failures are named."""
    errors: list[str] = []
    failed: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(
        "response",
        lambda response: failed.append(f"{response.status} {response.url}") if response.status >= 400 else None,
    )
    page.on("requestfailed", lambda request: failed.append(f"{request.failure} {request.url}"))
    return errors, failed


def test_page_draws_the_marts_numbers(browser, dashboard_settings, serve, tmp_path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, failed = page_problems(page)
    try:
        with serve(dashboard_settings) as url:
            page.goto(url)
            page.wait_for_selector("#chart-daily-revenue .main-svg", timeout=RENDER_TIMEOUT_MS)
            page.wait_for_function(ALL_DRAWN, timeout=RENDER_TIMEOUT_MS)
            page.wait_for_selector("#freshness-table tbody tr[data-name]", timeout=RENDER_TIMEOUT_MS)

            assert plotted(page, "daily-revenue", "data[0].x") == known.EXPECTED_DAILY_DATES
            assert plotted(page, "daily-revenue", "data[0].y") == known.EXPECTED_DAILY_REVENUE
            assert plotted(page, "daily-revenue", "data[1].y") == known.EXPECTED_CUMULATIVE_REVENUE
            assert plotted(page, "top-products", "data[0].y") == known.EXPECTED_TOP_NAMES
            assert plotted(page, "top-products", "data[0].x") == known.EXPECTED_TOP_REVENUE
            assert plotted(page, "cohort-retention", "data[0].z") == known.EXPECTED_RETENTION
            assert plotted(page, "customer-ltv", "data[0].x") == known.EXPECTED_LTV
            assert plotted(page, "realtime-funnel", "data[0].x") == known.EXPECTED_FUNNEL
            failures = plotted(page, "payment-failures", "data.map(t => [t.name, [t.x, t.y]])")
            assert dict((name, tuple(xy)) for name, xy in failures) == known.EXPECTED_FAILURES
            # What plotly.js drew, not only what it was given: one bar per top product in the SVG.
            assert page.locator("#chart-top-products .bars .point").count() == len(known.EXPECTED_TOP_NAMES)
            assert "Daily revenue" in page.locator("#chart-daily-revenue .gtitle").text_content()

            namespace = dashboard_settings.streaming.realtime_namespace
            assert plotted(page, "live-events", "data.length") == 0
            live_note = page.locator("#chart-live-events .annotation-text").text_content()
            assert live_note == f"no data yet: {namespace}.events_per_minute does not exist"

            lake = dashboard_settings.warehouse.lake_schema
            cells = page.locator("#freshness-table tbody tr").evaluate_all(
                "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
            )
            assert [c[0] for c in cells[:2]] == [f"{lake}.orders", f"{lake}.customers"]
            assert cells[0][2] == "2026-01-01 12:30:00"
            assert cells[0][4] == "Iceberg snapshot 111"

            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
    finally:
        page.close()
    width, height = png_size(shot)
    assert width == 1280 and height >= 900
    assert shot.stat().st_size > 50_000  # seven drawn charts, not a blank page
    assert errors == []
    assert failed == []


def test_live_chart_refreshes_with_new_rows(browser, live_settings, add_live_rows, serve) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        with serve(live_settings) as url:  # refresh_seconds = 1
            page.goto(url)
            page.wait_for_selector("#chart-live-events .main-svg", timeout=RENDER_TIMEOUT_MS)
            assert plotted(page, "live-events", "data.length") == 0

            add_live_rows(known.live_rows(datetime.now(UTC)))
            page.wait_for_function(
                "document.getElementById('chart-live-events').data.length === 4", timeout=RENDER_TIMEOUT_MS
            )
            drawn = plotted(page, "live-events", "data.map(t => [t.name, t.y])")
            assert drawn == [[kind, [n for n in counts if n]] for kind, counts in known.LIVE_COUNTS.items()]
            total = sum(sum(counts) for counts in known.LIVE_COUNTS.values())
            assert plotted(page, "live-events", "layout.title.text").endswith(f"{total:,} events")
            assert page.locator("#chart-live-events .bars .point").count() == sum(
                1 for counts in known.LIVE_COUNTS.values() for n in counts if n
            )
            # The freshness table follows too: the aggregate's newest minute is now known.
            namespace = live_settings.streaming.realtime_namespace
            row = f"#freshness-table tr[data-name='{namespace}.events_per_minute']"
            page.wait_for_function(
                f"document.querySelector(\"{row}\")?.cells[4].textContent === 'newest minute'",
                timeout=RENDER_TIMEOUT_MS,
            )
    finally:
        page.close()
