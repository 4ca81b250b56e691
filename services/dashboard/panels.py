"""The page's charts: each one's name (its URL and element id), what it reads and how it is drawn."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyiceberg.catalog import Catalog

from services.dashboard import charts, queries
from services.platform.settings import Settings


@dataclass(frozen=True)
class Panel:
    name: str  # /api/charts/<name>, element id chart-<name>
    build: Callable[[Settings, Catalog | None], charts.Figure]
    wide: bool = False  # spans the page's two columns
    live: bool = False  # reloaded every settings.dashboard.refresh_seconds

    @property
    def element_id(self) -> str:
        return f"chart-{self.name}"


def _mart(read: Callable[[Settings], queries.Rows], draw: Callable[[queries.Rows], charts.Figure]):
    return lambda settings, _catalog: draw(read(settings))


def _live(settings: Settings, catalog: Catalog | None) -> charts.Figure:
    return charts.live_events(queries.events_per_minute(settings, catalog))


PANELS: tuple[Panel, ...] = (
    Panel("daily-revenue", _mart(queries.daily_revenue, charts.daily_revenue), wide=True),
    Panel("live-events", _live, live=True),
    Panel("realtime-funnel", _mart(queries.realtime_funnel, charts.realtime_funnel)),
    Panel("top-products", _mart(queries.top_products, charts.top_products)),
    Panel("payment-failures", _mart(queries.monthly_payment_failures, charts.payment_failures)),
    Panel("cohort-retention", _mart(queries.cohort_retention, charts.cohort_retention)),
    Panel("customer-ltv", _mart(queries.customer_lifetime_values, charts.customer_lifetime_value)),
)
BY_NAME = {panel.name: panel for panel in PANELS}
