"""The dashboard's one HTML page: a grid of chart containers and the freshness table, filled in by dashboard.js."""

from __future__ import annotations

from html import escape

from services.dashboard.panels import PANELS
from services.platform.settings import Settings

STYLE = """
:root { --ink: #1f2933; --muted: #7b8794; --line: #e4e7eb; --bg: #f5f7fa; --ok: #2f8132; --warn: #b44d12; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 14px/1.4 Inter, system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
header { display: flex; align-items: baseline; gap: 16px; padding: 16px 24px; background: #fff;
         border-bottom: 1px solid var(--line); }
header h1 { margin: 0; font-size: 20px; font-weight: 600; }
header .meta { color: var(--muted); }
#status { margin-left: auto; color: var(--muted); }
#status.error { color: var(--warn); }
main { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 16px; padding: 16px 24px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 8px; min-width: 0; }
.wide { grid-column: 1 / -1; }
.chart { height: 380px; }
.error-note { color: var(--warn); padding: 24px; }
#freshness h2 { font-size: 16px; font-weight: 600; margin: 8px 8px 4px; }
#freshness table { width: 100%; border-collapse: collapse; }
#freshness th, #freshness td { text-align: left; padding: 6px 8px; border-top: 1px solid var(--line); }
#freshness th { color: var(--muted); font-weight: 500; }
#freshness td.age { white-space: nowrap; }
#freshness tr.fresh td.age { color: var(--ok); }
#freshness tr.stale td.age { color: var(--warn); }
#freshness tr.missing td { color: var(--muted); }
@media (max-width: 900px) { main { grid-template-columns: 1fr; } }
"""


def render(settings: Settings) -> str:
    """The page; its scripts fetch the charts from /api/charts and keep the live ones fresh."""
    cards = "\n".join(
        f'    <section class="card{" wide" if panel.wide else ""}">'
        f'<div class="chart" id="{panel.element_id}" data-chart="{panel.name}"'
        f"{' data-live' if panel.live else ''}></div></section>"
        for panel in PANELS
    )
    warehouse = escape(f"{settings.postgres.warehouse_db}.{settings.warehouse.marts_schema}")
    realtime = escape(settings.streaming.realtime_namespace)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Pipeline sandbox dashboard</title>
  <link rel="icon" href="/favicon.ico" type="image/svg+xml">
  <style>{STYLE}</style>
  <script src="/assets/plotly.min.js"></script>
  <script src="/assets/dashboard.js" defer></script>
</head>
<body data-refresh-seconds="{int(settings.dashboard.refresh_seconds)}">
  <header>
    <h1>Pipeline sandbox</h1>
    <span class="meta">marts from <code>{warehouse}</code>, live data from Iceberg <code>{realtime}</code>;
      live charts refresh every {int(settings.dashboard.refresh_seconds)} s</span>
    <span id="status">loading…</span>
  </header>
  <main>
{cards}
    <section class="card wide" id="freshness">
      <h2>Pipeline freshness</h2>
      <table id="freshness-table">
        <thead><tr><th>What</th><th>Kind</th><th>Last update (UTC)</th><th>Age</th><th>Detail</th></tr></thead>
        <tbody><tr class="missing"><td colspan="5">loading…</td></tr></tbody>
      </table>
    </section>
  </main>
</body>
</html>
"""
